// Takes the lock for `key` with a steady backlog on libuv's threadpool, as slow dns.lookup, crypto
// or zlib jobs make: `jobs` jobs of about `jobMs` each kept queued, from before withLock until after
// the release, so that every asynchronous file system call of the store waits behind them (its
// event loop stays free). Prints "locked", holds the lock for holdMs, prints "unlocking" as its
// function returns (the release then waits behind the jobs too) and "released" after it;
// warnings from the store are printed as "warn <message>". With timeoutMs, a waiter: it waits at
// most that long, and prints "timed out" on LOCK_TIMEOUT.
// Arguments: dir key staleLockMs holdMs jobMs jobs [timeoutMs]
import { pbkdf2, pbkdf2Sync } from 'node:crypto';
import { StoreError } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { warningPrinter } from './child-io.js';

const [dir, key, staleLockMs, holdMs, jobMs, jobs, timeoutMs] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: backlog-lock dir key staleLockMs holdMs jobMs jobs [timeoutMs]');
const store = new FileStore({ dir, staleLockMs: Number(staleLockMs), logger: warningPrinter() });
// Iterations that take about jobMs on one thread, measured here.
const started = performance.now();
pbkdf2Sync('p', 's', 20_000, 32, 'sha256');
const iterations = Math.ceil((20_000 * Number(jobMs)) / Math.max(1, performance.now() - started));
let pumping = true;
const job = (): void => {
  pbkdf2('p', 's', iterations, 32, 'sha256', () => {
    if (pumping) job();
  });
};
for (let index = 0; index < Number(jobs); index += 1) job();
try {
  await store.withLock(key, async () => {
    process.stdout.write('locked\n');
    await new Promise((resolve) => setTimeout(resolve, Number(holdMs)));
    process.stdout.write('unlocking\n');
  }, { timeoutMs: timeoutMs === undefined ? undefined : Number(timeoutMs) });
  process.stdout.write('released\n');
} catch (error) {
  if (!(StoreError.isInstance(error) && error.code === 'LOCK_TIMEOUT')) throw error;
  process.stdout.write('timed out\n');
} finally {
  pumping = false;
}
