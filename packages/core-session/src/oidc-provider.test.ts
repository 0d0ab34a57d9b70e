// Interoperability with a real OAuth 2.0 authorization server: oidc-provider (see
// testing/oidc-server.ts). The sandbox's identity provider is sessionkit's own; this server is not,
// so these tests check the token lifecycle against someone else's reading of RFC 6749 (grants,
// client authentication, errors), RFC 7009 (revocation) and refresh token rotation with reuse
// detection: a refresh token used twice revokes its whole grant there.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MemoryStore } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { fingerprint } from '@sessionkit/logger';
import { AuthError, oauth2, type OAuth2Options, Session, type Token } from '@sessionkit/core-session';
import { refreshInProcesses } from './testing/interop.js';
import { caught, manualClock } from './testing/helpers.js';
import { ACCESS_TTL_S, BASIC_CLIENT, POST_CLIENT, USER, useOidcServer } from './testing/oidc-server.js';

const server = useOidcServer();

const clientCredentials = (options: Partial<OAuth2Options> = {}): ReturnType<typeof oauth2> =>
  oauth2({ tokenUrl: server().tokenUrl, grant: 'client_credentials', ...BASIC_CLIENT, scope: 'api', ...options });

const passwordGrant = (options: Partial<OAuth2Options> = {}): ReturnType<typeof oauth2> =>
  oauth2({
    tokenUrl: server().tokenUrl,
    revocationUrl: server().revocationUrl,
    grant: 'password',
    ...BASIC_CLIENT,
    ...USER,
    ...options,
  });

describe('against oidc-provider, a real OAuth 2.0 server', () => {
  it('gets a client_credentials token with HTTP Basic and with form fields, each accepted by the server, and reuses it', async () => {
    const sessions = [
      new Session({ authenticator: clientCredentials() }),
      new Session({ authenticator: clientCredentials({ ...POST_CLIENT, clientAuthentication: 'body' }) }),
    ];
    for (const [index, session] of sessions.entries()) {
      const before = Date.now();
      const token = await session.getToken();
      expect(token).toMatchObject({ type: 'Bearer', scope: 'api' });
      expect(token.refreshToken).toBeUndefined();
      // expires_in counted from when the request was sent.
      expect(token.expiresAt).toBeGreaterThanOrEqual(before + ACCESS_TTL_S * 1000);
      expect(token.expiresAt).toBeLessThanOrEqual(Date.now() + ACCESS_TTL_S * 1000);
      expect(await server().introspect(token.value)).toMatchObject({ active: true, client_id: index === 0 ? BASIC_CLIENT.clientId : POST_CLIENT.clientId, scope: 'api' });
      expect(await session.getToken()).toBe(token);
    }
    expect(server().granted).toEqual({ client_credentials: 2 });
    // As each was asked to (the server takes either from both clients).
    expect(server().clientAuthentications).toEqual(['basic', 'body']);
  });

  it('keeps the scope the server granted: one it does not know, it drops', async () => {
    const token = await new Session({ authenticator: clientCredentials({ scope: 'api reports:unknown' }) }).getToken();
    expect(token.scope).toBe('api');
    expect(await server().introspect(token.value)).toMatchObject({ active: true, scope: 'api' });
  });

  it('makes 1 token request for 200 concurrent callers', async () => {
    const session = new Session({ authenticator: clientCredentials() });
    const tokens = await Promise.all(Array.from({ length: 200 }, () => session.getToken()));
    expect(new Set(tokens.map((token) => token.value)).size).toBe(1);
    expect(server().granted).toEqual({ client_credentials: 1 });
  });

  it("reports the server's refusals as INVALID_CREDENTIALS with its OAuth error, and never shows a secret", async () => {
    const cases: [Partial<OAuth2Options>, number, string][] = [
      // A wrong secret (RFC 6749 section 5.2: 401 invalid_client for HTTP Basic).
      [{ clientSecret: 'wrong-secret-0b7e61' }, 401, 'invalid_client'],
      // The same with form fields.
      [{ clientSecret: 'wrong-secret-0b7e61', clientAuthentication: 'body' }, 401, 'invalid_client'],
      // A scope the server knows and the client may not have (one it does not know, it drops).
      [{ ...POST_CLIENT, clientAuthentication: 'body', scope: 'offline_access' }, 400, 'invalid_scope'],
    ];
    for (const [options, status, oauthError] of cases) {
      const error = await caught(new Session({ authenticator: clientCredentials(options), retry: { retries: 0 } }).getToken());
      expect(AuthError.isInstance(error) && error.code).toBe('INVALID_CREDENTIALS');
      expect(error).toMatchObject({ status, oauthError });
      const shown = inspect(error, { depth: 5 });
      for (const secret of [BASIC_CLIENT.clientSecret, POST_CLIENT.clientSecret, 'wrong-secret-0b7e61', Buffer.from(`${BASIC_CLIENT.clientId}:${BASIC_CLIENT.clientSecret}`).toString('base64')]) expect(shown).not.toContain(secret);
    }
    const error = await caught(new Session({ authenticator: passwordGrant({ password: 'not-her-password-77' }), retry: { retries: 0 } }).getToken());
    expect(error).toMatchObject({ code: 'INVALID_CREDENTIALS', status: 400, oauthError: 'invalid_grant' });
    expect(inspect(error, { depth: 5 })).not.toContain('not-her-password-77');
    expect(server().granted).toEqual({});
  });

  it("refreshes with the server's rotated refresh tokens: each refresh uses the newest one, and the grant stays valid", async () => {
    const clock = manualClock();
    const session = new Session({ authenticator: passwordGrant(), clock });
    const first = await session.getToken();
    expect(first.refreshToken).toBeDefined();
    let previous = first;
    for (let round = 0; round < 3; round += 1) {
      // Past the refresh point (the server's own clock still has the token valid).
      clock.advance(ACCESS_TTL_S * 1000);
      const next = await session.getToken();
      expect(next.value).not.toBe(previous.value);
      expect(next.refreshToken).not.toBe(previous.refreshToken);
      expect(await server().introspect(next.value)).toMatchObject({ active: true, client_id: BASIC_CLIENT.clientId });
      previous = next;
    }
    // One password login; a spent refresh token never sent (the server would have revoked the grant).
    expect(server().granted).toEqual({ password: 1, refresh_token: 3 });
    expect(server().refused).toEqual([]);
  });

  it('two stores over one directory (as two processes) refresh once between them: no spent refresh token reaches the server', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-oidc-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const clock = manualClock();
    // Separate store objects share nothing in memory: only the file and its lock, as processes do.
    const sessions = [0, 1].map(() => new Session({ authenticator: passwordGrant(), store: new FileStore({ dir }), clock }));
    const [a, b] = sessions as [Session, Session];
    const first = await a.getToken();
    expect((await b.getToken()).value).toBe(first.value);
    clock.advance(ACCESS_TTL_S * 1000);
    const refreshed = await Promise.all([a.getToken(), b.getToken(), a.getToken(), b.getToken()]);
    expect(new Set(refreshed.map((token) => token.value)).size).toBe(1);
    expect(server().granted).toEqual({ password: 1, refresh_token: 1 });
    expect(server().refused).toEqual([]);
    expect(await server().introspect(refreshed[0].value)).toMatchObject({ active: true });
  });

  it('8 processes on one FileStore, all past the refresh point at once, refresh once between them: no spent refresh token reaches the server', async () => {
    const { first, children } = await refreshInProcesses({ tokenUrl: server().tokenUrl, client: BASIC_CLIENT, user: USER, accessTtlMs: ACCESS_TTL_S * 1000 }, passwordGrant());
    expect(children.every((child) => child.ok)).toBe(true);
    expect(new Set(children.map((child) => child.fingerprint)).size).toBe(1);
    expect(children[0]?.fingerprint).not.toBe(fingerprint(first.value));
    expect(server().granted).toEqual({ password: 1, refresh_token: 1 });
    expect(server().refused).toEqual([]);
  });

  it('after a 401, invalidate() refreshes: the server accepts the new token, and the refresh token is spent once', async () => {
    const session = new Session({ authenticator: passwordGrant() });
    const first = await session.getToken();
    // The API refused it for a reason of its own: the server still has it active.
    session.invalidate(first);
    const second = await session.getToken();
    expect(second.value).not.toBe(first.value);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(await server().introspect(second.value)).toMatchObject({ active: true });
    expect(server().granted).toEqual({ password: 1, refresh_token: 1 });
    expect(server().refused).toEqual([]);
  });

  it('after a revocation that took the refresh token with it, the refused refresh falls back to one login', async () => {
    const session = new Session({ authenticator: passwordGrant() });
    const fallbacks: boolean[] = [];
    session.on('refresh-failed', ({ fallback }) => fallbacks.push(fallback));
    const first = await session.getToken();
    // Revoking an access token there revokes every token of its grant, refresh tokens included.
    await server().revoke(first.value, 'access_token');
    expect(await server().introspect(first.value)).toMatchObject({ active: false });
    session.invalidate(first);
    const second = await session.getToken();
    expect(await server().introspect(second.value)).toMatchObject({ active: true });
    expect(server().refused).toEqual(['invalid_grant']);
    expect(fallbacks).toEqual([true]);
    expect(server().granted).toEqual({ password: 2 });
  });

  it('end() revokes at the server (RFC 7009): neither the access token nor the refresh token works afterwards', async () => {
    const session = new Session({ authenticator: passwordGrant() });
    const token: Token = await session.getToken();
    expect(await server().introspect(token.value)).toMatchObject({ active: true });
    await session.end();
    expect(await server().introspect(token.value)).toMatchObject({ active: false });
    const response = await fetch(server().tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token.refreshToken ?? '', client_id: BASIC_CLIENT.clientId, client_secret: BASIC_CLIENT.clientSecret }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
    // A session made afterwards logs in anew.
    const next = await new Session({ authenticator: passwordGrant() }).getToken();
    expect(await server().introspect(next.value)).toMatchObject({ active: true });
    expect(server().granted).toEqual({ password: 2 });
  });

  it('a store that another session of this process shares keeps one token for both', async () => {
    const store = new MemoryStore();
    const [a, b] = [new Session({ authenticator: clientCredentials(), store }), new Session({ authenticator: clientCredentials(), store })];
    const [first, second] = await Promise.all([a.getToken(), b.getToken()]);
    expect(second.value).toBe(first.value);
    expect(server().granted).toEqual({ client_credentials: 1 });
  });
});
