// Waits for "go" on stdin, then writes `count` records of varying size to `key`, without a lock.
// Arguments: dir key count writerId
import { FileStore } from '@sessionkit/token-store/file';
import { readyThenGo } from './child-io.js';

const [dir, key, count, writer] = process.argv.slice(2);
if (dir === undefined || key === undefined || writer === undefined) throw new Error('usage: writer dir key count writerId');
const store = new FileStore({ dir });

await readyThenGo();
for (let index = 0; index < Number(count); index += 1) {
  // Sizes from a few bytes to ~300 KB, so a non-atomic write would be caught half-done.
  const size = ((index + 1) * 7_919 * (Number(writer) + 3)) % 300_000;
  await store.set(key, { version: 1, writer: Number(writer), index, payload: writer.repeat(size) });
}
process.stdout.write('done\n');
