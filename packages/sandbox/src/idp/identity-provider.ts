import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SandboxModule } from '../module.js';
import { checkCount, checkHeader, checkStatus } from '../checks.js';
import { readBody } from '../read-body.js';
import { MAX_BODY_BYTES, parseBasicAuthorization } from './request-body.js';
import { bindStateFile, TokenTable } from './token-table.js';

/** A grant type the sandbox's token endpoint knows. */
export type GrantType = 'client_credentials' | 'password' | 'refresh_token';

/** An OAuth 2.0 client registered with the identity provider. */
export interface IdentityProviderClient {
  clientId: string;
  /** The client secret; omit it for a public client (which sends only `client_id`). */
  clientSecret?: string | undefined;
  /**
   * The grants this client may use. A refresh token is issued only to clients allowed the
   * `refresh_token` grant, and never with a `client_credentials` token (RFC 6749 section 4.4.3).
   * `client_credentials` also needs a `clientSecret` (RFC 6749 section 4.4): a client without one
   * is refused with `invalid_client`.
   * @default ['client_credentials'] with a secret, ['password', 'refresh_token'] without one
   */
  grants?: readonly GrantType[] | undefined;
}

/** A resource owner who may log in with the `password` grant. */
export interface IdentityProviderUser {
  username: string;
  password: string;
}

/** A sliding-window limit on logins per identity (user name or client id). */
export interface AuthRateLimit {
  /** Logins allowed per identity within `windowMs`. */
  max: number;
  /** The window, in milliseconds. */
  windowMs: number;
}

/** An injected failure of the token endpoint. */
export type IdentityProviderFault = (
  | {
      /** Answer with an error status and a plain-text body. */
      kind: 'error';
      /** From 400 to 599. @default 500 */
      status?: number | undefined;
    }
  | {
      /** Read the request and never answer, until the client or the sandbox closes the connection. */
      kind: 'hang';
    }
  | {
      /** Answer 200 with `content-type: application/json` and a truncated JSON body. */
      kind: 'malformed-json';
    }
  | {
      /** Answer 429 with a `Retry-After` header. */
      kind: 'rate-limit';
      /** Seconds, or an HTTP date. @default 1 */
      retryAfter?: number | string | undefined;
    }
) & {
  /** How many of the next matching requests fail this way: a whole number of 1 or more. @default 1 */
  count?: number | undefined;
  /** Only requests with this `grant_type` match; every request when omitted. */
  grant?: GrantType | undefined;
};

/** Options of the identity provider; they are also top-level options of `startSandbox`. */
export interface IdentityProviderOptions {
  /**
   * Extra users for the `password` grant, added to the demo user (`demo` / `demo-password`).
   */
  users?: readonly IdentityProviderUser[] | undefined;
  /**
   * Extra clients, added to `sessionkit-demo` / `demo-secret` (client_credentials) and the public
   * client `GrantValidatorClient` (password, refresh_token). A client with an existing id replaces it.
   */
  clients?: readonly IdentityProviderClient[] | undefined;
  /** Access token lifetime in whole seconds (`expires_in`). @default 3600 */
  tokenTtlSeconds?: number | undefined;
  /** Refresh token lifetime in whole seconds. @default 86400 */
  refreshTokenTtlSeconds?: number | undefined;
  /**
   * Whether a refresh answers a new refresh token and spends the one it used. `false`: it answers
   * none, and the one it used stays valid (RFC 6749 section 6 allows both; a client must keep the
   * old one then). @default true
   */
  rotateRefreshTokens?: boolean | undefined;
  /**
   * Limit logins (`password` and `client_credentials` requests, right or wrong) per identity;
   * over the limit the endpoint answers 429 with `Retry-After`. Refused attempts do not count.
   * @default undefined (no limit)
   */
  authRateLimit?: AuthRateLimit | undefined;
  /** Faults queued at start, as if passed to `injectFault` in order. */
  faults?: readonly IdentityProviderFault[] | undefined;
  /**
   * A JSON file (created 0600) that keeps issued tokens, as SHA-256 hashes, across restarts, so
   * a sandbox started again with the same file still accepts them. The demo uses it to show a
   * second run reusing its stored token.
   * @default undefined (tokens live in memory only)
   */
  stateFile?: string | undefined;
}

/** Request counters of the identity provider. Live: the same object updates as requests arrive. */
export interface IdentityProviderStats {
  /** Every request to the token endpoint, faulted ones included. */
  requests: number;
  /** Access tokens issued. */
  issued: number;
  /** Token endpoint requests refused with an OAuth error (400, 401, 405, 413); not the revocation endpoint's. */
  refused: number;
  /** Requests refused with 429 by `authRateLimit`. */
  rateLimited: number;
  /** Requests answered by an injected fault. */
  faults: number;
  /** Requests to the revocation endpoint (not counted in `requests`). */
  revocations: number;
  /** Requests per `grant_type` value as sent (`(none)` when missing; requests repeating a parameter are not counted). */
  byGrant: Record<string, number>;
  /**
   * Requests per identity: `client:<client id>` for client_credentials, `user:<user name>` for
   * password, and the identity the refresh token was issued to for refresh_token.
   */
  byIdentity: Record<string, number>;
}

/** What the identity provider knows about a live access token. */
export interface AccessTokenInfo {
  /** `client:<client id>` or `user:<user name>`. */
  identity: string;
  clientId: string;
  username?: string | undefined;
  scope?: string | undefined;
  /** Epoch milliseconds on the provider's clock. */
  expiresAt: number;
}

/** A token response, as the endpoint would send it. */
export interface IssuedToken {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope?: string;
}

/**
 * The OAuth 2.0 token endpoint at `/IDP/connect/token` (alias `/API/IDP/connect/token`) and the
 * RFC 7009 revocation endpoint at `/IDP/connect/revocation` (alias `/API/IDP/connect/revocation`).
 */
export interface IdentityProvider extends SandboxModule {
  readonly stats: IdentityProviderStats;
  /** The identity an access token was issued to, or undefined when it is unknown, expired or revoked. */
  verifyAccessToken(token: string): AccessTokenInfo | undefined;
  /** Make the next matching requests fail (see {@link IdentityProviderFault}). */
  injectFault(fault: IdentityProviderFault): void;
  /** Drop every queued fault and release hanging requests by closing their connections. */
  clearFaults(): void;
  /** Every access token issued so far stops verifying; refresh tokens stay valid. */
  expireAll(): void;
  /** Every access and refresh token issued so far becomes invalid. */
  revokeAll(): void;
  /** Invalidate one access or refresh token, as the revocation endpoint does (a refresh token with the access tokens of its grant); true when it was known. */
  revoke(token: string): boolean;
  /** Move the provider's clock forward (token expiry, refresh token expiry, rate-limit windows). */
  advanceClock(ms: number): void;
  /** Change the lifetime of tokens issued from now on, in whole seconds (a fraction throws RangeError). */
  setTokenTtlSeconds(seconds: number): void;
  /** Change or remove (undefined) the login rate limit. */
  setAuthRateLimit(limit: AuthRateLimit | undefined): void;
  /**
   * Issue a token without a request, for tests of token consumers. Not counted in `requests`. With a
   * `username`, as a password login (a refresh token too when the client may refresh); without, as
   * client_credentials (no refresh token). A `scope` outside the RFC 6749 section 3.3 syntax throws
   * RangeError.
   */
  issueToken(options?: { clientId?: string | undefined; username?: string | undefined; scope?: string | undefined }): IssuedToken;
  /** Set every counter back to zero. */
  resetStats(): void;
}

interface AccessRecord extends AccessTokenInfo {
  /** The grant the token was issued under; absent in state files of older versions. */
  grantId?: string | undefined;
}

interface RefreshRecord {
  /** The grant the token was issued under; absent in state files of older versions. */
  grantId?: string | undefined;
  identity: string;
  clientId: string;
  username: string | undefined;
  scope: string | undefined;
  expiresAt: number;
}

interface QueuedFault {
  fault: IdentityProviderFault;
  remaining: number;
}

interface OAuthError {
  status: number;
  error: string;
  description: string;
  headers?: Record<string, string>;
}

interface ClientAuthentication {
  client: IdentityProviderClient;
}

type ParameterName = (typeof TOKEN_PARAMETERS)[number] | (typeof REVOCATION_PARAMETERS)[number];

/** The request parameters an endpoint reads, by name; absent when not sent or sent empty. */
type Params = Partial<Record<ParameterName, string>>;

const TOKEN_PATHS = new Set(['/IDP/connect/token', '/API/IDP/connect/token']);
const REVOCATION_PATHS = new Set(['/IDP/connect/revocation', '/API/IDP/connect/revocation']);
const GRANTS: readonly string[] = ['client_credentials', 'password', 'refresh_token'];
// The parameters each endpoint reads; others are ignored, as RFC 6749 section 3.2 requires.
const TOKEN_PARAMETERS = ['grant_type', 'client_id', 'client_secret', 'scope', 'username', 'password', 'refresh_token'] as const;
const REVOCATION_PARAMETERS = ['token', 'token_type_hint', 'client_id', 'client_secret'] as const;
const SWEEP_EVERY = 256;
const FAULT_KINDS: readonly string[] = ['error', 'hang', 'malformed-json', 'rate-limit'] satisfies readonly IdentityProviderFault['kind'][];

const defaultClients: readonly IdentityProviderClient[] = [
  { clientId: 'sessionkit-demo', clientSecret: 'demo-secret', grants: ['client_credentials'] },
  { clientId: 'GrantValidatorClient', grants: ['password', 'refresh_token'] },
];
const defaultUsers: readonly IdentityProviderUser[] = [{ username: 'demo', password: 'demo-password' }];

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * The parameters `names` of a form body, or invalid_request when one is repeated (RFC 6749
 * section 3.2). A parameter sent without a value counts as omitted (section 3.2 too), so an
 * empty one neither counts as a repeat nor hides the real value. The error names the parameter,
 * never a value: values may be secrets.
 */
function readParams(form: URLSearchParams, names: readonly ParameterName[]): Params | OAuthError {
  const params: Params = {};
  for (const name of names) {
    const values = form.getAll(name).filter((value) => value.length > 0);
    if (values.length > 1) return { status: 400, error: 'invalid_request', description: `The ${name} parameter is repeated.` };
    if (values[0] !== undefined) params[name] = values[0];
  }
  return params;
}

/** RFC 6749 section 3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, printable ASCII but space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * A requested scope as the sandbox keeps it: its scope tokens in the order sent, each once (section
 * 3.3 gives the order no meaning, and a repeat adds nothing), or undefined when there are none (a
 * run of spaces is read as one). A token outside the section 3.3 syntax is invalid_scope; the
 * error does not quote it.
 */
function normalizeScope(scope: string | undefined): string | undefined | OAuthError {
  if (scope === undefined) return undefined;
  const parts = new Set(scope.split(' ').filter((part) => part.length > 0));
  for (const part of parts) {
    if (!SCOPE_TOKEN.test(part)) {
      return { status: 400, error: 'invalid_scope', description: 'A scope token holds printable ASCII characters other than " and \\ (RFC 6749 section 3.3).' };
    }
  }
  return parts.size === 0 ? undefined : [...parts].join(' ');
}

function grantsOf(client: IdentityProviderClient): readonly GrantType[] {
  return client.grants ?? (client.clientSecret === undefined ? ['password', 'refresh_token'] : ['client_credentials']);
}

function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function emptyCounts(): Record<string, number> {
  return Object.create(null) as Record<string, number>;
}

/** Whole seconds of 0 or more: `expires_in` is 1*DIGIT (RFC 6749 appendix A.14). */
function wholeSeconds(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a whole number of seconds of 0 or more, not ${value}.`);
  return value;
}

function checkRateLimit(limit: AuthRateLimit | undefined): AuthRateLimit | undefined {
  if (limit === undefined) return undefined;
  if (!Number.isInteger(limit.max) || limit.max < 1) throw new RangeError(`authRateLimit.max must be a whole number of 1 or more, not ${limit.max}.`);
  if (!Number.isFinite(limit.windowMs) || limit.windowMs <= 0) throw new RangeError(`authRateLimit.windowMs must be above 0, not ${limit.windowMs}.`);
  return { max: limit.max, windowMs: limit.windowMs };
}

const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...noStore,
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

function sendError(response: ServerResponse, error: OAuthError): void {
  sendJson(response, error.status, { error: error.error, error_description: error.description }, error.headers);
}

function invalidClient(description: string): OAuthError {
  return {
    status: 401,
    error: 'invalid_client',
    description,
    headers: { 'www-authenticate': 'Basic realm="sessionkit-sandbox", charset="UTF-8"' },
  };
}

/**
 * Create the sandbox's OAuth 2.0 token endpoint (RFC 6749): `client_credentials` (form fields
 * or HTTP Basic), `password`, and `refresh_token` with rotating refresh tokens.
 *
 * @example
 * const idp = createIdentityProvider({ tokenTtlSeconds: 60 });
 * idp.injectFault({ kind: 'rate-limit', retryAfter: 2 });
 */
export function createIdentityProvider(options: IdentityProviderOptions): IdentityProvider {
  // A string would be spread one character per user; a grant misspelt (client_credential) would leave the client none.
  for (const [name, list] of [['clients', options.clients], ['users', options.users]] as const) {
    if (list != null && !Array.isArray(list)) throw new TypeError(`${name} must be an array of objects.`);
  }
  for (const client of options.clients ?? []) {
    const grants: unknown = client.grants;
    const unknown: unknown = grants == null ? undefined : Array.isArray(grants) ? grants.find((grant) => !GRANTS.includes(grant as string)) : grants;
    if (unknown !== undefined) throw new TypeError(`A client's grants must be an array among ${GRANTS.join(', ')}, not ${typeof unknown === 'string' ? JSON.stringify(unknown).slice(0, 40) : typeof unknown}.`);
  }
  const clients = new Map<string, IdentityProviderClient>();
  for (const client of [...defaultClients, ...(options.clients ?? [])]) clients.set(client.clientId, client);
  const users = new Map<string, IdentityProviderUser>();
  for (const user of [...defaultUsers, ...(options.users ?? [])]) users.set(user.username, user);

  let tokenTtlSeconds = wholeSeconds('tokenTtlSeconds', options.tokenTtlSeconds ?? 3600);
  const refreshTokenTtlSeconds = wholeSeconds('refreshTokenTtlSeconds', options.refreshTokenTtlSeconds ?? 86_400);
  const rotate = options.rotateRefreshTokens ?? true;
  if (typeof rotate !== 'boolean') throw new TypeError(`rotateRefreshTokens must be true or false, not ${JSON.stringify(String(rotate)).slice(0, 40)}.`);
  let rateLimit = checkRateLimit(options.authRateLimit);
  let clockOffset = 0;
  const now = (): number => Date.now() + clockOffset;

  const faults: QueuedFault[] = [];
  const hanging = new Set<ServerResponse>();
  let issuedSinceSweep = 0;

  const stats: IdentityProviderStats = {
    requests: 0,
    issued: 0,
    refused: 0,
    rateLimited: 0,
    faults: 0,
    revocations: 0,
    byGrant: emptyCounts(),
    byIdentity: emptyCounts(),
  };

  const injectFault = (fault: IdentityProviderFault): void => {
    // An unknown kind would be taken for a request and answer nothing: the client would hang.
    const kind: unknown = fault.kind;
    if (typeof kind !== 'string' || !FAULT_KINDS.includes(kind)) {
      throw new TypeError(`A fault's kind must be one of ${FAULT_KINDS.join(', ')}, not ${JSON.stringify(String(kind)).slice(0, 40)}.`);
    }
    // A grant it does not know (passwrd) would never match: the fault would never fire.
    const { grant } = fault;
    if (grant != null && !GRANTS.includes(grant)) {
      throw new TypeError(`A fault's grant must be one of ${GRANTS.join(', ')}, not ${JSON.stringify(grant).slice(0, 40)}.`);
    }
    const count = checkCount("A fault's count", fault.count ?? 1);
    if (fault.kind === 'error') checkStatus("An error fault's status", fault.status ?? 500, 400);
    if (fault.kind === 'rate-limit') checkHeader('retryAfter', fault.retryAfter);
    faults.push({ fault, remaining: count });
  };
  for (const fault of options.faults ?? []) injectFault(fault);

  // Bound (read, then written) once every option is checked: a start refused for one leaves the file as it was.
  const { access: accessTokens, refresh: refreshTokens, close: closeState } =
    options.stateFile === undefined
      ? { access: new TokenTable<AccessRecord>(), refresh: new TokenTable<RefreshRecord>(), close: () => undefined }
      : bindStateFile<AccessRecord, RefreshRecord>(options.stateFile, now);
  const loginAttempts = new Map<string, number[]>();

  const takeFault = (grant: string): IdentityProviderFault | undefined => {
    const index = faults.findIndex((queued) => queued.fault.grant == null || queued.fault.grant === grant);
    const queued = faults[index];
    if (queued === undefined) return undefined;
    queued.remaining -= 1;
    if (queued.remaining === 0) faults.splice(index, 1);
    return queued.fault;
  };

  const releaseHanging = (): void => {
    for (const response of hanging) response.destroy();
    hanging.clear();
  };

  const applyFault = (fault: IdentityProviderFault, response: ServerResponse): void => {
    stats.faults += 1;
    switch (fault.kind) {
      case 'error': {
        const status = fault.status ?? 500;
        response.writeHead(status, { ...noStore, 'content-type': 'text/plain; charset=utf-8' }).end('injected server error');
        return;
      }
      case 'hang':
        hanging.add(response);
        response.once('close', () => hanging.delete(response));
        return;
      case 'malformed-json':
        response.writeHead(200, { ...noStore, 'content-type': 'application/json; charset=utf-8' }).end('{"access_token":"trunc');
        return;
      case 'rate-limit':
        response
          .writeHead(429, { ...noStore, 'content-type': 'application/json; charset=utf-8', 'retry-after': String(fault.retryAfter ?? 1) })
          .end(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'Too many requests (injected).' }));
        return;
    }
  };

  const sweep = (): void => {
    issuedSinceSweep += 1;
    if (issuedSinceSweep < SWEEP_EVERY) return;
    issuedSinceSweep = 0;
    const time = now();
    accessTokens.sweep(time);
    refreshTokens.sweep(time);
  };

  /**
   * Issue an access token of `accessScope` under `grant`, and a refresh token of the grant's
   * whole scope: RFC 6749 section 6 has a refresh token keep the scope of the one it replaces
   * even when the refresh asked a narrower scope for the access token. The refresh token only with
   * `withRefreshToken` (false for client_credentials and for a refresh that does not rotate) and
   * to a client allowed the refresh_token grant.
   */
  const issue = (
    grant: { id: string; identity: string; client: IdentityProviderClient; username: string | undefined; scope: string | undefined },
    accessScope: string | undefined = grant.scope,
    withRefreshToken = true,
  ): IssuedToken => {
    sweep();
    const time = now();
    const accessToken = newToken();
    accessTokens.set(accessToken, {
      grantId: grant.id,
      identity: grant.identity,
      clientId: grant.client.clientId,
      username: grant.username,
      scope: accessScope,
      expiresAt: time + tokenTtlSeconds * 1000,
    });
    const body: IssuedToken = { access_token: accessToken, token_type: 'Bearer', expires_in: tokenTtlSeconds };
    if (withRefreshToken && grantsOf(grant.client).includes('refresh_token')) {
      const refreshToken = newToken();
      refreshTokens.set(refreshToken, {
        grantId: grant.id,
        identity: grant.identity,
        clientId: grant.client.clientId,
        username: grant.username,
        scope: grant.scope,
        expiresAt: time + refreshTokenTtlSeconds * 1000,
      });
      body.refresh_token = refreshToken;
    }
    if (accessScope !== undefined) body.scope = accessScope;
    stats.issued += 1;
    return body;
  };

  /** 429 details when `identity` is over the login limit; records the attempt otherwise. */
  const overRateLimit = (identity: string): OAuthError | undefined => {
    const limit = rateLimit;
    if (limit === undefined) return undefined;
    const time = now();
    const attempts = (loginAttempts.get(identity) ?? []).filter((at) => at > time - limit.windowMs);
    if (attempts.length >= limit.max) {
      loginAttempts.set(identity, attempts);
      const oldest = attempts[0] ?? time;
      const retryAfterSeconds = Math.max(1, Math.ceil((oldest + limit.windowMs - time) / 1000));
      return {
        status: 429,
        error: 'temporarily_unavailable',
        description: 'Too many logins for this identity; retry later.',
        headers: { 'retry-after': String(retryAfterSeconds) },
      };
    }
    attempts.push(time);
    loginAttempts.set(identity, attempts);
    return undefined;
  };

  const authenticateClient = (params: Params, request: IncomingMessage): ClientAuthentication | OAuthError => {
    const basic = parseBasicAuthorization(request.headers.authorization);
    if (basic === null) return invalidClient('The Authorization header is not valid HTTP Basic client credentials.');
    const { client_id: bodyId, client_secret: bodySecret } = params;
    if (basic !== undefined && bodySecret !== undefined) {
      return { status: 400, error: 'invalid_request', description: 'Use one client authentication method, not both Basic and client_secret.' };
    }
    if (basic !== undefined && bodyId !== undefined && bodyId !== basic.clientId) {
      return { status: 400, error: 'invalid_request', description: 'client_id differs from the client of the Authorization header.' };
    }
    const clientId = basic?.clientId ?? bodyId;
    if (clientId === undefined || clientId.length === 0) return invalidClient('No client authentication was included.');
    const client = clients.get(clientId);
    if (client === undefined) return invalidClient('Unknown client.');
    if (client.clientSecret !== undefined) {
      const secret = basic?.clientSecret ?? bodySecret;
      if (secret === undefined) return invalidClient('This client must authenticate with its secret.');
      if (!secretsEqual(secret, client.clientSecret)) return invalidClient('Client authentication failed.');
    }
    return { client };
  };

  const identityForStats = (grant: string, params: Params, request: IncomingMessage): string => {
    if (grant === 'password') return `user:${params.username ?? '(none)'}`;
    if (grant === 'refresh_token') {
      const record = refreshTokens.get(params.refresh_token ?? '');
      if (record !== undefined) return record.identity;
    }
    const basic = parseBasicAuthorization(request.headers.authorization);
    return `client:${basic?.clientId ?? params.client_id ?? '(none)'}`;
  };

  /**
   * Why `client` may not use `grant`, if it may not. RFC 6749 section 4.4 keeps client_credentials
   * for confidential clients. A client without a secret has no way to authenticate, and section
   * 5.2 answers "no client authentication included" with invalid_client; unauthorized_client is
   * for an *authenticated* client refused a grant type, which a public client never is.
   */
  const refuseGrant = (client: IdentityProviderClient, grant: string): OAuthError | undefined => {
    if (grant === 'client_credentials' && client.clientSecret === undefined) {
      return invalidClient('The client_credentials grant is for confidential clients, which authenticate with a secret.');
    }
    if (!grantsOf(client).includes(grant as GrantType)) {
      return { status: 400, error: 'unauthorized_client', description: 'This client may not use this grant type.' };
    }
    return undefined;
  };

  const grantToken = (grant: string, params: Params, request: IncomingMessage): IssuedToken | OAuthError => {
    if (!GRANTS.includes(grant)) {
      return grant === ''
        ? { status: 400, error: 'invalid_request', description: 'The grant_type parameter is missing.' }
        : { status: 400, error: 'unsupported_grant_type', description: 'This grant type is not supported.' };
    }
    const loginIdentity = grant === 'refresh_token' ? undefined : identityForStats(grant, params, request);
    if (loginIdentity !== undefined) {
      const limited = overRateLimit(loginIdentity);
      if (limited !== undefined) return limited;
    }
    const authentication = authenticateClient(params, request);
    if ('error' in authentication) return authentication;
    const { client } = authentication;
    const refused = refuseGrant(client, grant);
    if (refused !== undefined) return refused;
    const scope = normalizeScope(params.scope);
    if (typeof scope === 'object') return scope;

    if (grant === 'client_credentials') {
      // RFC 6749 section 4.4.3: "A refresh token SHOULD NOT be included", whatever grants the client has.
      return issue({ id: randomUUID(), identity: `client:${client.clientId}`, client, username: undefined, scope }, scope, false);
    }
    if (grant === 'password') {
      const { username, password } = params;
      if (username === undefined || password === undefined) {
        return { status: 400, error: 'invalid_request', description: 'The password grant needs username and password.' };
      }
      const user = users.get(username);
      // Compare even for an unknown user so the answer takes as long either way.
      const matches = secretsEqual(password, user?.password ?? '\u0000no-such-user');
      if (user === undefined || !matches) {
        return { status: 400, error: 'invalid_grant', description: 'The user name or password is wrong.' };
      }
      return issue({ id: randomUUID(), identity: `user:${username}`, client, username, scope });
    }

    const refreshToken = params.refresh_token;
    if (refreshToken === undefined) {
      return { status: 400, error: 'invalid_request', description: 'The refresh_token parameter is missing.' };
    }
    const record = refreshTokens.get(refreshToken);
    if (record === undefined || record.expiresAt <= now() || record.clientId !== client.clientId) {
      if (record !== undefined && record.expiresAt <= now()) refreshTokens.delete(refreshToken);
      return { status: 400, error: 'invalid_grant', description: 'The refresh token is invalid, expired, revoked or was issued to another client.' };
    }
    if (scope !== undefined) {
      const granted = new Set((record.scope ?? '').split(' '));
      if (!scope.split(' ').every((part) => granted.has(part))) {
        return { status: 400, error: 'invalid_scope', description: 'The requested scope exceeds the scope originally granted.' };
      }
    }
    // Rotation: the old refresh token is spent whatever happens next. Without, it stays valid and no
    // new one is issued; one of an older state file, without a grant, gets one, so that revoking it
    // revokes every access token its refreshes gave.
    const grantId = record.grantId ?? randomUUID();
    if (rotate) refreshTokens.delete(refreshToken);
    else if (record.grantId === undefined) refreshTokens.set(refreshToken, { ...record, grantId });
    const grantRecord = { id: grantId, identity: record.identity, client, username: record.username, scope: record.scope };
    return issue(grantRecord, scope ?? record.scope, rotate);
  };

  /** RFC 7009: the client revokes one of its own tokens; unknown tokens are answered 200 too. */
  const revoke = (form: URLSearchParams, request: IncomingMessage): OAuthError | undefined => {
    const params = readParams(form, REVOCATION_PARAMETERS);
    if ('error' in params) return params;
    const authentication = authenticateClient(params, request);
    if ('error' in authentication) return authentication;
    const { token } = params;
    if (token === undefined) return { status: 400, error: 'invalid_request', description: 'The token parameter is missing.' };
    // token_type_hint is not read: RFC 7009 section 2.1 has the server search every type of token it
    // has when the hint does not find it, so a hint it does not know (id_token) changes nothing.
    const { clientId } = authentication.client;
    const access = accessTokens.get(token);
    const refresh = refreshTokens.get(token);
    // Section 2.1: the server "verifies whether the token was issued to the client making the
    // revocation request. If this validation fails, the request is refused and the client is
    // informed of the error". RFC 7009 adds no code for it (only unsupported_token_type), so it is
    // one of RFC 6749 section 5.2's: invalid_grant is the one whose definition names the case, a
    // grant or refresh token that "was issued to another client"; unauthorized_client is about the
    // grant types a client may use. An expired token is an invalid one, which section 2.2 answers
    // 200 whoever it was issued to: only a live token of another client is refused, and left valid.
    const time = now();
    const owner = [access, refresh].find((record) => record !== undefined && record.expiresAt > time)?.clientId;
    if (owner !== undefined && owner !== clientId) {
      return { status: 400, error: 'invalid_grant', description: 'The token was issued to another client.' };
    }
    if (access?.clientId === clientId) accessTokens.delete(token);
    if (refresh?.clientId === clientId) {
      refreshTokens.delete(token);
      // RFC 7009 section 2.1: revoking a refresh token also invalidates the access tokens of its
      // grant, so a client that revoked its refresh token cannot go on with an access token.
      const { grantId } = refresh;
      if (grantId !== undefined) accessTokens.deleteWhere((access) => access.grantId === grantId);
    }
    return undefined;
  };

  const handle = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> => {
    const revocation = REVOCATION_PATHS.has(url.pathname);
    if (revocation) stats.revocations += 1;
    else stats.requests += 1;
    if (request.method !== 'POST') {
      request.resume();
      // `refused` counts token requests only, as `requests` does.
      if (!revocation) stats.refused += 1;
      sendError(response, {
        status: 405,
        error: 'invalid_request',
        description: `The ${revocation ? 'revocation' : 'token'} endpoint accepts POST only.`,
        headers: { allow: 'POST' },
      });
      return;
    }
    const body = await readBody(request, MAX_BODY_BYTES);
    if (body === undefined) {
      if (!revocation) stats.refused += 1;
      sendError(response, { status: 413, error: 'invalid_request', description: `The request body is larger than ${MAX_BODY_BYTES} bytes.`, headers: { connection: 'close' } });
      return;
    }
    const form = new URLSearchParams(body);
    if (revocation) {
      const refused = revoke(form, request);
      if (refused === undefined) response.writeHead(200, { ...noStore, 'content-length': 0 }).end();
      else sendError(response, refused);
      return;
    }
    const params = readParams(form, TOKEN_PARAMETERS);
    if ('error' in params) {
      stats.refused += 1;
      sendError(response, params);
      return;
    }
    const grant = params.grant_type ?? '';
    increment(stats.byGrant, grant === '' ? '(none)' : grant);
    increment(stats.byIdentity, identityForStats(grant, params, request));

    const fault = takeFault(grant);
    if (fault !== undefined) {
      applyFault(fault, response);
      return;
    }

    const answer = grantToken(grant, params, request);
    if ('error' in answer) {
      if (answer.status === 429) stats.rateLimited += 1;
      else stats.refused += 1;
      sendError(response, answer);
      return;
    }
    sendJson(response, 200, answer);
  };

  const resetStats = (): void => {
    stats.requests = 0;
    stats.issued = 0;
    stats.refused = 0;
    stats.rateLimited = 0;
    stats.faults = 0;
    stats.revocations = 0;
    for (const key of Object.keys(stats.byGrant)) Reflect.deleteProperty(stats.byGrant, key);
    for (const key of Object.keys(stats.byIdentity)) Reflect.deleteProperty(stats.byIdentity, key);
  };

  return {
    stats,
    handles: (pathname) => TOKEN_PATHS.has(pathname) || REVOCATION_PATHS.has(pathname),
    handle,
    verifyAccessToken: (token) => {
      const record = accessTokens.get(token);
      if (record === undefined) return undefined;
      if (record.expiresAt <= now()) {
        accessTokens.delete(token);
        return undefined;
      }
      const { identity, clientId, username, scope, expiresAt } = record;
      return { identity, clientId, username, scope, expiresAt };
    },
    injectFault,
    clearFaults: () => {
      faults.length = 0;
      releaseHanging();
    },
    expireAll: () => {
      accessTokens.clear();
    },
    revokeAll: () => {
      accessTokens.clear();
      refreshTokens.clear();
    },
    // As the revocation endpoint does: a refresh token with the access tokens of its grant.
    revoke: (token) => {
      const grantId = refreshTokens.get(token)?.grantId;
      if (grantId !== undefined) accessTokens.deleteWhere((access) => access.grantId === grantId);
      return accessTokens.delete(token) || refreshTokens.delete(token);
    },
    advanceClock: (ms) => {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advanceClock takes milliseconds of 0 or more, not ${ms}.`);
      clockOffset += ms;
    },
    setTokenTtlSeconds: (seconds) => {
      tokenTtlSeconds = wholeSeconds('tokenTtlSeconds', seconds);
    },
    setAuthRateLimit: (limit) => {
      rateLimit = checkRateLimit(limit);
      loginAttempts.clear();
    },
    issueToken: (issueOptions = {}) => {
      const clientId = issueOptions.clientId ?? (issueOptions.username === undefined ? 'sessionkit-demo' : 'GrantValidatorClient');
      const client = clients.get(clientId) ?? { clientId };
      const username = issueOptions.username;
      const identity = username === undefined ? `client:${clientId}` : `user:${username}`;
      const scope = normalizeScope(issueOptions.scope);
      if (typeof scope === 'object') throw new RangeError(`issueToken: ${scope.description}`);
      // Without a user, a client_credentials token: no refresh token (RFC 6749 section 4.4.3).
      return issue({ id: randomUUID(), identity, client, username, scope }, scope, username !== undefined);
    },
    resetStats,
    dropConnections: releaseHanging,
    close: () => {
      faults.length = 0;
      releaseHanging();
      // What the state file has pending, written (a failure rejects close()).
      return new Promise<void>((resolve) => {
        closeState();
        resolve();
      });
    },
  };
}
