// Takes the lock for `key`, prints "locked", holds it for holdMs, releases, prints "released".
// Warnings from the store are printed as "warn <message>".
// Arguments: dir key staleLockMs holdMs
import { FileStore } from '@sessionkit/token-store/file';
import { warningPrinter } from './child-io.js';

const [dir, key, staleLockMs, holdMs] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: hold-lock dir key staleLockMs holdMs');
const logger = warningPrinter();
const store = new FileStore({ dir, staleLockMs: Number(staleLockMs), logger });
await store.withLock(key, async () => {
  process.stdout.write('locked\n');
  await new Promise((resolve) => setTimeout(resolve, Number(holdMs)));
});
process.stdout.write('released\n');
