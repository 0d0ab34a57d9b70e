// A stored record (and export() data) says whose it is: a session never uses, refreshes, ends or
// joins the token of another identity that shares its store key.
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from '@sessionkit/logger';
import { startSandbox, type Sandbox } from '@sessionkit/sandbox';
import { MemoryStore, type TokenStore } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { AuthError, type Authenticator, oauth2, Session, type SessionOptions, type Token } from '@sessionkit/core-session';
import { manualClock, startFileSessionChild } from './testing/helpers.js';

let sandbox: Sandbox;
let dir: string;

beforeEach(async () => {
  sandbox = await startSandbox();
  dir = await mkdtemp(join(tmpdir(), 'sessionkit-core-session-identity-'));
});

afterEach(async () => {
  await sandbox.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * Each store kind as a way to open the store of one test: a new FileStore on the test's directory
 * each time (as another process would), or the one MemoryStore of the test.
 */
const stores: [string, () => () => TokenStore][] = [
  ['FileStore', () => () => new FileStore({ dir })],
  [
    'MemoryStore',
    () => {
      const store = new MemoryStore();
      return () => store;
    },
  ],
];

/** The sandbox's user demo: password grant, with a (rotating) refresh token. */
function userAuthenticator(revoke = false): Authenticator {
  const revocationUrl = revoke ? sandbox.revocationUrl : undefined;
  return oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'password', clientId: 'GrantValidatorClient', username: 'demo', password: 'demo-password', revocationUrl });
}

/** The sandbox's client sessionkit-demo: client_credentials grant. */
function clientAuthenticator(revoke = false): Authenticator {
  const revocationUrl = revoke ? sandbox.revocationUrl : undefined;
  return oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret', revocationUrl });
}

function user(options: Partial<SessionOptions> & { revoke?: boolean } = {}): Session {
  const { revoke, ...rest } = options;
  return new Session({ authenticator: userAuthenticator(revoke), retry: { baseDelayMs: 1, maxDelayMs: 5 }, ...rest });
}

function client(options: Partial<SessionOptions> & { revoke?: boolean } = {}): Session {
  const { revoke, ...rest } = options;
  return new Session({ authenticator: clientAuthenticator(revoke), retry: { baseDelayMs: 1, maxDelayMs: 5 }, ...rest });
}

/** Rewrite the record under `key` as an earlier version wrote it, without `identityHash`; returns the hash it had. */
async function asWrittenBefore(store: TokenStore, key: string): Promise<unknown> {
  const { identityHash, ...withoutHash } = (await store.get(key))!;
  await store.set(key, withoutHash);
  return identityHash;
}

/** What a session of another identity meets under the key "shared-key". */
const foreignRecord = {
  name: 'AuthError',
  code: 'CONFIGURATION',
  message:
    'The record stored under the key "shared-key" was written by another identity (another token URL, client, user or scope, say): give each identity its own key, or remove that record.',
};

describe('a stored record says whose it is', () => {
  it.each(stores)('%s: a session of another identity given the same key fails with CONFIGURATION, uses no token of the other, and never refreshes with its refresh token', async (_, opener) => {
    const clock = manualClock();
    const open = opener();
    const store = open();
    const demo = user({ clock, store, key: 'shared-key' });
    const token = await demo.getToken();
    expect(token.refreshToken).toBeDefined();
    const stored = JSON.stringify(await store.get('shared-key'));
    // A hash, never the identity (which names the user).
    expect(stored).toMatch(/"identityHash":"[0-9a-f]{16}"/);
    expect(stored).not.toContain(demo.identity);
    expect(stored).not.toContain('user=demo');

    const other = client({ clock, store: open(), key: 'shared-key' });
    const refusal = await other.getToken().catch((error: unknown) => error);
    expect(AuthError.isInstance(refusal)).toBe(true);
    expect(refusal).toMatchObject(foreignRecord);
    expect((refusal as Error).message).not.toContain('demo');
    // Near the expiry of the stored token: still refused, and no refresh with the user's refresh token.
    clock.advance(3_600_000 - 5_000);
    await expect(other.start()).rejects.toMatchObject(foreignRecord);
    expect(sandbox.stats.idp).toMatchObject({ requests: 1 });
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 1 });
    expect(other.export().token).toBeUndefined();

    // The record is left as it was, and its own identity goes on with it.
    expect((await store.get('shared-key'))?.token).toEqual(token);
    const next = await demo.getToken();
    expect(sandbox.idp.verifyAccessToken(next.value)?.identity).toBe('user:demo');
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 1, refresh_token: 1 });
  });

  it('two sessions of different identities in one process with one store and key share no acquisition: neither gets the other\'s token', async () => {
    const store = new MemoryStore();
    const demo = user({ store, key: 'shared-key' });
    const other = client({ store, key: 'shared-key' });
    const [mine, theirs] = await Promise.allSettled([demo.getToken(), other.getToken()]);
    expect(mine).toMatchObject({ status: 'fulfilled' });
    expect(sandbox.idp.verifyAccessToken((mine as PromiseFulfilledResult<Token>).value.value)?.identity).toBe('user:demo');
    expect(theirs).toMatchObject({ status: 'rejected', reason: foreignRecord });
    expect(other.export().token).toBeUndefined();
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('a throttle another identity recorded under the key does not throttle this one: CONFIGURATION, not RATE_LIMITED', async () => {
    const store = new MemoryStore();
    const throttling: Authenticator = {
      identity: 'throttled elsewhere',
      authenticate: () => Promise.reject(new AuthError('RATE_LIMITED', 'Slow down (test).', { retryAfterMs: 60_000 })),
    };
    await expect(new Session({ authenticator: throttling, store, key: 'shared-key' }).getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await expect(client({ store, key: 'shared-key' }).getToken()).rejects.toMatchObject(foreignRecord);
    expect(sandbox.stats.idp.requests).toBe(0);
  });

  it('end() of a session of another identity neither removes nor revokes the token stored under its key', async () => {
    const store = new FileStore({ dir });
    const demo = user({ store, key: 'shared-key' });
    const token = await demo.getToken();
    const other = client({ store, key: 'shared-key', revoke: true });
    await expect(other.end()).rejects.toMatchObject(foreignRecord);
    expect((await store.get('shared-key'))?.token).toEqual(token);
    expect(sandbox.idp.verifyAccessToken(token.value)).toBeDefined();
  });

  it.each(stores)('%s: a record without identityHash (written by an older version) under the key derived from the identity is its own: reused, refreshed, rewritten with the hash', async (_, opener) => {
    const clock = manualClock();
    const open = opener();
    const store = open();
    const earlier = user({ clock, store });
    const old = await earlier.getToken();
    const identityHash = await asWrittenBefore(store, earlier.key);
    expect(identityHash).toBe(earlier.export().identityHash);

    const later = user({ clock, store: open() });
    expect((await later.getToken()).value).toBe(old.value);
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 1 });
    // Near its expiry: refreshed with its refresh token (a login after an upgrade would cost a login per process).
    clock.advance(3_600_000 - 5_000);
    const refreshed = await later.getToken();
    expect(refreshed.value).not.toBe(old.value);
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 1, refresh_token: 1 });
    expect(await store.get(later.key)).toMatchObject({ identityHash, token: { value: refreshed.value } });
  });

  it('end() revokes the token of a record without identityHash under the key derived from the identity, as before', async () => {
    const store = new FileStore({ dir });
    const earlier = user({ store, revoke: true });
    const old = await earlier.getToken();
    await asWrittenBefore(store, earlier.key);
    await user({ store: new FileStore({ dir }), revoke: true }).end();
    expect(await store.get(earlier.key)).toBeUndefined();
    expect(sandbox.idp.verifyAccessToken(old.value)).toBeUndefined();
  });

  it.each(stores)('%s: under a key the program chose, a record without identityHash gives no token (whose it is cannot be told), but its throttle holds', async (_, opener) => {
    const clock = manualClock();
    const open = opener();
    const store = open();
    const earlier = user({ clock, store, key: 'chosen-key' });
    const old = await earlier.getToken();
    await asWrittenBefore(store, 'chosen-key');

    const later = user({ clock, store: open(), key: 'chosen-key' });
    const fresh = await later.getToken();
    expect(fresh.value).not.toBe(old.value);
    expect(sandbox.stats.idp.byGrant).toEqual({ password: 2 });

    // A throttle in such a record holds no token: it is honoured.
    await store.set('chosen-key', { version: 1, throttledUntil: clock() + 60_000 });
    await expect(user({ clock, store: open(), key: 'chosen-key' }).getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(sandbox.stats.idp.requests).toBe(2);
  });

  it('a token file of another identity copied to this identity\'s file: the process fails with CONFIGURATION and makes no token request', async () => {
    const store = new FileStore({ dir });
    const clientSession = client({ store });
    const clientToken = await clientSession.getToken();
    const userKey = user().key;
    await copyFile(store.pathFor(clientSession.key), store.pathFor(userKey));
    const child = await startFileSessionChild({ TOKEN_URL: sandbox.tokenUrl, STORE_DIR: dir, GRANT: 'password' });
    expect(await child.getToken(Date.now())).toEqual({ ok: false, name: 'AuthError', code: 'CONFIGURATION', events: [] });
    expect(sandbox.stats.idp.requests).toBe(1);
    expect(await child.close()).toBe(0);
    // The file left as it was; the identity it belongs to, in another process, still reuses its token.
    const again = await startFileSessionChild({ TOKEN_URL: sandbox.tokenUrl, STORE_DIR: dir });
    expect(await again.getToken(Date.now())).toEqual({ ok: true, fingerprint: fingerprint(clientToken.value), events: [] });
    expect(sandbox.stats.idp.requests).toBe(1);
    expect(await again.close()).toBe(0);
    expect(JSON.parse(await readFile(store.pathFor(userKey), 'utf8'))).toMatchObject({ identityHash: clientSession.export().identityHash });
  });
});

describe('export() data says whose it is', () => {
  it('Session.restore() with data of another identity under the same key fails with CONFIGURATION', async () => {
    const source = client({ key: 'shared-key' });
    await source.getToken();
    const data = JSON.parse(JSON.stringify(source.export())) as ReturnType<Session['export']>;
    expect(data.identityHash).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(data)).not.toContain(source.identity);
    expect(() => Session.restore(data, { authenticator: userAuthenticator(), key: 'shared-key' })).toThrow(
      expect.objectContaining({ name: 'AuthError', code: 'CONFIGURATION', message: 'This session data belongs to another identity.' }) as Error,
    );
    // The same identity restores it.
    const restored = Session.restore(data, { authenticator: clientAuthenticator(), key: 'shared-key' });
    expect(restored.export().token).toEqual(data.token);
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('Session.restore() with data without identityHash (exported by an older version) uses its token only under the key derived from the identity', async () => {
    const source = client();
    const token = await source.getToken();
    const { identityHash, ...data } = source.export();
    expect(identityHash).toBeDefined();
    expect(Session.restore(data, { authenticator: clientAuthenticator() }).export().token).toEqual(token);
    const chosen = client({ key: 'chosen-key' });
    await chosen.getToken();
    const { identityHash: __, ...chosenData } = chosen.export();
    const restored = Session.restore(chosenData, { authenticator: clientAuthenticator(), key: 'chosen-key' });
    expect(restored.export().token).toBeUndefined();
    expect((await restored.getToken()).value).not.toBe(token.value);
    expect(sandbox.stats.idp.requests).toBe(3);
  });
});
