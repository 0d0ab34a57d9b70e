// Fleet mode: Sessions in many processes sharing one identity through a RedisStore on a real
// redis-server (started by the test on a free loopback port; the tests are skipped, with the
// reason in their titles, where redis-server is not installed).
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { startSandbox, type Sandbox } from '@sessionkit/sandbox';
import { StoreError } from '@sessionkit/token-store';
import { RedisStore } from '@sessionkit/token-store/redis';
import { oauth2, type RefreshFailedEvent, Session } from '@sessionkit/core-session';
// The token-store package's test helper for a private redis-server (not published).
import { type RedisServer, redisSkipReason, startRedisServer } from '../../token-store/src/testing/redis-server.js';
import { eventually, manualClock } from './testing/helpers.js';

const skipReason = await redisSkipReason();
const skipped = skipReason === undefined ? '' : ` SKIPPED: ${skipReason}`;

let redis: RedisServer;
let sandbox: Sandbox;

beforeAll(async () => {
  if (skipReason === undefined) redis = await startRedisServer();
});

afterAll(async () => {
  if (skipReason === undefined) await redis.dispose();
});

beforeEach(async () => {
  sandbox = await startSandbox();
});

afterEach(async () => {
  await sandbox.close();
});

interface ChildResult {
  ok: boolean;
  fingerprint?: string;
  name?: string;
  code?: string;
  retryAfterMs?: number;
}

const childScript = fileURLToPath(new URL('./testing/redis-session-child.ts', import.meta.url));

/** A process with one Session on a RedisStore (testing/redis-session-child.ts). */
class FleetChild {
  readonly process: ChildProcessWithoutNullStreams;
  readonly lines: string[] = [];
  readonly #waiters: { test: (line: string) => boolean; resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  #stderr = '';
  readonly exited: Promise<number | null>;

  constructor(env: Record<string, string>) {
    this.process = spawn(process.execPath, ['--import', 'tsx', '--conditions=@sessionkit/source', childScript], {
      env: { ...process.env, ...env },
      stdio: 'pipe',
    });
    let buffered = '';
    this.process.stdout.setEncoding('utf8');
    this.process.stderr.setEncoding('utf8');
    this.process.stderr.on('data', (chunk: string) => (this.#stderr += chunk));
    this.process.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      for (let newline = buffered.indexOf('\n'); newline !== -1; newline = buffered.indexOf('\n')) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        this.lines.push(line);
        for (const waiter of [...this.#waiters]) {
          if (waiter.test(line)) {
            this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    });
    this.exited = new Promise((resolve) => {
      this.process.once('close', (code) => {
        for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error(`child exited (${String(code)}) before the expected line; stderr: ${this.#stderr}`));
        resolve(code);
      });
    });
    onTestFinished(async () => {
      if (this.process.exitCode === null && this.process.signalCode === null) {
        this.process.stdin.end();
        const timer = setTimeout(() => this.process.kill('SIGKILL'), 5_000);
        await this.exited;
        clearTimeout(timer);
      }
    });
  }

  /** The next line (from index `from` on) that `test` accepts. */
  line(test: (line: string) => boolean, from = 0): Promise<string> {
    const found = this.lines.slice(from).find(test);
    if (found !== undefined) return Promise.resolve(found);
    if (this.process.exitCode !== null || this.process.signalCode !== null) return Promise.reject(new Error(`child has exited; stderr: ${this.#stderr}`));
    return new Promise((resolve, reject) => this.#waiters.push({ test, resolve, reject }));
  }

  /** getToken() in the child, with its clock at `at`. */
  async getToken(at: number): Promise<ChildResult> {
    const from = this.lines.length;
    this.process.stdin.write(`get ${at}\n`);
    return JSON.parse(await this.line((line) => line.startsWith('{'), from)) as ChildResult;
  }
}

/** `count` children on a fresh prefix (an empty Redis for them), all ready. */
async function fleet(count: number, prefix: string, leaseMs = 5_000): Promise<FleetChild[]> {
  const env = { TOKEN_URL: sandbox.tokenUrl, REDIS_URL: redis.url, REDIS_PREFIX: prefix, LEASE_MS: String(leaseMs) };
  const children = Array.from({ length: count }, () => new FleetChild(env));
  await Promise.all(children.map((child) => child.line((line) => line === 'ready')));
  return children;
}

function redisSession(store: RedisStore, clock?: () => number): Session {
  return new Session({
    authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
    store,
    clock,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
  });
}

describe.skipIf(skipReason !== undefined)(`Session fleet on a RedisStore${skipped}`, () => {
  it('8 processes on an empty Redis make exactly 1 token request; new processes then use the stored token (0 requests)', async () => {
    const prefix = `fleet-${randomUUID()}:`;
    const children = await fleet(8, prefix);
    const at = Date.now();
    const results = await Promise.all(children.map((child) => child.getToken(at)));
    expect(results.every((result) => result.ok)).toBe(true);
    expect(new Set(results.map((result) => result.fingerprint)).size).toBe(1);
    expect(sandbox.stats.idp.requests).toBe(1);

    const newcomers = await fleet(2, prefix);
    const later = await Promise.all(newcomers.map((child) => child.getToken(Date.now())));
    expect(later.map((result) => result.fingerprint)).toEqual([results[0]?.fingerprint, results[0]?.fingerprint]);
    expect(sandbox.stats.idp.requests).toBe(1);
  }, 60_000);

  it('a lock holder killed mid-acquisition (SIGKILL) keeps the others out until its lease ends; then one takes over', async () => {
    const prefix = `fleet-${randomUUID()}:`;
    const leaseMs = 1_500;
    // The first token request never gets an answer: its process is stuck in the acquisition.
    sandbox.idp.injectFault({ kind: 'hang' });
    const children = await fleet(3, prefix, leaseMs);
    const at = Date.now();
    const pending = children.map((child) => ({ child, result: child.getToken(at) }));
    // The holder is killed before it answers.
    for (const entry of pending) entry.result.catch(() => undefined);
    const holder = await Promise.any(children.map(async (child) => {
      await child.line((line) => line === 'locked');
      return child;
    }));
    await eventually(() => sandbox.stats.idp.requests === 1);
    // The holder's request hangs while its lease is renewed: nobody else asks for a token.
    const store = new RedisStore({ url: redis.url, prefix });
    onTestFinished(() => store.close());
    const key = redisSession(store).key;
    await expect(store.withLock(key, () => Promise.resolve(), { timeoutMs: leaseMs * 1.5 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    expect(sandbox.stats.idp.requests).toBe(1);

    holder.process.kill('SIGKILL');
    const killedAt = Date.now();
    const others = pending.filter((entry) => entry.child !== holder);
    const results = await Promise.all(others.map((entry) => entry.result));
    const tookOverAfter = Date.now() - killedAt;
    expect(results.every((result) => result.ok)).toBe(true);
    expect(new Set(results.map((result) => result.fingerprint)).size).toBe(1);
    expect(sandbox.stats.idp.requests).toBe(2);
    // Its last renewal was about leaseMs / 3 before the kill at most (more on a starved CPU): the
    // others waited for the lease to run out.
    expect(tookOverAfter).toBeGreaterThanOrEqual(leaseMs / 2);
  }, 60_000);

  it('a 429 seen by one process stops every process until Retry-After has passed', async () => {
    const prefix = `fleet-${randomUUID()}:`;
    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: 2 });
    const children = await fleet(4, prefix);
    const at = Date.now();
    const results = await Promise.all(children.map((child) => child.getToken(at)));
    for (const result of results) {
      expect(result).toMatchObject({ ok: false, name: 'AuthError', code: 'RATE_LIMITED' });
      expect(result.retryAfterMs).toBeGreaterThan(0);
      expect(result.retryAfterMs).toBeLessThanOrEqual(2_000);
    }
    // One process got the 429; the others learnt of it from the throttle record in Redis.
    expect(sandbox.stats.idp.requests).toBe(1);
    const store = new RedisStore({ url: redis.url, prefix });
    onTestFinished(() => store.close());
    const key = redisSession(store).key;
    await expect(store.get(key)).resolves.toMatchObject({ version: 1, throttledUntil: at + 2_000 });

    // Processes that start later, one millisecond before the end, stay away too.
    const latecomers = await fleet(2, prefix);
    for (const result of await Promise.all(latecomers.map((child) => child.getToken(at + 1_999)))) {
      expect(result).toMatchObject({ ok: false, code: 'RATE_LIMITED', retryAfterMs: 1 });
    }
    expect(sandbox.stats.idp.requests).toBe(1);

    // Once Retry-After has passed, the fleet gets one token with one request.
    const after = await Promise.all(children.map((child) => child.getToken(at + 2_000)));
    expect(after.every((result) => result.ok)).toBe(true);
    expect(new Set(after.map((result) => result.fingerprint)).size).toBe(1);
    expect(sandbox.stats.idp.requests).toBe(2);
  }, 60_000);
});

describe.skipIf(skipReason !== undefined)(`Session on a RedisStore during a Redis outage${skipped}`, () => {
  /** A redis-server of the test's own, since the test stops it. */
  async function ownRedis(): Promise<RedisServer> {
    const server = await startRedisServer();
    onTestFinished(() => server.dispose());
    return server;
  }

  it('with a valid token in memory, getToken() keeps serving it; a background refresh fails without disturbing callers', async () => {
    const server = await ownRedis();
    const store = new RedisStore({ url: server.url });
    onTestFinished(() => store.close());
    const clock = manualClock();
    const session = redisSession(store, clock);
    const token = await session.getToken();
    const failures: RefreshFailedEvent[] = [];
    session.on('refresh-failed', (event) => failures.push(event));

    await server.stop();
    expect((await session.getToken()).value).toBe(token.value);
    expect(await session.authorization()).toBe(`Bearer ${token.value}`);

    // Past the refresh point (which falls in the first half of the 5-minute window): still the
    // same token, while the background refresh fails on the store.
    clock.advance(3_600_000 - 100_000);
    expect((await session.getToken()).value).toBe(token.value);
    await eventually(() => failures.length > 0);
    expect(failures[0]).toMatchObject({ background: true });
    expect(StoreError.isInstance(failures[0]?.error) && failures[0].error.code).toBe('UNAVAILABLE');
    expect((await session.getToken()).value).toBe(token.value);
    expect(sandbox.stats.idp.requests).toBe(1);

    // Inside the last seconds before expiry, where callers would wait for a new token: the
    // store cannot coordinate one, so the token that has not expired yet is still served.
    clock.advance(100_000 - 5_000);
    expect((await session.getToken()).value).toBe(token.value);
    expect(sandbox.stats.idp.requests).toBe(1);

    // Expired: nothing valid is left, and the caller learns why.
    clock.advance(5_000);
    await expect(session.getToken()).rejects.toMatchObject({ name: 'StoreError', code: 'UNAVAILABLE' });
    expect(sandbox.stats.idp.requests).toBe(1);
  }, 30_000);

  it('without a token in memory, getToken() rejects with StoreError UNAVAILABLE and asks the token endpoint nothing; it works again once Redis is back', async () => {
    const server = await ownRedis();
    const store = new RedisStore({ url: server.url });
    onTestFinished(() => store.close());
    await store.get('warm-up');
    await server.stop();
    const session = redisSession(store);
    const error: unknown = await session.getToken().then(() => undefined, (reason: unknown) => reason);
    expect(StoreError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ name: 'StoreError', code: 'UNAVAILABLE' });
    expect(sandbox.stats.idp.requests).toBe(0);

    // A store that never reached Redis (nothing listening) says the same.
    const cold = new RedisStore({ url: server.url });
    onTestFinished(() => cold.close());
    await expect(redisSession(cold).getToken()).rejects.toMatchObject({ name: 'StoreError', code: 'UNAVAILABLE' });
    expect(sandbox.stats.idp.requests).toBe(0);

    await server.restart();
    await eventually(async () => store.get('warm-up').then(() => true, () => false), 10_000);
    const token = await session.getToken();
    expect(sandbox.idp.verifyAccessToken(token.value)).toBeDefined();
    expect(await store.get(session.key)).toMatchObject({ version: 1, token: { value: token.value } });
  }, 30_000);
});
