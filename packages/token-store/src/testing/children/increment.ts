// Waits for "go" on stdin, then does `count` withLock-guarded read-modify-write increments.
// Arguments: dir key count lockTimeoutMs staleLockMs
import { FileStore } from '@sessionkit/token-store/file';
import { readyThenGo } from './child-io.js';

const [dir, key, count, lockTimeoutMs, staleLockMs] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: increment dir key count lockTimeoutMs staleLockMs');
const store = new FileStore({ dir, lockTimeoutMs: Number(lockTimeoutMs), staleLockMs: Number(staleLockMs) });

await readyThenGo();
for (let index = 0; index < Number(count); index += 1) {
  await store.withLock(key, async () => {
    const record = await store.get(key);
    const current = typeof record?.count === 'number' ? record.count : 0;
    await store.set(key, { version: 1, count: current + 1 });
  });
}
process.stdout.write('done\n');
