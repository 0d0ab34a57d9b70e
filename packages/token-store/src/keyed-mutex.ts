import { timers as realTimers } from './clock.js';
import { lockTimeout } from './store-error.js';

/** The timer functions a {@link KeyedMutex} bounds waits with. */
export type Timers = Pick<typeof globalThis, 'setTimeout' | 'clearTimeout'>;

/**
 * In-process mutual exclusion per key, first come first served, with bounded waiting.
 * Adapters use it in front of their cross-process lock so a process's own callers queue here
 * instead of contending on the file system.
 */
export class KeyedMutex {
  /** Per key, the callers' start functions: the first one runs, the others wait. */
  readonly #queues = new Map<string, (() => void)[]>();

  /**
   * Run `fn` once every earlier caller for `key` has finished, waiting at most `timeoutMs` on
   * `timers`: `node:timers` by default, which fake timers leave alone, for the stores whose locks
   * other processes share; MemoryStore passes the globals, so a test's fake clock times it out.
   */
  run<T>(key: string, fn: () => Promise<T>, timeoutMs?: number, timers: Timers = realTimers): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const start = (): void => {
        timers.clearTimeout(timer);
        // The async wrapper turns a synchronous throw in `fn` into a rejection.
        (async () => fn())().then(resolve, reject).finally(() => {
          queue.shift();
          if (queue[0]) queue[0]();
          else this.#queues.delete(key);
        });
      };
      const queue = this.#queues.get(key) ?? [];
      this.#queues.set(key, queue);
      if (queue.push(start) === 1) start();
      else if (timeoutMs !== undefined) {
        timer = timers.setTimeout(() => {
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
