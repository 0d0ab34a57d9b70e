import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { RedisStore } from './redis-store.js';
import { type RedisServer, redisSkipReason, startRedisServer } from './testing/redis-server.js';
import { spawnChild, type TsChild } from './testing/spawn-ts.js';

const skipReason = await redisSkipReason();

let server: RedisServer;

beforeAll(async () => {
  if (skipReason !== undefined) return;
  server = await startRedisServer();
});

afterAll(async () => {
  if (skipReason !== undefined) return;
  await server.dispose();
});

function killOnFinish(child: TsChild): void {
  onTestFinished(() => {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  });
}

function openStore(prefix: string, leaseMs?: number): RedisStore {
  const store = new RedisStore({ url: server.url, prefix, lockLeaseMs: leaseMs });
  onTestFinished(() => store.close());
  return store;
}

describe.skipIf(skipReason !== undefined)(`RedisStore across processes${skipReason === undefined ? '' : ` SKIPPED: ${skipReason}`}`, () => {
  it('8 processes x 40 withLock-guarded read-modify-write increments end at exactly 320, leaving no lock behind', async () => {
    const prefix = `processes-${randomUUID()}:`;
    const children = Array.from({ length: 8 }, () => spawnChild('redis-increment', [server.url, prefix, 'counter', '40', '5000']));
    children.forEach(killOnFinish);
    await Promise.all(children.map((child) => child.line((line) => line === 'ready')));
    for (const child of children) child.process.stdin.write('go\n');
    const results = await Promise.all(children.map((child) => child.exited));
    for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0 });
    const store = openStore(prefix);
    await expect(store.get('counter')).resolves.toEqual({ version: 1, count: 320 });
    const probe = openStore(prefix);
    // The lock is free at once: no holder left it behind.
    await expect(probe.withLock('counter', () => Promise.resolve('free'), { timeoutMs: 0 })).resolves.toBe('free');
  }, 60_000);

  it('a holder killed with SIGKILL keeps others out until its lease runs out, then one takes over', async () => {
    const prefix = `killed-${randomUUID()}:`;
    const leaseMs = 1_200;
    const holder = spawnChild('redis-hold-lock', [server.url, prefix, 'key', String(leaseMs), '60000']);
    killOnFinish(holder);
    await holder.line((line) => line === 'locked');
    const store = openStore(prefix, leaseMs);
    // Alive, the holder renews its lease: waiting longer than a lease gets nothing.
    await expect(store.withLock('key', () => Promise.resolve(), { timeoutMs: leaseMs * 1.5 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    holder.process.kill('SIGKILL');
    const killedAt = Date.now();
    await holder.exited;
    const acquiredAt = await store.withLock('key', () => Promise.resolve(Date.now()), { timeoutMs: 10_000 });
    // Its last renewal was about leaseMs / 3 before the kill at most (more on a starved CPU); the
    // lease then ran to its end: not at once.
    expect(acquiredAt - killedAt).toBeGreaterThanOrEqual(leaseMs / 2);
    expect(acquiredAt - killedAt).toBeLessThan(leaseMs + 1_000);
  }, 30_000);

  it('a live holder releases cleanly, with no warning', async () => {
    const prefix = `clean-${randomUUID()}:`;
    const holder = spawnChild('redis-hold-lock', [server.url, prefix, 'key', '300', '700']);
    killOnFinish(holder);
    await holder.line((line) => line === 'locked');
    const store = openStore(prefix);
    await expect(store.withLock('key', () => Promise.resolve('after release'), { timeoutMs: 10_000 })).resolves.toBe('after release');
    const result = await holder.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(holder.lines).toContain('released');
    expect(holder.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
  }, 30_000);

  it('ioredis is loaded only when a store created from a URL is first used', async () => {
    const probe = spawnChild('redis-import-probe', [server.url, 'load']);
    killOnFinish(probe);
    const result = await probe.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(probe.lines[0] ?? 'null')).toEqual({
      afterImport: false,
      afterConstruct: false,
      afterUse: true,
      result: { ok: true, record: { version: 1 } },
    });
  }, 30_000);

  it('without ioredis installed, a store from a URL rejects with UNAVAILABLE naming the package', async () => {
    const probe = spawnChild('redis-import-probe', [server.url, 'hide']);
    killOnFinish(probe);
    const result = await probe.exited;
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(probe.lines[0] ?? 'null') as { afterUse: boolean; result: { ok: boolean; name: string; code: string; message: string } };
    expect(report.afterUse).toBe(false);
    expect(report.result).toMatchObject({ ok: false, name: 'StoreError', code: 'UNAVAILABLE' });
    expect(report.result.message).toContain('npm install ioredis');
  }, 30_000);
});
