// Takes the RedisStore lock for `key`, prints "locked", holds it for holdMs, releases, prints
// "released". Warnings from the store are printed as "warn <message>".
// Arguments: url prefix key leaseMs holdMs
import { RedisStore } from '@sessionkit/token-store/redis';
import { warningPrinter } from './child-io.js';

const [url, prefix, key, leaseMs, holdMs] = process.argv.slice(2);
if (url === undefined || prefix === undefined || key === undefined) throw new Error('usage: redis-hold-lock url prefix key leaseMs holdMs');
const logger = warningPrinter();
const store = new RedisStore({ url, prefix, lockLeaseMs: Number(leaseMs), logger });
await store.withLock(key, async () => {
  process.stdout.write('locked\n');
  await new Promise((resolve) => setTimeout(resolve, Number(holdMs)));
});
process.stdout.write('released\n');
await store.close();
