import type { RedisClientLike } from './redis-client.js';
import { StoreError } from './store-error.js';

/** The optional peer dependency RedisStore creates clients with. */
export const redisPackage = 'ioredis';

/** The options RedisStore gives the clients it creates (a subset of ioredis's RedisOptions). */
export interface CreatedClientOptions {
  lazyConnect: boolean;
  enableOfflineQueue: boolean;
  maxRetriesPerRequest: number;
  commandTimeout: number;
  connectTimeout: number;
  connectionName: string;
  retryStrategy: (attempt: number) => number;
}

/** A client constructor of the shape of ioredis's `Redis`. */
export type RedisClientConstructor = new (options: CreatedClientOptions, url: string) => RedisClientLike;

let loading: Promise<RedisClientConstructor> | undefined;

/**
 * ioredis's `Redis` class, imported on first use and remembered (a failure too), or
 * `StoreError('UNAVAILABLE')` naming the package to install.
 */
export function loadRedisClientConstructor(): Promise<RedisClientConstructor> {
  loading ??= import(redisPackage).then(
    (module: { Redis?: unknown; default?: { Redis?: unknown } }) => {
      const constructor = module.Redis ?? module.default?.Redis;
      if (typeof constructor !== 'function') {
        throw new StoreError('UNAVAILABLE', `The installed ${redisPackage} package has no Redis class; RedisStore needs ${redisPackage} 5 or 6: npm install ${redisPackage}@6`);
      }
      return constructor as RedisClientConstructor;
    },
    (error: unknown) => {
      throw new StoreError('UNAVAILABLE', `RedisStore needs the optional package ${redisPackage} to connect to a Redis URL, and it is not installed. Install it next to @sessionkit/token-store: npm install ${redisPackage} (or pass your own client).`, { cause: error });
    },
  );
  return loading;
}
