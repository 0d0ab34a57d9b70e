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
   * Per key while a caller runs: the start functions of the callers waiting, in the order they
   * came (a Set keeps it). A caller leaves it as it starts, so a timeout that fires late (a test's
   * fake clearTimeout may not clear a real timer) finds it gone and does nothing.
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
      let waiting = this.#queues.get(key);
      const start = (): void => {
        timers.clearTimeout(timer);
        // The async wrapper turns a synchronous throw in `fn` into a rejection.
        (async () => fn())().then(resolve, reject).finally(() => {
          const [next] = waiting as Set<() => void>;
          if (next) {
            waiting?.delete(next);
            next();
          } else this.#queues.delete(key);
        });
      };
      if (waiting) {
        waiting.add(start);
        timer = timers.setTimeout(() => {
          // Still waiting: it leaves the queue.
          if (waiting?.delete(start)) reject(lockTimeout(timeoutMs, 'on a store key'));
        }, timeoutMs);
      } else {
        this.#queues.set(key, (waiting = new Set()));
        start();
      }
    });
  }
}
