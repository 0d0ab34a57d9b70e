// Interoperability with a second, independent OAuth 2.0 server: @node-oauth/oauth2-server (see
// testing/node-oauth-server.ts). Neither the sandbox nor oidc-provider: another reading of RFC 6749
// (client authentication, grants, errors, expires_in, refresh token rotation through the model's
// revokeToken), with the library's own Bearer check (RFC 6750) to tell whether the server still takes
// a token. Its revocation endpoint (RFC 7009) is the helper's own: the library has none.
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { fingerprint } from '@sessionkit/logger';
import { AuthError, oauth2, type OAuth2Options, Session, type Token } from '@sessionkit/core-session';
import { refreshInProcesses } from './testing/interop.js';
import { caught, eventually, manualClock } from './testing/helpers.js';
import { ACCESS_TTL_S, BASIC_CLIENT, BODY_CLIENT, KEEP_CLIENT, PUBLIC_CLIENT, SHORT_CLIENT, SHORT_TTL_S, SYMBOL_CLIENT, USER, useNodeOauthServer } from './testing/node-oauth-server.js';

const server = useNodeOauthServer();

const clientCredentials = (options: Partial<OAuth2Options> = {}): ReturnType<typeof oauth2> =>
  oauth2({ tokenUrl: server().tokenUrl, revocationUrl: server().revocationUrl, grant: 'client_credentials', ...BASIC_CLIENT, scope: 'api', ...options });

const passwordGrant = (options: Partial<OAuth2Options> = {}): ReturnType<typeof oauth2> =>
  oauth2({ tokenUrl: server().tokenUrl, revocationUrl: server().revocationUrl, grant: 'password', ...BASIC_CLIENT, ...USER, ...options });

/** The server's own expiry of an access token it issued. */
const serverExpiry = (token: Token): number => {
  const at = server().expiresAt(token.value);
  if (at === undefined) throw new Error('the server did not issue this token');
  return at;
};

describe('against @node-oauth/oauth2-server, a second real OAuth 2.0 server', () => {
  it('gets a client_credentials token with HTTP Basic and with form fields, each as the server saw it, and reuses it', async () => {
    const sessions = [
      new Session({ authenticator: clientCredentials() }),
      // No scope asked: the server grants the client's default and says so.
      new Session({ authenticator: clientCredentials({ ...BODY_CLIENT, clientAuthentication: 'body', scope: undefined }) }),
    ];
    for (const session of sessions) {
      const before = Date.now();
      const token = await session.getToken();
      expect(token).toMatchObject({ type: 'Bearer', scope: 'api' });
      expect(token.refreshToken).toBeUndefined();
      // The library sends the whole seconds left when it answers (ACCESS_TTL_S - 1, as a rule):
      // counted from when the request was sent, the expiry is never after the server's own.
      expect(token.expiresAt).toBeGreaterThanOrEqual(before + (ACCESS_TTL_S - 1) * 1000);
      expect(token.expiresAt).toBeLessThanOrEqual(serverExpiry(token));
      expect(await server().resource(token.value)).toEqual({ status: 200 });
      expect(await session.getToken()).toBe(token);
    }
    expect(server().granted).toEqual({ client_credentials: 2 });
    expect(server().clientAuthentications).toEqual(['basic', 'body']);
  });

  it('makes 1 token request for 200 concurrent callers', async () => {
    const session = new Session({ authenticator: clientCredentials() });
    const tokens = await Promise.all(Array.from({ length: 200 }, () => session.getToken()));
    expect(new Set(tokens.map((token) => token.value)).size).toBe(1);
    expect(server().requests).toHaveLength(1);
    expect(server().granted).toEqual({ client_credentials: 1 });
  });

  it("reports the server's refusals as INVALID_CREDENTIALS with its OAuth error, asks once each, and never shows a secret", async () => {
    const wrongSecret = 'wrong-secret-0c5d1e';
    const wrongPassword = 'not-her-password-29';
    const cases: [ReturnType<typeof oauth2>, number, string][] = [
      // A wrong secret by HTTP Basic: 401 and a Basic challenge (RFC 6749 section 5.2).
      [clientCredentials({ clientSecret: wrongSecret }), 401, 'invalid_client'],
      // By form fields: 400 (the RFC's 401 is a MUST only for the Authorization header).
      [clientCredentials({ ...BODY_CLIENT, clientSecret: wrongSecret, clientAuthentication: 'body' }), 400, 'invalid_client'],
      // A scope the client may not have (the model's validateScope refuses it; the library answers invalid_scope).
      [clientCredentials({ scope: 'api admin' }), 400, 'invalid_scope'],
      // A grant the client may not use.
      [passwordGrant({ ...BODY_CLIENT }), 400, 'unauthorized_client'],
      // A wrong password.
      [passwordGrant({ password: wrongPassword }), 400, 'invalid_grant'],
    ];
    for (const [authenticator, status, oauthError] of cases) {
      // The default retry policy: a refusal is not retried.
      const error = await caught(new Session({ authenticator }).getToken());
      expect(AuthError.isInstance(error) && error.code).toBe('INVALID_CREDENTIALS');
      expect(error).toMatchObject({ status, oauthError });
      const shown = inspect(error, { depth: 5 });
      for (const secret of [BASIC_CLIENT.clientSecret, BODY_CLIENT.clientSecret, wrongSecret, USER.password, wrongPassword, Buffer.from(`${BASIC_CLIENT.clientId}:${wrongSecret}`).toString('base64')]) {
        expect(shown).not.toContain(secret);
      }
    }
    expect(server().requests.map(({ status, error, challenge }) => [status, error, challenge])).toEqual([
      [401, 'invalid_client', 'Basic realm="Service"'],
      [400, 'invalid_client', undefined],
      [400, 'invalid_scope', undefined],
      [400, 'unauthorized_client', undefined],
      [400, 'invalid_grant', undefined],
    ]);
    expect(server().granted).toEqual({});
  });

  it('a secret with characters form encoding escapes: the server does not form-decode HTTP Basic credentials (RFC 6749 section 2.3.1), so only form fields work', async () => {
    // oauth2() form-encodes the id and secret inside Basic, as the RFC says (c3ltYm9s%2Bc2VjcmV0%2FMDk%3D);
    // this server compares them undecoded. With form fields the secret arrives as it is.
    const basic = await caught(new Session({ authenticator: clientCredentials({ ...SYMBOL_CLIENT }) }).getToken());
    expect(basic).toMatchObject({ code: 'INVALID_CREDENTIALS', status: 401, oauthError: 'invalid_client' });
    // The error says what to try.
    expect((basic as Error).message).toContain("which some servers do not decode: if it is right, try clientAuthentication: 'body'.");
    expect(inspect(basic, { depth: 5 })).not.toContain(SYMBOL_CLIENT.clientSecret);
    const token = await new Session({ authenticator: clientCredentials({ ...SYMBOL_CLIENT, clientAuthentication: 'body' }) }).getToken();
    expect(await server().resource(token.value)).toEqual({ status: 200 });
    expect(server().requests.map(({ clientAuthentication, status }) => [clientAuthentication, status])).toEqual([
      ['basic', 401],
      ['body', 200],
    ]);
  });

  it("refreshes with the server's rotated refresh tokens: each spent one is refused by the server, and the session never sends one again", async () => {
    const clock = manualClock();
    const session = new Session({ authenticator: passwordGrant(), clock });
    let newest = await session.getToken();
    const tokens = [newest];
    for (let round = 0; round < 3; round += 1) {
      // Past the refresh point (the server's own clock still has the token valid).
      clock.advance(ACCESS_TTL_S * 1000);
      newest = await session.getToken();
      tokens.push(newest);
    }
    const refreshTokens = tokens.map((token) => token.refreshToken);
    expect(new Set(refreshTokens).size).toBe(4);
    expect(refreshTokens.every((value) => typeof value === 'string')).toBe(true);
    // Each refresh presented the newest refresh token, once; the server refused none.
    expect(server().refreshTokensPresented).toEqual(refreshTokens.slice(0, 3));
    expect(server().granted).toEqual({ password: 1, refresh_token: 3 });
    expect(server().refused).toEqual([]);
    expect(await server().resource(newest.value)).toEqual({ status: 200 });
    // The server revoked each one it rotated away.
    for (const spent of refreshTokens.slice(0, 3)) expect(await server().refreshDirectly(spent ?? '')).toEqual({ status: 400, error: 'invalid_grant' });
    // The session goes on with the newest.
    clock.advance(ACCESS_TTL_S * 1000);
    expect((await session.getToken()).value).not.toBe(newest.value);
    expect(server().refreshTokensPresented.at(-1)).toBe(newest.refreshToken);
    expect(server().granted).toEqual({ password: 1, refresh_token: 4 });
  });

  it('a server that keeps the refresh token (a refresh answer without one, RFC 6749 section 6): the session refreshes with it again', async () => {
    const clock = manualClock();
    const session = new Session({ authenticator: passwordGrant({ ...KEEP_CLIENT }), clock });
    const first = await session.getToken();
    const values = [first.value];
    for (let round = 0; round < 3; round += 1) {
      clock.advance(ACCESS_TTL_S * 1000);
      const token = await session.getToken();
      expect(token.refreshToken).toBe(first.refreshToken);
      values.push(token.value);
    }
    expect(new Set(values).size).toBe(4);
    expect(server().refreshTokensPresented).toEqual([first.refreshToken, first.refreshToken, first.refreshToken]);
    expect(server().granted).toEqual({ password: 1, refresh_token: 3 });
    expect(server().refused).toEqual([]);
  });

  it("refreshes short-lived tokens (the model's accessTokenLifetime) in time: no token is served once the server has expired it", async () => {
    const session = new Session({ authenticator: passwordGrant({ ...SHORT_CLIENT }) });
    // A background refresh started by the last call would otherwise end in the next test.
    onTestFinished(async () => {
      await session.end();
      await eventually(() => server().inFlight === 0);
    });
    const first = await session.getToken();
    expect(first.expiresAt).toBeLessThanOrEqual(serverExpiry(first));
    const served: [Token, number][] = [];
    // Callers all along, past the server's expiry of the first token.
    while (Date.now() < serverExpiry(first) + 300) {
      const token = await session.getToken();
      served.push([token, Date.now()]);
      await sleep(20);
    }
    for (const [token, at] of served) {
      expect(token.expiresAt).toBeLessThanOrEqual(serverExpiry(token));
      expect(at).toBeLessThan(serverExpiry(token));
    }
    expect(await server().resource(first.value)).toEqual({ status: 401, error: 'invalid_token' });
    const last = await session.getToken();
    expect(last.value).not.toBe(first.value);
    expect(await server().resource(last.value)).toEqual({ status: 200 });
    // One login; then refreshes only (about one a token lifetime), each with the newest refresh token.
    expect(server().granted.password).toBe(1);
    expect(server().granted.refresh_token).toBeGreaterThanOrEqual(1);
    expect(server().granted.refresh_token).toBeLessThanOrEqual(3 * SHORT_TTL_S + 1);
    expect(server().refused).toEqual([]);
    expect(new Set(server().refreshTokensPresented).size).toBe(server().refreshTokensPresented.length);
  });

  it('after a 401, invalidate() refreshes: the server takes the new token, and the refresh token is spent once', async () => {
    const session = new Session({ authenticator: passwordGrant() });
    const first = await session.getToken();
    // The API refused it for a reason of its own: the server still takes it.
    session.invalidate(first);
    const second = await session.getToken();
    expect(second.value).not.toBe(first.value);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(await server().resource(second.value)).toEqual({ status: 200 });
    expect(server().granted).toEqual({ password: 1, refresh_token: 1 });
    expect(server().refreshTokensPresented).toEqual([first.refreshToken]);
    expect(server().refused).toEqual([]);
  });

  it('after the server dropped every token of the user, the refused refresh falls back to one login', async () => {
    const session = new Session({ authenticator: passwordGrant() });
    const fallbacks: boolean[] = [];
    session.on('refresh-failed', ({ fallback }) => fallbacks.push(fallback));
    const first = await session.getToken();
    server().revokeAll();
    expect(await server().resource(first.value)).toEqual({ status: 401, error: 'invalid_token' });
    session.invalidate(first);
    const second = await session.getToken();
    expect(await server().resource(second.value)).toEqual({ status: 200 });
    expect(server().refused).toEqual(['invalid_grant']);
    expect(fallbacks).toEqual([true]);
    expect(server().granted).toEqual({ password: 2 });
  });

  it("retries the library's 503 server_error; after a 503 that spent the refresh token, the retry's invalid_grant falls back to one login", async () => {
    const clock = manualClock();
    const session = new Session({ authenticator: passwordGrant(), clock, retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 5 } });
    const fallbacks: boolean[] = [];
    session.on('refresh-failed', ({ fallback }) => fallbacks.push(fallback));
    // The model's store fails once: the library answers 503 server_error; the retry gets a token.
    server().failSaves(1);
    const first = await session.getToken();
    // It fails once again, on the refresh: the library had already revoked the refresh token used
    // (model.revokeToken comes before saveToken), so the retry of that refresh is refused.
    server().failSaves(1);
    clock.advance(ACCESS_TTL_S * 1000);
    const second = await session.getToken();
    expect(second.value).not.toBe(first.value);
    expect(await server().resource(second.value)).toEqual({ status: 200 });
    expect(server().requests.map(({ grantType, status, error }) => [grantType, status, error])).toEqual([
      ['password', 503, 'server_error'],
      ['password', 200, undefined],
      ['refresh_token', 503, 'server_error'],
      ['refresh_token', 400, 'invalid_grant'],
      ['password', 200, undefined],
    ]);
    expect(fallbacks).toEqual([true]);
  });

  it('end() revokes both tokens at the revocation endpoint: the server takes neither afterwards', async () => {
    const session = new Session({ authenticator: passwordGrant() });
    const token = await session.getToken();
    await session.end();
    expect(server().revocations).toEqual([
      { hint: 'refresh_token', revoked: 'refresh_token', clientAuthentication: 'basic', status: 200 },
      { hint: 'access_token', revoked: 'access_token', clientAuthentication: 'basic', status: 200 },
    ]);
    expect(await server().resource(token.value)).toEqual({ status: 401, error: 'invalid_token' });
    expect(await server().refreshDirectly(token.refreshToken ?? '')).toEqual({ status: 400, error: 'invalid_grant' });
    // With form fields, a client_credentials token (no refresh token).
    const other = new Session({ authenticator: clientCredentials({ ...BODY_CLIENT, clientAuthentication: 'body' }) });
    const access = await other.getToken();
    await other.end();
    expect(server().revocations.slice(2)).toEqual([{ hint: 'access_token', revoked: 'access_token', clientAuthentication: 'body', status: 200 }]);
    expect(await server().resource(access.value)).toEqual({ status: 401, error: 'invalid_token' });
  });

  it('a public client (no secret) logs in, refreshes and revokes with its client_id alone', async () => {
    const clock = manualClock();
    const session = new Session({ authenticator: passwordGrant({ ...PUBLIC_CLIENT, clientSecret: undefined }), clock });
    const first = await session.getToken();
    clock.advance(ACCESS_TTL_S * 1000);
    const second = await session.getToken();
    expect(second.refreshToken).not.toBe(first.refreshToken);
    await session.end();
    expect(server().granted).toEqual({ password: 1, refresh_token: 1 });
    expect(server().clientAuthentications).toEqual(['none', 'none']);
    expect(server().revocations.map(({ revoked, clientAuthentication }) => [revoked, clientAuthentication])).toEqual([
      ['refresh_token', 'none'],
      ['access_token', 'none'],
    ]);
  });

  it('8 processes on one FileStore, all past the refresh point at once, refresh once between them: no spent refresh token reaches the server', async () => {
    const { first, children } = await refreshInProcesses({ tokenUrl: server().tokenUrl, client: BASIC_CLIENT, user: USER, accessTtlMs: ACCESS_TTL_S * 1000 }, passwordGrant());
    expect(children.every((child) => child.ok)).toBe(true);
    expect(new Set(children.map((child) => child.fingerprint)).size).toBe(1);
    expect(children[0]?.fingerprint).not.toBe(fingerprint(first.value));
    expect(server().granted).toEqual({ password: 1, refresh_token: 1 });
    expect(server().refreshTokensPresented).toEqual([first.refreshToken]);
    expect(server().refused).toEqual([]);
  });
});
