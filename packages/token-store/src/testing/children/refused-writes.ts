// Prints "ready", waits for "go" on stdin (the test lowers this process's file size limit to 0
// meanwhile: every write to a file then fails with EFBIG), then tries withLock() and set() once
// each and prints "<call> <StoreError code, or the name of another error> <message>".
// Arguments: dir key
import { StoreError } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { readyThenGo } from './child-io.js';

const [dir, key] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: refused-writes dir key');
const store = new FileStore({ dir, lockTimeoutMs: 5000 });
// The directory made, and its leftovers checked, while writes still work.
await store.withLock(key, () => Promise.resolve());
await readyThenGo();
const calls: [string, () => Promise<unknown>][] = [
  ['withLock', () => store.withLock(key, () => Promise.resolve())],
  ['set', () => store.set(key, { version: 1 })],
];
for (const [name, call] of calls) {
  const outcome = await call().then(
    () => 'resolved',
    (error: unknown) => `${StoreError.isInstance(error) ? error.code : (error as Error).name} ${(error as Error).message}`,
  );
  process.stdout.write(`${name} ${outcome}\n`);
}
