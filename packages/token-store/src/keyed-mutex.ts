import { lockTimeout } from './store-error.js';

interface Waiter {
  start(): void;
}

/**
 * In-process mutual exclusion per key, first come first served, with bounded waiting.
 * Adapters use it in front of their cross-process lock so a process's own callers queue here
 * instead of contending on the file system.
 */
export class KeyedMutex {
  readonly #queues = new Map<string, Waiter[]>();

  /** Run `fn` once every earlier caller for `key` has finished. */
  run<T>(key: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        start: () => {
          if (timer !== undefined) clearTimeout(timer);
          // The async wrapper turns a synchronous throw in `fn` into a rejection.
          const result = (async () => fn())();
          result.then(resolve, reject).finally(() => { this.#release(key, waiter); });
        },
      };
      const queue = this.#queues.get(key);
      if (queue === undefined) {
        this.#queues.set(key, [waiter]);
        waiter.start();
        return;
      }
      queue.push(waiter);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const index = queue.indexOf(waiter);
          if (index > 0) {
            queue.splice(index, 1);
            reject(lockTimeout(timeoutMs, 'on a store key'));
          }
        }, timeoutMs);
        timer.unref();
      }
    });
  }

  #release(key: string, waiter: Waiter): void {
    const queue = this.#queues.get(key);
    if (queue?.[0] !== waiter) return;
    queue.shift();
    const next = queue.at(0);
    if (next === undefined) this.#queues.delete(key);
    else next.start();
  }
}
