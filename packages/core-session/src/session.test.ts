import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { createLogger } from '@sessionkit/logger';
import { startSandbox, type Sandbox } from '@sessionkit/sandbox';
import { MemoryStore, StoreError, type LockOptions } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { AuthError, type AuthContext, type Authenticator, oauth2, type OAuth2Options, Session, type SessionData, type SessionFromEnvOptions, type SessionOptions, type Token } from '@sessionkit/core-session';
import { CountingStore, eventually, manualClock, settled, startTokenServer, type TokenServer } from './testing/helpers.js';

/** A MemoryStore whose get, set or withLock rejects with the StoreError set for it in `fail` (an outage, a full disk), while it is set. */
class FaultyStore extends MemoryStore {
  readonly fail: { get?: StoreError | undefined; set?: StoreError | undefined; withLock?: StoreError | undefined } = {};

  override get(key: string): ReturnType<MemoryStore['get']> {
    return this.fail.get ? Promise.reject(this.fail.get) : super.get(key);
  }

  override async set(...args: Parameters<MemoryStore['set']>): Promise<void> {
    if (this.fail.set) throw this.fail.set;
    await super.set(...args);
  }

  override withLock<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return this.fail.withLock ? Promise.reject(this.fail.withLock) : super.withLock(key, fn, options);
  }
}

const diskFull = new StoreError('UNAVAILABLE', 'The disk is full (test).');
const storeDown = new StoreError('UNAVAILABLE', 'The store is down (test).');

let sandbox: Sandbox;

beforeEach(async () => {
  sandbox = await startSandbox();
});

afterEach(async () => {
  await sandbox.close();
});

function clientCredentials(overrides: Partial<OAuth2Options> = {}): Authenticator {
  return oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret', ...overrides });
}

function passwordGrant(overrides: Partial<OAuth2Options> = {}): Authenticator {
  return oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'password', clientId: 'GrantValidatorClient', username: 'demo', password: 'demo-password', ...overrides });
}

function session(options: Partial<SessionOptions> = {}): Session {
  return new Session({ authenticator: clientCredentials(), retry: { baseDelayMs: 1, maxDelayMs: 5 }, ...options });
}

describe('Session: single flight', () => {
  it('answers 1,000 concurrent getToken() calls on an empty store with exactly 1 token request', async () => {
    const subject = session();
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => subject.getToken()));
    expect(sandbox.stats.idp.requests).toBe(1);
    expect(new Set(tokens.map((token) => token.value)).size).toBe(1);
    expect(sandbox.idp.verifyAccessToken(tokens[0]!.value)?.identity).toBe('client:sessionkit-demo');
  });

  it('shares one acquisition between two Session objects of the same identity and store', async () => {
    const store = new MemoryStore();
    const first = session({ store });
    const second = session({ store });
    const tokens = await Promise.all([...Array.from({ length: 50 }, () => first.getToken()), ...Array.from({ length: 50 }, () => second.getToken())]);
    expect(sandbox.stats.idp.requests).toBe(1);
    expect(new Set(tokens.map((token) => token.value)).size).toBe(1);
  });

  it('serves a warm token from memory: the same settled promise, no request', async () => {
    const subject = session();
    const token = await subject.start();
    expect(subject.getToken()).toBe(subject.getToken());
    expect(await subject.getToken()).toBe(token);
    expect(await subject.authorization()).toBe(`Bearer ${token.value}`);
    expect(sandbox.stats.idp.requests).toBe(1);
  });
});

describe('Session: events', () => {
  it('off() removes a listener added with once() before it fired', async () => {
    const clock = manualClock();
    const subject = session({ clock });
    const cancelled: Token[] = [];
    const kept: Token[] = [];
    const onCancelled = (token: Token): void => void cancelled.push(token);
    subject.once('token', onCancelled).once('token', (token) => kept.push(token));
    subject.off('token', onCancelled);
    const first = await subject.getToken();
    clock.advance(3_600_000);
    await subject.getToken();
    expect(cancelled).toEqual([]);
    expect(kept).toEqual([first]);

    // The same listener added with on() and once(): off() stops both.
    subject.on('token', onCancelled).once('token', onCancelled).off('token', onCancelled);
    clock.advance(3_600_000);
    await subject.getToken();
    expect(cancelled).toEqual([]);
    expect(sandbox.stats.idp.requests).toBe(3);
  });
});

/** A password-grant session that has logged in and whose token has since expired, with the refresh-failed events it emits. */
async function expiredPasswordSession(): Promise<{ subject: Session; failures: unknown[] }> {
  const clock = manualClock();
  const subject = session({ clock, authenticator: passwordGrant() });
  const failures: unknown[] = [];
  subject.on('refresh-failed', (event) => failures.push(event));
  await subject.getToken();
  clock.advance(3_600_000);
  return { subject, failures };
}

describe('Session: refresh-failed', () => {
  it('leaves a failed blocking acquisition to its callers; a refresh that fails on a server error (retried) does not fall back to a new login, and its refresh token is used again', async () => {
    const { subject, failures } = await expiredPasswordSession();
    // Callers wait for the refresh-token grant, which fails (500, retried): no password login on
    // top (it would add load, and count against a per-user login limit).
    sandbox.idp.injectFault({ kind: 'error', count: 3 });
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => subject.getToken().catch((error: unknown) => error)));
    expect(outcomes).toEqual(Array.from({ length: 10 }, () => expect.objectContaining({ name: 'AuthError', code: 'SERVER' }) as unknown));
    expect(failures).toEqual([]);
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 1, refresh_token: 3 });
    // The endpoint is back: the same refresh token, not refused, gets the next token.
    await subject.getToken();
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 1, refresh_token: 4 });
  });

  it('falls back to a new login when the same refresh token fails on a server error in a second acquisition (a server that answers a refresh token it will never take with a 5xx)', async () => {
    const { subject, failures } = await expiredPasswordSession();
    sandbox.idp.injectFault({ kind: 'error', count: 1000, grant: 'refresh_token' });
    // The first acquisition keeps the refresh token (an outage, for all it knows) and fails.
    await expect(subject.getToken()).rejects.toMatchObject({ code: 'SERVER' });
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 1, refresh_token: 3 });
    // The next one, failing on the same refresh token again, logs in.
    const token = await subject.getToken();
    expect(sandbox.idp.verifyAccessToken(token.value)).toBeDefined();
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 2, refresh_token: 6 });
    expect(failures).toEqual([{ error: expect.objectContaining({ code: 'SERVER' }) as unknown, background: false, fallback: true }]);
  });

  it('presents a refused refresh token once: when the login it fell back to fails too, later acquisitions only log in', async () => {
    const { subject, failures } = await expiredPasswordSession();
    // The grant revoked and the password changed: the refresh token and the login are both refused.
    sandbox.idp.revokeAll();
    sandbox.idp.injectFault({ kind: 'error', status: 400, grant: 'password', count: 1000 });
    for (let call = 0; call < 3; call += 1) await expect(subject.getToken()).rejects.toMatchObject({ name: 'AuthError', status: 400 });
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 4, refresh_token: 1 });
    expect(failures).toEqual([{ error: expect.objectContaining({ code: 'INVALID_CREDENTIALS', oauthError: 'invalid_grant' }) as unknown, background: false, fallback: true }]);
  });

  it('presents a refresh token again after an outage made it fall back to a login: only a refusal (INVALID_CREDENTIALS) marks it dead', async () => {
    const clock = manualClock();
    let down = false;
    const calls: string[] = [];
    let logins = 0;
    const authenticator: Authenticator = {
      identity: 'refresh after an outage',
      // The first login works; later ones fail: with the network down, or as a login that needs a person.
      authenticate: ({ now }) => {
        calls.push('login');
        if (logins++) return Promise.reject(new AuthError(down ? 'NETWORK' : 'CONFIGURATION', 'no login now'));
        return Promise.resolve({ value: 'token-1', refreshToken: 'refresh-1', obtainedAt: now(), expiresAt: now() + 600_000 });
      },
      refresh: (token, { now }) => {
        calls.push('refresh');
        if (down) return Promise.reject(new AuthError('NETWORK', 'The token endpoint request failed (ECONNREFUSED).'));
        return Promise.resolve({ value: 'token-2', refreshToken: token.refreshToken, obtainedAt: now(), expiresAt: now() + 600_000 });
      },
    };
    const subject = session({ clock, authenticator, retry: { retries: 0 } });
    await subject.getToken();
    clock.advance(700_000);
    down = true;
    // The second failure on the same refresh token falls back to a login (which fails too).
    await expect(subject.getToken()).rejects.toMatchObject({ code: 'NETWORK' });
    await expect(subject.getToken()).rejects.toMatchObject({ code: 'NETWORK' });
    down = false;
    expect((await subject.getToken()).value).toBe('token-2');
    expect(calls).toEqual(['login', 'refresh', 'refresh', 'login', 'refresh']);
  });

  it('takes an authenticator\'s null refresh and revoke (plain JavaScript) as none: no refresh attempt, no failure reported', async () => {
    const clock = manualClock();
    let issued = 0;
    const authenticator = {
      identity: 'null methods',
      authenticate: ({ now }: AuthContext) => Promise.resolve({ value: `token-${(issued += 1)}`, refreshToken: 'refresh', obtainedAt: now(), expiresAt: now() + 600_000 }),
      refresh: null,
      revoke: null,
    } as unknown as Authenticator;
    const subject = session({ clock, authenticator });
    const failures: unknown[] = [];
    subject.on('refresh-failed', (event) => failures.push(event));
    await subject.getToken();
    clock.advance(600_000);
    expect((await subject.getToken()).value).toBe('token-2');
    await subject.end();
    expect(failures).toEqual([]);
  });

  it('reports a failure that cannot be made a string (an object without a prototype): the background refresh emits refresh-failed, end() resolves', async () => {
    const clock = manualClock();
    const unprintable = (): unknown => Object.assign(Object.create(null) as object, { detail: 'x' });
    const lines: string[] = [];
    let logins = 0;
    const authenticator: Authenticator = {
      identity: 'unprintable failures',
      // The login works once; after that, it fails too.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what a custom authenticator may do
      authenticate: ({ now }) => (logins++ ? Promise.reject(unprintable()) : Promise.resolve({ value: 'token-1', refreshToken: 'refresh', obtainedAt: now(), expiresAt: now() + 600_000 })),
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what a custom authenticator may do
      refresh: () => Promise.reject(unprintable()),
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- likewise
      revoke: () => Promise.reject(unprintable()),
    };
    const subject = session({ clock, authenticator, refreshWindowMs: 300_000, expiryMarginMs: 10_000, logger: createLogger({ level: 'warn', format: 'json', write: (line) => lines.push(line) }) });
    const failures: unknown[] = [];
    subject.on('refresh-failed', (event) => failures.push(event));
    await subject.getToken();
    // Past the first half of the refresh window (where the refresh point falls, with jitter), before
    // the forced margin: the current token is served and a background refresh starts. It fails, and
    // so does the login it falls back to.
    clock.advance(500_000);
    expect((await subject.getToken()).value).toBe('token-1');
    await eventually(() => failures.length === 2);
    expect(failures).toMatchObject([{ background: true, fallback: true }, { background: true, fallback: false }]);
    await expect(subject.end()).resolves.toBeUndefined();
    expect(lines.map((line) => (JSON.parse(line) as { msg: string; code?: string; message?: string }))).toMatchObject([
      { msg: 'background refresh failed; serving the current token', code: 'object' },
      { msg: 'could not revoke the token', code: 'object' },
    ]);
  });

  it('logs the failures of a custom authenticator by their code, not their messages, which may quote a secret; an AuthError\'s message is kept', async () => {
    const clock = manualClock();
    const secret = 'hunter2-plain-secret';
    const lines: string[] = [];
    let logins = 0;
    const authenticator: Authenticator = {
      identity: 'custom login',
      authenticate: ({ now }) => (logins++ ? Promise.reject(new TypeError(`login refused for demo / ${secret}`)) : Promise.resolve({ value: 'token-1', refreshToken: 'refresh', obtainedAt: now(), expiresAt: now() + 600_000 })),
      refresh: () => Promise.reject(new Error(`refresh refused: ${secret}`)),
      revoke: () => Promise.reject(new AuthError('SERVER', 'The logout endpoint failed with HTTP 503.')),
    };
    const subject = session({ clock, authenticator, refreshWindowMs: 300_000, expiryMarginMs: 10_000, logger: createLogger({ level: 'warn', format: 'json', write: (line) => lines.push(line) }) });
    const failures: unknown[] = [];
    subject.on('refresh-failed', (event) => failures.push(event));
    await subject.getToken();
    clock.advance(500_000);
    await subject.getToken();
    await eventually(() => failures.length === 2);
    await subject.end();
    expect(lines.join('\n')).not.toContain(secret);
    expect(lines.map((line) => {
      const { msg, code, message } = JSON.parse(line) as Record<string, unknown>;
      return { msg, code, message };
    })).toEqual([
      { msg: 'background refresh failed; serving the current token', code: 'TypeError', message: undefined },
      { msg: 'could not revoke the token', code: 'SERVER', message: 'The logout endpoint failed with HTTP 503.' },
    ]);
  });
});

describe('Session: expiry and refresh', () => {
  it('measures expiresAt from when the request was sent', async () => {
    const clock = manualClock();
    const sentAt = clock();
    const token = await session({ clock }).getToken();
    expect(token.obtainedAt).toBe(sentAt);
    expect(token.expiresAt).toBe(sentAt + 3_600_000);
  });

  it('blocks and acquires a new token once the old one has expired', async () => {
    const clock = manualClock();
    const subject = session({ clock });
    const first = await subject.getToken();
    clock.advance(3_600_000);
    const second = await subject.getToken();
    expect(second.value).not.toBe(first.value);
    expect(sandbox.stats.idp.requests).toBe(2);
  });

  it('blocks within the forced margin before expiry', async () => {
    const clock = manualClock();
    const subject = session({ clock, expiryMarginMs: 10_000 });
    const first = await subject.getToken();
    clock.advance(3_600_000 - 10_000);
    expect((await subject.getToken()).value).not.toBe(first.value);
  });

  it('refreshes in the background inside the refresh window and keeps serving the current token', async () => {
    const clock = manualClock();
    const subject = session({ clock, refreshWindowMs: 300_000 });
    const first = await subject.getToken();
    clock.advance(3_600_000 - 300_000 - 1);
    expect(await subject.getToken()).toBe(first);
    expect(sandbox.stats.idp.requests).toBe(1);
    // Past the jittered start (the first half of the window), a refresh starts without blocking.
    clock.advance(150_000);
    const refreshed = new Promise<Token>((resolve) => subject.once('token', resolve));
    expect(await subject.getToken()).toBe(first);
    const second = await refreshed;
    expect(second.value).not.toBe(first.value);
    expect(await subject.getToken()).toBe(second);
    expect(sandbox.stats.idp.requests).toBe(2);
  });

  it('spreads the background refreshes of sessions holding equally old tokens over the first half of the window (jitter)', async () => {
    const clock = manualClock();
    const window = 300_000;
    const margin = 10_000;
    const sessions = Array.from({ length: 20 }, () => {
      const lines: string[] = [];
      const logger = createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) });
      return { session: session({ clock, logger, refreshWindowMs: window, expiryMarginMs: margin }), lines };
    });
    const first = await Promise.all(sessions.map(({ session: subject }) => subject.getToken()));
    const expiresAt = first[0]!.expiresAt!;
    expect(first.every((token) => token.expiresAt === expiresAt)).toBe(true);

    // Walk from before the window to past its first half; note when each session starts refreshing
    // (it logs that synchronously inside getToken(), which keeps answering with the current token).
    const startedAt = new Map<number, number>();
    const refreshed: Promise<unknown>[] = [];
    const step = 5000;
    clock.advance(expiresAt - window - step - clock());
    while (clock() < expiresAt - (window - margin) / 2 + step) {
      for (const [index, { session: subject, lines }] of sessions.entries()) {
        if (startedAt.has(index)) continue;
        const next = new Promise((resolve) => subject.once('token', resolve));
        expect(await subject.getToken()).toBe(first[index]);
        if (lines.some((line) => line.includes('refreshing in the background'))) {
          startedAt.set(index, clock());
          refreshed.push(next);
        }
      }
      clock.advance(step);
    }
    await Promise.all(refreshed);
    expect(startedAt.size).toBe(sessions.length);
    const starts = [...startedAt.values()];
    // Never before the window, always within its first half (plus one step of the walk)...
    expect(Math.min(...starts)).toBeGreaterThanOrEqual(expiresAt - window);
    expect(Math.max(...starts)).toBeLessThan(expiresAt - (window - margin) / 2 + step);
    // ...and not in lockstep: 20 uniform picks over 29 steps land on at most 2 steps with
    // probability below 1e-20.
    expect(new Set(starts).size).toBeGreaterThan(2);
    expect(sandbox.stats.idp.requests).toBe(40);
  });

  it('rotates refresh tokens; the spent one is refused by the server', async () => {
    const clock = manualClock();
    const subject = session({ clock, authenticator: passwordGrant() });
    const first = await subject.getToken();
    expect(first.refreshToken).toEqual(expect.any(String));
    clock.advance(3_600_000);
    const second = await subject.getToken();
    expect(second.refreshToken).toEqual(expect.any(String));
    expect(second.refreshToken).not.toBe(first.refreshToken);
    clock.advance(3_600_000);
    const third = await subject.getToken();
    expect(third.value).not.toBe(second.value);
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 1, refresh_token: 2 });

    const replay = await fetch(sandbox.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: first.refreshToken! }),
    });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');
  });

  /** A password-grant session on a manual clock and a FaultyStore, with its first token. */
  async function sessionWithFailingWrites() {
    const clock = manualClock();
    const store = new FaultyStore();
    const subject = session({ clock, store, authenticator: passwordGrant() });
    const failures: unknown[] = [];
    subject.on('refresh-failed', (event) => failures.push(event));
    return { clock, store, subject, failures, first: await subject.getToken() };
  }

  it('refreshes with the newer refresh token held in memory, not the spent one left in the store by a failed write', async () => {
    const { clock, store, subject, failures, first } = await sessionWithFailingWrites();
    store.fail.set = diskFull;
    clock.advance(3_600_000);
    // Refreshed with the first refresh token, which the server rotates; the new one is not stored.
    const second = await subject.getToken();
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect((await store.get(subject.key))?.token).toMatchObject({ refreshToken: first.refreshToken });
    store.fail.set = undefined;
    clock.advance(3_600_000);
    const third = await subject.getToken();
    expect(sandbox.idp.verifyAccessToken(third.value)?.identity).toBe('user:demo');
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 1, refresh_token: 2 });
    expect(failures).toEqual([]);
  });

  it('after two failed writes in a row, refreshes with the newest refresh token, presenting no spent one', async () => {
    const { clock, store, subject, failures, first } = await sessionWithFailingWrites();
    store.fail.set = diskFull;
    clock.advance(3_600_000);
    await subject.getToken();
    clock.advance(3_600_000);
    const third = await subject.getToken();
    // The store still holds the first token, whose refresh token is spent, as is the second's.
    expect((await store.get(subject.key))?.token).toMatchObject({ refreshToken: first.refreshToken });
    store.fail.set = undefined;
    clock.advance(3_600_000);
    const fourth = await subject.getToken();
    expect(fourth.value).not.toBe(third.value);
    expect(sandbox.stats.idp).toMatchObject({ refused: 0, byGrant: { password: 1, refresh_token: 3 } });
    expect(failures).toEqual([]);
  });

  it('keeps knowing the refresh token it spent through a burst of invalidations: still presents no spent one', async () => {
    const { clock, store, subject, failures, first } = await sessionWithFailingWrites();
    store.fail.set = diskFull;
    clock.advance(3_600_000);
    const second = await subject.getToken();
    store.fail.set = undefined;
    // The store still holds the first token, whose refresh token the refresh above spent.
    expect((await store.get(subject.key))?.token).toMatchObject({ refreshToken: first.refreshToken });
    // 40 requests refused with as many different older tokens (their Authorization headers): each
    // value is refused from now on, more than the 32 invalidated values kept.
    for (let index = 0; index < 40; index += 1) subject.invalidate(`Bearer older-token-${index}`);
    expect(await subject.getToken()).toBe(second);
    clock.advance(3_600_000);
    const third = await subject.getToken();
    expect(third.value).not.toBe(second.value);
    expect(sandbox.stats.idp).toMatchObject({ refused: 0, byGrant: { password: 1, refresh_token: 2 } });
    expect(failures).toEqual([]);
  });

  it('falls back to the primary grant once when the refresh token is refused', async () => {
    const clock = manualClock();
    const subject = session({ clock, authenticator: passwordGrant() });
    const failures: unknown[] = [];
    subject.on('refresh-failed', (event) => failures.push(event));
    await subject.getToken();
    sandbox.idp.revokeAll();
    clock.advance(3_600_000);
    const token = await subject.getToken();
    expect(sandbox.idp.verifyAccessToken(token.value)?.identity).toBe('user:demo');
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 2, refresh_token: 1 });
    expect(failures).toEqual([{ error: expect.objectContaining({ code: 'INVALID_CREDENTIALS', oauthError: 'invalid_grant' }) as unknown, background: false, fallback: true }]);
  });

  it('takes the successor another process stored with the refresh token it refused, instead of logging in', async () => {
    // Another process (one that took this one's lock for stale: a paused holder, say) refreshed
    // with the same refresh token first and stored its successor: this refresh is refused.
    const clock = manualClock();
    const store = new MemoryStore();
    const inner = passwordGrant();
    const refresh = inner.refresh?.bind(inner);
    if (!refresh) throw new Error('oauth2() refreshes');
    let successor: Token | undefined;
    let race = true;
    const authenticator: Authenticator = {
      identity: inner.identity,
      authenticate: (context) => inner.authenticate(context),
      refresh: async (token, context) => {
        if (!race) return refresh(token, context);
        successor = await refresh(token, context);
        await store.set(subject.key, { version: 1, identityHash: subject.export().identityHash, token: successor, lastUsedAt: clock() });
        return refresh(token, context);
      },
    };
    const subject = session({ clock, store, authenticator });
    const failures: unknown[] = [];
    subject.on('refresh-failed', (event) => failures.push(event));
    await subject.getToken();
    clock.advance(3_600_000);
    const token = await subject.getToken();
    expect(token.value).toBe(successor?.value);
    // The login, the other process's refresh and this one's, refused: no second login.
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 1, refresh_token: 2 });
    expect(failures).toEqual([]);
    // The successor's refresh token is the one used next.
    clock.advance(3_600_000);
    race = false;
    await subject.getToken();
    expect(sandbox.stats.idp).toMatchObject({ refused: 1, byGrant: { password: 1, refresh_token: 3 } });
  });

  it('expires idle tokens (sliding expiry) and keeps used ones alive', async () => {
    const clock = manualClock();
    const subject = session({ clock, idleTtlMs: 60_000 });
    const first = await subject.getToken();
    for (let step = 0; step < 5; step += 1) {
      clock.advance(50_000);
      expect(await subject.getToken()).toBe(first);
    }
    clock.advance(50_000);
    subject.touch();
    clock.advance(50_000);
    expect(await subject.getToken()).toBe(first);
    clock.advance(61_000);
    const second = await subject.getToken();
    expect(second.value).not.toBe(first.value);
    expect(sandbox.stats.idp.requests).toBe(2);
  });

  it('honours an idleTtlMs carried by the token itself', async () => {
    const clock = manualClock();
    let issued = 0;
    const authenticator: Authenticator = {
      identity: 'custom idle',
      authenticate: ({ now }) => {
        issued += 1;
        return Promise.resolve({ value: `session-${issued}`, type: 'Session', idleTtlMs: 1000, obtainedAt: now() });
      },
    };
    const subject = session({ clock, authenticator });
    expect(await subject.authorization()).toBe('Session session-1');
    clock.advance(800);
    expect((await subject.getToken()).value).toBe('session-1');
    clock.advance(1000);
    expect((await subject.getToken()).value).toBe('session-2');
  });

  it('serves a token whose expiresAt or idleTtlMs is under 1 s for 1 s after obtainedAt, then replaces it: one login a second, not one per call', async () => {
    const clock = manualClock();
    for (const times of [{ expiresAt: 0 }, { expiresAt: -60_000 }, { expiresAt: 999 }, { idleTtlMs: 0 }, { idleTtlMs: -1 }, { idleTtlMs: 1 }]) {
      const name = JSON.stringify(times);
      let logins = 0;
      const authenticator: Authenticator = {
        identity: `short times ${name}`,
        authenticate: ({ now }) => {
          logins += 1;
          const obtainedAt = now();
          // expiresAt counts from obtainedAt here.
          return Promise.resolve({ value: `session-${logins}`, type: 'Session', obtainedAt, ...times, ...('expiresAt' in times && { expiresAt: obtainedAt + times.expiresAt }) });
        },
      };
      const store = new CountingStore();
      // The session's own idleTtlMs does not apply to a token that carries one.
      const subject = session({ clock, store, authenticator, idleTtlMs: 60_000 });
      const obtainedAt = clock();
      for (let call = 0; call < 10; call += 1) {
        expect((await subject.getToken()).value, name).toBe('session-1');
        await settled(); // a background refresh, had one started, has ended
        clock.advance(1);
      }
      // To the end of that second: no refresh, in the background or not.
      clock.advance(obtainedAt + 999 - clock());
      const token = await subject.getToken();
      await settled();
      expect(token.value, name).toBe('session-1');
      // Its times are kept as they are, in the store too (one write: a tiny idleTtlMs stores no use before the second is up).
      expect(token, name).toMatchObject('expiresAt' in times ? { expiresAt: obtainedAt + times.expiresAt } : { idleTtlMs: times.idleTtlMs });
      expect(store.written, name).toEqual([expect.objectContaining({ token }) as unknown]);
      // Read back from the store, the same: another session uses it without a login.
      expect((await session({ clock, store, authenticator, idleTtlMs: 60_000 }).getToken()).value, name).toBe('session-1');
      expect(logins, name).toBe(1);
      // Once the second is up and the token has expired (or idled out), the next call replaces it, once.
      clock.advance(60_000);
      for (let call = 0; call < 10; call += 1) {
        expect((await subject.getToken()).value, name).toBe('session-2');
        await settled();
        clock.advance(1);
      }
      // A 401 replaces it at once, within its first second.
      subject.invalidate(await subject.authorization());
      expect((await subject.getToken()).value, name).toBe('session-3');
      expect(logins, name).toBe(3);
    }
  });

  // A token of 1 s or more keeps its refresh window and margin (the defaults are longer than half and a tenth of
  // its life): refreshed in the background from half its life, and callers wait from 9/10 of it, not at its expiry.
  // Also with an idleTtlMs under 1 s: its first second holds off idle expiry only.
  for (const [lifetime, idleTtlMs] of [[1000], [1100], [1200], [1000, 500]] as const) {
    const name = `${lifetime} ms${idleTtlMs ? ` with an idleTtlMs of ${idleTtlMs}` : ''}`;
    it(`refreshes a token that lives ${name} in the background before any caller waits, as from 9/10 of its life`, async () => {
      const clock = manualClock();
      let logins = 0;
      const authenticator: Authenticator = {
        identity: `short ${name}`,
        authenticate: ({ now }) => {
          logins += 1;
          // The second login never answers: a caller that has to wait shows as a pending getToken().
          if (logins > 1) return new Promise<Token>(() => undefined);
          const obtainedAt = now();
          return Promise.resolve({ value: 'first', obtainedAt, expiresAt: obtainedAt + lifetime, idleTtlMs });
        },
      };
      const subject = new Session({ authenticator, clock, store: new MemoryStore() });
      const start = clock();
      await subject.getToken();
      let backgroundAt: number | undefined;
      let blockedAt: number | undefined;
      for (let at = 10; at <= lifetime; at += 10) {
        clock.advance(start + at - clock());
        const served = await Promise.race([subject.getToken().then(() => true), settled().then(() => false)]);
        await settled(); // a background refresh, had one started, has asked for its token
        if (!served) {
          blockedAt = at;
          break;
        }
        if (logins > 1) backgroundAt ??= at;
      }
      // The start is jittered over the first half of the window from half its life to 9/10 of it.
      expect(backgroundAt).toBeGreaterThanOrEqual(lifetime / 2);
      expect(backgroundAt).toBeLessThanOrEqual((lifetime * 7) / 10);
      expect(blockedAt).toBe((lifetime * 9) / 10);
    });
  }

  function cachingAuthenticator(firstRemainingMs: number): Authenticator & { logins: number } {
    const auth = {
      identity: `cache ${firstRemainingMs}`,
      logins: 0,
      authenticate: ({ now }: { now: () => number }): Promise<Token> => {
        auth.logins += 1;
        const obtainedAt = now();
        return Promise.resolve(
          auth.logins === 1
            ? { value: 'cached-nearly-expired', obtainedAt, expiresAt: obtainedAt + firstRemainingMs }
            : { value: `fresh-${auth.logins}`, obtainedAt, expiresAt: obtainedAt + 3_600_000 },
        );
      },
    };
    return auth;
  }

  for (const remaining of [500, 0, -5_000]) {
    it(`a token handed out with ${remaining} ms left is replaced once it has expired`, async () => {
      const clock = manualClock();
      const authenticator = cachingAuthenticator(remaining);
      const session = new Session({ authenticator, clock, store: new MemoryStore() });
      expect((await session.getToken()).value).toBe('cached-nearly-expired');
      clock.advance(60_000);
      expect((await session.getToken()).value).not.toBe('cached-nearly-expired');
    });
  }

  it('shares a token handed out with 500 ms left through a FileStore with its real expiresAt, then both sessions take the fresh one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-short-token-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const clock = manualClock();
    const authenticator = cachingAuthenticator(500);
    // Two FileStore objects on one directory share nothing in memory, as two processes would.
    const first = session({ clock, authenticator, store: new FileStore({ dir }) });
    const second = session({ clock, authenticator, store: new FileStore({ dir }) });
    const cached = await first.getToken();
    expect(cached.expiresAt).toBe(cached.obtainedAt + 500);
    expect((await new FileStore({ dir }).get(first.key))?.token).toEqual(cached);
    clock.advance(900);
    expect(await second.getToken()).toEqual(cached);
    clock.advance(200);
    const fresh = await second.getToken();
    expect(fresh.value).toBe('fresh-2');
    expect(await first.getToken()).toEqual(fresh);
    expect(authenticator.logins).toBe(2);
  });

  it('persists lastUsedAt lazily: not on every use, but before other processes would think the token idle', async () => {
    const clock = manualClock();
    const store = new CountingStore();
    const subject = session({ clock, store, idleTtlMs: 60_000 });
    const token = await subject.getToken();
    expect(store.writes).toBe(1);
    for (let index = 0; index < 1000; index += 1) await subject.getToken();
    clock.advance(10_000);
    for (let index = 0; index < 1000; index += 1) await subject.getToken();
    expect(store.writes).toBe(1);
    clock.advance(10_000);
    await subject.getToken();
    await eventually(() => store.writes === 2);
    expect(store.written[1]).toMatchObject({ lastUsedAt: clock() });

    // A second session (another process would do the same) sees the recent use and reuses the token.
    clock.advance(50_000);
    const other = session({ clock, store: new CountingStore(), idleTtlMs: 60_000 });
    await other.getToken(); // its own store: a new login
    const sharing = session({ clock, store, idleTtlMs: 60_000 });
    expect((await sharing.getToken()).value).toBe(token.value);
  });

  it('records the use when getToken() is answered by an acquisition (a token read from the store), for sliding expiry', async () => {
    const clock = manualClock();
    const store = new MemoryStore();
    const idleTtlMs = 15 * 60_000;
    // One process logs in and goes quiet; 10 minutes later another one picks the token up and uses it.
    const first = await session({ clock, store, idleTtlMs }).getToken();
    clock.advance(10 * 60_000);
    const user = session({ clock, store, idleTtlMs });
    expect((await user.getToken()).value).toBe(first.value);
    expect(user.export().lastUsedAt).toBe(clock());
    await user.flush();
    expect(await store.get(user.key)).toMatchObject({ lastUsedAt: clock() });

    // 15 minutes after the login but 5 after that use: the token lives on, here and in other processes.
    clock.advance(5 * 60_000);
    expect((await user.getToken()).value).toBe(first.value);
    expect((await session({ clock, store, idleTtlMs }).getToken()).value).toBe(first.value);
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('backs off when a background refresh brings no newer token (a provider answering with its cached one)', async () => {
    const clock = manualClock();
    const issuedAt = clock();
    let requests = 0;
    const authenticator: Authenticator = {
      identity: 'caching provider',
      authenticate: () => {
        requests += 1;
        return Promise.resolve({ value: 'cached-token', obtainedAt: issuedAt, expiresAt: issuedAt + 3_600_000 });
      },
    };
    const subject = session({ clock, authenticator, refreshWindowMs: 300_000, expiryMarginMs: 10_000 });
    await subject.getToken();
    // Past the jittered refresh start (in the first half of the window) wherever it fell.
    clock.advance(3_600_000 - 150_000);
    for (let call = 0; call < 50; call += 1) {
      expect((await subject.getToken()).value).toBe('cached-token');
      await settled(); // the background refresh, if one started, has ended
      clock.advance(100);
    }
    expect(requests).toBe(2);
    // After the pause (here 30 s: a quarter of the time to the forced point, at most 30 s) it asks again.
    clock.advance(30_000);
    await subject.getToken();
    await settled();
    expect(requests).toBe(3);
  });
});

describe('Session: 401 replay', () => {
  it('invalidates only the current token: one acquisition, then stale invalidations are no-ops', async () => {
    const subject = session();
    const first = await subject.getToken();
    sandbox.idp.expireAll();
    expect(sandbox.idp.verifyAccessToken(first.value)).toBeUndefined();

    // 100 requests failed with 401 using the same token: each invalidates it and replays.
    const replays = await Promise.all(
      Array.from({ length: 100 }, async () => {
        subject.invalidate(first);
        return subject.getToken();
      }),
    );
    expect(new Set(replays.map((token) => token.value)).size).toBe(1);
    const second = replays[0]!;
    expect(second.value).not.toBe(first.value);
    expect(sandbox.idp.verifyAccessToken(second.value)).toBeDefined();
    expect(sandbox.stats.idp.requests).toBe(2);

    subject.invalidate(first);
    subject.invalidate(first.value);
    expect(await subject.getToken()).toBe(second);
    expect(sandbox.stats.idp.requests).toBe(2);

    subject.invalidate(await subject.authorization());
    expect((await subject.getToken()).value).not.toBe(second.value);
    expect(sandbox.stats.idp.requests).toBe(3);
  });

  it('adopts a value the server issues again after invalidate(): no token requests on every later call, no loop', async () => {
    let requests = 0;
    const authenticator: Authenticator = {
      identity: 'reissuing provider',
      authenticate: ({ now }) => {
        requests += 1;
        return Promise.resolve({ value: 'same-token', obtainedAt: now(), expiresAt: now() + 3_600_000 });
      },
    };
    const subject = session({ authenticator });
    subject.invalidate(await subject.getToken());
    // Asked again, the server answers with the same value; asked once more, again: it is used.
    expect(await subject.authorization()).toBe('Bearer same-token');
    expect(requests).toBe(3);
    for (let call = 0; call < 10; call += 1) expect((await subject.getToken()).value).toBe('same-token');
    expect(requests).toBe(3);

    // A later 401 invalidates it again: one getToken() makes two requests at most.
    subject.invalidate('same-token');
    expect((await subject.getToken()).value).toBe('same-token');
    expect(requests).toBe(5);
    await subject.getToken();
    expect(requests).toBe(5);
  });

  it('invalidate() with an outdated authorization() string blocks that token, also where it is still stored', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const store = new MemoryStore();
      const holder = session({ store });
      const first = await holder.getToken();
      const header = (await holder.authorization()).replace('Bearer', scheme);
      // For another session of this process sharing the store, the header is not its current token's.
      const other = session({ store });
      other.invalidate(header);
      const second = await other.getToken();
      expect(second.value).not.toBe(first.value);
      expect(sandbox.idp.verifyAccessToken(second.value)).toBeDefined();
    }
    expect(sandbox.stats.idp.requests).toBe(6);
  });

  it('invalidate() with an outdated authorization() string of a token of another type (Session) blocks that token', async () => {
    for (const prefix of ['session-', 'session ']) {
      let issued = 0;
      const authenticator: Authenticator = {
        identity: `custom type ${prefix}`,
        authenticate: ({ now }) => Promise.resolve({ value: `${prefix}${(issued += 1)}`, type: 'Session', obtainedAt: now() }),
      };
      const store = new MemoryStore();
      const holder = session({ store, authenticator });
      const header = await holder.authorization();
      expect(header).toBe(`Session ${prefix}1`);
      // Not the current token of this session, which holds none: the one in the store is refused.
      const other = session({ store, authenticator });
      other.invalidate(header);
      const second = await other.getToken();
      expect(second.value).toBe(`${prefix}2`);
      // Nor is it served from memory by the session still holding it: it takes the new one from the store.
      expect(await holder.getToken()).toEqual(second);
      // A value that holds a space, given as it is, is refused whole, not as the part after the space.
      session({ store, authenticator }).invalidate(second.value);
      expect((await holder.getToken()).value).toBe(`${prefix}3`);
      // The current token is recognised by its value and by its header.
      holder.invalidate(await holder.authorization());
      expect((await holder.getToken()).value).toBe(`${prefix}4`);
      holder.invalidate(`${prefix}4`);
      expect((await holder.getToken()).value).toBe(`${prefix}5`);
      expect(issued).toBe(5);
    }
  });

  it('does not adopt an invalidated token that is still in the store', async () => {
    const store = new MemoryStore();
    const first = await session({ store }).getToken();
    const other = session({ store });
    expect(await other.getToken()).toEqual(first);
    other.invalidate(first);
    expect((await other.getToken()).value).not.toBe(first.value);
    expect(sandbox.stats.idp.requests).toBe(2);
  });
  it('stops handing out a token another session of this process invalidated, from memory too', async () => {
    const store = new MemoryStore();
    const holder = session({ store });
    const first = await holder.getToken();
    const other = session({ store });
    expect(await other.getToken()).toEqual(first);
    expect(await other.authorization()).toBe(`Bearer ${first.value}`);
    // A 401 seen by one of them: the other, which holds the token in memory, drops it too.
    other.invalidate(first);
    const second = await holder.getToken();
    expect(second.value).not.toBe(first.value);
    expect(await holder.authorization()).toBe(`Bearer ${second.value}`);
    expect(await other.getToken()).toEqual(second);
    expect(sandbox.stats.idp.requests).toBe(2);
    // Invalidating a token no session holds any more changes nothing: both keep answering from memory.
    holder.invalidate(first);
    expect(await other.getToken()).toEqual(second);
    expect(await holder.getToken()).toEqual(second);
    expect(sandbox.stats.idp.requests).toBe(2);
  });

  it('invalidate() given no token (undefined, null, a number: plain JavaScript) throws AuthError CONFIGURATION at once and changes nothing', async () => {
    const store = new MemoryStore();
    const subject = session({ store });
    const other = session({ store });
    const token = await subject.getToken();
    expect(await other.getToken()).toEqual(token);
    for (const bad of [undefined, null, 42, {}, { value: 42 }, ['Bearer x']]) {
      let thrown: unknown;
      try {
        subject.invalidate(bad as unknown as string);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, JSON.stringify(bad)).toMatchObject({
        name: 'AuthError',
        code: 'CONFIGURATION',
        message: 'invalidate() needs a token, its value or an authorization() string.',
      });
    }
    // Both sessions keep answering from memory: the same settled promise, no request.
    expect(subject.getToken()).toBe(subject.getToken());
    expect(other.getToken()).toBe(other.getToken());
    expect(await subject.getToken()).toBe(token);
    expect(sandbox.stats.idp.requests).toBe(1);
  });
});

describe('Session: throttling in one process', () => {
  it('waits out Retry-After without calling the endpoint, serving a still-valid token meanwhile', async () => {
    const clock = manualClock();
    const subject = session({ clock });
    const throttled: number[] = [];
    subject.on('throttled', ({ retryAfterMs }) => throttled.push(retryAfterMs));
    const first = await subject.getToken();

    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: 2 });
    clock.advance(3_600_000 - 10_001); // just before the forced margin: a background refresh starts
    const failed = new Promise((resolve) => subject.once('refresh-failed', resolve));
    expect(await subject.getToken()).toBe(first);
    await failed;
    expect(throttled).toEqual([2000]);
    expect(sandbox.stats.idp.requests).toBe(2);

    // Past the forced margin but before expiry: still served, and the endpoint is left alone.
    for (let step = 0; step < 19; step += 1) {
      clock.advance(100);
      expect(await subject.getToken()).toBe(first);
    }
    expect(sandbox.stats.idp.requests).toBe(2);
    clock.advance(101);
    const second = await subject.getToken();
    expect(second.value).not.toBe(first.value);
    expect(sandbox.stats.idp.requests).toBe(3);
  });

  it('rejects with RATE_LIMITED and retryAfterMs when there is no valid token, without asking again', async () => {
    const clock = manualClock();
    const subject = session({ clock });
    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: 2 });
    await expect(subject.getToken()).rejects.toMatchObject({ name: 'AuthError', code: 'RATE_LIMITED', retryAfterMs: 2000 });
    clock.advance(1500);
    await expect(subject.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 500 });
    expect(sandbox.stats.idp.requests).toBe(1);
    clock.advance(500);
    await expect(subject.getToken()).resolves.toMatchObject({ value: expect.any(String) as unknown });
    expect(sandbox.stats.idp.requests).toBe(2);
  });
});

describe('Session: failed acquisitions in a row', () => {
  it('waits as a retry would before the next acquisition after a failed one, so a caller that asks again at once sends no login per call; end() cuts the wait short', async () => {
    // Full jitter made fixed: each pause is half its cap.
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    onTestFinished(() => { vi.restoreAllMocks(); });
    let locks = 0;
    const store = new (class extends MemoryStore {
      override withLock<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
        locks += 1;
        return super.withLock(key, fn, options);
      }
    })();
    const wrong = session({ store, authenticator: passwordGrant({ password: 'wrong-password' }), retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } });
    await expect(wrong.getToken()).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    expect(sandbox.stats.idp.requests).toBe(1);
    // Asked again at once: it waits (30 s here) instead of sending a second login now.
    const again = wrong.getToken();
    const outcome = await Promise.race([again.then(() => 'resolved', () => 'rejected'), new Promise((resolve) => setTimeout(resolve, 200, 'waiting'))]);
    expect(outcome).toBe('waiting');
    expect(sandbox.stats.idp.requests).toBe(1);
    await wrong.end();
    await expect(again).rejects.toMatchObject({ name: 'AuthError' });
    expect(sandbox.stats.idp.requests).toBe(1);
    // Nor was the lock taken after the pause was cut short (another process may hold it for long).
    expect(locks).toBe(2); // the failed acquisition's, and end()'s
  });

  it('doubles the pause with each failure in a row, then sends the login; a token had (from the store too) ends the series', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    onTestFinished(() => { vi.restoreAllMocks(); });
    const entries: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'debug', format: 'json', write: (line) => entries.push(JSON.parse(line) as Record<string, unknown>) });
    let failing = true;
    let calls = 0;
    const authenticator: Authenticator = {
      identity: 'failing for a while',
      authenticate: () => {
        calls += 1;
        return failing ? Promise.reject(new AuthError('INVALID_CREDENTIALS', 'Refused (test).')) : Promise.resolve({ value: `token-${String(calls)}`, obtainedAt: Date.now(), expiresAt: Date.now() + 3_600_000 });
      },
    };
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-pause-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const retry = { baseDelayMs: 200, maxDelayMs: 5000 };
    const subject = session({ authenticator, store: new FileStore({ dir }), logger, retry });
    const pausing = (): Record<string, unknown>[] => entries.filter((entry) => entry.msg === 'pausing after failed acquisitions');
    for (let call = 0; call < 3; call += 1) await expect(subject.getToken()).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    // Each login went out after its pause, whose cap doubled: 200, then 400 ms (half of it here,
    // less the moment between the failure and the next call).
    expect(calls).toBe(3);
    expect(pausing().map((entry) => entry.failures)).toEqual([1, 2]);
    expect(pausing()[0]?.delayMs).toBeLessThanOrEqual(100);
    expect(pausing()[1]?.delayMs).toBeGreaterThan(150);
    expect(pausing()[1]?.delayMs).toBeLessThanOrEqual(200);
    // Another process (a store object of its own on the same directory) stores a token: read from
    // the store, it ends this process's series too.
    failing = false;
    await session({ authenticator, store: new FileStore({ dir }), retry }).getToken();
    expect(await subject.getToken()).toMatchObject({ value: 'token-4' });
    failing = true;
    subject.invalidate(await subject.getToken());
    await expect(subject.getToken()).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    await expect(subject.getToken()).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    // The pause after that one failure is the first one's again.
    expect(pausing().map((entry) => entry.failures)).toEqual([1, 2, 1]);
    expect(calls).toBe(6);
  });
});

describe('Session: throttles and outages met by a caller that joins a background refresh', () => {
  it('serves the token that has not expired yet to a caller past the forced point whose joined background refresh ends in 429', async () => {
    const clock = manualClock();
    const subject = session({ clock, refreshWindowMs: 300_000, expiryMarginMs: 10_000 });
    const first = await subject.getToken();
    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: 60 });
    const failed = new Promise((resolve) => subject.once('refresh-failed', resolve));
    clock.advance(3_600_000 - 20_000); // past the jittered refresh start: a background refresh starts
    const background = subject.getToken();
    clock.advance(15_000); // 5 s before expiry, past the forced point: this caller joins that refresh
    const blocking = subject.getToken();
    expect(await background).toBe(first);
    expect(await blocking).toBe(first);
    await failed;
    expect(sandbox.stats.idp.requests).toBe(2);
  });

  it('serves it too when the joined background refresh meets a store outage', async () => {
    const clock = manualClock();
    const store = new FaultyStore();
    const subject = session({ clock, store, refreshWindowMs: 300_000, expiryMarginMs: 10_000 });
    const first = await subject.getToken();
    const failed = new Promise((resolve) => subject.once('refresh-failed', resolve));
    store.fail.withLock = storeDown;
    clock.advance(3_600_000 - 20_000);
    const background = subject.getToken();
    clock.advance(15_000);
    const blocking = subject.getToken();
    expect(await background).toBe(first);
    expect(await blocking).toBe(first);
    expect(await failed).toMatchObject({ background: true, error: { code: 'UNAVAILABLE' } });
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('fails an acquisition with the store\'s error, asking for no token, when the store cannot be read under its lock (a keychain without a Secret Service); the current token is served until it expires', async () => {
    const unreadable = new StoreError('UNAVAILABLE', 'No Secret Service is reachable (test).');
    const clock = manualClock();
    const store = new FaultyStore();
    store.fail.get = unreadable;
    // Acquiring anyway, every process would ask for a token of its own, and none would see a throttle.
    await expect(session({ clock, store }).getToken()).rejects.toMatchObject({ name: 'StoreError', code: 'UNAVAILABLE' });
    expect(sandbox.stats.idp.requests).toBe(0);
    store.fail.get = undefined;
    const subject = session({ clock, store, refreshWindowMs: 300_000, expiryMarginMs: 10_000 });
    const first = await subject.getToken();
    store.fail.get = unreadable;
    clock.advance(3_600_000 - 5_000); // past the forced point
    expect(await subject.getToken()).toBe(first);
    clock.advance(5_000);
    await expect(subject.getToken()).rejects.toMatchObject({ name: 'StoreError', code: 'UNAVAILABLE' });
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('serves the current token until it expires when the store\'s lock cannot be made (IO: a full or read-only disk)', async () => {
    const clock = manualClock();
    const store = new FaultyStore();
    const subject = session({ clock, store, refreshWindowMs: 300_000, expiryMarginMs: 10_000 });
    const first = await subject.getToken();
    store.fail.withLock = new StoreError('IO', 'Could not create the lock file (ENOSPC, test).');
    clock.advance(3_600_000 - 1_000); // inside the forced margin
    expect(await subject.getToken()).toBe(first);
    clock.advance(1_000);
    await expect(subject.getToken()).rejects.toMatchObject({ name: 'StoreError', code: 'IO' });
    expect(sandbox.stats.idp.requests).toBe(1);
  });
});

describe('Session: Retry-After limits', () => {
  it('caps a Retry-After at 1 hour and stores a throttle every process can read', async () => {
    const clock = manualClock();
    const store = new MemoryStore();
    const subject = session({ clock, store });
    const first = await subject.getToken();
    subject.invalidate(first);
    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: '9'.repeat(400) });
    await expect(subject.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 3_600_000 });
    const until = clock() + 3_600_000;
    expect(await store.get(subject.key)).toMatchObject({ token: { value: first.value }, throttledUntil: until });
    clock.advance(3_600_000 - 1);
    await expect(subject.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 1 });
    clock.advance(1);
    expect(sandbox.idp.verifyAccessToken((await subject.getToken()).value)).toBeDefined();
    expect(sandbox.stats.idp.requests).toBe(3);

    // An authenticator's own retryAfterMs: Infinity is capped too; NaN means the 5 s default.
    for (const [retryAfterMs, expected] of [[Infinity, 3_600_000], [Number.NaN, 5000]] as const) {
      const throttling: Authenticator = {
        identity: `throttling ${retryAfterMs}`,
        authenticate: () => Promise.reject(new AuthError('RATE_LIMITED', 'Slow down (test).', { retryAfterMs })),
      };
      const other = session({ clock, store, authenticator: throttling });
      await expect(other.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED' });
      expect(await store.get(other.key)).toEqual({ version: 1, identityHash: other.export().identityHash, throttledUntil: clock() + expected });
    }
  });

  it('throttles at least 1 s for a Retry-After of 0 or a date already past (clocks that differ): no request per call', async () => {
    const clock = manualClock(Math.floor(Date.now() / 1000) * 1000);
    const store = new MemoryStore();
    for (const retryAfter of ['0', new Date(clock() - 5000).toUTCString()]) {
      const before = sandbox.stats.idp.requests;
      const subject = session({ clock, store });
      sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter });
      // The error says how long the throttle runs.
      await expect(subject.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterMs: 1000 });
      expect(await store.get(subject.key)).toMatchObject({ throttledUntil: clock() + 1000 });
      for (let call = 0; call < 5; call += 1) await expect(subject.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED' });
      expect(sandbox.stats.idp.requests - before, retryAfter).toBe(1);
      clock.advance(1000);
      expect(sandbox.idp.verifyAccessToken((await subject.getToken()).value)).toBeDefined();
      expect(sandbox.stats.idp.requests - before).toBe(2);
      subject.invalidate(await subject.getToken());
    }
    // An authenticator's own retryAfterMs of 0 too.
    const throttling: Authenticator = {
      identity: 'throttling 0',
      authenticate: () => Promise.reject(new AuthError('RATE_LIMITED', 'Slow down (test).', { retryAfterMs: 0 })),
    };
    const other = session({ clock, store, authenticator: throttling });
    await expect(other.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(await store.get(other.key)).toEqual({ version: 1, identityHash: other.export().identityHash, throttledUntil: clock() + 1000 });
  });

  it('ignores a throttle over 2 hours ahead, held or stored, once the clock is set back: the server asked for 5 s, not hours', async () => {
    const clock = manualClock();
    const store = new MemoryStore();
    const subject = session({ clock, store });
    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: 5 });
    await expect(subject.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 5000 });
    // Set back by 3 hours (and by 2 hours and a minute for the stored throttle, another session's).
    clock.advance(-3 * 3_600_000);
    expect(sandbox.idp.verifyAccessToken((await subject.getToken()).value)).toBeDefined();
    expect(sandbox.stats.idp.requests).toBe(2);
    const later = manualClock(clock() + 3 * 3_600_000);
    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: 5 });
    const other = session({ clock: later, store, key: 'other' });
    await expect(other.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 5000 });
    later.advance(-121 * 60_000);
    expect(sandbox.idp.verifyAccessToken((await session({ clock: later, store, key: 'other' }).getToken()).value)).toBeDefined();
    expect(sandbox.stats.idp.requests).toBe(4);
  });

  it('honours a full 1-hour throttle stored by a host whose clock is a little ahead', async () => {
    const clock = manualClock();
    const store = new MemoryStore();
    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: 7200 });
    await expect(session({ clock, store }).getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 3_600_000 });
    const behind = manualClock(clock() - 60_000);
    await expect(session({ clock: behind, store }).getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 3_660_000 });
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('ignores a stored throttle far beyond the 1-hour cap (written from a bad Retry-After by an older version)', async () => {
    const clock = manualClock();
    const store = new MemoryStore();
    const subject = session({ clock, store });
    await store.set(subject.key, { version: 1, identityHash: subject.export().identityHash, throttledUntil: clock() + 8432 * 86_400_000 });
    expect(sandbox.idp.verifyAccessToken((await subject.getToken()).value)).toBeDefined();
    expect(sandbox.stats.idp.requests).toBe(1);
  });
});

describe('Session: Retry-After on a 5xx, and a 429 from the revocation endpoint', () => {
  // The sandbox's error fault sends no Retry-After: a small real server does.
  let server: TokenServer;
  beforeEach(async () => {
    server = await startTokenServer();
  });
  afterEach(async () => {
    await server.close();
  });

  function serverSession(options: Partial<SessionOptions> = {}): Session {
    return session({ authenticator: clientCredentials({ tokenUrl: server.tokenUrl, revocationUrl: server.revocationUrl }), ...options });
  }

  it('waits out a 503 with Retry-After as a 429: no retry, SERVER with status and retryAfterMs, a throttle in the store; a 5xx without it is retried as before', async () => {
    const clock = manualClock();
    const store = new MemoryStore();
    const subject = serverSession({ clock, store, retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 5 } });
    server.token = { status: 503, headers: { 'retry-after': '2' } };
    await expect(subject.getToken()).rejects.toMatchObject({ name: 'AuthError', code: 'SERVER', status: 503, retryAfterMs: 2000 });
    expect(server.requests).toEqual(['/token client_credentials']);
    expect(await store.get(subject.key)).toMatchObject({ throttledUntil: clock() + 2000 });

    // Every caller waits it out, another session on the store too, whatever the endpoint would answer now.
    server.token = { status: 200 };
    const other = serverSession({ clock, store });
    await expect(other.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 2000 });
    clock.advance(1999);
    await expect(subject.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 1 });
    expect(server.requests).toHaveLength(1);
    clock.advance(1);
    expect((await subject.getToken()).value).toBe('token-1');
    expect(server.requests).toHaveLength(2);

    // Without the header (or with an empty one), a 5xx is retried on the session's backoff, and no throttle is stored.
    for (const headers of [{}, { 'retry-after': '' }]) {
      subject.invalidate(await subject.getToken());
      server.token = { status: 503, headers };
      const before = server.requests.length;
      const error = await subject.getToken().catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'SERVER', status: 503 });
      expect((error as AuthError).retryAfterMs).toBeUndefined();
      expect(server.requests.length - before).toBe(3);
      expect((await store.get(subject.key))?.throttledUntil).toBeUndefined();
      server.token = { status: 200 };
    }
  });

  it('a background refresh met by a 503 with Retry-After keeps serving the current token, falls back to no login, and asks again only after the wait', async () => {
    const clock = manualClock();
    const subject = serverSession({ clock });
    const failures: unknown[] = [];
    subject.on('refresh-failed', (event) => failures.push(event));
    const first = await subject.getToken();
    server.token = { status: 503, headers: { 'retry-after': '30' } };
    const failed = new Promise((resolve) => subject.once('refresh-failed', resolve));
    clock.advance(3_600_000 - 10_001); // just before the forced margin: a background refresh starts
    expect(await subject.getToken()).toBe(first);
    await failed;
    expect(failures).toEqual([{ error: expect.objectContaining({ code: 'SERVER', status: 503, retryAfterMs: 30_000 }) as unknown, background: true, fallback: false }]);
    expect(server.requests).toEqual(['/token client_credentials', '/token refresh_token']);

    // Past the forced margin, before expiry: the token is still served and the endpoint left alone.
    server.token = { status: 200 };
    clock.advance(10_000);
    expect(await subject.getToken()).toBe(first);
    expect(server.requests).toHaveLength(2);
    // Expired, still inside the 30 s: RATE_LIMITED without a request.
    clock.advance(1);
    await expect(subject.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 19_999 });
    expect(server.requests).toHaveLength(2);
    clock.advance(19_999);
    expect((await subject.getToken()).value).toBe('token-2');
    expect(server.requests).toEqual(['/token client_credentials', '/token refresh_token', '/token refresh_token']);
  });

  it('end() logs a 429 from the revocation endpoint as RATE_LIMITED with its Retry-After, without retrying it', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', format: 'json', write: (line) => lines.push(line) });
    const subject = serverSession({ logger, retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 5 } });
    const token = await subject.getToken();
    server.revocation = { status: 429, headers: { 'retry-after': '7' } };
    await subject.end();
    // One request (the refresh token's), not retried: the access token's is not sent after it failed.
    expect(server.requests).toEqual(['/token client_credentials', '/revoke refresh_token']);
    const warning = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.msg === 'could not revoke the token');
    expect(warning).toMatchObject({ code: 'RATE_LIMITED', message: 'The revocation endpoint is throttling this identity (429); retry after 7000 ms.' });

    // The error the authenticator's revoke() rejects with.
    const authenticator = clientCredentials({ tokenUrl: server.tokenUrl, revocationUrl: server.revocationUrl });
    const context: AuthContext = { signal: new AbortController().signal, now: Date.now, logger, attempt: 1 };
    await expect(authenticator.revoke?.(token, context)).rejects.toMatchObject({ name: 'AuthError', code: 'RATE_LIMITED', status: 429, retryAfterMs: 7000 });
    // Without a Retry-After, the 5 s default, as from the token endpoint; other statuses as before.
    server.revocation = { status: 429 };
    await expect(authenticator.revoke?.(token, context)).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 5000 });
    server.revocation = { status: 503, headers: { 'retry-after': '7' } };
    await expect(authenticator.revoke?.(token, context)).rejects.toMatchObject({ code: 'SERVER', status: 503, retryAfterMs: undefined });
    server.revocation = { status: 400 };
    await expect(authenticator.revoke?.(token, context)).rejects.toMatchObject({ code: 'INVALID_RESPONSE', status: 400 });
  });
});

describe('Session: option limits', () => {
  it('rejects timeouts above 2147483647 ms, which setTimeout would fire after 1 ms', () => {
    for (const value of [Infinity, 3_000_000_000]) {
      expect(() => session({ attemptTimeoutMs: value })).toThrow(/^attemptTimeoutMs must be above 0 and at most 2147483647 milliseconds/);
      expect(() => session({ lockTimeoutMs: value })).toThrow(RangeError);
      expect(() => session({ retry: { maxDelayMs: value } })).toThrow(/^retry\.maxDelayMs must be 0 to 2147483647/);
      expect(() => clientCredentials({ timeoutMs: value })).toThrow(/^timeoutMs must be above 0 and at most 2147483647 milliseconds/);
    }
    const largest = 2_147_483_647;
    expect(() => session({ attemptTimeoutMs: largest, lockTimeoutMs: largest, retry: { maxDelayMs: largest }, authenticator: clientCredentials({ timeoutMs: largest }) })).not.toThrow();
    // Not timers: no such limit.
    expect(() => session({ idleTtlMs: 30 * 86_400_000, refreshWindowMs: 30 * 86_400_000 })).not.toThrow();
  });

  it('names what a millisecond option is when it is no number, never its value (a string passed by mistake may be a secret)', () => {
    for (const value of ['pw-Option-Secret-1', '5', Object.create(null) as object, Symbol('x'), 10n]) {
      expect(() => session({ attemptTimeoutMs: value as never })).toThrow(new RangeError(`attemptTimeoutMs must be above 0 and at most 2147483647 milliseconds, not ${typeof value}.`));
      expect(() => clientCredentials({ timeoutMs: value as never })).toThrow(new RangeError(`timeoutMs must be above 0 and at most 2147483647 milliseconds, not ${typeof value}.`));
    }
  });

  it('refuses a retry that is not an object (retry: 0 made the default two retries)', () => {
    for (const value of [0, false, 'none', 3]) {
      expect(() => session({ retry: value as never }), String(value)).toThrow(new TypeError('retry must be an object such as { retries: 0 }.'));
    }
    expect(() => session({ retry: { retries: 0 } })).not.toThrow();
  });

  it('refuses a logger that is not a Logger of @sessionkit/logger (console had no child(), winston no trace())', async () => {
    const winstonLike = { child: () => winstonLike, info: () => undefined, debug: () => undefined, warn: () => undefined, error: () => undefined, isLevelEnabled: () => true };
    for (const logger of [console, winstonLike, 'debug']) {
      expect(() => session({ logger: logger as never })).toThrow(new TypeError('logger must be a Logger of @sessionkit/logger: createLogger(), or adaptLogger(target) for console, pino or winston.'));
    }
    const lines: string[] = [];
    await session({ logger: createLogger({ level: 'debug', write: (line) => lines.push(line) }) }).getToken();
    expect(lines.some((line) => line.includes('component=session'))).toBe(true);
    expect(() => session({ logger: null as never })).not.toThrow();
  });

  it('refuses a listener of an event there is not (on("error") was never called) and one that is not a function', () => {
    const subject = session();
    const unknown = new TypeError('No event "error": token, refresh-failed, throttled.');
    expect(() => subject.on('error' as never, () => undefined)).toThrow(unknown);
    expect(() => subject.once('error' as never, () => undefined)).toThrow(unknown);
    expect(() => subject.off('error' as never, () => undefined)).toThrow(unknown);
    expect(() => subject.on('refreshFailed' as never, () => undefined)).toThrow(new TypeError('No event "refreshFailed": token, refresh-failed, throttled.'));
    for (const event of ['token', 'refresh-failed', 'throttled'] as const) {
      expect(() => subject.on(event, 'log it' as never), event).toThrow(new TypeError('A listener must be a function.'));
      expect(() => subject.on(event, () => undefined).off(event, () => undefined), event).not.toThrow();
    }
  });

  it('names the type of a retries that is no number, not its text ("2" read as 2 in the message)', () => {
    expect(() => session({ retry: { retries: '2' as never } })).toThrow(new RangeError('retry.retries must be an integer from 0 to 20, not string.'));
    expect(() => session({ retry: { retries: 2.5 } })).toThrow(new RangeError('retry.retries must be an integer from 0 to 20, not 2.5.'));
  });

  it('takes a fractional timeoutMs: the request times out after it, rounded up (AbortSignal.timeout refused it with a RangeError)', async () => {
    const token = await session({ authenticator: clientCredentials({ timeoutMs: 1500.5 }) }).getToken();
    expect(sandbox.idp.verifyAccessToken(token.value)).toBeDefined();
  });

  it('rejects attemptTimeoutMs 0, which would time every attempt out at once, as oauth2 rejects timeoutMs 0', async () => {
    for (const value of [0, -1, Number.NaN]) {
      expect(() => session({ attemptTimeoutMs: value })).toThrow(new RangeError(`attemptTimeoutMs must be above 0 and at most 2147483647 milliseconds, not ${value}.`));
      expect(() => clientCredentials({ timeoutMs: value })).toThrow(new RangeError(`timeoutMs must be above 0 and at most 2147483647 milliseconds, not ${value}.`));
    }
    // A timeout above 0 works as before.
    expect(sandbox.idp.verifyAccessToken((await session({ attemptTimeoutMs: 5000 }).getToken()).value)).toBeDefined();
    // 0 still means "do not wait" for the store's lock.
    expect(() => session({ lockTimeoutMs: 0 })).not.toThrow();
  });

  it('refuses an idleTtlMs of 0, which would expire every token as it is handed out, as attemptTimeoutMs 0 is refused', async () => {
    const clock = manualClock();
    for (const value of [0, -0, -1]) {
      expect(() => session({ clock, idleTtlMs: value })).toThrow(new RangeError(`idleTtlMs must be above 0 milliseconds, not ${value}.`));
    }
    expect(() => Session.fromEnv({ SESSIONKIT_TOKEN_URL: sandbox.tokenUrl, SESSIONKIT_CLIENT_ID: 'sessionkit-demo', SESSIONKIT_CLIENT_SECRET: 'demo-secret' }, { idleTtlMs: 0 })).toThrow(
      /^idleTtlMs must be above 0 milliseconds/,
    );
    expect(sandbox.stats.idp.requests).toBe(0);
    // Above 0 it works as before: used every half millisecond, a token of 1 ms idle time lives on.
    const subject = session({ clock, idleTtlMs: 1 });
    for (let call = 0; call < 10; call += 1) {
      await subject.getToken();
      clock.advance(0.5);
    }
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('takes every option given as null (plain JavaScript) as not set, apiUrl included', async () => {
    const sessionOptions: Record<Exclude<keyof SessionOptions, 'authenticator'>, null> = {
      store: null,
      key: null,
      refreshWindowMs: null,
      expiryMarginMs: null,
      idleTtlMs: null,
      logger: null,
      clock: null,
      retry: null,
      attemptTimeoutMs: null,
      lockTimeoutMs: null,
      apiUrl: null,
    };
    for (const name of Object.keys(sessionOptions)) {
      const subject = new Session({ authenticator: clientCredentials(), [name]: null });
      expect(sandbox.idp.verifyAccessToken((await subject.getToken()).value), name).toBeDefined();
      expect(subject.apiUrl, name).toBeUndefined();
    }
    const fromEnvOptions: Record<keyof SessionFromEnvOptions, null> = { ...sessionOptions, allowInsecure: null, timeoutMs: null, clientAuthentication: null, fetch: null };
    const env = { SESSIONKIT_TOKEN_URL: sandbox.tokenUrl, SESSIONKIT_CLIENT_ID: 'sessionkit-demo', SESSIONKIT_CLIENT_SECRET: 'demo-secret', SESSIONKIT_API_URL: 'https://api.example.com/v1' };
    for (const name of Object.keys(fromEnvOptions)) {
      const subject = Session.fromEnv(env, { [name]: null });
      expect(sandbox.idp.verifyAccessToken((await subject.getToken()).value), name).toBeDefined();
      // The variable, as without the option.
      expect(subject.apiUrl, name).toBe('https://api.example.com/v1');
    }
    expect(sandbox.stats.idp.requests).toBe(Object.keys(sessionOptions).length + Object.keys(fromEnvOptions).length);
  });

  it('takes fromEnv() options given as null (plain JavaScript) as none, as the constructor does', async () => {
    const subject = Session.fromEnv({ SESSIONKIT_TOKEN_URL: sandbox.tokenUrl, SESSIONKIT_CLIENT_ID: 'sessionkit-demo', SESSIONKIT_CLIENT_SECRET: 'demo-secret' }, null);
    expect(sandbox.idp.verifyAccessToken((await subject.getToken()).value)).toBeDefined();
  });
});

describe('Session: faults', () => {
  it('retries a 500 with backoff and succeeds', async () => {
    sandbox.idp.injectFault({ kind: 'error', count: 2 });
    const token = await session().getToken();
    expect(sandbox.idp.verifyAccessToken(token.value)).toBeDefined();
    expect(sandbox.stats.idp).toMatchObject({ requests: 3, faults: 2 });
  });

  it('gives up after the bounded retries with AuthError SERVER', async () => {
    sandbox.idp.injectFault({ kind: 'error', count: 5 });
    await expect(session({ retry: { retries: 2, baseDelayMs: 1 } }).getToken()).rejects.toMatchObject({ code: 'SERVER', status: 500 });
    expect(sandbox.stats.idp.requests).toBe(3);
  });

  it('times out a hanging token endpoint and retries', async () => {
    sandbox.idp.injectFault({ kind: 'hang' });
    const started = Date.now();
    const token = await session({ authenticator: clientCredentials({ timeoutMs: 150 }) }).getToken();
    expect(sandbox.idp.verifyAccessToken(token.value)).toBeDefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(sandbox.stats.idp.requests).toBe(2);
  });

  it('fails with NETWORK when every attempt hangs', async () => {
    sandbox.idp.injectFault({ kind: 'hang', count: 3 });
    const error = await session({ authenticator: clientCredentials({ timeoutMs: 100 }), retry: { retries: 1, baseDelayMs: 1 } })
      .getToken()
      .catch((caught: unknown) => caught);
    expect(AuthError.isInstance(error) && error.code).toBe('NETWORK');
    expect(sandbox.stats.idp.requests).toBe(2);
  });

  it('protects against a custom authenticator that never settles', async () => {
    const authenticator: Authenticator = { identity: 'stuck', authenticate: () => new Promise<Token>(() => undefined) };
    await expect(session({ authenticator, attemptTimeoutMs: 50, retry: { retries: 0 } }).getToken()).rejects.toMatchObject({ code: 'NETWORK' });
  });

  it('reports malformed JSON as INVALID_RESPONSE without retrying', async () => {
    sandbox.idp.injectFault({ kind: 'malformed-json' });
    await expect(session().getToken()).rejects.toMatchObject({ code: 'INVALID_RESPONSE' });
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('fails on NETWORK when nothing listens', async () => {
    const url = sandbox.tokenUrl;
    await sandbox.close();
    sandbox = await startSandbox();
    const error = await session({ authenticator: clientCredentials({ tokenUrl: url }), retry: { retries: 1, baseDelayMs: 1 } })
      .getToken()
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'AuthError', code: 'NETWORK' });
  });

  it('treats an unreadable store record as missing', async () => {
    const store = new MemoryStore();
    const subject = session({ store });
    await store.set(subject.key, { version: 1, identityHash: subject.export().identityHash, token: { value: 42 } });
    const token = await subject.getToken();
    expect(sandbox.idp.verifyAccessToken(token.value)).toBeDefined();
    await store.set(subject.key, { version: 99, token: 'from the future' });
    const fresh = session({ store });
    expect((await fresh.getToken()).value).not.toBe(token.value);
    expect(await store.get(subject.key)).toMatchObject({ version: 1 });
  });
});

describe('Session: store lock', () => {
  it('fails with LOCK_TIMEOUT when the lock is held too long, unless a good token appeared meanwhile', async () => {
    const store = new MemoryStore();
    const subject = session({ store, lockTimeoutMs: 50 });
    let release = (): void => undefined;
    const held = store.withLock(subject.key, () => new Promise<void>((resolve) => (release = resolve)));
    await expect(subject.getToken()).rejects.toMatchObject({ name: 'StoreError', code: 'LOCK_TIMEOUT' });
    expect(sandbox.stats.idp.requests).toBe(0);

    const token = sandbox.idp.issueToken();
    const waiting = subject.getToken();
    await store.set(subject.key, { version: 1, identityHash: subject.export().identityHash, token: { value: token.access_token, obtainedAt: Date.now(), expiresAt: Date.now() + 3_600_000 } });
    expect((await waiting).value).toBe(token.access_token);
    release();
    await held;
    expect(sandbox.stats.idp.requests).toBe(0);
  });
});

describe('Session: custom authenticators, export, end', () => {
  it('end() revokes the access and refresh token at an RFC 7009 endpoint', async () => {
    const subject = session({ authenticator: passwordGrant({ revocationUrl: sandbox.revocationUrl }) });
    const token = await subject.getToken();
    await subject.end();
    expect(sandbox.idp.verifyAccessToken(token.value)).toBeUndefined();
    expect(sandbox.stats.idp.revocations).toBe(2);
    const refresh = await fetch(sandbox.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: token.refreshToken! }),
    });
    expect(refresh.status).toBe(400);
  });

  it('end() of one session stops the others of this process handing out the token it revoked', async () => {
    const store = new MemoryStore();
    const authenticator = passwordGrant({ revocationUrl: sandbox.revocationUrl });
    const holder = session({ store, authenticator });
    const first = await holder.getToken();
    // A session of the same store that never held a token ends: it revokes the stored one.
    await session({ store, authenticator }).end();
    expect(sandbox.idp.verifyAccessToken(first.value)).toBeUndefined();
    const second = await holder.getToken();
    expect(second.value).not.toBe(first.value);
    expect(sandbox.idp.verifyAccessToken(second.value)).toBeDefined();
    expect(sandbox.stats.idp.requests).toBe(2);
  });

  it('rejects a value that is not a token with INVALID_RESPONSE', async () => {
    const authenticator = { identity: 'broken', authenticate: () => Promise.resolve({ value: '' } as unknown as Token) };
    await expect(session({ authenticator }).getToken()).rejects.toMatchObject({ code: 'INVALID_RESPONSE' });
  });

  it('refuses a token value or type with a control character inside the header it makes (a CR/LF would split it), without quoting it', async () => {
    // fetch's TypeError for such a header quotes the whole value: a program that sends the token
    // itself would log the secret. Refused where it comes in, as INVALID_RESPONSE, not stored.
    const bad = [{ value: 'secret-abc\r\nX-Injected: 1' }, { value: 'secret-abc\u0000' }, { value: 'secret\tabc' }, { value: 'secret-abc\u007f' }, { value: '\nsecret-abc' }, { value: 'secret-abc', type: 'Bearer\nsecret-type' }];
    for (const fields of bad) {
      const store = new MemoryStore();
      const authenticator = { identity: 'control characters', authenticate: ({ now }: AuthContext) => Promise.resolve({ obtainedAt: now(), ...fields }) };
      const subject = session({ store, authenticator });
      const error = await subject.getToken().then(() => undefined, (caught: unknown) => caught);
      expect(error, JSON.stringify(fields)).toMatchObject({ code: 'INVALID_RESPONSE', message: expect.stringContaining('control characters') as unknown });
      expect((error as Error).message).not.toContain('secret');
      expect(await store.get(subject.key)).toBeUndefined();
    }
    // Around the header they are no harm (fetch drops them): a token file's newline is taken, as
    // before, from an authenticator, a store, and an export. So are characters beyond ASCII (the
    // clients' header guards decide on those).
    for (const value of ['token-from-a-file\n', 'token\r\n', 'caf\u00e9-token', 'nel\u0085token']) {
      const store = new MemoryStore();
      const authenticator = { identity: `taken ${value}`, authenticate: ({ now }: AuthContext) => Promise.resolve({ value, obtainedAt: now() }) };
      const subject = session({ store, authenticator });
      expect((await subject.getToken()).value).toBe(value);
      expect((await session({ store, authenticator }).getToken()).value, 'from the store').toBe(value);
      const restored = Session.restore(JSON.parse(JSON.stringify(subject.export())) as ReturnType<Session['export']>, { authenticator });
      expect((await restored.getToken()).value, 'restored').toBe(value);
    }
  });

  it('names what it needs when it is given no options at all (plain JavaScript)', () => {
    for (const options of [undefined, null, 'https://idp.example.com/token']) {
      expect(() => new Session(options as never), String(options)).toThrow(new TypeError('Session needs an authenticator with identity and authenticate().'));
    }
  });

  it('takes an expiresAt of Infinity from an authenticator as none, and names expiresAt and idleTtlMs when they are not numbers (an idleTtlMs of Infinity included)', async () => {
    const clock = manualClock();
    for (const field of ['expiresAt'] as const) {
      let issued = 0;
      const store = new MemoryStore();
      const authenticator: Authenticator = {
        identity: `endless ${field}`,
        authenticate: ({ now }) => Promise.resolve({ value: `endless-${(issued += 1)}`, obtainedAt: now(), [field]: Infinity }),
      };
      const subject = session({ clock, store, authenticator });
      const token = await subject.getToken();
      expect(token).toEqual({ value: 'endless-1', obtainedAt: clock() });
      // Stored as it is handed out (JSON has no Infinity), and used until a 401: one login.
      expect((await store.get(subject.key))?.token).toEqual(token);
      clock.advance(30 * 86_400_000);
      expect(await subject.getToken()).toBe(token);
      expect(issued).toBe(1);
    }
    // Dropped, an idleTtlMs of Infinity would have meant the session's idleTtlMs, not none.
    for (const bad of [{ expiresAt: Number.NaN }, { idleTtlMs: '60000' }, { idleTtlMs: Infinity }]) {
      const authenticator = { identity: 'bad times', authenticate: ({ now }: AuthContext) => Promise.resolve({ value: 'bad', obtainedAt: now(), ...bad } as unknown as Token) };
      await expect(session({ authenticator }).getToken()).rejects.toMatchObject({ code: 'INVALID_RESPONSE', message: expect.stringContaining('expiresAt and idleTtlMs') as unknown });
    }
  });

  it('exports and restores a session without a new login', async () => {
    const source = session();
    const token = await source.getToken();
    const data = JSON.parse(JSON.stringify(source.export())) as ReturnType<Session['export']>;
    const restored = Session.restore(data, { authenticator: clientCredentials() });
    expect(await restored.getToken()).toEqual(token);
    expect(sandbox.stats.idp.requests).toBe(1);
    expect(() => Session.restore(data, { authenticator: passwordGrant() })).toThrow(/another identity/);
  });

  it('restore() refuses a lastUsedAt that is not a finite time, as the stored record\'s check does', async () => {
    const clock = manualClock();
    const source = session({ clock, idleTtlMs: 60_000 });
    const token = await source.getToken();
    for (const lastUsedAt of [Number.NaN, Infinity, -Infinity, '1', null]) {
      const data = { ...source.export(), lastUsedAt } as unknown as SessionData;
      const error = (() => {
        try {
          Session.restore(data, { authenticator: clientCredentials(), clock, idleTtlMs: 60_000 });
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(error).toMatchObject({ name: 'AuthError', code: 'CONFIGURATION', message: 'Session.restore() needs a lastUsedAt that is a finite time (epoch ms) or none.' });
    }
    // A finite one, or none (the token's obtainedAt), is used as before: within the idle time, no login.
    clock.advance(30_000);
    for (const lastUsedAt of [clock(), undefined]) {
      const restored = Session.restore({ ...source.export(), lastUsedAt }, { authenticator: clientCredentials(), clock, idleTtlMs: 60_000 });
      expect(await restored.getToken()).toEqual(token);
    }
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('end() during an acquisition aborts it, revokes the token it still brings, and leaves no token in the store', async () => {
    const revoked: string[] = [];
    const signals: AbortSignal[] = [];
    let issued = 0;
    let release = (): void => undefined;
    /** Its second token comes when the test releases it, whatever its signal says. */
    const slowSecond: Authenticator = {
      identity: 'revocable, slow',
      authenticate: async ({ now, signal }) => {
        signals.push(signal);
        const number = (issued += 1);
        if (number === 2) await new Promise<void>((resolve) => (release = resolve));
        return { value: `token-${number}`, obtainedAt: now(), expiresAt: now() + 600_000 };
      },
      revoke: (token) => {
        revoked.push(token.value);
        return Promise.resolve();
      },
    };
    const clock = manualClock();
    const store = new MemoryStore();
    const subject = session({ clock, store, authenticator: slowSecond, attemptTimeoutMs: 60_000 });
    const failures: unknown[] = [];
    subject.on('refresh-failed', (event) => failures.push(event));
    await subject.getToken();
    clock.advance(600_000 - 20_000); // a background refresh starts and waits for the endpoint
    expect((await subject.getToken()).value).toBe('token-1');
    await settled();
    expect(issued).toBe(2);
    // end() aborts the attempt instead of waiting for it (here until attemptTimeoutMs, 60 s: far
    // past the test's timeout)...
    await subject.end();
    expect(signals[1]?.aborted).toBe(true);
    expect(revoked).toEqual(['token-1']);
    expect(await store.get(subject.key)).toBeUndefined();
    // ...and the token the authenticator still brings is revoked, not stored or used.
    release();
    await eventually(() => revoked.length === 2);
    expect(revoked).toEqual(['token-1', 'token-2']);
    expect(await store.get(subject.key)).toBeUndefined();
    expect(subject.export().token).toBeUndefined();
    expect(failures).toEqual([]); // cancelled by end(), not a failed refresh

    // end() while a blocking getToken() has not reached its attempt yet: no attempt, the caller is told.
    const otherStore = new MemoryStore();
    const other = session({ store: otherStore, authenticator: { ...slowSecond, identity: 'revocable' } });
    const [outcome] = await Promise.all([other.getToken().catch((error: unknown) => error), other.end()]);
    expect(outcome).toMatchObject({ name: 'AuthError', code: 'NETWORK', message: 'The session ended during this acquisition.' });
    expect(issued).toBe(2);
    expect(await otherStore.get(other.key)).toBeUndefined();
    // A later getToken() authenticates again.
    expect((await other.getToken()).value).toBe('token-3');
    expect(revoked).toEqual(['token-1', 'token-2']);
  });

  it('end() aborts a login the token endpoint never answers, instead of waiting for the timeouts', async () => {
    sandbox.idp.injectFault({ kind: 'hang' });
    const subject = session({ authenticator: clientCredentials({ timeoutMs: 60_000, revocationUrl: sandbox.revocationUrl }), attemptTimeoutMs: 60_000 });
    const pending = subject.getToken().catch((error: unknown) => error);
    await eventually(() => sandbox.stats.idp.requests === 1);
    await subject.end();
    expect(await pending).toMatchObject({ name: 'AuthError', code: 'NETWORK', message: 'The session ended during this acquisition.' });
    // No retry after end(), and nothing was issued to revoke.
    expect(sandbox.stats.idp).toMatchObject({ requests: 1, revocations: 0 });
    expect(sandbox.idp.verifyAccessToken((await subject.getToken()).value)).toBeDefined();
  });

  it('a getToken() made right after end() authenticates again, and another session that joined the ended acquisition gets a token', async () => {
    const revoked: string[] = [];
    let issued = 0;
    const gates: (() => void)[] = [];
    // Ignores its signal and answers when released: the token of an abandoned attempt still arrives.
    const gated: Authenticator = {
      identity: 'gated',
      authenticate: ({ now }) =>
        new Promise((resolve) => {
          issued += 1;
          const value = `token-${issued}`;
          gates.push(() => {
            resolve({ value, obtainedAt: now(), expiresAt: now() + 60_000 });
          });
        }),
      revoke: (token) => {
        revoked.push(token.value);
        return Promise.resolve();
      },
    };
    const store = new MemoryStore();
    const first = session({ store, authenticator: gated });
    const second = session({ store, authenticator: gated });
    const fromFirst = first.getToken().catch((error: unknown) => error);
    const fromSecond = second.getToken(); // joins the acquisition the first session started
    await eventually(() => gates.length === 1);
    const ending = first.end();
    const afterEnd = first.getToken(); // not awaited: end() is still running
    expect(await fromFirst).toMatchObject({ code: 'NETWORK', message: 'The session ended during this acquisition.' });
    await eventually(() => gates.length === 2);
    gates[1]?.();
    await ending;
    expect((await afterEnd).value).toBe('token-2');
    expect((await fromSecond).value).toBe('token-2');
    gates[0]?.(); // the abandoned attempt's token arrives: revoked, used by nobody
    await eventually(() => revoked.includes('token-1'));
    expect((await second.getToken()).value).toBe('token-2');
  });

  it('a getToken() made after an un-awaited end(), while the ended acquisition stores its token, gets a new token, not the revoked one', async () => {
    const revoked: string[] = [];
    let issued = 0;
    let release: (() => void) | undefined;
    const store = new (class extends MemoryStore {
      override async set(...args: Parameters<MemoryStore['set']>): Promise<void> {
        if (issued === 1 && release === undefined) {
          await new Promise<void>((resolve) => {
            release = resolve;
          });
        }
        await super.set(...args);
      }
    })();
    const subject = session({
      store,
      authenticator: {
        identity: 'storing-slowly',
        authenticate: ({ now }) => Promise.resolve({ value: `token-${(issued += 1)}`, obtainedAt: now(), expiresAt: now() + 60_000 }),
        revoke: (token) => {
          revoked.push(token.value);
          return Promise.resolve();
        },
      },
    });
    const before = subject.getToken().catch((error: unknown) => error);
    await eventually(() => release !== undefined); // token-1 is back; its write is running
    const ending = subject.end();
    const after = subject.getToken();
    release?.();
    expect(await before).toMatchObject({ code: 'NETWORK', message: 'The session ended during this acquisition.' });
    expect((await after).value).toBe('token-2');
    await ending;
    expect(revoked).toEqual(['token-1']);
    expect((await subject.getToken()).value).toBe('token-2');
  });

  it('takes null for the retry and lock options as not given', async () => {
    const lockOptions: (LockOptions | undefined)[] = [];
    const store = new (class extends MemoryStore {
      override withLock<T>(key: string, work: () => Promise<T>, options?: LockOptions): Promise<T> {
        lockOptions.push(options);
        return super.withLock(key, work, options);
      }
    })();
    const subject = new Session({ authenticator: clientCredentials(), store, retry: null as never, lockTimeoutMs: null as never, attemptTimeoutMs: null as never });
    expect(sandbox.idp.verifyAccessToken((await subject.getToken()).value)).toBeDefined();
    expect(lockOptions[0]).toEqual({});
  });

  it('end() while the acquisition stores its token: the waiting caller is told, and the token is revoked even when the store write fails', async () => {
    for (const fails of [false, true]) {
      const revoked: string[] = [];
      let release: (() => void) | undefined;
      const store = new (class extends MemoryStore {
        override async set(...args: Parameters<MemoryStore['set']>): Promise<void> {
          await new Promise<void>((resolve) => {
            release = resolve;
          });
          if (fails) throw new StoreError('UNAVAILABLE', 'the disk is full');
          await super.set(...args);
        }
      })();
      const subject = session({
        store,
        authenticator: {
          identity: `storing-${String(fails)}`,
          authenticate: ({ now }) => Promise.resolve({ value: 'token-1', obtainedAt: now(), expiresAt: now() + 60_000 }),
          revoke: (token) => {
            revoked.push(token.value);
            return Promise.resolve();
          },
        },
      });
      const pending = subject.getToken().catch((error: unknown) => error);
      await eventually(() => release !== undefined); // the token is back; its write is running
      const ending = subject.end();
      release?.();
      await ending;
      expect(await pending).toMatchObject({ code: 'NETWORK', message: 'The session ended during this acquisition.' });
      expect(revoked).toEqual(['token-1']);
      expect(subject.export().token).toBeUndefined();
    }
  });

  it('keeps no memory per acquisition on a long-lived session', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let issued = 0;
    const subject = session({
      authenticator: { identity: 'many', authenticate: ({ now }) => Promise.resolve({ value: `token-${(issued += 1)}`, obtainedAt: now() }) },
    });
    const cycle = async (count: number): Promise<void> => {
      for (let index = 0; index < count; index += 1) subject.invalidate(await subject.getToken());
    };
    await cycle(500);
    gc();
    const before = process.memoryUsage().heapUsed;
    await cycle(10_000);
    gc();
    // Each acquisition once kept ~3.6 kB alive for the life of the session (36 MB here).
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(8 * 1024 * 1024);
  });

  it('end() cuts a retry backoff short and makes no further attempt', async () => {
    sandbox.idp.injectFault({ kind: 'error', count: 5 });
    // Half of the 60 s backoff cap: without the abort, end() would wait 30 s for the retry, far past
    // the test's timeout.
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.5);
    onTestFinished(() => {
      random.mockRestore();
    });
    const subject = session({ retry: { retries: 2, baseDelayMs: 60_000, maxDelayMs: 60_000 } });
    const pending = subject.getToken().catch((error: unknown) => error);
    await eventually(() => sandbox.stats.idp.faults === 1);
    await subject.end();
    expect(await pending).toMatchObject({ name: 'AuthError', code: 'NETWORK', message: 'The session ended during this acquisition.' });
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('end() still revokes the token it held when the store is down or its lock cannot be had, then rejects with the store error', async () => {
    const authenticator = passwordGrant({ revocationUrl: sandbox.revocationUrl });
    const outage = new FaultyStore();
    const down = session({ store: outage, authenticator });
    const first = await down.getToken();
    outage.fail.withLock = storeDown;
    await expect(down.end()).rejects.toMatchObject({ name: 'StoreError', code: 'UNAVAILABLE' });
    expect(sandbox.idp.verifyAccessToken(first.value)).toBeUndefined();
    expect(sandbox.stats.idp.revocations).toBe(2); // the refresh and the access token
    expect(down.export().token).toBeUndefined();

    // The lock is held past lockTimeoutMs (another session's slow work, say).
    const store = new MemoryStore();
    const busy = session({ store, authenticator, lockTimeoutMs: 50 });
    const second = await busy.getToken();
    let release = (): void => undefined;
    const held = store.withLock(busy.key, () => new Promise<void>((resolve) => (release = resolve)));
    await expect(busy.end()).rejects.toMatchObject({ name: 'StoreError', code: 'LOCK_TIMEOUT' });
    expect(sandbox.idp.verifyAccessToken(second.value)).toBeUndefined();
    expect(sandbox.stats.idp.revocations).toBe(4);
    release();
    await held;
    // The store still holds the revoked token: no session of this process hands it out.
    expect((await store.get(busy.key))?.token).toMatchObject({ value: second.value });
    const third = await session({ store, authenticator }).getToken();
    expect(third.value).not.toBe(second.value);
    expect(sandbox.idp.verifyAccessToken(third.value)).toBeDefined();
  });

  it('end() forgets the token here and in the store, keeps a running throttle, and revokes', async () => {
    const revoked: string[] = [];
    let issued = 0;
    const authenticator: Authenticator = {
      identity: 'revocable',
      authenticate: ({ now }) => Promise.resolve({ value: `token-${(issued += 1)}`, obtainedAt: now(), expiresAt: now() + 60_000 }),
      revoke: (token) => {
        revoked.push(token.value);
        return Promise.resolve();
      },
    };
    const store = new MemoryStore();
    const subject = session({ authenticator, store });
    await subject.getToken();
    expect(await store.get(subject.key)).toBeDefined();
    await subject.end();
    expect(revoked).toEqual(['token-1']);
    expect(await store.get(subject.key)).toBeUndefined();
    expect(subject.export().token).toBeUndefined();
    expect((await subject.getToken()).value).toBe('token-2');

    const clock = manualClock();
    const throttledStore = new MemoryStore();
    const throttled = session({ clock, store: throttledStore });
    const { identityHash } = throttled.export();
    await throttledStore.set(throttled.key, { version: 1, identityHash, throttledUntil: clock() + 5000 });
    await throttled.end();
    expect(await throttledStore.get(throttled.key)).toEqual({ version: 1, identityHash, throttledUntil: clock() + 5000 });
  });
});
