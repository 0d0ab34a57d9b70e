export { defaultRedisCommandTimeoutMs, defaultRedisLockLeaseMs, defaultRedisLockTimeoutMs, defaultRedisPrefix, defaultRedisTtlGraceMs, RedisStore } from './redis-store.js';
export type { RedisStoreOptions } from './redis-store.js';
export type { RedisArgument, RedisClientLike } from './redis-client.js';
