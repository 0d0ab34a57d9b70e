import { type Logger, silentLogger } from '@sessionkit/logger';
import { callAsync } from './call-async.js';
import { timers } from './clock.js';
import { KeyedMutex } from './keyed-mutex.js';
import { type RedisClientLike, RedisConnection } from './redis-client.js';
import { RedisLease } from './redis-lock.js';
import { loadRedisClientConstructor } from './redis-module.js';
import { recordTimeToLive } from './redis-ttl.js';
import { StoreError } from './store-error.js';
import type { LockOptions, StoredRecord, TokenStore } from './types.js';
import { assertKey, assertLockArguments, assertMilliseconds, parseRecord, serializeRecord } from './validate.js';

/** Options of {@link RedisStore}. Pass `client` or `url`. */
export interface RedisStoreOptions {
  /**
   * A Redis client to use, such as an `ioredis` instance. The store never closes it. Without
   * it, `url` is required.
   */
  client?: RedisClientLike | undefined;
  /**
   * A Redis URL (`redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS). The
   * store then creates its own client with the optional peer dependency `ioredis`, on first
   * use, set up to fail fast while Redis is unreachable (no offline queue, no command retries,
   * `commandTimeoutMs`), and closes it in `close()`.
   */
  url?: string | undefined;
  /**
   * Prepended to every Redis key: records live at `<prefix>record:<key>`, locks at
   * `<prefix>lock:<key>`.
   * @default 'sessionkit:'
   */
  prefix?: string | undefined;
  /**
   * The lease of a lock: a holder that stops renewing (crashed, frozen, cut off) loses the lock
   * this long after its last renewal. A live holder renews every `lockLeaseMs / 3`.
   * @default 10000
   */
  lockLeaseMs?: number | undefined;
  /**
   * How long `withLock` waits for a lock before `StoreError('LOCK_TIMEOUT')`, unless the call
   * passes its own `timeoutMs`.
   * @default 20000
   */
  lockTimeoutMs?: number | undefined;
  /**
   * How long Redis may take to answer one command, and how long a call waits for a connection
   * that is being made, before `StoreError('TIMEOUT')`. (While the connection is down, calls
   * fail at once with `UNAVAILABLE`.)
   * @default 2000
   */
  commandTimeoutMs?: number | undefined;
  /**
   * `'record-expiry'`: records that carry an expiry (`expiresAt`, `token.expiresAt`,
   * `throttledUntil`) are written with a Redis TTL, so they disappear `ttlGraceMs` after they
   * stop being useful. Records without one (or whose token has a refresh token) never expire.
   * `false`: no TTL on any record.
   * @default 'record-expiry'
   */
  ttl?: 'record-expiry' | false | undefined;
  /**
   * With `ttl: 'record-expiry'`, how long a record is kept past its expiry (room for clocks
   * that differ between machines).
   * @default 60000
   */
  ttlGraceMs?: number | undefined;
  /**
   * Receives warnings (a lock lease lost while held, a connection lost, an unreadable record)
   * and debug entries. Never a secret.
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

/** Default of {@link RedisStoreOptions.prefix}. */
export const defaultRedisPrefix = 'sessionkit:';
/** Default of {@link RedisStoreOptions.lockLeaseMs}. */
export const defaultRedisLockLeaseMs = 10_000;
/** Default of {@link RedisStoreOptions.lockTimeoutMs}. */
export const defaultRedisLockTimeoutMs = 20_000;
/** Default of {@link RedisStoreOptions.commandTimeoutMs}. */
export const defaultRedisCommandTimeoutMs = 2_000;
/** Default of {@link RedisStoreOptions.ttlGraceMs}. */
export const defaultRedisTtlGraceMs = 60_000;

function checkUrl(url: unknown): string {
  if (typeof url !== 'string' || !URL.canParse(url)) {
    throw new StoreError('INVALID_ARGUMENT', 'RedisStore url must be a Redis URL such as redis://127.0.0.1:6379 (or rediss:// for TLS).');
  }
  const { protocol, pathname, searchParams } = new URL(url);
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new StoreError('INVALID_ARGUMENT', `RedisStore url must start with redis:// or rediss://, not ${protocol}//.`);
  }
  // The database: ioredis sends what it finds (SELECT NaN for `/abc`, whose refusal it throws
  // from its event loop, ending the process), and quietly picks one of several (the last ?db=,
  // the path's over ?db=): one number, in one place.
  const named = searchParams.getAll('db');
  if (pathname.length > 1) named.push(pathname.slice(1));
  if (named.length > 1 || !named.every((db) => /^\d+$/.test(db))) {
    throw new StoreError('INVALID_ARGUMENT', 'RedisStore url must name its database by number, once if at all: redis://host:6379/2 or ?db=2.');
  }
  return url;
}

/**
 * Where a URL points, for log lines: its host and database (`/2` or `?db=2`, shown as `/2`),
 * never its user name, password or other query fields.
 */
function endpointOf(url: string): string {
  const { protocol, host, pathname, searchParams } = new URL(url);
  const db = pathname.slice(1) || searchParams.get('db');
  return `${protocol}//${host}${db ? `/${db}` : ''}`;
}

function orEmpty(options: unknown): RedisStoreOptions {
  return options ?? {};
}

function closedError(): StoreError {
  return new StoreError('UNAVAILABLE', 'This RedisStore has been closed.');
}

function reconnectDelay(attempt: number): number {
  return Math.min(2_000, 50 * 2 ** Math.min(attempt, 6));
}

/**
 * Keeps records in Redis, so that many processes on many machines share one token, one
 * acquisition in flight and one throttle ("fleet mode"). Values are JSON under
 * `<prefix>record:<key>`, with a TTL derived from the record's expiry.
 *
 * `withLock` is a lease lock at `<prefix>lock:<key>`: `SET NX PX lockLeaseMs` with a random
 * owner token, renewed every `lockLeaseMs / 3` while `fn` runs (compare-and-extend in Lua),
 * released only by its owner (compare-and-delete in Lua); waiting is bounded (`LOCK_TIMEOUT`).
 * Callers in this process queue in memory first. Guarantees hold for a single Redis primary:
 * a failover to a replica that had not received the lock key can let a second holder in (this
 * is not Redlock). A holder that loses its lease while `fn` still runs logs a warning.
 *
 * Connection failures reject with `StoreError('UNAVAILABLE')` at once, slow answers with
 * `StoreError('TIMEOUT')` after `commandTimeoutMs`: nothing waits in a queue for Redis to come
 * back.
 *
 * @example
 * import { RedisStore } from '@sessionkit/token-store/redis';
 *
 * const store = new RedisStore({ url: 'redis://redis.internal:6379' });
 * const session = new Session({ authenticator, store }); // from @sessionkit/core-session
 * // ...
 * await store.close();
 */
export class RedisStore implements TokenStore {
  /** Prepended to every Redis key. */
  readonly prefix: string;
  readonly #client: RedisClientLike | undefined;
  readonly #url: string | undefined;
  readonly #leaseMs: number;
  readonly #lockTimeoutMs: number;
  readonly #commandTimeoutMs: number;
  readonly #ttl: 'record-expiry' | false;
  readonly #ttlGraceMs: number;
  readonly #logger: Logger;
  readonly #queues = new KeyedMutex();
  readonly #leases = new Set<RedisLease>();
  /** Rejects each `withLock` queued in memory behind another caller of this store. */
  readonly #waiting = new Set<(error: StoreError) => void>();
  /** The lock attempts under way: their SET NX, and the release of a lock one took after close(). */
  readonly #acquiring = new Set<Promise<void>>();
  #connection: Promise<RedisConnection> | undefined;
  #closed = false;
  /** The first close(), which every later one returns. */
  #closing: Promise<void> | undefined;

  constructor(options: RedisStoreOptions) {
    // Called from JavaScript without options: a clear error below rather than a TypeError here.
    options = orEmpty(options);
    const { client, url } = options;
    if (client !== undefined && url !== undefined) {
      throw new StoreError('INVALID_ARGUMENT', 'RedisStore takes either client or url, not both.');
    }
    if (client === undefined && url === undefined) {
      throw new StoreError('INVALID_ARGUMENT', 'RedisStore needs a client (such as an ioredis instance) or a url (such as redis://127.0.0.1:6379).');
    }
    if (client !== undefined && typeof (client as Partial<RedisClientLike>).call !== 'function') {
      throw new StoreError('INVALID_ARGUMENT', 'RedisStore client must be a Redis client with a call(command, ...args) method, such as an ioredis instance.');
    }
    this.#client = client;
    this.#url = url === undefined ? undefined : checkUrl(url);
    const prefix = options.prefix ?? defaultRedisPrefix;
    if (typeof prefix !== 'string') throw new StoreError('INVALID_ARGUMENT', 'RedisStore prefix must be a string.');
    this.prefix = prefix;
    this.#leaseMs = options.lockLeaseMs ?? defaultRedisLockLeaseMs;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? defaultRedisLockTimeoutMs;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? defaultRedisCommandTimeoutMs;
    this.#ttlGraceMs = options.ttlGraceMs ?? defaultRedisTtlGraceMs;
    // Sent as SET … PX and PEXPIRE, which take whole milliseconds only.
    if (!Number.isInteger(assertMilliseconds('lockLeaseMs', this.#leaseMs, 30))) {
      throw new StoreError('INVALID_ARGUMENT', 'lockLeaseMs must be a whole number of ms from 30 to 2147483647.');
    }
    assertMilliseconds('lockTimeoutMs', this.#lockTimeoutMs);
    assertMilliseconds('commandTimeoutMs', this.#commandTimeoutMs, 1);
    assertMilliseconds('ttlGraceMs', this.#ttlGraceMs);
    const ttl: unknown = options.ttl ?? 'record-expiry';
    if (ttl !== 'record-expiry' && ttl !== false) throw new StoreError('INVALID_ARGUMENT', "RedisStore ttl must be 'record-expiry' or false.");
    this.#ttl = ttl;
    this.#logger = options.logger ?? silentLogger;
  }

  /** The Redis key that holds `key`'s record. */
  recordKeyFor(key: string): string {
    assertKey(key);
    return `${this.prefix}record:${key}`;
  }

  /** The Redis key of `key`'s lock. */
  lockKeyFor(key: string): string {
    assertKey(key);
    return `${this.prefix}lock:${key}`;
  }

  /**
   * The record under `key`, or undefined when there is none (or the value is not a record: then
   * a warning is logged). Rejects with `UNAVAILABLE` or `TIMEOUT` when Redis cannot answer.
   */
  get(key: string): Promise<StoredRecord | undefined> {
    return callAsync(async () => {
      const redisKey = this.recordKeyFor(key);
      const connection = await this.#connect();
      const value = await connection.command('read a record', 'GET', redisKey);
      if (value === null || value === undefined) return undefined;
      const record = typeof value === 'string' ? parseRecord(value) : undefined;
      if (record === undefined) this.#logger.warn('a Redis value is not a stored record; treated as missing', { redisKey });
      return record;
    });
  }

  /** Stores `value` as JSON under `key`, replacing what was there (and its TTL). */
  set(key: string, value: StoredRecord): Promise<void> {
    return callAsync(async () => {
      const redisKey = this.recordKeyFor(key);
      const text = serializeRecord(value);
      const ttlMs = this.#ttl === false ? undefined : recordTimeToLive(value, Date.now(), this.#ttlGraceMs);
      const connection = await this.#connect();
      if (ttlMs === undefined) await connection.command('write a record', 'SET', redisKey, text);
      else await connection.command('write a record', 'SET', redisKey, text, 'PX', ttlMs);
    });
  }

  /** Removes `key`; a missing key is not an error. */
  delete(key: string): Promise<void> {
    return callAsync(async () => {
      const redisKey = this.recordKeyFor(key);
      const connection = await this.#connect();
      await connection.command('delete a record', 'DEL', redisKey);
    });
  }

  /**
   * Runs `fn` holding `key`'s lease lock, exclusive across every process using this Redis
   * primary and prefix. Waits at most `options.timeoutMs` (default `lockTimeoutMs`), then
   * rejects with `LOCK_TIMEOUT`; rejects with `UNAVAILABLE` or `TIMEOUT` at once when Redis
   * cannot be reached. Not re-entrant.
   */
  withLock<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return callAsync(() => {
      assertLockArguments(key, fn, options);
      const lockKey = this.lockKeyFor(key);
      const timeoutMs = options?.timeoutMs ?? this.#lockTimeoutMs;
      // A clock and (in the queue) timers that fake timers leave alone: see clock.ts.
      const deadline = process.uptime() * 1000 + timeoutMs;
      return new Promise<T>((resolve, reject) => {
        // Queued in memory behind another caller of this store: close() rejects it at once.
        this.#waiting.add(reject);
        this.#queues.run(lockKey, async () => {
          this.#waiting.delete(reject);
          const connection = await this.#connect();
          const lease = new RedisLease({ connection, lockKey, leaseMs: this.#leaseMs, logger: this.#logger });
          // A caller still waiting when close() runs must not take the lock afterwards (with a
          // client passed in, Redis still answers): the wait stops, and a lock taken meanwhile is
          // released before fn could run, and before close() quits a client made from the URL.
          const acquiring = lease.acquire(deadline, timeoutMs, () => this.#closed).then(async () => {
            if (this.#closed) {
              await lease.release();
              throw closedError();
            }
          });
          this.#acquiring.add(acquiring);
          try {
            await acquiring;
          } finally {
            this.#acquiring.delete(acquiring);
          }
          this.#leases.add(lease);
          try {
            return await fn();
          } finally {
            this.#leases.delete(lease);
            await lease.release();
          }
        }, timeoutMs).then(resolve, reject).finally(() => this.#waiting.delete(reject));
      });
    });
  }

  /**
   * Closes the client this store created from `url` (a client passed in stays open: it is
   * yours). Afterwards every call rejects with `UNAVAILABLE`; so do, at once, the `withLock`
   * calls still waiting for a lock, whether behind a caller in this process or in Redis. A lock
   * attempt whose `SET NX` is in flight is waited for (at most twice `commandTimeoutMs`): a lock
   * it got is released before close() quits the client. A `withLock` whose `fn` is running keeps
   * running; its lease is no longer renewed. Every call of close() returns the first one's promise.
   */
  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    this.#closed = true;
    for (const reject of this.#waiting) reject(closedError());
    this.#waiting.clear();
    for (const lease of this.#leases) lease.abandon();
    this.#leases.clear();
    // A lock attempt whose SET NX is in flight may still get the lock: it then releases it. Wait
    // for that (its SET NX, then its release: two commands) before the client is quit.
    if (this.#acquiring.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(this.#acquiring),
        new Promise((resolve) => {
          // At most the longest timer Node runs as it is (a longer one fires after 1 ms).
          timer = timers.setTimeout(resolve, Math.min(2 * this.#commandTimeoutMs, 2_147_483_647));
        }),
      ]);
      timers.clearTimeout(timer);
    }
    if (this.#client !== undefined || this.#connection === undefined) return;
    let connection: RedisConnection;
    try {
      connection = await this.#connection;
    } catch {
      return;
    }
    const { client } = connection;
    if (client.status === 'ready' && client.quit !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client.quit().catch(() => undefined),
        new Promise((resolve) => {
          // A real timer: under a test's fake timers a frozen server's QUIT never times out.
          timer = timers.setTimeout(resolve, this.#commandTimeoutMs);
        }),
      ]);
      timers.clearTimeout(timer);
    }
    if (client.status !== 'end') client.disconnect?.();
  }

  #connect(): Promise<RedisConnection> {
    if (this.#closed) return Promise.reject(closedError());
    this.#connection ??= this.#createConnection();
    return this.#connection;
  }

  async #createConnection(): Promise<RedisConnection> {
    if (this.#client !== undefined) return new RedisConnection(this.#client, this.#commandTimeoutMs);
    const url = this.#url ?? '';
    let Redis;
    try {
      Redis = await loadRedisClientConstructor();
    } catch (error) {
      // Try again on the next call: the failure is remembered by the loader, not by this store.
      this.#connection = undefined;
      throw error;
    }
    // The store's options first: ioredis lets what comes first win, and reads every query
    // parameter of a url as an option (?retryStrategy=x would replace a function with a string).
    const client = new Redis(
      {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: this.#commandTimeoutMs,
        connectTimeout: this.#commandTimeoutMs,
        connectionName: 'sessionkit-token-store',
        retryStrategy: reconnectDelay,
      },
      url,
    );
    const connection = new RedisConnection(client, this.#commandTimeoutMs);
    const endpoint = endpointOf(url);
    let down = false;
    /** A refused SELECT is dropping the connection: ioredis's errors until it closes are about that. */
    let dropping = false;
    const lost = (message: string): void => {
      if (!down && !this.#closed && !connection.refusal) {
        down = true;
        this.#logger.warn('lost the connection to Redis; reconnecting in the background', { endpoint, message });
      }
    };
    client.on?.('error', (error: unknown) => {
      if (connection.refusal || dropping) return;
      const message = error instanceof Error ? error.message : String(error);
      // ioredis reports a refused SELECT of the url's database here and goes on in database 0,
      // which other programs may use. A database the server cannot have fails every call for
      // good and closes the client; any other refusal (BUSY, NOAUTH, NOPERM) drops the
      // connection, to select again on the next.
      const select = (error as { command?: { name?: unknown; args?: unknown[] } } | undefined)?.command;
      if (select?.name === 'select' && /^ERR (DB index is out of range|invalid DB index|SELECT is not allowed)/.test(message)) {
        connection.refusal = new StoreError('INVALID_ARGUMENT', `Redis refused database ${String(select.args?.[0])} of the url: ${message}. Use a database the server has (0 to its "databases" setting minus 1; 0 on a cluster).`);
        client.disconnect?.();
        return;
      }
      connection.lastError = error;
      lost(message);
      if (select?.name === 'select') {
        dropping = true;
        client.disconnect?.(true);
      }
    });
    // A connection the server closed (restarted, killed the client, a proxy dropped it) and that
    // comes back at the first reconnect emits no 'error': warn on the close itself, once per outage.
    client.on?.('close', () => {
      dropping = false;
      lost('the connection was closed');
    });
    client.on?.('ready', () => {
      if (down) this.#logger.info('reconnected to Redis', { endpoint });
      down = false;
      connection.lastError = undefined;
    });
    return connection;
  }
}
