import type { KyInstance } from 'ky';
import { AuthError, errorMessage, MAX_RETRY_AFTER_MS, throttleDelay } from './auth-error.js';
import { MAX_TIMER_MS, milliseconds } from './backoff.js';
import { isCertificateError } from './certificate-error.js';
import { scrubText } from './scrub.js';
import { requireSecureUrl } from './secure-url.js';
import { sha256Hex } from './store-key.js';
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
  /** Scopes to request: space-separated, or a list. */
  scope?: string | readonly string[] | undefined;
  /**
   * How a confidential client sends its secret: HTTP Basic (RFC 6749 section 2.3.1, which every
   * server must support) or `client_id`/`client_secret` form fields.
   * @default 'basic'
   */
  clientAuthentication?: 'basic' | 'body' | undefined;
  /** Allow a plain http token URL on a non-loopback host. @default false */
  allowInsecure?: boolean | undefined;
  /** Give up on one request after this long (hang protection); above 0 and at most 2147483647 (setTimeout's limit). @default 10000 */
  timeoutMs?: number | undefined;
  /** An RFC 7009 revocation endpoint, used by `session.end()`. Without it `end()` only forgets the token it holds (for every session of the process) and the stored one: the server keeps them valid until they expire. */
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

/**
 * Milliseconds to wait from a `Retry-After` header: seconds (digits, a decimal fraction allowed),
 * or an HTTP date in any of its three forms (RFC 9110 section 5.6.7: `Wed, 21 Oct 2037 07:28:00 GMT`,
 * the obsolete `Wednesday, 21-Oct-37 07:28:00 GMT` and `Wed Oct 21 07:28:00 2037`); at most 1 hour.
 * Undefined for anything else.
 */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  const trimmed = header?.trim() ?? '';
  // Date.parse alone reads far too much ("-1", "in 2050"): only the HTTP date forms go to it (anything
  // else is '', which it reads as NaN). asctime has no zone, so GMT is added: else it is read as local time.
  const date = / \d\d:\d\d:\d\d GMT$/.test(trimmed) ? trimmed : /^[a-z]{3} [a-z]{3} +\d\d? \d\d:\d\d:\d\d \d{4}$/i.test(trimmed) ? `${trimmed} GMT` : '';
  const ms = /^\d+(\.\d+)?$/.test(trimmed) ? Math.ceil(Number(trimmed) * 1000) : Date.parse(date) - now;
  return Number.isNaN(ms) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** The most an answer of a token or revocation endpoint may hold: they are a few hundred bytes. */
const MAX_ANSWER_BYTES = 1 << 20;

/**
 * The body of `response` as text (UTF-8, as `response.text()` reads it), read until `stopped`
 * rejects; undefined when it is over {@link MAX_ANSWER_BYTES} (not held in memory). The body is
 * cancelled when the read ends early.
 */
const readText = async (response: Response, stopped: Promise<never>): Promise<string | undefined> => {
  const reader = (response.body as ReadableStream<Uint8Array> | null)?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const chunk = reader && (await Promise.race([reader.read(), stopped]));
      if (!chunk || chunk.done) return new TextDecoder().decode(Buffer.concat(chunks));
      size += chunk.value.byteLength;
      if (size > MAX_ANSWER_BYTES) return undefined;
      chunks.push(chunk.value);
    }
  } finally {
    // Nothing left to read after the end; else the connection is let go.
    reader?.cancel().catch(() => undefined);
  }
};

/**
 * An authenticator for an OAuth 2.0 token endpoint (RFC 6749): the `client_credentials` or
 * `password` grant, and the `refresh_token` grant whenever the server issues refresh tokens.
 * Requests go through ky with its retries off: the session owns the retry policy. A token
 * response's `expires_in` is a JSON number or a decimal string (digits, a fraction allowed, spaces
 * around them); anything else (`"0x10"`, `"1e3"`, negative) is `AuthError('INVALID_RESPONSE')`.
 * Missing, empty, under 1 second or too large to be a time, it means no known expiry.
 *
 * @example
 * const session = new Session({
 *   authenticator: oauth2({ tokenUrl: 'https://id.example.com/connect/token', grant: 'client_credentials',
 *                           clientId: 'reporting', clientSecret: process.env.CLIENT_SECRET }),
 * });
 */
export function oauth2(options: OAuth2Options): Authenticator {
  // Plain JavaScript: none at all, or a URL where the options go.
  if (typeof options !== 'object' || !(options as OAuth2Options | null)) throw new TypeError('oauth2() needs an options object: { tokenUrl, grant, clientId, ... }.');
  const { grant, clientId, username, password, allowInsecure } = options;
  // From plain JavaScript, a null secret is none (a public client), not the text "null".
  const clientSecret = options.clientSecret ?? undefined;
  const tokenUrl = requireSecureUrl(options.tokenUrl, 'tokenUrl', allowInsecure === true);
  const revocationUrl = options.revocationUrl == null ? undefined : requireSecureUrl(options.revocationUrl, 'revocationUrl', allowInsecure === true);
  // A list too (`['read', 'write']`, as other OAuth clients take it): a TypeError from split() before.
  const scope = [options.scope ?? ''].flat().join(' ').split(' ').filter(Boolean).join(' ') || undefined;
  const timeoutMs = milliseconds('timeoutMs', options.timeoutMs, 10_000, MAX_TIMER_MS, true);

  /** `value`, or an AuthError('CONFIGURATION') saying that the grant needs the option `name`. */
  const need = (value: string | undefined, name: string): string => {
    // Not a string (null, from plain JavaScript) or empty: missing.
    if (typeof value !== 'string' || !value) throw new AuthError('CONFIGURATION', `oauth2 needs ${name} for the ${grant} grant.`);
    return value;
  };
  if (grant !== 'password' && (grant as string) !== 'client_credentials') {
    throw new AuthError('CONFIGURATION', `Unknown grant "${grant as string}": use 'client_credentials' or 'password'.`);
  }
  need(clientId, 'clientId');
  // The form of the primary grant, checked here once.
  const primary: Record<string, string> = { grant_type: grant };
  if (grant === 'password') {
    primary.username = need(username, 'username');
    primary.password = need(password, 'password');
  } else {
    need(clientSecret, 'clientSecret');
  }
  if (scope !== undefined) primary.scope = scope;

  // ky is imported on the first request, not with this package: importing it sets up Node's
  // fetch (undici), which took most of the package's cold-import time.
  let client: Promise<KyInstance> | undefined;
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' };
  // Any other value (plain JavaScript: the RFC's 'client_secret_basic', say) sent the secret in the form unasked.
  const authentication: string = options.clientAuthentication ?? 'basic';
  if (authentication !== 'basic' && authentication !== 'body') throw new AuthError('CONFIGURATION', "clientAuthentication must be 'basic' or 'body'.");
  const basic = clientSecret !== undefined && authentication === 'basic';
  // application/x-www-form-urlencoded, as RFC 6749 section 2.3.1 (its appendix B) has them: a space as `+`, `!'()~` escaped.
  const formEncoded = (value: string): string => new URLSearchParams({ v: value }).toString().slice(2);
  if (basic) headers.authorization = `Basic ${Buffer.from(`${formEncoded(clientId)}:${formEncoded(clientSecret)}`).toString('base64')}`;
  // Whether that encoding changed the id or the secret (a base64 secret's `+`, `/` or `=`, say): many
  // servers compare Basic credentials without decoding them, and refuse such a client as invalid_client.
  const basicEncoded = basic && formEncoded(clientId + clientSecret) !== clientId + clientSecret;

  /**
   * POST `form` with the client's credentials to `url`, the `what` endpoint: the response, its
   * body, and the secrets its error texts must not show. Network failures, timeouts and
   * redirects become AuthErrors whose messages hold none of the secrets of `token` or the options.
   */
  const post = async (
    what: string,
    url: URL,
    form: URLSearchParams,
    context: AuthContext,
    token?: Token,
  ): Promise<[Response, string | undefined, (string | undefined)[], number | undefined]> => {
    // The Basic credential first: base64 of client_id:client_secret, which a server may echo as it is.
    const secrets = [headers.authorization?.slice(6), clientSecret, password, token?.refreshToken, token?.value];
    if (!basic) {
      form.set('client_id', clientId);
      if (clientSecret !== undefined) form.set('client_secret', clientSecret);
    }
    const http = await (client ??= import('ky').then(({ default: ky }) => ky.create({ retry: 0, timeout: false, throwHttpErrors: false, ...(options.fetch && { fetch: options.fetch }) })));
    // Rounded up: AbortSignal.timeout() takes whole milliseconds only.
    const timeout = AbortSignal.timeout(Math.ceil(timeoutMs));
    const signal = AbortSignal.any([context.signal, timeout]);
    // Rejects when `signal` fires. The wait for the answer and its body ends here, on `signal` itself:
    // ky hands fetch a Request that follows the signal only through a weak reference to the
    // Request's AbortController, and lets go of the Request once the headers are in; after a garbage
    // collection the abort was lost (a body trickled or sent without end was read on past
    // timeoutMs, and past end()).
    let stop!: () => void;
    const stopped = new Promise<never>((_, reject) => {
      stop = () => {
        reject(signal.reason as Error);
      };
    });
    stopped.catch(() => undefined);
    signal.addEventListener('abort', stop);
    const started = Date.now();
    let response: Response;
    let body: string | undefined;
    try {
      // Never follow a redirect: a 307/308 would send the form (password, secret) to wherever
      // the Location header points, over plain http too.
      const sent = http.post(url, { body: form, headers, signal, redirect: 'manual' });
      // An answer that comes after the abort is not read: its connection is let go.
      sent.then(async (late) => {
        if (signal.aborted) await late.body?.cancel();
      }).catch(() => undefined);
      response = await Promise.race([sent, stopped]);
      // A 429 or a 5xx is judged by its status and Retry-After alone. Its body is not read: one sent
      // slowly or without end would turn the throttle into a network failure at timeoutMs, retried.
      if (response.status === 429 || response.status >= 500) {
        response.body?.cancel().catch(() => undefined);
        body = '';
      } else body = await readText(response, stopped);
    } catch (error) {
      if (timeout.aborted) throw new AuthError('NETWORK', `The ${what} did not answer within timeoutMs (${timeoutMs} ms).`);
      // An abort whose reason is an AuthError (the session's attemptTimeoutMs, end()) is thrown as it is.
      if (AuthError.isInstance(error)) throw error;
      const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
      // Its code (ECONNREFUSED), else its reason (fetch's "bad port" has no code).
      const reason = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' && cause.message ? scrubText(cause.message, secrets) : '';
      // A certificate the runtime does not trust (or a TLS failure) comes back at every attempt;
      // so does a port that answers without TLS (an https:// URL to a plain http server).
      if (isCertificateError(cause?.code)) {
        throw new AuthError(
          'CONFIGURATION',
          `The ${what} request to ${url.host} failed (${reason}): ${reason.includes('WRONG_VERSION') ? "it does not speak TLS there (plain http?). Retrying cannot help: check the URL's scheme and port" : 'its TLS certificate is not trusted or not valid. Retrying cannot help: trust its CA (NODE_EXTRA_CA_CERTS, or the fetch option of oauth2()) or fix the certificate'}.`,
          { cause: error },
        );
      }
      // The cause is a fetch TypeError: it carries no request body, so no secret.
      throw new AuthError('NETWORK', `The ${what} request to ${url.host} failed${reason && ` (${reason})`}: ${scrubText(errorMessage(error), secrets)}.`, {
        cause: error,
      });
    } finally {
      signal.removeEventListener('abort', stop);
    }
    const { status } = response;
    context.logger.debug(`${what} answered`, { grant: form.get('grant_type') ?? undefined, status, durationMs: Date.now() - started });
    if (status >= 300 && status < 400) {
      const location = response.headers.get('location') ?? '';
      const target = URL.canParse(location) ? ` to ${new URL(location).origin}` : '';
      throw new AuthError('INVALID_RESPONSE', `The ${what} answered HTTP ${status}, a redirect${target}, not followed: configure the final URL.`, { status });
    }
    // As long as the session will throttle: 1 s at least, the 5 s default for a header it cannot read.
    const retryAfter = response.headers.get('retry-after');
    const retryAfterMs = throttleDelay(parseRetryAfter(retryAfter, context.now()));
    // Its body unread (above): every process waits it out.
    if (status === 429) throw new AuthError('RATE_LIMITED', `The ${what} is throttling this identity (429); retry after ${retryAfterMs} ms.`, { status, retryAfterMs });
    // The wait a Retry-After asks for, when the answer has one (RFC 9110 allows it on a 503 too).
    return [response, body, secrets, retryAfter ? retryAfterMs : undefined];
  };

  /** An answer of more than 1 MiB, not read (a 429 or 5xx body is never read). */
  const tooLong = (what: string, status: number): AuthError => new AuthError('INVALID_RESPONSE', `The ${what} answered HTTP ${status} with more than 1 MiB.`, { status });

  /** A token from the token endpoint for `form`, or the AuthError its answer means. */
  const request = async (form: URLSearchParams, context: AuthContext, token?: Token): Promise<Token> => {
    // expiresAt counts from the moment the request is sent, not from when the answer arrives.
    const obtainedAt = context.now();
    const [response, body, secrets, retryAfterMs] = await post('token endpoint', tokenUrl, form, context, token);
    const { status } = response;
    if (body === undefined) throw tooLong('token endpoint', status);
    // With a Retry-After (a 503 during maintenance, say), the session waits it out as after a 429 rather than retry sooner.
    if (status >= 500) throw new AuthError('SERVER', `The token endpoint failed with HTTP ${status}${retryAfterMs ? `; retry after ${retryAfterMs} ms` : ''}.`, { status, retryAfterMs });

    let json: TokenResponse | undefined;
    try {
      const parsed: unknown = JSON.parse(body);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) json = parsed;
    } catch {
      // not JSON: json stays undefined
    }

    if (status !== 200) {
      const oauthError = typeof json?.error === 'string' ? scrubText(json.error, secrets, 60) : undefined;
      const description = typeof json?.error_description === 'string' ? `: ${scrubText(json.error_description, secrets)}` : '';
      // A refusal: a 401, or a 400 or 403 with an OAuth error (RFC 6749 section 5.2); without one, a
      // proxy's or firewall's page, which says nothing of the credentials (nor of a refresh token).
      const refused = status === 401 || ((status === 400 || status === 403) && oauthError !== undefined);
      // The client refused (invalid_client, or a 401 without an OAuth error; not a refresh token's 401
      // invalid_grant), with Basic credentials that encoding changed: say what to try.
      const hint = basicEncoded && (oauthError === 'invalid_client' || (status === 401 && oauthError === undefined))
        ? " The client id or secret has characters HTTP Basic sends form-encoded (RFC 6749 section 2.3.1), which some servers do not decode: if it is right, try clientAuthentication: 'body'."
        : '';
      throw new AuthError(
        refused ? 'INVALID_CREDENTIALS' : 'INVALID_RESPONSE',
        // One full stop after a description that ends with its own.
        `${`The token endpoint answered HTTP ${status}${oauthError === undefined ? '' : ` (${oauthError})`}${description}`.replace(/\.?$/, '.')} ${refused ? 'Check the credentials.' : 'Check tokenUrl.'}${hint}`,
        { status, oauthError },
      );
    }
    const invalid = (problem: string): AuthError => new AuthError('INVALID_RESPONSE', `The token endpoint answered 200 with ${problem}. Check tokenUrl.`, { status });
    if (!json) throw invalid('a body that is not a JSON object');
    const { access_token: value, expires_in: expiresIn, refresh_token: refreshToken, token_type: type } = json;
    if (typeof value !== 'string' || !value) throw invalid('no access_token');
    let expiresAt: number | undefined;
    // Missing, null, empty or blank (a lenient server's "no value"): no known expiry.
    const lifetime = typeof expiresIn === 'string' ? expiresIn.trim() : (expiresIn ?? '');
    if (lifetime !== '') {
      // RFC 6749 gives a JSON number; some servers send a decimal string. Only digits, a fraction allowed: Number() alone
      // would read "0x10" as 16 s, "1e3" as 1000 s and "Infinity" as no expiry.
      const seconds = typeof lifetime === 'number' || (typeof lifetime === 'string' && /^\d+(\.\d+)?$/.test(lifetime)) ? Number(lifetime) : NaN;
      if (Number.isNaN(seconds) || seconds < 0) throw invalid('an expires_in that is not a number of seconds');
      // Under 1 s (0 included), and a lifetime too long to be a time (past the largest Date, 8.64e15 ms; Infinity included),
      // mean no known expiry: used until a 401 (under 1 s, the session would ask for a new token every second).
      const at = obtainedAt + seconds * 1000;
      if (seconds >= 1 && at <= 8.64e15) expiresAt = at;
    }
    // Missing, null or empty (a lenient server's "no value"): none; a refresh then keeps the one it used.
    if (refreshToken != null && typeof refreshToken !== 'string') throw invalid('a refresh_token that is not a string');
    // RFC 6749 section 7.1: never use a token type this client does not understand. A missing one (lenient servers) is Bearer.
    if (type !== undefined && type !== null && type !== '' && (typeof type !== 'string' || type.toLowerCase() !== 'bearer')) {
      throw invalid(`token_type ${scrubText(JSON.stringify(type), [...secrets, value, refreshToken ?? undefined], 24)}: only Bearer is supported`);
    }
    return {
      value,
      type: 'Bearer',
      expiresAt,
      refreshToken: typeof refreshToken === 'string' && refreshToken !== '' ? refreshToken : undefined,
      // None in the answer: unchanged (RFC 6749 sections 5.1 and 6), the refreshed token's scope, else the one requested.
      scope: typeof json.scope === 'string' ? json.scope : (token?.scope ?? scope),
      obtainedAt,
    };
  };

  // Who the tokens belong to, without any secret: the token URL (its query, which may hold a
  // tenant or a key, only as a hash), the client id, the user name and the scope, each
  // percent-encoded so that no two different identities read the same.
  const query = tokenUrl.search && ` query=sha256:${sha256Hex(tokenUrl.search, 16)}`;
  return {
    identity: `oauth2 ${tokenUrl.origin}${tokenUrl.pathname}${query} client=${encodeURIComponent(clientId)} user=${encodeURIComponent(username ?? '')} scope=${encodeURIComponent(scope ?? '')}`,
    authenticate: (context) => request(new URLSearchParams(primary), context),
    refresh: async (token, context) => {
      if (token.refreshToken === undefined) throw new AuthError('INVALID_CREDENTIALS', 'This token has no refresh token.');
      const refreshed = await request(new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token.refreshToken }), context, token);
      // RFC 6749 section 6: without a new refresh token, the old one stays valid.
      return refreshed.refreshToken === undefined ? { ...refreshed, refreshToken: token.refreshToken } : refreshed;
    },
    ...(revocationUrl && {
      revoke: async (token: Token, context: AuthContext): Promise<void> => {
        // Each token is sent whatever became of the other's request, refused or unanswered (a server
        // that will not revoke refresh tokens may revoke the access token), but not after a 429; the
        // first failure is thrown after both.
        let failure: AuthError | undefined;
        for (const [value, hint] of [
          [token.refreshToken, 'refresh_token'],
          [token.value, 'access_token'],
        ] as const) {
          if (value === undefined) continue;
          let answer;
          try {
            answer = await post('revocation endpoint', revocationUrl, new URLSearchParams({ token: value, token_type_hint: hint }), context, token);
          } catch (error) {
            // Unreachable or timed out: the other token is still sent; not after a 429 (the endpoint
            // asked to be left alone), nor once the session gave up.
            if (context.signal.aborted || (error as Partial<AuthError> | undefined)?.code === 'RATE_LIMITED') throw error;
            failure ??= error as AuthError;
            continue;
          }
          const [{ status }, body, secrets] = answer;
          if (body === undefined) failure ??= tooLong('revocation endpoint', status);
          else if (status !== 200) {
            // Its OAuth error named (RFC 7009 section 2.2.1: unsupported_token_type, say).
            let json: TokenResponse | null = null;
            try {
              json = JSON.parse(body) as TokenResponse | null;
            } catch {
              // not JSON: no error named
            }
            const oauthError = typeof json?.error === 'string' ? scrubText(json.error, secrets, 60) : undefined;
            failure ??= new AuthError(status >= 500 ? 'SERVER' : 'INVALID_RESPONSE', `The revocation endpoint answered HTTP ${status}${oauthError ? ` (${oauthError})` : ''}.`, { status, oauthError });
          }
        }
        if (failure) throw failure;
      },
    }),
  };
}
