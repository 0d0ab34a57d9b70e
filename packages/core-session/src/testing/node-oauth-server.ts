// A second, independent OAuth 2.0 server for interoperability tests: @node-oauth/oauth2-server (from
// npm, pure JavaScript) on a loopback port. Used by core-session's tests (not published).
//
// The token endpoint (`/token`) and the Bearer-protected resource (`/resource`) are the library's:
// OAuth2Server#token() and #authenticate() with its own Request and Response objects, over the
// in-memory model below (grants client_credentials, password and refresh_token; the library rotates
// refresh tokens, revoking the one used through model.revokeToken, except for KEEP_CLIENT). The library has no revocation
// endpoint: `/revoke` (RFC 7009) is this helper's own, minimal one (see handleRevocation); it reads
// client credentials the way the library's token endpoint does, so that the same clients work at both.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OAuth2Server from '@node-oauth/oauth2-server';
import { useServer } from './interop.js';

/** A confidential client that may use every grant, scopes `api` and `reports`. */
export const BASIC_CLIENT = { clientId: 'basic-client', clientSecret: 'basic-client-secret-3d91a7' } as const;
/** A confidential client for client_credentials only, scope `api`. */
export const BODY_CLIENT = { clientId: 'body-client', clientSecret: 'body-client-secret-6c02e4' } as const;
/** A client whose access tokens live {@link SHORT_TTL_S} (its `accessTokenLifetime` in the model); password and refresh_token. */
export const SHORT_CLIENT = { clientId: 'short-client', clientSecret: 'short-client-secret-58b0f3' } as const;
/** A client for which the server keeps refresh tokens: the helper passes the library's `alwaysIssueNewRefreshToken: false` for its requests. */
export const KEEP_CLIENT = { clientId: 'keep-client', clientSecret: 'keep-client-secret-a4e9d2' } as const;
/** A client_credentials client whose secret (base64, as many generated secrets are) has characters that form encoding escapes. */
export const SYMBOL_CLIENT = { clientId: 'symbol-client', clientSecret: 'c3ltYm9s+c2VjcmV0/MDk=' } as const;
/** A public client (no secret): password and refresh_token, which the server is told not to require client authentication for. */
export const PUBLIC_CLIENT = { clientId: 'public-client' } as const;
/** The one user of the password grant. */
export const USER = { username: 'alice', password: 'alice-password-7e20' } as const;
/** Access token lifetime, in seconds (the server's `accessTokenLifetime`). */
export const ACCESS_TTL_S = 300;
/** Access token lifetime of {@link SHORT_CLIENT}, in seconds. */
export const SHORT_TTL_S = 2;

type ClientAuthentication = 'basic' | 'body' | 'none';

/** One request to the token endpoint, as the server saw it. */
export interface TokenRequest {
  grantType: string;
  clientAuthentication: ClientAuthentication;
  status: number;
  /** The OAuth error of a refusal. */
  error?: string;
  /** The `WWW-Authenticate` header of the answer, if any. */
  challenge?: string;
}

/** One request to the revocation endpoint: its hint, the kind of token it revoked (null: none, unknown or already gone), its status. */
export interface Revocation {
  hint: string | undefined;
  revoked: 'access_token' | 'refresh_token' | null;
  clientAuthentication: ClientAuthentication;
  status: number;
}

export interface NodeOauthServer {
  tokenUrl: string;
  revocationUrl: string;
  /** Every token endpoint request since the last reset(). */
  requests: TokenRequest[];
  /** Successful token endpoint answers since the last reset(), by grant type. */
  granted: Record<string, number>;
  /** The OAuth errors of refused token endpoint requests since the last reset(). */
  refused: string[];
  /** How each successful token request since the last reset() authenticated its client. */
  clientAuthentications: ClientAuthentication[];
  /** Every refresh token presented to the token endpoint since the last reset(), in order. */
  refreshTokensPresented: string[];
  /** Every revocation endpoint request since the last reset(). */
  revocations: Revocation[];
  /** Requests received and not answered yet (a background refresh still running, say). */
  readonly inFlight: number;
  /** The next `count` calls of the model's saveToken() throw (the library then answers 503 `server_error`). */
  failSaves(count: number): void;
  /** When the server expires the access token `value` (epoch ms), as its model stored it. */
  expiresAt(value: string): number | undefined;
  /** What the library's Bearer authentication (RFC 6750) says of `token`: its status and, for a refusal, its OAuth error. */
  resource(token: string): Promise<{ status: number; error?: string }>;
  /** A refresh_token grant request made directly (HTTP Basic as BASIC_CLIENT): its status and error. */
  refreshDirectly(refreshToken: string): Promise<{ status: number; error?: string }>;
  /** Revoke every token of the user (RFC 7009 has no such call: as an administrator would, in the model). */
  revokeAll(): void;
  reset(): void;
  close(): Promise<void>;
}

interface ClientRecord extends OAuth2Server.Client {
  secret: string | undefined;
  scopes: string[];
}

interface Model extends OAuth2Server.PasswordModel, OAuth2Server.ClientCredentialsModel, OAuth2Server.RefreshTokenModel {
  getAccessToken(accessToken: string): Promise<OAuth2Server.Token | false>;
}

const clients: ClientRecord[] = [
  { id: BASIC_CLIENT.clientId, secret: BASIC_CLIENT.clientSecret, grants: ['client_credentials', 'password', 'refresh_token'], scopes: ['api', 'reports'] },
  { id: BODY_CLIENT.clientId, secret: BODY_CLIENT.clientSecret, grants: ['client_credentials'], scopes: ['api'] },
  { id: SHORT_CLIENT.clientId, secret: SHORT_CLIENT.clientSecret, grants: ['password', 'refresh_token'], scopes: ['api'], accessTokenLifetime: SHORT_TTL_S },
  { id: KEEP_CLIENT.clientId, secret: KEEP_CLIENT.clientSecret, grants: ['password', 'refresh_token'], scopes: ['api'] },
  { id: SYMBOL_CLIENT.clientId, secret: SYMBOL_CLIENT.clientSecret, grants: ['client_credentials'], scopes: ['api'] },
  { id: PUBLIC_CLIENT.clientId, secret: undefined, grants: ['password', 'refresh_token'], scopes: ['api'] },
];

/** How a request sent its client credentials, as the library looks for them (the Authorization header first). */
function clientAuthenticationOf(request: IncomingMessage, form: Record<string, string>): ClientAuthentication {
  if (/^ *basic /i.test(request.headers.authorization ?? '')) return 'basic';
  return form.client_secret === undefined ? 'none' : 'body';
}

/** The client id and secret of a request, read as the library's token endpoint reads them (basic-auth: base64, not form-decoded). */
function credentialsOf(request: IncomingMessage, form: Record<string, string>): { id?: string | undefined; secret?: string | undefined } {
  const basic = /^ *basic +([A-Za-z0-9._~+/-]+=*) *$/i.exec(request.headers.authorization ?? '');
  if (basic?.[1] !== undefined) {
    const decoded = /^([^:]*):(.*)$/.exec(Buffer.from(basic[1], 'base64').toString());
    return decoded ? { id: decoded[1], secret: decoded[2] } : {};
  }
  return { id: form.client_id, secret: form.client_secret };
}

async function readForm(request: IncomingMessage): Promise<Record<string, string>> {
  let body = '';
  request.setEncoding('utf8');
  for await (const chunk of request) body += chunk as string;
  return Object.fromEntries(new URLSearchParams(body));
}

/** Start the server on a loopback port. */
export async function startNodeOauthServer(): Promise<NodeOauthServer> {
  const accessTokens = new Map<string, OAuth2Server.Token>();
  const refreshTokens = new Map<string, OAuth2Server.RefreshToken>();
  let failingSaves = 0;
  // A public client is found by its id alone (the library asks so only when the grant needs no client authentication).
  const findClient = (clientId: string, clientSecret: string | undefined): Promise<ClientRecord | false> => {
    const client = clients.find((candidate) => candidate.id === clientId);
    const ok = client !== undefined && (client.secret === undefined ? clientSecret === undefined : clientSecret === client.secret);
    return Promise.resolve(ok ? client : false);
  };
  const model: Model = {
    getClient: findClient,
    getUser: (username, password) => Promise.resolve(username === USER.username && password === USER.password ? { id: username } : false),
    getUserFromClient: (client) => Promise.resolve({ id: `client:${client.id}` }),
    // No scope asked: the client's first. One the client may not have (or unknown): refused (the library answers invalid_scope).
    validateScope: (_user, client, scope) => {
      const allowed = (client as ClientRecord).scopes;
      if (scope === undefined) return Promise.resolve(allowed.slice(0, 1));
      return Promise.resolve(scope.every((name) => allowed.includes(name)) ? scope : false);
    },
    saveToken: (token, client, user) => {
      if (failingSaves > 0) {
        failingSaves -= 1;
        return Promise.reject(new Error('the token store is unavailable (test)'));
      }
      const saved = { ...token, client, user };
      accessTokens.set(token.accessToken, saved);
      if (token.refreshToken !== undefined) refreshTokens.set(token.refreshToken, { ...saved, refreshToken: token.refreshToken });
      return Promise.resolve(saved);
    },
    getAccessToken: (value) => Promise.resolve(accessTokens.get(value) ?? false),
    getRefreshToken: (value) => Promise.resolve(refreshTokens.get(value) ?? false),
    // Rotation: the library calls this with the refresh token it is about to replace. False when it was
    // already gone (a concurrent refresh with the same one won): the library then refuses with invalid_grant.
    revokeToken: (token) => Promise.resolve(refreshTokens.delete(token.refreshToken)),
  };
  const oauth = new OAuth2Server({
    model,
    accessTokenLifetime: ACCESS_TTL_S,
    refreshTokenLifetime: 3600,
    // The public client sends its client_id alone for these; confidential clients still authenticate (the model checks).
    requireClientAuthentication: { password: false, refresh_token: false },
  });

  const state = {
    requests: [] as TokenRequest[],
    granted: {} as Record<string, number>,
    refused: [] as string[],
    clientAuthentications: [] as ClientAuthentication[],
    refreshTokensPresented: [] as string[],
    revocations: [] as Revocation[],
  };

  const libraryRequest = (request: IncomingMessage, form: Record<string, string>, query: URLSearchParams): OAuth2Server.Request =>
    new OAuth2Server.Request({ headers: request.headers as Record<string, string>, method: request.method ?? 'GET', query: Object.fromEntries(query), body: form });

  const send = (response: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void => {
    response.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const handleToken = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> => {
    const form = await readForm(request);
    const answer = new OAuth2Server.Response();
    const clientAuthentication = clientAuthenticationOf(request, form);
    if (form.grant_type === 'refresh_token' && form.refresh_token !== undefined) state.refreshTokensPresented.push(form.refresh_token);
    try {
      // KEEP_CLIENT's refreshes answer without a new refresh token (RFC 6749 section 6: the old one stays valid).
      const keep = credentialsOf(request, form).id === KEEP_CLIENT.clientId;
      await oauth.token(libraryRequest(request, form, url.searchParams), answer, keep ? { alwaysIssueNewRefreshToken: false } : {});
      state.granted[form.grant_type ?? ''] = (state.granted[form.grant_type ?? ''] ?? 0) + 1;
      state.clientAuthentications.push(clientAuthentication);
    } catch (error) {
      // The status and body of the library's OAuthError, as framework adapters (express-oauth-server)
      // answer: for a request it refuses before reading it (not a POST, not a form), it leaves `answer` as it was.
      const { code = 500, name = 'server_error', message = '' } = error as { code?: number; name?: string; message?: string };
      answer.status = code;
      answer.body = { error: name, error_description: message };
      state.refused.push(name);
    }
    const headers = answer.headers ?? {};
    const status = answer.status ?? 500;
    const error = status === 200 ? undefined : (answer.body as { error?: string }).error;
    state.requests.push({
      grantType: form.grant_type ?? '',
      clientAuthentication,
      status,
      ...(error !== undefined && { error }),
      ...(headers['www-authenticate'] !== undefined && { challenge: headers['www-authenticate'] }),
    });
    send(response, status, headers, answer.body);
  };

  // This helper's own RFC 7009 endpoint (the library has none): the client authenticates as at the
  // token endpoint (through the model's getClient); an unknown, expired or already revoked token is
  // answered 200 (section 2.2); a token of another client is refused; the hint is tried first, then
  // the other kind. Revoking a refresh token does not revoke the access tokens of its grant (the RFC's
  // SHOULD, left out so that each of the client's requests shows what it revoked).
  const handleRevocation = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const form = await readForm(request);
    const clientAuthentication = clientAuthenticationOf(request, form);
    const { id, secret } = credentialsOf(request, form);
    const client = id === undefined ? false : await findClient(id, secret);
    const { token, token_type_hint: hint } = form;
    const basic = clientAuthentication === 'basic';
    let status = 200;
    let body: Record<string, string> = {};
    let revoked: Revocation['revoked'] = null;
    if (!client) [status, body] = [basic ? 401 : 400, { error: 'invalid_client' }];
    else if (!token) [status, body] = [400, { error: 'invalid_request', error_description: 'Missing parameter: `token`' }];
    else if (hint !== undefined && hint !== 'access_token' && hint !== 'refresh_token') [status, body] = [400, { error: 'unsupported_token_type' }];
    else {
      const kinds = hint === 'refresh_token' ? (['refresh_token', 'access_token'] as const) : (['access_token', 'refresh_token'] as const);
      for (const kind of kinds) {
        const tokens: Map<string, OAuth2Server.Token | OAuth2Server.RefreshToken> = kind === 'access_token' ? accessTokens : refreshTokens;
        const found = tokens.get(token);
        if (found === undefined) continue;
        if (found.client.id === client.id) {
          tokens.delete(token);
          revoked = kind;
        } else {
          [status, body] = [400, { error: 'unauthorized_client' }];
        }
        break;
      }
    }
    state.revocations.push({ hint, revoked, clientAuthentication, status });
    send(response, status, !client && basic ? { 'www-authenticate': 'Basic realm="Service"' } : {}, body);
  };

  const handleResource = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> => {
    const answer = new OAuth2Server.Response();
    try {
      await oauth.authenticate(libraryRequest(request, {}, url.searchParams), answer);
      send(response, 200, {}, { ok: true });
    } catch (error) {
      const { code, name } = error as { code?: number; name?: string };
      send(response, code ?? 500, answer.headers ?? {}, { error: name });
    }
  };

  let inFlight = 0;
  const server = createServer((request, response) => {
    inFlight += 1;
    response.once('close', () => (inFlight -= 1));
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const route = url.pathname === '/token' ? handleToken : url.pathname === '/revoke' ? handleRevocation : url.pathname === '/resource' ? handleResource : undefined;
    if (route === undefined) {
      send(response, 404, {}, { error: 'not_found' });
      return;
    }
    route(request, response, url).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, {}, { error: 'server_error', error_description: String(error) });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const basicAuthorization = `Basic ${Buffer.from(`${BASIC_CLIENT.clientId}:${BASIC_CLIENT.clientSecret}`).toString('base64')}`;

  return {
    tokenUrl: `${origin}/token`,
    revocationUrl: `${origin}/revoke`,
    get requests() {
      return state.requests;
    },
    get granted() {
      return state.granted;
    },
    get refused() {
      return state.refused;
    },
    get clientAuthentications() {
      return state.clientAuthentications;
    },
    get refreshTokensPresented() {
      return state.refreshTokensPresented;
    },
    get revocations() {
      return state.revocations;
    },
    get inFlight() {
      return inFlight;
    },
    failSaves(count) {
      failingSaves = count;
    },
    expiresAt: (value) => accessTokens.get(value)?.accessTokenExpiresAt?.getTime(),
    resource: async (token) => {
      const response = await fetch(`${origin}/resource`, { headers: { authorization: `Bearer ${token}` } });
      const { error } = (await response.json()) as { error?: string };
      return { status: response.status, ...(error !== undefined && { error }) };
    },
    refreshDirectly: async (refreshToken) => {
      const response = await fetch(`${origin}/token`, {
        method: 'POST',
        headers: { authorization: basicAuthorization },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
      });
      const { error } = (await response.json()) as { error?: string };
      return { status: response.status, ...(error !== undefined && { error }) };
    },
    revokeAll() {
      accessTokens.clear();
      refreshTokens.clear();
    },
    reset() {
      state.requests = [];
      state.granted = {};
      state.refused = [];
      state.clientAuthentications = [];
      state.refreshTokensPresented = [];
      state.revocations = [];
      failingSaves = 0;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Start a server for the tests of this file (reset before each): the getter returns it. */
export function useNodeOauthServer(): () => NodeOauthServer {
  return useServer('@node-oauth/oauth2-server', startNodeOauthServer);
}
