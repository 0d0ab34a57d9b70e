import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { RedisStore, type RedisStoreOptions } from './redis-store.js';
import { StoreError } from './store-error.js';
import { recordingLogger } from './testing/recording-logger.js';
import { type RedisServer, redisSkipReason, startRedisServer } from './testing/redis-server.js';
import { describeStoreContract } from './testing/store-contract.js';

const skipReason = await redisSkipReason();
const skipped = skipReason === undefined ? '' : ` SKIPPED: ${skipReason}`;

let server: RedisServer;
/** A plain client for looking at what the store wrote. */
let raw: Redis;

beforeAll(async () => {
  if (skipReason !== undefined) return;
  server = await startRedisServer();
  raw = new Redis(server.url);
});

afterAll(async () => {
  if (skipReason !== undefined) return;
  raw.disconnect();
  await server.dispose();
});

/** A store on the test server, closed when the test ends. */
function openStore(options: Omit<RedisStoreOptions, 'url' | 'client'> = {}): RedisStore {
  const store = new RedisStore({ url: server.url, prefix: `test-${randomUUID()}:`, ...options });
  onTestFinished(() => store.close());
  return store;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

async function storeErrorOf(promise: Promise<unknown>): Promise<StoreError> {
  const error: unknown = await promise.then(() => undefined, (reason: unknown) => reason);
  if (!StoreError.isInstance(error)) throw new Error(`expected a StoreError, got ${String(error)}`);
  return error;
}

/** The real clock, taken before any test fakes it. */
const realNow = performance.now.bind(performance);

/** Polls `check` until true, at most `timeoutMs`: for effects there is nothing to await for. */
async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describeStoreContract('RedisStore (from a URL)', () => {
  const opened: RedisStore[] = [];
  const open = (): RedisStore => {
    const store = new RedisStore({ url: server.url });
    opened.push(store);
    return store;
  };
  return {
    store: open(),
    reopen: open,
    cleanup: async () => {
      await Promise.all(opened.map((store) => store.close()));
    },
  };
}, { skipReason, persistent: true });

describeStoreContract('RedisStore (with an ioredis client passed in)', () => {
  const client = new Redis(server.url);
  return {
    store: new RedisStore({ client }),
    reopen: () => new RedisStore({ client }),
    cleanup: async () => {
      await client.quit();
    },
  };
}, { skipReason, persistent: true });

describe.skipIf(skipReason !== undefined)(`RedisStore${skipped}`, () => {
  it('stores records as JSON text under <prefix>record:<key>, with the default prefix sessionkit:', async () => {
    const store = new RedisStore({ url: server.url });
    onTestFinished(() => store.close());
    const key = `layout ${randomUUID()}`;
    onTestFinished(() => store.delete(key));
    expect(store.prefix).toBe('sessionkit:');
    expect(store.recordKeyFor(key)).toBe(`sessionkit:record:${key}`);
    expect(store.lockKeyFor(key)).toBe(`sessionkit:lock:${key}`);
    await store.set(key, { version: 1, value: 'x' });
    expect(JSON.parse((await raw.get(`sessionkit:record:${key}`)) ?? 'null')).toEqual({ version: 1, value: 'x' });
  });

  it('keeps prefixes apart, and a record key never collides with a lock key', async () => {
    const first = openStore({ prefix: 'app-a:' });
    const second = openStore({ prefix: 'app-b:' });
    const key = `shared ${randomUUID()}`;
    onTestFinished(async () => {
      await first.delete(key);
      await first.delete(`lock:${key}`);
    });
    await first.set(key, { version: 1, owner: 'a' });
    await expect(second.get(key)).resolves.toBeUndefined();
    // A record whose key looks like a lock key stays a record, and does not block the lock.
    await first.set(`lock:${key}`, { version: 1 });
    await expect(first.withLock(key, () => Promise.resolve('locked'), { timeoutMs: 0 })).resolves.toBe('locked');
    await expect(first.get(`lock:${key}`)).resolves.toEqual({ version: 1 });
  });

  it('treats a value that is not a record as missing, with a warning that names the key but not the value', async () => {
    const { logger, entries } = recordingLogger();
    const store = openStore({ logger });
    await raw.set(store.recordKeyFor('broken'), '{"version":1,"token":"secret-value');
    await expect(store.get('broken')).resolves.toBeUndefined();
    expect(entries).toMatchObject([{ level: 'warn', msg: 'a Redis value is not a stored record; treated as missing', redisKey: store.recordKeyFor('broken') }]);
    expect(JSON.stringify(entries)).not.toContain('secret-value');
  });

  describe('ttl', () => {
    it("'record-expiry' (default): a session record lives until its token's expiry plus ttlGraceMs", async () => {
      const store = openStore();
      const expiresAt = Date.now() + 3_600_000;
      await store.set('session', { version: 1, token: { value: 'v', obtainedAt: Date.now(), expiresAt }, lastUsedAt: Date.now() });
      const ttl = await raw.pttl(store.recordKeyFor('session'));
      expect(ttl).toBeGreaterThan(3_600_000 + 60_000 - 5_000);
      expect(ttl).toBeLessThanOrEqual(3_600_000 + 60_000);
    });

    it('a throttle outliving the token keeps the record until the throttle ends', async () => {
      const store = openStore({ ttlGraceMs: 0 });
      const now = Date.now();
      await store.set('throttled', { version: 1, token: { value: 'v', obtainedAt: now, expiresAt: now + 10_000 }, throttledUntil: now + 50_000 });
      const ttl = await raw.pttl(store.recordKeyFor('throttled'));
      expect(ttl).toBeGreaterThan(45_000);
      expect(ttl).toBeLessThanOrEqual(50_000);
      // A throttle record without a token.
      await store.set('throttle only', { version: 1, throttledUntil: now + 20_000 });
      expect(await raw.pttl(store.recordKeyFor('throttle only'))).toBeLessThanOrEqual(20_000);
      expect(await raw.pttl(store.recordKeyFor('throttle only'))).toBeGreaterThan(15_000);
    });

    it('no TTL for a record without an expiry, a token without expiresAt, or a token with a refresh token', async () => {
      const store = openStore();
      const now = Date.now();
      const records = {
        plain: { version: 1, data: 'x' },
        'no expiry': { version: 1, token: { value: 'v', obtainedAt: now } },
        refreshable: { version: 1, token: { value: 'v', obtainedAt: now, expiresAt: now + 1000, refreshToken: 'r' } },
      };
      for (const [key, record] of Object.entries(records)) {
        await store.set(key, record);
        expect(await raw.pttl(store.recordKeyFor(key)), key).toBe(-1);
      }
    });

    it('stores a record whose expiry is too far ahead for SET … PX (1e19, 1e21 sent as "1e+21", MAX_VALUE) without a TTL', async () => {
      const store = openStore();
      const records = {
        'expiresAt 1e19': { version: 1, expiresAt: 1e19 },
        'expiresAt 1e21': { version: 1, expiresAt: 1e21 },
        'throttledUntil MAX_VALUE': { version: 1, throttledUntil: Number.MAX_VALUE },
        'token.expiresAt 1e300': { version: 1, token: { value: 'v', obtainedAt: 0, expiresAt: 1e300 } },
      };
      for (const [key, record] of Object.entries(records)) {
        await store.set(key, record);
        await expect(store.get(key), key).resolves.toEqual(record);
        expect(await raw.pttl(store.recordKeyFor(key)), key).toBe(-1);
      }
      // The latest Date (8.64e15 ms, year 275760) still gets its TTL.
      await store.set('latest date', { version: 1, expiresAt: 8.64e15 });
      expect(await raw.pttl(store.recordKeyFor('latest date'))).toBeGreaterThan(8.6e15 - Date.now());
    });

    it('replacing a record replaces its TTL (none when the new record has no expiry)', async () => {
      const store = openStore();
      await store.set('key', { version: 1, expiresAt: Date.now() + 5_000 });
      expect(await raw.pttl(store.recordKeyFor('key'))).toBeGreaterThan(0);
      await store.set('key', { version: 1 });
      expect(await raw.pttl(store.recordKeyFor('key'))).toBe(-1);
    });

    it('an expired record disappears from Redis after ttlGraceMs', async () => {
      const store = openStore({ ttlGraceMs: 50 });
      await store.set('short', { version: 1, expiresAt: Date.now() - 1000 });
      await expect(store.get('short')).resolves.toEqual({ version: 1, expiresAt: expect.any(Number) as number });
      await eventually(async () => (await raw.exists(store.recordKeyFor('short'))) === 0);
      await expect(store.get('short')).resolves.toBeUndefined();
    });

    it('ttl: false writes no TTL', async () => {
      const store = openStore({ ttl: false });
      await store.set('key', { version: 1, expiresAt: Date.now() + 5_000 });
      expect(await raw.pttl(store.recordKeyFor('key'))).toBe(-1);
    });
  });

  describe('withLock', () => {
    /**
     * Two stores on one prefix: `other` holds 'key' for `holdMs` of real time (whatever the fake
     * clock does), then the clock is faked (`store` connected before it).
     */
    async function heldByAnotherUnderFakeTimers(holdMs: number): Promise<{ store: RedisStore; other: RedisStore; held: Promise<void> }> {
      const store = openStore();
      const other = openStore({ prefix: store.prefix });
      await store.get('warm-up');
      const entered = deferred();
      const held = other.withLock('key', async () => {
        entered.resolve();
        await sleep(holdMs);
      });
      await entered.promise;
      vi.useFakeTimers();
      onTestFinished(() => {
        vi.useRealTimers();
      });
      return { store, other, held };
    }

    it("waits out another holder's lock while the caller's test uses fake timers (vi.useFakeTimers())", async () => {
      const { store, held } = await heldByAnotherUnderFakeTimers(300);
      // The fake clock never advances: only a poll on a timer fake timers leave alone sees the lock go.
      await expect(store.withLock('key', () => Promise.resolve('acquired'))).resolves.toBe('acquired');
      vi.useRealTimers();
      await held;
    });

    it('with fake timers (the clock never advancing), timeoutMs is still enforced in real time: against another holder and behind a caller of this process', async () => {
      const { store, other, held } = await heldByAnotherUnderFakeTimers(3_000);
      let started = realNow();
      expect((await storeErrorOf(store.withLock('key', () => Promise.resolve(), { timeoutMs: 300 }))).code).toBe('LOCK_TIMEOUT');
      expect(realNow() - started).toBeLessThan(2_000);
      // Queued in memory behind the holder, a caller of the same store.
      started = realNow();
      expect((await storeErrorOf(other.withLock('key', () => Promise.resolve(), { timeoutMs: 300 }))).code).toBe('LOCK_TIMEOUT');
      expect(realNow() - started).toBeLessThan(2_000);
      vi.useRealTimers();
      await held;
    });

    it('a holder under fake timers renews its lease on a real timer: another store waiting three leases gets nothing', async () => {
      const leaseMs = 300;
      const { logger, entries } = recordingLogger();
      const holder = openStore({ lockLeaseMs: leaseMs, logger });
      const other = openStore({ prefix: holder.prefix });
      await Promise.all([holder.get('warm-up'), other.get('warm-up')]);
      vi.useFakeTimers();
      onTestFinished(() => {
        vi.useRealTimers();
      });
      const entered = deferred();
      const release = deferred();
      const held = holder.withLock('key', async () => {
        entered.resolve();
        await release.promise;
      });
      await entered.promise;
      expect((await storeErrorOf(other.withLock('key', () => Promise.resolve(), { timeoutMs: leaseMs * 3 }))).code).toBe('LOCK_TIMEOUT');
      release.resolve();
      await held;
      vi.useRealTimers();
      expect(entries.filter((entry) => entry.level === 'warn')).toEqual([]);
    });

    it('holds a lock key with a lease and an owner tag while fn runs, and deletes it afterwards', async () => {
      const store = openStore({ lockLeaseMs: 5_000 });
      const lockKey = store.lockKeyFor('key');
      const seen = await store.withLock('key', async () => ({ value: await raw.get(lockKey), ttl: await raw.pttl(lockKey) }));
      expect(JSON.parse(seen.value ?? 'null')).toMatchObject({ pid: process.pid, host: expect.any(String) as string, nonce: expect.any(String) as string });
      expect(seen.ttl).toBeGreaterThan(4_000);
      expect(seen.ttl).toBeLessThanOrEqual(5_000);
      expect(await raw.exists(lockKey)).toBe(0);
    });

    it('renews the lease while fn runs: a holder working for more than two leases keeps the lock', async () => {
      // Long enough that a loaded machine's event-loop stalls do not miss every renewal.
      const leaseMs = 450;
      const store = openStore({ lockLeaseMs: leaseMs });
      const other = openStore({ prefix: store.prefix });
      const { logger, entries } = recordingLogger();
      const release = deferred();
      const entered = deferred();
      const holder = new RedisStore({ url: server.url, prefix: store.prefix, lockLeaseMs: leaseMs, logger });
      onTestFinished(() => holder.close());
      const held = holder.withLock('key', async () => {
        entered.resolve();
        await release.promise;
      });
      await entered.promise;
      // Another store waits more than 2 leases and gets nothing.
      const error = await storeErrorOf(other.withLock('key', () => Promise.resolve(), { timeoutMs: leaseMs * 2.2 }));
      expect(error.code).toBe('LOCK_TIMEOUT');
      expect(error.message).toContain(`held by process ${process.pid} on `);
      release.resolve();
      await held;
      await expect(other.withLock('key', () => Promise.resolve('free'), { timeoutMs: 2_000 })).resolves.toBe('free');
      expect(entries.filter((entry) => entry.level === 'warn')).toEqual([]);
    });

    it('a lease lost while fn runs is logged as a warning, and the release leaves the new holder\'s lock alone', async () => {
      const leaseMs = 150;
      const { logger, entries } = recordingLogger();
      const holder = openStore({ lockLeaseMs: leaseMs, logger });
      const other = openStore({ prefix: holder.prefix, lockLeaseMs: 10_000 });
      const lockKey = holder.lockKeyFor('key');
      const otherEntered = deferred();
      const otherRelease = deferred();
      let otherHeld: Promise<void> | undefined;
      await holder.withLock('key', async () => {
        // As after a failover to a replica that never saw the lock: the key is gone.
        await raw.del(lockKey);
        otherHeld = other.withLock('key', async () => {
          otherEntered.resolve();
          await otherRelease.promise;
        });
        await otherEntered.promise;
        await eventually(() => entries.some((entry) => entry.level === 'warn'));
      });
      expect(entries.filter((entry) => entry.level === 'warn')).toMatchObject([
        { msg: expect.stringContaining('lost the Redis lock lease while still holding it') as string, lockKey, leaseMs },
      ]);
      // The first holder's release did not delete the second holder's lock.
      expect(JSON.parse((await raw.get(lockKey)) ?? 'null')).toMatchObject({ pid: process.pid });
      otherRelease.resolve();
      await otherHeld;
      expect(await raw.exists(lockKey)).toBe(0);
    });

    it('a lock key left by a holder that never released it expires with its lease', async () => {
      const store = openStore();
      await raw.set(store.lockKeyFor('key'), 'someone', 'PX', 300);
      const started = Date.now();
      await expect(store.withLock('key', () => Promise.resolve('mine'), { timeoutMs: 5_000 })).resolves.toBe('mine');
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    });

    it('LOCK_TIMEOUT names an unknown holder without echoing its value', async () => {
      const store = openStore();
      await raw.set(store.lockKeyFor('key'), 'opaque-value-123', 'PX', 5_000);
      const error = await storeErrorOf(store.withLock('key', () => Promise.resolve(), { timeoutMs: 50 }));
      expect(error.code).toBe('LOCK_TIMEOUT');
      expect(error.message).toContain('another client');
      expect(error.message).not.toContain('opaque-value-123');
    });

    it('callers in one process queue in memory: one Redis SET NX per holder, not a retry storm', async () => {
      const store = openStore();
      const before = await commandCalls('set');
      const order: number[] = [];
      await Promise.all(Array.from({ length: 10 }, (_, index) => store.withLock('key', async () => {
        order.push(index);
        await new Promise((resolve) => setImmediate(resolve));
      })));
      expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(await commandCalls('set')).toBe(before + 10);
    });
  });

  describe('clients and closing', () => {
    it('close() closes a client it created from the URL; the store then rejects with UNAVAILABLE', async () => {
      const store = new RedisStore({ url: server.url, prefix: `test-${randomUUID()}:` });
      await store.set('key', { version: 1 });
      expect(await connectionsNamed('sessionkit-token-store')).toBeGreaterThanOrEqual(1);
      const before = await connectionsNamed('sessionkit-token-store');
      await store.close();
      await eventually(async () => (await connectionsNamed('sessionkit-token-store')) === before - 1);
      const error = await storeErrorOf(store.get('key'));
      expect(error.code).toBe('UNAVAILABLE');
      await store.close();
    });

    it('close() leaves a client passed in open', async () => {
      const client = new Redis(server.url);
      onTestFinished(() => {
        client.disconnect();
      });
      const store = new RedisStore({ client, prefix: `test-${randomUUID()}:` });
      await store.set('key', { version: 1 });
      await store.close();
      expect(client.status).toBe('ready');
      await expect(client.ping()).resolves.toBe('PONG');
      await expect(store.get('key')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    });

    it('close() while a withLock waits for a lock another holds (client passed in): the waiter rejects with UNAVAILABLE at once, and never takes the lock or runs fn', async () => {
      const client = new Redis(server.url);
      onTestFinished(() => {
        client.disconnect();
      });
      const prefix = `test-${randomUUID()}:`;
      const store = new RedisStore({ client, prefix });
      const other = openStore({ prefix });
      const entered = deferred();
      const release = deferred();
      const held = other.withLock('key', async () => {
        entered.resolve();
        await release.promise;
      });
      await entered.promise;
      let ran = false;
      const waiter = storeErrorOf(store.withLock('key', () => {
        ran = true;
        return Promise.resolve();
      }));
      // The waiter is retrying SET NX.
      await sleep(100);
      await store.close();
      // It gives up while the other holder still holds the lock, not once the lock is free.
      const outcome = await Promise.race([waiter, sleep(2_000).then(() => 'still waiting 2 s after close()')]);
      release.resolve();
      await held;
      const error = await waiter;
      expect(outcome).toBe(error);
      expect(error.code).toBe('UNAVAILABLE');
      expect(ran).toBe(false);
      expect(await raw.exists(store.lockKeyFor('key'))).toBe(0);
    });

    /**
     * A withLock whose SET NX waits in a frozen server when close() is called (twice: two shutdown
     * hooks); 400 ms later the server answers it with the lock (the foreign holder's lease ran out).
     * Resolves once the second close() has.
     */
    async function closeWithSetNxInFlight(frozen: RedisServer, admin: Redis, store: RedisStore): Promise<{ error: StoreError; ran: boolean; lockKey: string }> {
      const lockKey = store.lockKeyFor('key');
      // A foreign holder that never renews: its lease runs out while the server is frozen.
      await admin.set(lockKey, 'someone', 'PX', 300);
      let ran = false;
      const waiter = storeErrorOf(store.withLock('key', () => {
        ran = true;
        return Promise.resolve();
      }));
      await sleep(50);
      frozen.pause();
      onTestFinished(() => {
        frozen.resume();
      });
      // A SET NX is now waiting in the frozen server.
      await sleep(100);
      const closing = store.close();
      // A second close() (another shutdown hook) waits as long as the first.
      const again = store.close();
      expect(again).toBe(closing);
      await sleep(400);
      // The server answers that SET NX with OK.
      frozen.resume();
      await again;
      return { error: await waiter, ran, lockKey };
    }

    async function frozenServerAndAdmin(): Promise<{ frozen: RedisServer; admin: Redis }> {
      const frozen = await startRedisServer();
      onTestFinished(() => frozen.dispose());
      const admin = new Redis(frozen.url);
      admin.on('error', () => undefined);
      onTestFinished(() => {
        admin.disconnect();
      });
      return { frozen, admin };
    }

    it('close() while a withLock\'s SET NX is in flight (client passed in, server frozen): the lock it takes is released and fn never runs', async () => {
      const { frozen, admin } = await frozenServerAndAdmin();
      const client = new Redis(frozen.url);
      client.on('error', () => undefined);
      onTestFinished(() => {
        client.disconnect();
      });
      const store = new RedisStore({ client, prefix: `test-${randomUUID()}:`, commandTimeoutMs: 5_000 });
      const { error, ran, lockKey } = await closeWithSetNxInFlight(frozen, admin, store);
      expect(await admin.exists(lockKey)).toBe(0);
      expect(error.code).toBe('UNAVAILABLE');
      expect(ran).toBe(false);
    });

    it('close() waits for a SET NX in flight with the longest commandTimeoutMs too (twice it is over the longest timer Node runs, which fired after 1 ms)', async () => {
      const { frozen, admin } = await frozenServerAndAdmin();
      // Made from the URL: the client is quit once the wait is over, and a lock taken after that stays.
      const store = new RedisStore({ url: frozen.url, prefix: `test-${randomUUID()}:`, commandTimeoutMs: 2_147_483_647 });
      onTestFinished(() => store.close());
      await store.get('key');
      const { error, ran, lockKey } = await closeWithSetNxInFlight(frozen, admin, store);
      // Whatever the server still had to answer has been answered: a lock left now would be held for a lease.
      await admin.ping();
      expect(await admin.exists(lockKey)).toBe(0);
      expect(error.code).toBe('UNAVAILABLE');
      expect(ran).toBe(false);
    });

    it('close() while a withLock\'s SET NX is in flight (client made from the URL, server frozen): close() waits for it and releases the lock it took before quitting the client, and fn never runs', async () => {
      const { frozen, admin } = await frozenServerAndAdmin();
      const { logger, entries } = recordingLogger();
      const store = new RedisStore({ url: frozen.url, prefix: `test-${randomUUID()}:`, commandTimeoutMs: 5_000, logger });
      onTestFinished(() => store.close());
      await store.get('key');
      const { error, ran, lockKey } = await closeWithSetNxInFlight(frozen, admin, store);
      // Released before the QUIT, not left to run out its lease.
      expect(await admin.exists(lockKey)).toBe(0);
      expect(entries.filter((entry) => entry.level === 'warn')).toEqual([]);
      expect(error.code).toBe('UNAVAILABLE');
      expect(ran).toBe(false);
    });

    it('close() while a withLock waits behind another caller of the same store (queued in memory): it rejects with UNAVAILABLE at once, and fn never runs', async () => {
      const client = new Redis(server.url);
      onTestFinished(() => {
        client.disconnect();
      });
      const store = new RedisStore({ client, prefix: `test-${randomUUID()}:` });
      const entered = deferred();
      const release = deferred();
      const held = store.withLock('key', async () => {
        entered.resolve();
        await release.promise;
        return 'held';
      });
      await entered.promise;
      let ran = false;
      const waiter = storeErrorOf(store.withLock('key', () => {
        ran = true;
        return Promise.resolve();
      }, { timeoutMs: 10_000 }));
      await sleep(50);
      await store.close();
      // It gives up while the holder still runs, not once the holder is done.
      const outcome = await Promise.race([waiter, sleep(2_000).then(() => 'still waiting 2 s after close()')]);
      release.resolve();
      await expect(held).resolves.toBe('held');
      const error = await waiter;
      expect(outcome).toBe(error);
      expect(error.code).toBe('UNAVAILABLE');
      expect(ran).toBe(false);
      expect(await raw.exists(store.lockKeyFor('key'))).toBe(0);
    });

    it('a client passed in with lazyConnect is connected on first use', async () => {
      const client = new Redis(server.url, { lazyConnect: true });
      onTestFinished(() => {
        client.disconnect();
      });
      const store = new RedisStore({ client, prefix: `test-${randomUUID()}:` });
      expect(client.status).toBe('wait');
      await store.set('key', { version: 1 });
      await expect(store.get('key')).resolves.toEqual({ version: 1 });
    });

    it('30 calls made while the connection is being made share one wait: no MaxListenersExceededWarning, no listeners left', async () => {
      const client = new Redis(server.url, { lazyConnect: true });
      onTestFinished(() => {
        client.disconnect();
      });
      const warnings: string[] = [];
      const onWarning = (warning: Error): void => {
        warnings.push(`${warning.name}: ${warning.message}`);
      };
      process.on('warning', onWarning);
      onTestFinished(() => {
        process.off('warning', onWarning);
      });
      const events = ['ready', 'error', 'close', 'end'];
      const before = events.map((event) => client.listenerCount(event));
      const once = vi.spyOn(client, 'once');
      const store = new RedisStore({ client, prefix: `test-${randomUUID()}:` });
      const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, index) => store.get(`key ${index}`)));
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(30);
      // One for the store's shared wait, one that ioredis's connect() adds itself (31 with a wait per call).
      expect(once.mock.calls.filter(([event]) => event === 'ready').length).toBeLessThanOrEqual(2);
      expect(events.map((event) => client.listenerCount(event))).toEqual(before);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((warning) => warning.startsWith('MaxListenersExceededWarning'))).toEqual([]);
    });

    it('creates no connection until first used', async () => {
      const before = await connectionsNamed('sessionkit-token-store');
      const store = new RedisStore({ url: server.url });
      expect(await connectionsNamed('sessionkit-token-store')).toBe(before);
      await store.close();
    });
  });

  describe('options', () => {
    it('rejects bad options with INVALID_ARGUMENT', () => {
      const bad: unknown[] = [
        undefined,
        {},
        { url: 'http://localhost:6379' },
        { url: 'not a url' },
        { url: 'redis://127.0.0.1', client: new Redis({ lazyConnect: true }) },
        { client: {} },
        { url: 'redis://127.0.0.1', lockLeaseMs: 0 },
        { url: 'redis://127.0.0.1', lockTimeoutMs: -1 },
        { url: 'redis://127.0.0.1', commandTimeoutMs: Number.NaN },
        { url: 'redis://127.0.0.1', ttlGraceMs: -5 },
        // Above 2147483647 ms Node.js fires a timer after 1 ms.
        { url: 'redis://127.0.0.1', lockLeaseMs: 2 ** 31 },
        { url: 'redis://127.0.0.1', lockTimeoutMs: 2 ** 31 },
        { url: 'redis://127.0.0.1', commandTimeoutMs: 2 ** 31 },
        { url: 'redis://127.0.0.1', ttl: 'always' },
        { url: 'redis://127.0.0.1', prefix: 5 },
        // ioredis would send SELECT NaN and throw its ReplyError from the client's event loop.
        { url: 'redis://127.0.0.1/abc' },
        { url: 'redis://127.0.0.1/1/2' },
        { url: 'redis://127.0.0.1?db=abc' },
        { url: 'redis://127.0.0.1/-1' },
        // ioredis takes the last of repeated parameters, and the path's database over ?db=.
        { url: 'redis://127.0.0.1/?db=2&db=abc' },
        { url: 'redis://127.0.0.1/?db=1&db=2' },
        { url: 'redis://127.0.0.1/0?db=1' },
      ];
      for (const options of bad) {
        let error: unknown;
        try {
          new RedisStore(options as RedisStoreOptions);
        } catch (caught) {
          error = caught;
        }
        expect(StoreError.isInstance(error) && error.code, JSON.stringify(options)).toBe('INVALID_ARGUMENT');
      }
    });

    it('rejects a lockLeaseMs that is not a whole number of ms with INVALID_ARGUMENT (SET … PX and PEXPIRE would refuse it at every withLock)', async () => {
      for (const lockLeaseMs of [1000.5, 3001 / 3, 30.1]) {
        expect(() => new RedisStore({ url: server.url, lockLeaseMs }), String(lockLeaseMs)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'lockLeaseMs must be a whole number of ms from 30 to 2147483647.' }) as Error);
      }
      const store = openStore({ lockLeaseMs: 1000 });
      await expect(store.withLock('key', () => Promise.resolve('ran'))).resolves.toBe('ran');
    });

    it('takes a database number in the path or as ?db=', async () => {
      const key = `db-${randomUUID()}`;
      for (const url of [`${server.url}/3`, `${server.url}?db=3`, `${server.url}/`]) {
        const store = new RedisStore({ url, prefix: 'db-test:' });
        onTestFinished(() => store.close());
        await store.set(`${key}-${url.endsWith('/') ? 0 : 3}`, { version: 1 });
      }
      const db3 = new Redis(`${server.url}/3`);
      onTestFinished(() => {
        db3.disconnect();
      });
      expect(await db3.exists(`db-test:record:${key}-3`)).toBe(1);
      expect(await raw.exists(`db-test:record:${key}-0`, `db-test:record:${key}-3`)).toBe(1);
    });

    it('fails every call when the server has no such database, instead of going on in database 0 (ioredis only reports the refused SELECT)', async () => {
      const { logger, entries } = recordingLogger();
      const store = new RedisStore({ url: `${server.url}/99`, prefix: 'db-test:', logger });
      onTestFinished(() => store.close());
      const key = `missing-db-${randomUUID()}`;
      const refused = await storeErrorOf(store.set(key, { version: 1 }));
      expect(refused.code).toBe('INVALID_ARGUMENT');
      expect(refused.message).toContain('database 99');
      expect((await storeErrorOf(store.get(key))).code).toBe('INVALID_ARGUMENT');
      expect((await storeErrorOf(store.withLock(key, () => Promise.resolve()))).code).toBe('INVALID_ARGUMENT');
      // Nothing went to database 0, and nothing was logged as a passing outage.
      expect(await raw.exists(`db-test:record:${key}`)).toBe(0);
      expect(JSON.stringify(entries)).not.toContain('reconnected');
      expect(JSON.stringify(entries)).not.toContain('lost the connection');
    });

    it("keeps its own client options over the url's query (ioredis would let ?connectionName= or ?retryStrategy= replace them, as strings)", async () => {
      const name = `query-${randomUUID()}`;
      const store = new RedisStore({ url: `${server.url}/?connectionName=${name}&retryStrategy=never&enableOfflineQueue=yes`, prefix: 'query-test:' });
      onTestFinished(() => store.close());
      const before = await connectionsNamed('sessionkit-token-store');
      await store.set(`key-${name}`, { version: 1 });
      expect(await connectionsNamed(name)).toBe(0);
      expect(await connectionsNamed('sessionkit-token-store')).toBe(before + 1);
    });

    it('waits out a database refused for a passing reason (BUSY), without going on in database 0 or closing for good', async () => {
      const busy = await startRedisServer({ args: ['--busy-reply-threshold', '10'] });
      onTestFinished(() => busy.dispose());
      const scriptRunner = new Redis(busy.url);
      const other = new Redis(busy.url);
      onTestFinished(() => {
        scriptRunner.disconnect();
        other.disconnect();
      });
      await Promise.all([scriptRunner.ping(), other.ping()]);
      const script = scriptRunner.eval('while true do end', 0).catch(() => 'killed');
      await eventually(() => other.ping().then(() => false, (error: unknown) => String(error).includes('BUSY')));
      const { logger, entries } = recordingLogger();
      const store = new RedisStore({ url: `${busy.url}/1`, prefix: 'busy-test:', logger });
      onTestFinished(() => store.close());
      const key = `busy-${randomUUID()}`;
      const refused = await storeErrorOf(store.set(key, { version: 1 }));
      expect(refused.code).toBe('UNAVAILABLE');
      expect(refused.message).toContain('BUSY');
      // While it waits, every call says why (ioredis's own errors as it drops the connection do not replace it).
      for (let call = 0; call < 3; call += 1) {
        await sleep(60);
        expect((await storeErrorOf(store.get(key))).message).toContain('BUSY');
      }
      await other.call('SCRIPT', 'KILL');
      expect(await script).toBe('killed');
      await eventually(() => store.set(key, { version: 1 }).then(() => true, () => false), 10_000);
      await other.select(1);
      expect(await other.exists(`busy-test:record:${key}`)).toBe(1);
      await other.select(0);
      expect(await other.exists(`busy-test:record:${key}`)).toBe(0);
      const messages = entries.map((entry) => entry.msg);
      expect(messages.filter((message) => message.startsWith('lost the connection'))).toHaveLength(1);
      expect(messages).toContain('reconnected to Redis');
    });

    it('reports a database refused for want of a password (NOAUTH on a RESP2 handshake) as PERMISSION, not as no such database', async () => {
      const secured = await startRedisServer({ args: ['--requirepass', 'right-password'] });
      onTestFinished(() => secured.dispose());
      const store = new RedisStore({ url: `redis://127.0.0.1:${secured.port}/1?protocol=2` });
      onTestFinished(() => store.close());
      const error = await storeErrorOf(store.get('key'));
      expect(error.code).toBe('PERMISSION');
      expect(error.message).toContain('NOAUTH');
    });

    it("ends its messages with one period when the client's message has its own (ioredis's \"Connection is closed.\")", async () => {
      const closing = new RedisStore({ client: { call: () => Promise.reject(new Error('Connection is closed.')) } });
      const error = await storeErrorOf(closing.get('key'));
      expect(error.message).toBe('Redis is unreachable, could not read a record: Connection is closed. Check that the Redis server is running and reachable.');
    });

    it('a URL with a password never appears in an error or a log line', async () => {
      const secured = await startRedisServer({ args: ['--requirepass', 'right-password'] });
      onTestFinished(() => secured.dispose());
      const { logger, entries } = recordingLogger();
      const wrong = new RedisStore({ url: `redis://:wrong-password-42@127.0.0.1:${secured.port}`, logger });
      onTestFinished(() => wrong.close());
      const error = await storeErrorOf(wrong.get('key'));
      expect(error.code).toBe('PERMISSION');
      const everything = `${error.message} ${String((error.cause as Error | undefined)?.message)} ${JSON.stringify(entries)}`;
      expect(everything).not.toContain('wrong-password-42');
      const right = new RedisStore({ url: `redis://:right-password@127.0.0.1:${secured.port}`, logger });
      onTestFinished(() => right.close());
      await right.set('key', { version: 1 });
      await expect(right.get('key')).resolves.toEqual({ version: 1 });
      expect(JSON.stringify(entries)).not.toContain('right-password');
    });
  });

  it('is exported from @sessionkit/token-store/redis only (not from the package root)', async () => {
    const redis = await import('@sessionkit/token-store/redis');
    const root: Record<string, unknown> = await import('@sessionkit/token-store');
    expect(redis.RedisStore).toBe(RedisStore);
    expect(redis.defaultRedisPrefix).toBe('sessionkit:');
    expect(root.RedisStore).toBeUndefined();
  });
});

/** How often the server has run `command` (INFO commandstats). */
async function commandCalls(command: string): Promise<number> {
  const info = await raw.info('commandstats');
  const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info);
  return Number(match?.[1] ?? 0);
}

/** How many connections with this client name the server has. */
async function connectionsNamed(name: string): Promise<number> {
  const list = (await raw.call('CLIENT', 'LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` name=${name} `)).length;
}
