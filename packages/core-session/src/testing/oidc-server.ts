// A real OAuth 2.0 authorization server for interoperability tests: oidc-provider (an OpenID
// Certified implementation, from npm) on a loopback port. Used by core-session's and http-client's
// tests (not published).
//
// oidc-provider has no password grant (OAuth 2.1 drops it); the handler below adds one through its
// registerGrantType() API, issuing the provider's own Grant, AccessToken and RefreshToken models, so
// that the refresh_token grant, rotation (on: a refresh token used twice revokes its whole grant),
// revocation, introspection and the userinfo endpoint (`/me`, a Bearer resource) are the
// provider's. On Node 20 it warns once that it wants Node 22 or later; it runs there.
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Adapter, type AdapterPayload, errors, type KoaContextWithOIDC } from 'oidc-provider';
import { useServer } from './interop.js';

/** The confidential client that may use every grant (HTTP Basic). */
export const BASIC_CLIENT = { clientId: 'basic-client', clientSecret: 'basic-client-secret-4f1c9e' } as const;
/** A client registered for form-field authentication (the server takes HTTP Basic from it too), client credentials and scope `api` only. */
export const POST_CLIENT = { clientId: 'post-client', clientSecret: 'post-client-secret-8a27d0' } as const;
/** The one user of the password grant. */
export const USER = { username: 'alice', password: 'alice-password-51b3' } as const;
/** Access token lifetime, in seconds. */
export const ACCESS_TTL_S = 300;

export interface OidcServer {
  issuer: string;
  tokenUrl: string;
  revocationUrl: string;
  /** The userinfo endpoint: a GET with a Bearer access token of scope `openid` answers `{ sub }`, else 401. */
  userinfoUrl: string;
  /** Successful token endpoint answers since the last reset(), by grant type. */
  granted: Record<string, number>;
  /** The OAuth errors of refused token endpoint requests since the last reset(). */
  refused: string[];
  /** How each successful token request since the last reset() authenticated its client. */
  clientAuthentications: ('basic' | 'body')[];
  reset(): void;
  /** What the server says of `token` (RFC 7662 introspection, as the Basic client). */
  introspect(token: string): Promise<{ active: boolean; client_id?: string; scope?: string }>;
  /** Revoke `token` at the server (RFC 7009, as the Basic client), as an administrator or the server's own policy would. */
  revoke(token: string, hint: 'access_token' | 'refresh_token'): Promise<void>;
  close(): Promise<void>;
}

/** oidc-provider's storage, in memory (its own in-memory adapter is meant for a quick start only, and warns). */
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

const basicAuthorization = `Basic ${Buffer.from(`${BASIC_CLIENT.clientId}:${BASIC_CLIENT.clientSecret}`).toString('base64')}`;

/** Start the server on a loopback port. */
export async function startOidcServer(): Promise<OidcServer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Its signing key, for the ID tokens of refreshes of a grant with `openid` (nothing here reads them).
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const provider = new Provider(issuer, {
    adapter: memoryAdapter(new Map()),
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test', alg: 'RS256', use: 'sig' }] },
    clients: [
      {
        client_id: BASIC_CLIENT.clientId,
        client_secret: BASIC_CLIENT.clientSecret,
        grant_types: ['client_credentials', 'password', 'refresh_token'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'api offline_access openid',
      },
      {
        client_id: POST_CLIENT.clientId,
        client_secret: POST_CLIENT.clientSecret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_post',
        scope: 'api',
      },
    ],
    features: {
      clientCredentials: { enabled: true },
      // The Basic client introspects and revokes the tokens of both clients here.
      introspection: { enabled: true, allowedPolicy: () => true },
      revocation: { enabled: true, allowedPolicy: () => true },
      devInteractions: { enabled: false },
    },
    scopes: ['api', 'offline_access', 'openid'],
    ttl: { AccessToken: ACCESS_TTL_S, ClientCredentials: ACCESS_TTL_S, IdToken: 3600, RefreshToken: 3600, Grant: 3600 },
    rotateRefreshToken: true,
    findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
  });
  provider.registerGrantType(
    'password',
    async (ctx: KoaContextWithOIDC) => {
      const { username, password } = ctx.oidc.params as { username?: string; password?: string };
      if (username !== USER.username || password !== USER.password) throw new errors.InvalidGrant('invalid resource owner credentials');
      const client = ctx.oidc.client;
      if (!client) throw new errors.InvalidClient('no client');
      const scope = 'openid offline_access api';
      const grant = new provider.Grant({ accountId: username, clientId: client.clientId });
      grant.addOIDCScope(scope);
      const grantId = await grant.save();
      const accessToken = new provider.AccessToken({ accountId: username, client, grantId, gty: 'password', scope });
      const refreshToken = new provider.RefreshToken({ accountId: username, client, grantId, gty: 'password', scope });
      ctx.body = { access_token: await accessToken.save(), token_type: 'Bearer', expires_in: accessToken.expiration, refresh_token: await refreshToken.save(), scope };
    },
    ['username', 'password', 'scope'],
  );
  const state: Pick<OidcServer, 'granted' | 'refused' | 'clientAuthentications'> = { granted: {}, refused: [], clientAuthentications: [] };
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const grantType = String((ctx.oidc.params as { grant_type?: unknown }).grant_type);
    state.granted[grantType] = (state.granted[grantType] ?? 0) + 1;
    state.clientAuthentications.push(ctx.headers.authorization === undefined ? 'body' : 'basic');
  });
  provider.on('grant.error', (_ctx: KoaContextWithOIDC, error: { error?: string }) => {
    state.refused.push(error.error ?? 'unknown');
  });
  const callback = provider.callback();
  server.on('request', (request, response) => void callback(request, response));

  const post = async (path: string, form: Record<string, string>): Promise<Response> => {
    const response = await fetch(`${issuer}${path}`, { method: 'POST', headers: { authorization: basicAuthorization }, body: new URLSearchParams(form) });
    if (response.status !== 200) throw new Error(`${path} answered HTTP ${response.status}`);
    return response;
  };
  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    revocationUrl: `${issuer}/token/revocation`,
    userinfoUrl: `${issuer}/me`,
    get granted() {
      return state.granted;
    },
    get refused() {
      return state.refused;
    },
    get clientAuthentications() {
      return state.clientAuthentications;
    },
    reset() {
      state.granted = {};
      state.refused = [];
      state.clientAuthentications = [];
    },
    introspect: async (token) => (await (await post('/token/introspection', { token })).json()) as { active: boolean },
    revoke: async (token, hint) => {
      await (await post('/token/revocation', { token, token_type_hint: hint })).body?.cancel();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Start a server for the tests of this file (reset before each): the getter returns it. */
export function useOidcServer(): () => OidcServer {
  return useServer('oidc-provider', startOidcServer);
}
