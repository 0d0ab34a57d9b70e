// Under `umask`, takes the lock for `key`, prints "mode <octal>" of the lock file while holding
// it, releases it, then takes it once more and prints "again". Warnings from the store are
// printed as "warn <message>"; a StoreError as "error <code>".
// Arguments: dir key umask (octal)
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { warningPrinter } from './child-io.js';

const [dir, key, umask] = process.argv.slice(2);
if (dir === undefined || key === undefined || umask === undefined) throw new Error('usage: umask-lock dir key umask');
process.umask(Number.parseInt(umask, 8));
const logger = warningPrinter();
const store = new FileStore({ dir, logger });
try {
  await store.withLock(key, async () => {
    const [lock] = (await readdir(dir)).filter((name) => name.endsWith('.lock'));
    if (lock === undefined) throw new Error('no lock file while holding the lock');
    process.stdout.write(`mode ${((await lstat(join(dir, lock))).mode & 0o777).toString(8)}\n`);
  });
  // Bounded only so that a lock left behind ends the child instead of hanging the test.
  await store.withLock(key, () => Promise.resolve(), { timeoutMs: 5_000 });
  process.stdout.write('again\n');
} catch (error) {
  if (!StoreError.isInstance(error)) throw error;
  process.stdout.write(`error ${error.code}\n`);
}
