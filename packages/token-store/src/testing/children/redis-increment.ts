// Waits for "go" on stdin, then does `count` withLock-guarded read-modify-write increments on a
// RedisStore, and closes it. Arguments: url prefix key count leaseMs
import { RedisStore } from '@sessionkit/token-store/redis';
import { readyThenGo } from './child-io.js';

const [url, prefix, key, count, leaseMs] = process.argv.slice(2);
if (url === undefined || prefix === undefined || key === undefined) throw new Error('usage: redis-increment url prefix key count leaseMs');
const store = new RedisStore({ url, prefix, lockLeaseMs: Number(leaseMs), lockTimeoutMs: 60_000 });

await readyThenGo();
for (let index = 0; index < Number(count); index += 1) {
  await store.withLock(key, async () => {
    const record = await store.get(key);
    const current = typeof record?.count === 'number' ? record.count : 0;
    await store.set(key, { version: 1, count: current + 1 });
  });
}
await store.close();
process.stdout.write('done\n');
