// Takes the lock for `key`, prints "locked", holds it for holdMs, releases, prints "released".
// Warnings from the store are printed as "warn <message>".
// Arguments: dir key staleLockMs holdMs [title] (the process title, on Linux its name in /proc/<pid>/stat too)
import { FileStore } from '@sessionkit/token-store/file';
import { warningPrinter } from './child-io.js';

const [dir, key, staleLockMs, holdMs, title] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: hold-lock dir key staleLockMs holdMs [title]');
if (title !== undefined) process.title = title;
const logger = warningPrinter();
const store = new FileStore({ dir, staleLockMs: Number(staleLockMs), logger });
await store.withLock(key, async () => {
  process.stdout.write('locked\n');
  await new Promise((resolve) => setTimeout(resolve, Number(holdMs)));
});
process.stdout.write('released\n');
