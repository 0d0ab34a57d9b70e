/**
 * The real clock and timers, for lock deadlines, staleness and heartbeats: they measure time that
 * other processes share. Fake timers (`vi.useFakeTimers()` and the like) replace the global
 * `Date`, `setTimeout` and `setInterval` of the process they run in, but not a `Date.now` taken
 * before they were installed (here, when the package loads) nor what `node:timers` exports to
 * an ES module.
 * @module
 */
export const now: () => number = Date.now;
export * as timers from 'node:timers';
