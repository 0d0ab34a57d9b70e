import { lockTimeout } from './store-error.js';

/**
 * In-process mutual exclusion per key, first come first served, with bounded waiting.
 * Adapters use it in front of their cross-process lock so a process's own callers queue here
 * instead of contending on the file system.
 */
export class KeyedMutex {
  /** Per key, the callers' start functions: the first one runs, the others wait. */
  readonly #queues = new Map<string, (() => void)[]>();

  /** Run `fn` once every earlier caller for `key` has finished. */
  run<T>(key: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const start = (): void => {
        clearTimeout(timer);
        // The async wrapper turns a synchronous throw in `fn` into a rejection.
        (async () => fn())().then(resolve, reject).finally(() => {
          queue.shift();
          const next = queue[0];
          if (next) next();
          else this.#queues.delete(key);
        });
      };
      const queue = this.#queues.get(key) ?? [];
      queue.push(start);
      if (queue.length === 1) {
        this.#queues.set(key, queue);
        start();
        return;
      }
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const index = queue.indexOf(start);
          if (index > 0) {
            queue.splice(index, 1);
            reject(lockTimeout(timeoutMs, 'on a store key'));
          }
        }, timeoutMs);
      }
    });
  }
}
