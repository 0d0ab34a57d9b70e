/**
 * The timers that fake timers (`vi.useFakeTimers()` and the like) leave alone, for lock waits,
 * heartbeats and lease renewals. Fake timers replace the global `setTimeout` and `setInterval`
 * (and what `require('node:timers')` exports), but not what `node:timers` exports to an ES
 * module, even one loaded while they are on. They also replace `Date`, `performance` and
 * `process.hrtime`, so durations (deadlines, lease ages) are read from `process.uptime()`, which
 * they leave alone: monotonic, but stopped while the machine sleeps, so it serves within one
 * process only. Lock files are dated by the file system instead (see lock-file.ts).
 * @module
 */
export * as timers from 'node:timers';
