// As hold-lock, in a process whose clock is wrong: Date.now() runs an hour behind from before the
// store is loaded (as under fake timers with the system time set back, or on a host whose clock is
// off). Takes the lock for `key`, prints "locked", holds it for holdMs, releases, prints "released".
// Warnings from the store are printed as "warn <message>".
// Arguments: dir key staleLockMs holdMs
import { warningPrinter } from './child-io.js';

const [dir, key, staleLockMs, holdMs] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: hold-lock-skewed-clock dir key staleLockMs holdMs');
const realNow = Date.now;
Date.now = () => realNow() - 3_600_000;
// Loaded only now, with the clock already wrong.
const { FileStore } = await import('@sessionkit/token-store/file');
const store = new FileStore({ dir, staleLockMs: Number(staleLockMs), logger: warningPrinter() });
await store.withLock(key, async () => {
  process.stdout.write('locked\n');
  await new Promise((resolve) => setTimeout(resolve, Number(holdMs)));
});
process.stdout.write('released\n');
