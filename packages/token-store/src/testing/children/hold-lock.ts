// Takes the lock for `key`, prints "locked", holds it for holdMs, releases, prints "released".
// Warnings from the store are printed as "warn <message>". With busyMs, it also keeps libuv's
// threadpool (UV_THREADPOOL_SIZE threads, 4 by default) busy meanwhile, with one job of about busyMs
// per thread (as a slow dns.lookup, crypto or zlib would), its event loop staying free.
// Arguments: dir key staleLockMs holdMs [busyMs]
import { pbkdf2, pbkdf2Sync } from 'node:crypto';
import { FileStore } from '@sessionkit/token-store/file';
import { warningPrinter } from './child-io.js';

const [dir, key, staleLockMs, holdMs, busyMs] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: hold-lock dir key staleLockMs holdMs [busyMs]');
const logger = warningPrinter();
const store = new FileStore({ dir, staleLockMs: Number(staleLockMs), logger });
// Iterations that take about busyMs on one thread, measured here.
let iterations = 0;
if (busyMs !== undefined) {
  const started = performance.now();
  pbkdf2Sync('p', 's', 20_000, 32, 'sha256');
  iterations = Math.ceil((20_000 * Number(busyMs)) / Math.max(1, performance.now() - started));
}
await store.withLock(key, async () => {
  process.stdout.write('locked\n');
  const busy = Array.from({ length: iterations ? Number(process.env.UV_THREADPOOL_SIZE ?? 4) : 0 }, () => new Promise((resolve) => {
    pbkdf2('p', 's', iterations, 32, 'sha256', resolve);
  }));
  await Promise.all([...busy, new Promise((resolve) => setTimeout(resolve, Number(holdMs)))]);
});
process.stdout.write('released\n');
