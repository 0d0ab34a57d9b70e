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
  /**
   * Per key, the callers' start functions in the order they came (a Set keeps it): the first one
   * runs, the others wait.
   */
  readonly #queues = new Map<string, Set<() => void>>();

  /**
   * Run `fn` once every earlier caller for `key` has finished, waiting at most `timeoutMs` on
   * `timers`: `node:timers` by default, which fake timers leave alone, for the stores whose locks
   * other processes share; MemoryStore passes the globals, so a test's fake clock times it out.
   */
  run<T>(key: string, fn: () => Promise<T>, timeoutMs: number, timers: Timers = realTimers): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const queue = this.#queues.get(key) ?? new Set();
      const start = (): void => {
        // Started: no longer waiting, so never timed out.
        timers.clearTimeout(timer);
        // The async wrapper turns a synchronous throw in `fn` into a rejection.
        (async () => fn())().then(resolve, reject).finally(() => {
          queue.delete(start);
          const [next] = queue;
          if (next) next();
          else this.#queues.delete(key);
        });
      };
      this.#queues.set(key, queue.add(start));
      if (queue.size === 1) start();
      else {
        timer = timers.setTimeout(() => {
          // Still waiting (the timer is cleared once it starts): it leaves the queue.
          if (queue.delete(start)) reject(lockTimeout(timeoutMs, 'on a store key'));
        }, timeoutMs);
      }
    });
  }
}
