import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@sessionkit/logger';
import { startSandbox, type Sandbox } from '@sessionkit/sandbox';
import { MemoryStore } from '@sessionkit/token-store';
import { AuthError, type Authenticator, oauth2, type OAuth2Options, Session, type SessionOptions, type Token } from '@sessionkit/core-session';
import { CountingStore, eventually, manualClock } from './testing/helpers.js';

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

  it('does not adopt an invalidated token that is still in the store', async () => {
    const store = new MemoryStore();
    const first = await session({ store }).getToken();
    const other = session({ store });
    expect(await other.getToken()).toEqual(first);
    other.invalidate(first);
    expect((await other.getToken()).value).not.toBe(first.value);
    expect(sandbox.stats.idp.requests).toBe(2);
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
    await store.set(subject.key, { version: 1, token: { value: 42 } });
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
    await store.set(subject.key, { version: 1, token: { value: token.access_token, obtainedAt: Date.now(), expiresAt: Date.now() + 3_600_000 } });
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

  it('rejects a value that is not a token with INVALID_RESPONSE', async () => {
    const authenticator = { identity: 'broken', authenticate: () => Promise.resolve({ value: '' } as unknown as Token) };
    await expect(session({ authenticator }).getToken()).rejects.toMatchObject({ code: 'INVALID_RESPONSE' });
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
    await throttledStore.set(throttled.key, { version: 1, throttledUntil: clock() + 5000 });
    await throttled.end();
    expect(await throttledStore.get(throttled.key)).toEqual({ version: 1, throttledUntil: clock() + 5000 });
  });
});
