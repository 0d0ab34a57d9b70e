// Interoperability with a real OAuth 2.0 authorization server: oidc-provider (an OpenID Certified
// implementation, from npm), on a loopback port. The sandbox's identity provider is sessionkit's
// own; this server is not, so these tests check the token lifecycle against someone else's reading
// of RFC 6749 (grants, client authentication, errors), RFC 7009 (revocation) and refresh token
// rotation with reuse detection: a refresh token used twice revokes its whole grant there.
//
// oidc-provider has no password grant (OAuth 2.1 drops it); the handler below adds one through its
// registerGrantType() API, issuing the provider's own Grant, AccessToken and RefreshToken models, so
// that the refresh_token grant, rotation and revocation are the provider's. On Node 20 it warns once
// that it wants Node 22 or later; it runs there, as these tests show.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import Provider, { type Adapter, type AdapterPayload, errors, type KoaContextWithOIDC } from 'oidc-provider';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { MemoryStore } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { AuthError, oauth2, type OAuth2Options, Session, type Token } from '@sessionkit/core-session';
import { caught, manualClock } from './testing/helpers.js';

const BASIC_SECRET = 'basic-client-secret-4f1c9e';
const POST_SECRET = 'post-client-secret-8a27d0';
const PASSWORD = 'alice-password-51b3';
const ACCESS_TTL_S = 300;

/** oidc-provider's storage, in memory (its own in-memory adapter is refused for anything but a quick start, with a warning). */
function memoryAdapter(records: Map<string, AdapterPayload>): new (model: string) => Adapter {
  return class MemoryAdapter implements Adapter {
    readonly #model: string;
    constructor(model: string) {
      this.#model = model;
    }
    #key(id: string): string {
      return `${this.#model}:${id}`;
    }
    upsert(id: string, payload: AdapterPayload): Promise<void> {
      records.set(this.#key(id), payload);
      return Promise.resolve();
    }
    find(id: string): Promise<AdapterPayload | undefined> {
      return Promise.resolve(records.get(this.#key(id)));
    }
    findByUserCode(): Promise<undefined> {
      return Promise.resolve(undefined);
    }
    findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return Promise.resolve([...records.values()].find((payload) => payload.uid === uid));
    }
    consume(id: string): Promise<void> {
      const payload = records.get(this.#key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      return Promise.resolve();
    }
    destroy(id: string): Promise<void> {
      records.delete(this.#key(id));
      return Promise.resolve();
    }
    revokeByGrantId(grantId: string): Promise<void> {
      for (const [key, payload] of records) if (payload.grantId === grantId) records.delete(key);
      return Promise.resolve();
    }
  };
}

let server: Server;
let provider: Provider;
let issuer: string;
/** Successful token endpoint answers since the test began, by grant type. */
let granted: Record<string, number>;
/** Refused token endpoint requests since the test began, by error. */
let refused: string[];

beforeAll(async () => {
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Its signing key (for ID tokens, which these grants do not issue; the provider wants one).
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  provider = new Provider(issuer, {
    adapter: memoryAdapter(new Map()),
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test', alg: 'RS256', use: 'sig' }] },
    clients: [
      {
        client_id: 'basic-client',
        client_secret: BASIC_SECRET,
        grant_types: ['client_credentials', 'password', 'refresh_token'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'api offline_access',
      },
      {
        client_id: 'post-client',
        client_secret: POST_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_post',
        scope: 'api',
      },
    ],
    features: {
      clientCredentials: { enabled: true },
      // basic-client introspects the tokens of both clients here.
      introspection: { enabled: true, allowedPolicy: () => true },
      revocation: { enabled: true, allowedPolicy: () => true },
      devInteractions: { enabled: false },
    },
    scopes: ['api', 'offline_access'],
    ttl: { AccessToken: ACCESS_TTL_S, ClientCredentials: ACCESS_TTL_S, RefreshToken: 3600, Grant: 3600 },
    rotateRefreshToken: true,
    findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
  });
  provider.registerGrantType(
    'password',
    async (ctx: KoaContextWithOIDC) => {
      const { username, password } = ctx.oidc.params as { username?: string; password?: string };
      if (username !== 'alice' || password !== PASSWORD) throw new errors.InvalidGrant('invalid resource owner credentials');
      const client = ctx.oidc.client;
      if (!client) throw new errors.InvalidClient('no client');
      const scope = 'offline_access api';
      const grant = new provider.Grant({ accountId: username, clientId: client.clientId });
      grant.addOIDCScope(scope);
      const grantId = await grant.save();
      const accessToken = new provider.AccessToken({ accountId: username, client, grantId, gty: 'password', scope });
      const refreshToken = new provider.RefreshToken({ accountId: username, client, grantId, gty: 'password', scope });
      ctx.body = { access_token: await accessToken.save(), token_type: 'Bearer', expires_in: accessToken.expiration, refresh_token: await refreshToken.save(), scope };
    },
    ['username', 'password', 'scope'],
  );
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const grantType = String((ctx.oidc.params as { grant_type?: unknown }).grant_type);
    granted[grantType] = (granted[grantType] ?? 0) + 1;
  });
  provider.on('grant.error', (_ctx: KoaContextWithOIDC, error: { error?: string }) => {
    refused.push(error.error ?? 'unknown');
  });
  const callback = provider.callback();
  server.on('request', (request, response) => void callback(request, response));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  granted = {};
  refused = [];
});

/** What the server says of `token` (RFC 7662 introspection, as basic-client). */
async function introspect(token: string): Promise<{ active: boolean; client_id?: string; scope?: string; token_type?: string }> {
  const response = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`basic-client:${BASIC_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ token }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { active: boolean };
}

const clientCredentials = (options: Partial<OAuth2Options> = {}): ReturnType<typeof oauth2> =>
  oauth2({ tokenUrl: `${issuer}/token`, grant: 'client_credentials', clientId: 'basic-client', clientSecret: BASIC_SECRET, scope: 'api', ...options });

const passwordGrant = (options: Partial<OAuth2Options> = {}): ReturnType<typeof oauth2> =>
  oauth2({
    tokenUrl: `${issuer}/token`,
    revocationUrl: `${issuer}/token/revocation`,
    grant: 'password',
    clientId: 'basic-client',
    clientSecret: BASIC_SECRET,
    username: 'alice',
    password: PASSWORD,
    ...options,
  });

describe('against oidc-provider, a real OAuth 2.0 server', () => {
  it('gets a client_credentials token with HTTP Basic and with form fields, each accepted by the server, and reuses it', async () => {
    const sessions = [
      new Session({ authenticator: clientCredentials() }),
      new Session({ authenticator: clientCredentials({ clientId: 'post-client', clientSecret: POST_SECRET, clientAuthentication: 'body' }) }),
    ];
    for (const [index, session] of sessions.entries()) {
      const before = Date.now();
      const token = await session.getToken();
      expect(token).toMatchObject({ type: 'Bearer', scope: 'api' });
      expect(token.refreshToken).toBeUndefined();
      // expires_in counted from when the request was sent.
      expect(token.expiresAt).toBeGreaterThanOrEqual(before + ACCESS_TTL_S * 1000);
      expect(token.expiresAt).toBeLessThanOrEqual(Date.now() + ACCESS_TTL_S * 1000);
      expect(await introspect(token.value)).toMatchObject({ active: true, client_id: index === 0 ? 'basic-client' : 'post-client', scope: 'api' });
      expect(await session.getToken()).toBe(token);
    }
    expect(granted).toEqual({ client_credentials: 2 });
  });

  it('makes 1 token request for 200 concurrent callers', async () => {
    const session = new Session({ authenticator: clientCredentials() });
    const tokens = await Promise.all(Array.from({ length: 200 }, () => session.getToken()));
    expect(new Set(tokens.map((token) => token.value)).size).toBe(1);
    expect(granted).toEqual({ client_credentials: 1 });
  });

  it("reports the server's refusals as INVALID_CREDENTIALS with its OAuth error, and never shows a secret", async () => {
    const cases: [Partial<OAuth2Options>, number, string][] = [
      // A wrong secret (RFC 6749 section 5.2: 401 invalid_client for HTTP Basic).
      [{ clientSecret: 'wrong-secret-0b7e61' }, 401, 'invalid_client'],
      // The same with form fields.
      [{ clientSecret: 'wrong-secret-0b7e61', clientAuthentication: 'body' }, 401, 'invalid_client'],
      // A scope the server knows and the client may not have (one it does not know, it drops).
      [{ clientId: 'post-client', clientSecret: POST_SECRET, clientAuthentication: 'body', scope: 'offline_access' }, 400, 'invalid_scope'],
    ];
    for (const [options, status, oauthError] of cases) {
      const error = await caught(new Session({ authenticator: clientCredentials(options), retry: { retries: 0 } }).getToken());
      expect(AuthError.isInstance(error) && error.code).toBe('INVALID_CREDENTIALS');
      expect(error).toMatchObject({ status, oauthError });
      const shown = inspect(error, { depth: 5 });
      for (const secret of [BASIC_SECRET, POST_SECRET, 'wrong-secret-0b7e61', Buffer.from(`basic-client:${BASIC_SECRET}`).toString('base64')]) expect(shown).not.toContain(secret);
    }
    const error = await caught(new Session({ authenticator: passwordGrant({ password: 'not-her-password-77' }), retry: { retries: 0 } }).getToken());
    expect(error).toMatchObject({ code: 'INVALID_CREDENTIALS', status: 400, oauthError: 'invalid_grant' });
    expect(inspect(error, { depth: 5 })).not.toContain('not-her-password-77');
    expect(granted).toEqual({});
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
      expect(await introspect(next.value)).toMatchObject({ active: true, client_id: 'basic-client' });
      previous = next;
    }
    // One password login; a spent refresh token never sent (the server would have revoked the grant).
    expect(granted).toEqual({ password: 1, refresh_token: 3 });
    expect(refused).toEqual([]);
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
    expect(granted).toEqual({ password: 1, refresh_token: 1 });
    expect(refused).toEqual([]);
    expect(await introspect(refreshed[0].value)).toMatchObject({ active: true });
  });

  it('after a 401, invalidate() refreshes: the server accepts the new token, and the refresh token is spent once', async () => {
    const session = new Session({ authenticator: passwordGrant() });
    const first = await session.getToken();
    // The API refused it for a reason of its own: the server still has it active.
    session.invalidate(first);
    const second = await session.getToken();
    expect(second.value).not.toBe(first.value);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(await introspect(second.value)).toMatchObject({ active: true });
    expect(granted).toEqual({ password: 1, refresh_token: 1 });
    expect(refused).toEqual([]);
  });

  it('after a revocation that took the refresh token with it, the refused refresh falls back to one login', async () => {
    const session = new Session({ authenticator: passwordGrant() });
    const fallbacks: boolean[] = [];
    session.on('refresh-failed', ({ fallback }) => fallbacks.push(fallback));
    const first = await session.getToken();
    // Revoking an access token there revokes every token of its grant, refresh tokens included.
    await revoke(first.value, 'access_token');
    expect(await introspect(first.value)).toMatchObject({ active: false });
    session.invalidate(first);
    const second = await session.getToken();
    expect(await introspect(second.value)).toMatchObject({ active: true });
    expect(refused).toEqual(['invalid_grant']);
    expect(fallbacks).toEqual([true]);
    expect(granted).toEqual({ password: 2 });
  });

  it('end() revokes at the server (RFC 7009): neither the access token nor the refresh token works afterwards', async () => {
    const session = new Session({ authenticator: passwordGrant() });
    const token: Token = await session.getToken();
    expect(await introspect(token.value)).toMatchObject({ active: true });
    await session.end();
    expect(await introspect(token.value)).toMatchObject({ active: false });
    const response = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`basic-client:${BASIC_SECRET}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token.refreshToken ?? '' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
    // A session made afterwards logs in anew.
    const next = await new Session({ authenticator: passwordGrant() }).getToken();
    expect(await introspect(next.value)).toMatchObject({ active: true });
    expect(granted).toEqual({ password: 2 });
  });

  it('a store that another session of this process shares keeps one token for both', async () => {
    const store = new MemoryStore();
    const [a, b] = [new Session({ authenticator: clientCredentials(), store }), new Session({ authenticator: clientCredentials(), store })];
    const [first, second] = await Promise.all([a.getToken(), b.getToken()]);
    expect(second.value).toBe(first.value);
    expect(granted).toEqual({ client_credentials: 1 });
  });
});

/** Revoke `token` at the server directly (RFC 7009, as basic-client), as an administrator or the server's own policy would. */
async function revoke(token: string, hint: 'access_token' | 'refresh_token'): Promise<void> {
  const response = await fetch(`${issuer}/token/revocation`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`basic-client:${BASIC_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ token, token_type_hint: hint }),
  });
  expect(response.status).toBe(200);
}
