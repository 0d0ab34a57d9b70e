import { describe, expect, it } from 'vitest';
import { KeyedMutex, type Timers } from './keyed-mutex.js';

/**
 * Timers fired by hand, whose clearTimeout does nothing but record the timer it was given (as a
 * test's fake clearTimeout may do with a real timer): `fire()` runs every timeout set so far.
 */
function handTimers(): { timers: Timers; fire: () => void; set: number[]; cleared: unknown[] } {
  const pending: (() => void)[] = [];
  const set: number[] = [];
  const cleared: unknown[] = [];
  const timers = {
    setTimeout: (callback: () => void) => {
      set.push(set.length + 1);
      pending.push(callback);
      return set.length;
    },
    clearTimeout: (timer: unknown) => cleared.push(timer),
  } as unknown as Timers;
  return {
    timers,
    set,
    cleared,
    fire: () => {
      for (const callback of pending.splice(0)) callback();
    },
  };
}

/** A promise and its resolve function. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

const settle = async <T,>(promise: Promise<T>): Promise<string> => promise.then(() => 'resolved', (error: unknown) => `rejected ${(error as { code?: string }).code ?? String(error)}`);

describe('KeyedMutex', () => {
  it('runs callers of one key one at a time, in order, and others at once', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    const task = (name: string, ms: number) => async (): Promise<string> => {
      log.push(`start ${name}`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      log.push(`end ${name}`);
      return name;
    };
    const results = await Promise.all([mutex.run('k', task('a', 20), 1000), mutex.run('k', task('b', 1), 1000), mutex.run('other', task('x', 1), 1000), mutex.run('k', task('c', 1), 1000)]);
    expect(results).toEqual(['a', 'b', 'x', 'c']);
    expect(log.filter((line) => !line.endsWith('x'))).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(log.indexOf('start x')).toBeLessThan(log.indexOf('end a'));
  });

  it('times out a caller still waiting, and never one that has started, even when its timer was not cleared', async () => {
    const mutex = new KeyedMutex();
    const { timers, fire, set, cleared } = handTimers();
    let running = 0;
    let most = 0;
    const hold = (until: Promise<void>) => async (): Promise<void> => {
      running += 1;
      most = Math.max(most, running);
      await until;
      running -= 1;
    };
    const [holdA, holdB] = [deferred(), deferred()];
    const a = settle(mutex.run('k', hold(holdA.promise), 1000, timers));
    const b = settle(mutex.run('k', hold(holdB.promise), 1000, timers));
    holdA.resolve();
    await a;
    // B runs now, and cleared its timer as it started (the first set: A waited for none); here
    // that did nothing, so its timeout fires, then C comes.
    expect(running).toBe(1);
    expect(set).toEqual([1]);
    expect(cleared).toContain(1);
    fire();
    const c = settle(mutex.run('k', hold(Promise.resolve()), 1000, timers));
    await new Promise((resolve) => setImmediate(resolve));
    expect(most).toBe(1);
    holdB.resolve();
    expect(await Promise.all([b, c])).toEqual(['resolved', 'resolved']);
    // A caller that never got the key does time out, and leaves the queue.
    const holdD = deferred();
    const d = settle(mutex.run('k', hold(holdD.promise), 1000, timers));
    const e = settle(mutex.run('k', hold(Promise.resolve()), 1000, timers));
    fire();
    expect(await e).toBe('rejected LOCK_TIMEOUT');
    holdD.resolve();
    expect(await d).toBe('resolved');
    expect(most).toBe(1);
  });

  it('rejects for an fn that throws at once, and goes on with the next caller', async () => {
    const mutex = new KeyedMutex();
    const failing = mutex.run('k', () => {
      throw new Error('boom');
    }, 1000);
    const next = mutex.run('k', () => Promise.resolve('next'), 1000);
    await expect(failing).rejects.toThrow('boom');
    expect(await next).toBe('next');
  });
});
