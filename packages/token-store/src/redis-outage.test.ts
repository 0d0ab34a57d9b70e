import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { RedisStore, type RedisStoreOptions } from './redis-store.js';
import { StoreError } from './store-error.js';
import { recordingLogger } from './testing/recording-logger.js';
import { type RedisServer, redisSkipReason, startRedisServer } from './testing/redis-server.js';

const skipReason = await redisSkipReason();

/** A server of its own for each test: these tests stop and freeze it. */
async function ownServer(): Promise<RedisServer> {
  const server = await startRedisServer();
  onTestFinished(() => server.dispose());
  return server;
}

function openStore(options: RedisStoreOptions): RedisStore {
  const store = new RedisStore(options);
  onTestFinished(() => store.close());
  return store;
}

async function storeErrorOf(promise: Promise<unknown>): Promise<StoreError> {
  const error: unknown = await promise.then(() => undefined, (reason: unknown) => reason);
  if (!StoreError.isInstance(error)) throw new Error(`expected a StoreError, got ${String(error)}`);
  return error;
}

/** A loopback port nothing listens on. */
function deadPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Large enough that an answer before it shows the store failed fast rather than timing out.
/** The id of the store's connection (the client name it sets), for CLIENT KILL. */
async function storeConnectionId(admin: Redis): Promise<string> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  const id = /^id=(\d+) .* name=sessionkit-token-store /m.exec(list)?.[1];
  if (id === undefined) throw new Error(`No connection named sessionkit-token-store in CLIENT LIST:\n${list}`);
  return id;
}

const patientMs = 8_000;

describe.skipIf(skipReason !== undefined)(`RedisStore while Redis is down${skipReason === undefined ? '' : ` SKIPPED: ${skipReason}`}`, () => {
  it('a server that stops: every call rejects with UNAVAILABLE at once; the store recovers when it is back', async () => {
    const server = await ownServer();
    const { logger, entries } = recordingLogger();
    const store = openStore({ url: server.url, commandTimeoutMs: patientMs, logger });
    await store.set('key', { version: 1, value: 'before' });
    await server.stop();
    await eventually(() => entries.some((entry) => entry.msg === 'lost the connection to Redis; reconnecting in the background'));
    // The warning comes with the close; the errors name ECONNREFUSED once a reconnect has failed.
    await eventually(async () => (await storeErrorOf(store.get('key'))).message.includes('ECONNREFUSED'));
    let ran = false;
    const started = Date.now();
    const errors = [
      await storeErrorOf(store.get('key')),
      await storeErrorOf(store.set('key', { version: 1 })),
      await storeErrorOf(store.delete('key')),
      await storeErrorOf(store.withLock('key', () => {
        ran = true;
        return Promise.resolve();
      })),
    ];
    expect(errors.map((error) => error.code)).toEqual(['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
    expect(Date.now() - started).toBeLessThan(patientMs / 2);
    expect(ran).toBe(false);
    expect(errors[0]?.message).toMatch(/Redis is unreachable/);
    expect(errors[0]?.message).toContain('ECONNREFUSED');

    await server.restart();
    // The data is gone with the server (no persistence), but the store works again.
    await eventually(async () => (await store.get('key').then(() => true, () => false)));
    await store.set('key', { version: 1, value: 'after' });
    await expect(store.get('key')).resolves.toEqual({ version: 1, value: 'after' });
    expect(entries.some((entry) => entry.level === 'info' && entry.msg === 'reconnected to Redis')).toBe(true);
  }, 30_000);

  it('a connection lost for less than the first reconnect delay is logged as lost (once per outage, not per retry) and as reconnected', async () => {
    const server = await ownServer();
    const { logger, entries } = recordingLogger();
    const store = openStore({ url: server.url, logger });
    await store.set('key', { version: 1 });
    const admin = new Redis(server.url);
    admin.on('error', () => undefined);
    onTestFinished(() => {
      admin.disconnect();
    });
    const lost = (): number => entries.filter((entry) => entry.level === 'warn' && entry.msg === 'lost the connection to Redis; reconnecting in the background').length;
    const reconnected = (): number => entries.filter((entry) => entry.level === 'info' && entry.msg === 'reconnected to Redis').length;
    // The server drops the store's connection and is there for the first reconnect: no 'error' event.
    await admin.call('CLIENT', 'KILL', 'ID', await storeConnectionId(admin));
    await eventually(() => reconnected() === 1);
    expect(lost()).toBe(1);
    await expect(store.get('key')).resolves.toEqual({ version: 1 });
    // A longer outage, over several reconnect attempts: one more warning, not one per attempt.
    await server.stop();
    await sleep(1_000);
    await server.restart();
    await eventually(() => reconnected() === 2);
    expect(lost()).toBe(2);
    expect(entries.find((entry) => entry.level === 'warn')).toMatchObject({ endpoint: server.url, message: 'the connection was closed' });
  }, 30_000);

  it('a command under way when the server drops the connection is UNAVAILABLE saying the connection was lost, not about maxRetriesPerRequest, which the caller never set', async () => {
    const server = await ownServer();
    const store = openStore({ url: server.url, commandTimeoutMs: patientMs });
    await store.set('key', { version: 1 });
    const admin = new Redis(server.url);
    admin.on('error', () => undefined);
    onTestFinished(async () => {
      await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
      admin.disconnect();
    });
    const id = await storeConnectionId(admin);
    // Writes wait on the server meanwhile; the write is sent, then its connection dropped.
    await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE');
    const writing = storeErrorOf(store.set('key', { version: 1, second: true }));
    await sleep(200);
    await admin.call('CLIENT', 'KILL', 'ID', id);
    const error = await writing;
    expect(error).toMatchObject({
      code: 'UNAVAILABLE',
      message: 'The connection to Redis was lost as the store tried to write a record; the client is reconnecting in the background: try again, and check that the Redis server is running and reachable.',
    });
    await admin.call('CLIENT', 'UNPAUSE');
    await eventually(async () => (await store.get('key').catch(() => undefined)) !== undefined);
  }, 30_000);

  it('the warning names the database of the url, given as ?db=2 or /3', async () => {
    const server = await ownServer();
    const admin = new Redis(server.url);
    admin.on('error', () => undefined);
    onTestFinished(() => {
      admin.disconnect();
    });
    for (const [url, endpoint] of [
      [`${server.url}?db=2`, `${server.url}/2`],
      [`${server.url}/3`, `${server.url}/3`],
    ] as const) {
      const { logger, entries } = recordingLogger();
      const store = openStore({ url, logger });
      await store.set('key', { version: 1 });
      await admin.call('CLIENT', 'KILL', 'ID', await storeConnectionId(admin));
      await eventually(() => entries.some((entry) => entry.level === 'info' && entry.msg === 'reconnected to Redis'));
      expect(entries.filter((entry) => entry.level === 'warn' || entry.msg === 'reconnected to Redis').map((entry) => entry.endpoint)).toEqual([endpoint, endpoint]);
      await store.close();
    }
  }, 30_000);

  it('nothing listening at the URL: UNAVAILABLE at once, not a hang', async () => {
    const port = await deadPort();
    const store = openStore({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: patientMs });
    const started = Date.now();
    const error = await storeErrorOf(store.get('key'));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toContain('ECONNREFUSED');
    await expect(store.withLock('key', () => Promise.resolve())).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(patientMs / 2);
  });

  it('a frozen server (SIGSTOP): TIMEOUT after commandTimeoutMs', async () => {
    const server = await ownServer();
    const store = openStore({ url: server.url, commandTimeoutMs: 300 });
    await store.set('key', { version: 1 });
    server.pause();
    onTestFinished(() => {
      server.resume();
    });
    const started = Date.now();
    const error = await storeErrorOf(store.get('key'));
    expect(error.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    server.resume();
    await eventually(async () => (await store.get('key').then(() => true, () => false)));
    await expect(store.get('key')).resolves.toEqual({ version: 1 });
  }, 30_000);

  /**
   * A store (commandTimeoutMs 300) on a server of its own that holds `key`, then the server frozen
   * (SIGSTOP) and the test's timers faked; both undone when the test ends.
   */
  async function frozenUnderFakeTimers(make: (url: string) => RedisStore): Promise<RedisStore> {
    const server = await ownServer();
    const store = make(server.url);
    await store.set('key', { version: 1 });
    server.pause();
    onTestFinished(() => {
      server.resume();
    });
    vi.useFakeTimers();
    onTestFinished(() => {
      vi.useRealTimers();
    });
    return store;
  }

  it('close() with a frozen server returns after commandTimeoutMs, also under fake timers (the clock never advancing)', async () => {
    const store = await frozenUnderFakeTimers((url) => new RedisStore({ url, commandTimeoutMs: 300 }));
    // Real time (node:timers/promises, which fake timers leave alone): a close() that hangs loses the race.
    const outcome = await Promise.race([store.close().then(() => 'closed'), sleep(5_000).then(() => 'still closing after 5 s')]);
    vi.useRealTimers();
    expect(outcome).toBe('closed');
    expect((await storeErrorOf(store.get('key'))).code).toBe('UNAVAILABLE');
  }, 30_000);

  it('a frozen server under fake timers (the clock never advancing): get() and withLock() still end after commandTimeoutMs', async () => {
    const store = await frozenUnderFakeTimers((url) => openStore({ url, commandTimeoutMs: 300 }));
    // Real time, as above: on the global timers, the command's timeout never fired.
    const outcome = (promise: Promise<unknown>): Promise<unknown> => Promise.race([promise.then(() => 'resolved', (error: unknown) => (error as StoreError).code), sleep(5_000).then(() => 'still waiting after 5 s')]);
    expect(await outcome(store.get('key'))).toBe('TIMEOUT');
    expect(await outcome(store.withLock('key', () => Promise.resolve(), { timeoutMs: 300 }))).toBe('TIMEOUT');
  }, 30_000);

  it('an ioredis client passed in with its default options (offline queue on) still fails fast', async () => {
    const server = await ownServer();
    const client = new Redis(server.url);
    client.on('error', () => undefined);
    onTestFinished(() => {
      client.disconnect();
    });
    const store = openStore({ client, commandTimeoutMs: patientMs });
    await store.set('key', { version: 1 });
    await server.stop();
    await eventually(() => client.status === 'reconnecting');
    const started = Date.now();
    await expect(store.get('key')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(store.withLock('key', () => Promise.resolve())).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(patientMs / 2);
  }, 30_000);

  it('a holder whose Redis goes away cannot renew: after a lease it warns that the lock is probably lost', async () => {
    const server = await ownServer();
    const { logger, entries } = recordingLogger();
    const leaseMs = 300;
    const store = openStore({ url: server.url, lockLeaseMs: leaseMs, logger });
    const result = await store.withLock('key', async () => {
      await server.stop();
      await eventually(() => entries.some((entry) => entry.msg.startsWith('could not renew the Redis lock for longer than its lease')));
      return 'finished';
    });
    expect(result).toBe('finished');
    const warnings = entries.filter((entry) => entry.level === 'warn').map((entry) => entry.msg);
    expect(warnings).toContain('could not renew the Redis lock for longer than its lease: it has probably expired, and another process may now hold it');
    expect(warnings).toContain('could not release the Redis lock; it expires when its lease runs out');
  }, 30_000);
});
