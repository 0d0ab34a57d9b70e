import { createHash } from 'node:crypto';
import { fingerprint } from '@sessionkit/logger';
import type { KyInstance } from 'ky';
import { AuthError } from './auth-error.js';
import { scrubText } from './scrub.js';
import { loggableUrl, requireSecureUrl } from './secure-url.js';
import type { AuthContext, Authenticator, Token } from './token.js';

/** Options of {@link oauth2}. */
export interface OAuth2Options {
  /** The token endpoint. Must be https unless it is on a loopback address or `allowInsecure` is set. */
  tokenUrl: string | URL;
  /** The primary grant: `password` needs `username` and `password`. */
  grant: 'client_credentials' | 'password';
  clientId: string;
  /** The client secret; omit it for a public client. Required for `client_credentials`. */
  clientSecret?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  /** Space-separated scopes to request. */
  scope?: string | undefined;
  /**
   * How a confidential client sends its secret: HTTP Basic (RFC 6749 section 2.3.1, which every
   * server must support) or `client_id`/`client_secret` form fields.
   * @default 'basic'
   */
  clientAuthentication?: 'basic' | 'body' | undefined;
  /** Allow a plain http token URL on a non-loopback host. @default false */
  allowInsecure?: boolean | undefined;
  /** Give up on one request after this long (hang protection). @default 10000 */
  timeoutMs?: number | undefined;
  /** An RFC 7009 revocation endpoint, used by `session.end()`. Without it `end()` only forgets the token. */
  revocationUrl?: string | URL | undefined;
  /** The fetch implementation ky uses (for a custom dispatcher or CA). @default globalThis.fetch */
  fetch?: typeof fetch | undefined;
}

interface TokenResponse {
  access_token?: unknown;
  token_type?: unknown;
  expires_in?: unknown;
  refresh_token?: unknown;
  scope?: unknown;
  error?: unknown;
  error_description?: unknown;
}

const DEFAULT_RETRY_AFTER_MS = 5000;

/** Milliseconds to wait from a `Retry-After` header (seconds or an HTTP date), or undefined. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Who an oauth2 authenticator's tokens belong to, without any secret: the token URL (its query,
 * which may hold a tenant or a key, only as a hash), the client id, the user name and the scope,
 * each percent-encoded so that no two different identities read the same.
 */
function identityOf(tokenUrl: URL, clientId: string, username: string | undefined, scope: string | undefined): string {
  const query = tokenUrl.search === '' ? '' : ` query=sha256:${createHash('sha256').update(tokenUrl.search).digest('hex').slice(0, 16)}`;
  return `oauth2 ${loggableUrl(tokenUrl)}${query} client=${encodeURIComponent(clientId)} user=${encodeURIComponent(username ?? '')} scope=${encodeURIComponent(scope ?? '')}`;
}

/** The error for a redirect: credentials are never re-sent to another address. */
function redirectRefused(what: string, status: number, headers: Headers): AuthError {
  const location = headers.get('location');
  const target = location !== null && URL.canParse(location) ? ` to ${new URL(location).origin}` : '';
  return new AuthError(
    'INVALID_RESPONSE',
    `The ${what} answered HTTP ${status}, a redirect${target}. Token requests never follow redirects (they would re-send the credentials elsewhere): configure the final URL instead.`,
    { status },
  );
}

function describeGrant(form: URLSearchParams): string {
  return form.get('grant_type') ?? 'unknown';
}

/**
 * An authenticator for an OAuth 2.0 token endpoint (RFC 6749): the `client_credentials` or
 * `password` grant, and the `refresh_token` grant whenever the server issues refresh tokens.
 * Requests go through ky with its retries off: the session owns the retry policy.
 *
 * @example
 * const session = new Session({
 *   authenticator: oauth2({ tokenUrl: 'https://id.example.com/connect/token', grant: 'client_credentials',
 *                           clientId: 'reporting', clientSecret: process.env.CLIENT_SECRET }),
 * });
 */
export function oauth2(options: OAuth2Options): Authenticator {
  const allowInsecure = options.allowInsecure === true;
  const tokenUrl = requireSecureUrl(options.tokenUrl, 'tokenUrl', allowInsecure);
  const revocationUrl = options.revocationUrl === undefined ? undefined : requireSecureUrl(options.revocationUrl, 'revocationUrl', allowInsecure);
  const { grant, clientId, clientSecret, username, password } = options;
  const scopeParts = options.scope?.split(' ').filter((part) => part.length > 0) ?? [];
  const scope = scopeParts.length === 0 ? undefined : scopeParts.join(' ');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const clientAuthentication = options.clientAuthentication ?? 'basic';

  if (typeof clientId !== 'string' || clientId.length === 0) throw new AuthError('CONFIGURATION', 'oauth2 needs a clientId.');
  if (grant === 'client_credentials' && (clientSecret === undefined || clientSecret.length === 0)) {
    throw new AuthError('CONFIGURATION', 'The client_credentials grant needs a clientSecret.');
  }
  if (grant === 'password') {
    if (username === undefined || username.length === 0) throw new AuthError('CONFIGURATION', 'The password grant needs a username.');
    if (password === undefined) throw new AuthError('CONFIGURATION', 'The password grant needs a password.');
  } else if ((grant as string) !== 'client_credentials') {
    throw new AuthError('CONFIGURATION', `Unknown grant "${grant as string}": use 'client_credentials' or 'password'.`);
  }
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be above 0, not ${timeoutMs}.`);

  // ky is imported on the first request, not with this package: importing it sets up Node's
  // fetch (undici), which took most of the package's cold-import time.
  let client: Promise<KyInstance> | undefined;
  const kyClient = (): Promise<KyInstance> =>
    (client ??= import('ky').then(({ default: ky }) =>
      ky.create({ retry: 0, timeout: false, throwHttpErrors: false, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) }),
    ));
  const identity = identityOf(tokenUrl, clientId, username, scope);
  const basic =
    clientSecret !== undefined && clientAuthentication === 'basic'
      ? `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`
      : undefined;

  const withClient = (form: URLSearchParams): Record<string, string> => {
    if (basic !== undefined) return { authorization: basic };
    form.set('client_id', clientId);
    if (clientSecret !== undefined) form.set('client_secret', clientSecret);
    return {};
  };

  /** POST a form; the response, or an AuthError for a network failure or timeout. */
  const post = async (url: URL, form: URLSearchParams, context: AuthContext, secrets: readonly (string | undefined)[]): Promise<{ status: number; headers: Headers; body: string }> => {
    const http = await kyClient();
    const headers = { ...withClient(form), accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' };
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([context.signal, timeout]);
    const started = Date.now();
    context.logger.debug('token request', { url: loggableUrl(url), grant: describeGrant(form), attempt: context.attempt });
    try {
      // Never follow a redirect: a 307/308 would send the form (password, secret) to wherever
      // the Location header points, over plain http too.
      const response = await http.post(url, { body: form, headers, signal, redirect: 'manual' });
      const body = await response.text();
      context.logger.debug('token response', { status: response.status, durationMs: Date.now() - started });
      return { status: response.status, headers: response.headers, body };
    } catch (error) {
      if (timeout.aborted) {
        throw new AuthError('NETWORK', `The token endpoint did not answer within ${timeoutMs} ms.`);
      }
      if (context.signal.aborted) throw new AuthError('NETWORK', 'The token request was aborted.');
      const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
      const detail = typeof code === 'string' ? ` (${code})` : '';
      // The cause is a fetch TypeError: it carries no request body, so no secret.
      throw new AuthError('NETWORK', `The token request to ${url.host} failed${detail}: ${scrubText(error instanceof Error ? error.message : String(error), secrets)}.`, {
        cause: error,
      });
    }
  };

  const parseToken = (status: number, headers: Headers, body: string, context: AuthContext, obtainedAt: number, secrets: readonly (string | undefined)[]): Token => {
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(headers.get('retry-after'), context.now()) ?? DEFAULT_RETRY_AFTER_MS;
      throw new AuthError('RATE_LIMITED', `The token endpoint is rate limiting this client (429); retry after ${retryAfterMs} ms.`, {
        status,
        retryAfterMs,
      });
    }
    if (status >= 500) throw new AuthError('SERVER', `The token endpoint failed with HTTP ${status}.`, { status });
    if (status >= 300 && status < 400) throw redirectRefused('token endpoint', status, headers);

    let json: TokenResponse | undefined;
    try {
      const parsed: unknown = JSON.parse(body);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) json = parsed;
    } catch {
      json = undefined;
    }

    if (status !== 200) {
      const oauthError = typeof json?.error === 'string' ? scrubText(json.error, secrets, 60) : undefined;
      const description = typeof json?.error_description === 'string' ? `: ${scrubText(json.error_description, secrets)}` : '';
      if (status === 400 || status === 401 || status === 403) {
        throw new AuthError(
          'INVALID_CREDENTIALS',
          `The token endpoint refused the request with HTTP ${status}${oauthError === undefined ? '' : ` (${oauthError})`}${description}. Check the client id, secret, user name and password.`,
          { status, oauthError },
        );
      }
      throw new AuthError('INVALID_RESPONSE', `The token endpoint answered HTTP ${status}; expected 200 with a token. Check tokenUrl.`, { status, oauthError });
    }
    if (json === undefined) throw new AuthError('INVALID_RESPONSE', 'The token endpoint answered 200 with a body that is not a JSON object.', { status });
    if (typeof json.access_token !== 'string' || json.access_token.length === 0) {
      throw new AuthError('INVALID_RESPONSE', 'The token response has no access_token.', { status });
    }
    let expiresAt: number | undefined;
    if (json.expires_in !== undefined && json.expires_in !== null) {
      const seconds = typeof json.expires_in === 'string' ? Number(json.expires_in) : json.expires_in;
      if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
        throw new AuthError('INVALID_RESPONSE', 'The token response has an expires_in that is not a number of seconds.', { status });
      }
      expiresAt = obtainedAt + seconds * 1000;
    }
    if (json.refresh_token !== undefined && typeof json.refresh_token !== 'string') {
      throw new AuthError('INVALID_RESPONSE', 'The token response has a refresh_token that is not a string.', { status });
    }
    const type = typeof json.token_type === 'string' && json.token_type.length > 0 ? json.token_type : 'Bearer';
    const token: Token = {
      value: json.access_token,
      type: type.toLowerCase() === 'bearer' ? 'Bearer' : type,
      expiresAt,
      refreshToken: json.refresh_token,
      scope: typeof json.scope === 'string' ? json.scope : scope,
      obtainedAt,
    };
    context.logger.debug('token issued', {
      fingerprint: fingerprint(token.value),
      expiresInMs: expiresAt === undefined ? undefined : expiresAt - obtainedAt,
      refreshable: token.refreshToken !== undefined,
    });
    return token;
  };

  const request = async (form: URLSearchParams, context: AuthContext, secrets: readonly (string | undefined)[]): Promise<Token> => {
    // expiresAt counts from the moment the request is sent, not from when the answer arrives.
    const obtainedAt = context.now();
    const { status, headers, body } = await post(tokenUrl, form, context, secrets);
    return parseToken(status, headers, body, context, obtainedAt, secrets);
  };

  return {
    identity,
    authenticate: (context) => {
      const form = new URLSearchParams({ grant_type: grant });
      if (grant === 'password') {
        form.set('username', username ?? '');
        form.set('password', password ?? '');
        if (basic === undefined) form.set('client_id', clientId);
      }
      if (scope !== undefined) form.set('scope', scope);
      return request(form, context, [clientSecret, password]);
    },
    refresh: async (token, context) => {
      if (token.refreshToken === undefined) throw new AuthError('INVALID_CREDENTIALS', 'This token has no refresh token.');
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token.refreshToken });
      if (basic === undefined) form.set('client_id', clientId);
      const refreshed = await request(form, context, [clientSecret, password, token.refreshToken, token.value]);
      // RFC 6749 section 6: without a new refresh token, the old one stays valid.
      return refreshed.refreshToken === undefined ? { ...refreshed, refreshToken: token.refreshToken, scope: refreshed.scope ?? token.scope } : refreshed;
    },
    ...(revocationUrl === undefined
      ? {}
      : {
          revoke: async (token: Token, context: AuthContext): Promise<void> => {
            const secrets = [clientSecret, password, token.refreshToken, token.value];
            for (const [value, hint] of [
              [token.refreshToken, 'refresh_token'],
              [token.value, 'access_token'],
            ] as const) {
              if (value === undefined) continue;
              const form = new URLSearchParams({ token: value, token_type_hint: hint });
              if (basic === undefined) form.set('client_id', clientId);
              const { status, headers } = await post(revocationUrl, form, context, secrets);
              if (status >= 300 && status < 400) throw redirectRefused('revocation endpoint', status, headers);
              if (status !== 200) throw new AuthError(status >= 500 ? 'SERVER' : 'INVALID_RESPONSE', `The revocation endpoint answered HTTP ${status}.`, { status });
            }
          },
        }),
  };
}
