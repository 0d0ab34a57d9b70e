/**
 * The clock and timers of the locks. `now` is `Date.now` as it was when the package loaded: it
 * dates what other processes compare (lock heartbeats, lock and guard ages, the leftover sweep, the
 * owner tag's `time`). `timers` is `node:timers` as an ES module sees it, for lock waits,
 * heartbeats and lease renewals. Fake timers installed after that first import (`vi.useFakeTimers()`,
 * `vi.setSystemTime()`, node:test's `mock.timers.enable()`) replace the global `Date` and timers but
 * reach neither, so they never reach the locks. Installed before it, their `Date.now` (and, with
 * `mock.timers`, which patches `node:timers` too, their timers) is what these capture, for good:
 * not supported. Durations within one process (lock deadlines, Redis lease ages) are read
 * from `process.uptime()`, which fake timers leave alone.
 * @module
 */
export const now: () => number = Date.now;
export * as timers from 'node:timers';
