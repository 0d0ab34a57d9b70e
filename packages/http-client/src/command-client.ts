import type { Session, Token } from '@sessionkit/core-session';
import type { Logger } from '@sessionkit/logger';
import type { Dispatcher } from 'undici';
import { CommandResponse, isSecretName, MASK, maskPairs, type ResponseDetail } from './command-response.js';
import { AuthError, createLogger, parseRetryAfter, silentLogger } from './dependencies.js';
import { commandTextOf, flattenCommand } from './encode-command.js';
import { HttpClientError, invalidArgument } from './http-client-error.js';
import { HTTP_ERROR, parseResponse, SESSION_NOT_FOUND, syntheticResponse } from './parse-response.js';
import { errorSummary, redactResponseText } from './redaction.js';
import { type ConnectionFields, encodeRequestBody } from './request-body.js';
import { loggerOption, logSafely } from './log-safely.js';
import { type ConnectionOptions, dispatcherFactory, endpointUrl, isRetryableError, optionsOf, wholeNumber } from './transport.js';
import { formatUserAgent, type UserAgentParts } from './user-agent.js';

/** An ISPAPI system: it sets the URL and the entity together. */
export type IspapiSystem = 'live' | 'ote';

/** URL and entity of each system. */
export const ISPAPI_SYSTEMS: Readonly<Record<IspapiSystem, { readonly url: string; readonly entity: string }>> = {
  live: { url: 'https://api.ispapi.net/api/call.cgi', entity: '54cd' },
  ote: { url: 'https://api-ote.ispapi.net/api/call.cgi', entity: '1234' },
};

/** The URL of a local high-performance proxy that keeps connections to the API open. */
export const ISPAPI_PROXY_URL = 'http://127.0.0.1/api/call.cgi';

/** The message of the one debug entry per request attempt. */
export const COMMAND_LOG_MESSAGE = 'ispapi request';

/** Login credentials. */
export interface CommandCredentials {
  /** The account. */
  login: string;
  password: string;
  /** A role of the account: the client logs in as `login!role` (with the role's password). */
  role?: string | undefined;
  /** A one-time password (2FA), sent with the password. */
  otp?: string | undefined;
}

/**
 * Retries of failed transports (never of API results). Each is a whole number from 0 to
 * 2147483647 (the longest timer Node keeps), and `maxDelayMs` is at least `baseDelayMs`;
 * anything else is `INVALID_ARGUMENT`.
 */
export interface CommandRetryOptions {
  /** Retries after the first attempt. @default 2 */
  retries?: number | undefined;
  /** Backoff before the first retry, doubled for each further one, with jitter. @default 100 */
  baseDelayMs?: number | undefined;
  /** The longest backoff; at least `baseDelayMs` (so a `baseDelayMs` above 2000 needs it too). @default 2000 */
  maxDelayMs?: number | undefined;
  /**
   * A `Retry-After` longer than this is not waited for: the failure is returned instead; nor is one
   * of an hour or more, whatever this says (`retryAfterMs` holds at most an hour). @default 60000
   */
  maxRetryAfterMs?: number | undefined;
}

/**
 * Options of {@link CommandClient}; `highPerformance`, `ca` and `tls` set up its connection pool.
 * An option given as null counts as not given (here and per request), and so do options given as
 * null as a whole (`new CommandClient(null)`, `request(command, null)`); options that are not an
 * object (`new CommandClient('ote')`) are `INVALID_ARGUMENT`.
 */
export interface CommandClientOptions extends ConnectionOptions {
  /** The system: its URL and entity. @default 'live' */
  system?: IspapiSystem | undefined;
  /**
   * Another URL (a sandbox, the local proxy {@link ISPAPI_PROXY_URL}); the entity stays the system's.
   * No credentials in it: a user name or password, or a secret query field such as `s_pw`, is
   * `INVALID_ARGUMENT` (use `credentials` or `session`).
   */
  url?: string | undefined;
  /** Login and password; the client sends them with each request until `login()` starts a session. */
  credentials?: CommandCredentials | undefined;
  /**
   * A core-session `Session` whose authenticator logs in with StartSession (see
   * `ispapiSessionAuthenticator`, given the same `url` and `system` as the client). The client
   * sends its token as `s_session`; after a 530 it invalidates the token, and replays read-only
   * commands once with a new one. `INVALID_ARGUMENT`: anything truthy without `getToken()` and
   * `invalidate()`, such as a session id (use `sessionId` per request, or `reuseSession()`); a
   * Session of `ispapiSessionAuthenticator` for another URL or entity (it would send the login
   * there and the session id here; URLs compared without query, fragment or trailing slash, the
   * local proxy `ISPAPI_PROXY_URL` as the system's own); one of core-session's `oauth2()` (its
   * token is no session id).
   */
  session?: Session | undefined;
  /** `s_remoteaddr`: the end customer's IP address, for accounts with an IP filter. */
  remoteAddress?: string | undefined;
  /** `s_user`: view the data of this subuser. */
  subuser?: string | undefined;
  /**
   * Response timeout: how long to wait for the answer's headers, and then between parts of its
   * body. Like every time here, whole milliseconds from 0 to 2147483647 (else `INVALID_ARGUMENT`);
   * 0 for none. undici checks it about once a second, so it may fire up to a second late; for a
   * tighter limit pass a `signal` such as `AbortSignal.timeout(ms)`.
   * @default 300000
   */
  timeoutMs?: number | undefined;
  /** How long connecting (TCP and TLS) may take. @default 10000 */
  connectTimeoutMs?: number | undefined;
  /**
   * The largest answer read, in bytes of its body, from 1: past it the client stops reading and
   * closes the connection, and the request's answer is a `421` (not retried) whose `cause` has the
   * code `UND_ERR_RES_EXCEEDED_MAX_SIZE`. It bounds the memory a wrong or hostile server can fill.
   * @default 67108864 (64 MiB)
   */
  maxResponseBytes?: number | undefined;
  /** Retries of transport failures that are safe to retry; `false` or `0` for none. @default { retries: 2 } */
  retry?: number | false | CommandRetryOptions | undefined;
  /** Where the debug entries go. What it throws is ignored: it never changes a request's outcome. @default silentLogger */
  logger?: Logger | undefined;
  /** Without a `logger`: log every request to standard error at debug level. @default false */
  debug?: boolean | undefined;
  /**
   * The user agent, verbatim, or parts for the SDK format. Latin-1 text without control characters
   * (CR, LF, ...): anything else is `INVALID_ARGUMENT`.
   * @default 'sessionkit (platform; arch; rv:version) sessionkit-http-client/version node/vX'
   */
  userAgent?: string | UserAgentParts | undefined;
}

/** Options of one request. */
export interface CommandRequestOptions {
  /** Cancels the request; `request()` then rejects with `HttpClientError('ABORTED')`. Anything but an AbortSignal is `INVALID_ARGUMENT`. */
  signal?: AbortSignal | undefined;
  /** The response timeout of this request: whole milliseconds from 0 (none) to 2147483647, as the client's (else `INVALID_ARGUMENT`). */
  timeoutMs?: number | undefined;
  /**
   * Whether the command may be retried and replayed even after it reached the server.
   * @default true for Check…, Query…, Status…, Get… commands, false for the others
   */
  idempotent?: boolean | undefined;
  /** `s_remoteaddr` for this request. */
  remoteAddress?: string | undefined;
  /** `s_user` for this request. */
  subuser?: string | undefined;
  /**
   * Send this session id (`s_session`) instead of the client's own session or credentials,
   * without the client's core-session `Session`, with the entity that {@link CommandClient.entity}
   * reports.
   */
  sessionId?: string | undefined;
}

/** Options of {@link CommandClient.pages}. */
export interface PagesOptions extends CommandRequestOptions {
  /** Stop after this many pages (a whole number, else `INVALID_ARGUMENT`). @default 10000 */
  maxPages?: number | undefined;
}

/** Options of {@link CommandClient.login}. */
export interface LoginOptions {
  /** Idle seconds after which the session expires (60–3600). @default the server's (600) */
  timeoutSeconds?: number | undefined;
  /** Lifetime of the session in seconds (60–86400). @default the server's (86400) */
  maxTtlSeconds?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** What to save to reuse a session later (it holds a secret: keep it private). */
export interface SavedSession {
  entity: string;
  session: string;
}

/** The `s_login` of credentials: `login`, or `login!role` for a role user. */
export const loginOf = (credentials: CommandCredentials): string => {
  return credentials.role ? `${credentials.login}!${credentials.role}` : credentials.login;
};

/** Whether an EndSession ended the session, or the server did not know it (530). */
export const sessionEnded = (response: CommandResponse): boolean => response.isSuccess() || response.code === 530;

/** The session id a StartSession response hands out; undefined when the login failed. */
export const startedSession = (response: CommandResponse): string | undefined => {
  const id = response.property('SESSION');
  // A missing or empty one is none (property() gives a string or undefined).
  return response.isSuccess() && id ? id : undefined;
};

/** One command on its way: what every attempt and replay of it shares (one-letter keys: esbuild cannot shorten property names). */
interface Outgoing {
  /** The command's pairs. */
  c: [string, string][];
  /** Idempotent: may be retried and replayed (the option, else whether the command only reads). */
  i: boolean;
  /** The request's options. */
  o: CommandRequestOptions;
  /** `performance.now()` when `request()` was called. */
  s: number;
}

/**
 * What masks, in a text, the secrets of a request and of its response where the server echoed
 * them: the session id, password and otp, the values of the command's secret parameters
 * (`NEWPASSWORD`, ...) and of the response's secret properties (StartSession's new session id);
 * at most 64 (the request's first), so that a response with thousands of secret values cannot make
 * this slow. They are gathered once per response (its description, each record value of
 * `toJSON()` and the trace body share them). Each secret of 3 characters or more, and its trimmed
 * value when that still has 3 (the parser trims blanks off a description), longest first (a secret inside
 * another would leave the rest of that one unmasked), is masked where it appears as it is; in
 * text with a `%` or `+`, also URL- or form-encoded: each of its characters but an ASCII letter,
 * digit or `_` (which no encoder changes) as itself, as `+` or as `%` escapes in either case, one
 * for an ASCII character, one and its continuation bytes (`%80` to `%BF`) for any other. That is
 * a little more than exact encodings (`a+b` for `a.b` too, any escape for any such character),
 * and the escapes of one character never run into the next one's, so that a pattern cannot
 * backtrack over a run of them. Without a `%` or `+`, a text costs an `includes()` per secret: a
 * pattern is built only for a secret whose first run of letters, digits and `_` is in an encoded
 * text.
 */
const unechoer = (connection: ConnectionFields, pairs: readonly [string, string][], response: CommandResponse): (text: string) => string => {
  // Each secret and its trimmed value: 128 entries for 64 secrets.
  const secrets: string[] = [];
  const add = (secret?: string): void => {
    if (secret && secrets.length < 128) secrets.push(secret, secret.trim());
  };
  // The connection's session, password and otp, then the command's.
  add(connection.session);
  add(connection.password);
  add(connection.otp);
  for (const [key, value] of pairs) if (isSecretName(key)) add(value);
  for (const name of response.columns) if (isSecretName(name)) response.column(name).forEach(add);
  // Longest first.
  secrets.sort((a, b) => b.length - a.length);
  return (text) => {
    const encoded = /[%+]/.test(text);
    for (const secret of secrets) {
      // Encoded, a secret keeps its first run of letters, digits and `_`. Each other character is
      // escaped: nothing in a secret is read as regex syntax.
      if (secret.length > 2 && text.includes(encoded ? secret.replace(/\W[^]*/, '') : secret)) text = text.replaceAll(encoded ? RegExp(secret.replace(/\W/gu, '(?:\\$&|\\+|%[^89ABab]\\w(?:%[89ABab]\\w)*)'), 'g') : secret, MASK);
    }
    return text;
  };
};

const isText = (value: unknown): value is string => {
  return typeof value === 'string' && !!value;
};

/**
 * `value`, unless it is given (not null) and not a string: `INVALID_ARGUMENT` naming the option,
 * without the value (an otp or a session id is a secret). From plain JavaScript (a number as otp,
 * say), every request would fail with a TypeError otherwise.
 */
const textOption = <T,>(name: string, value: T): T => {
  if (value != null && typeof value !== 'string') throw invalidArgument(`${name} must be a string.`);
  return value;
};

/**
 * A client of the ISPAPI command protocol: form-encoded `s_command` requests over an undici
 * keep-alive pool, plain-text responses parsed into {@link CommandResponse}. `request()` never
 * throws for API results or transport failures (those become the synthetic 421/423 responses);
 * it rejects only for caller errors.
 *
 * @example
 * const client = new CommandClient({ system: 'ote', credentials: { login: 'demo', password }, highPerformance: true });
 * const response = await client.request({ COMMAND: 'CheckDomain', DOMAIN: 'example.com' });
 * if (response.code === 210) console.log('available');
 * for await (const page of client.pages({ COMMAND: 'QueryDomainList', LIMIT: 1000 })) handle(page.records);
 * await client.close();
 */
export class CommandClient {
  /** The system whose entity the client sends. */
  declare readonly system: IspapiSystem;
  /** The endpoint. */
  declare readonly url: string;
  /** The user agent the client sends. */
  declare readonly userAgent: string;

  // Made, and undici loaded, by the first request.
  #pool: Dispatcher | undefined;
  readonly #newPool: () => Dispatcher;
  // The path, method and headers of every request.
  readonly #target: { path: string; method: 'POST'; headers: Record<string, string> };
  readonly #logger: Logger;
  // How long to wait before the next attempt after a failure (the transport's error, else the answer's status;
  // `retries` done so far); undefined when it must not be retried.
  readonly #retryDelay: (error: unknown, status: number | undefined, readOnly: boolean, retries: number, after: number | undefined) => number | undefined;
  readonly #session: Session | undefined;
  // login, password and otp: the client's own, sent with each request without a session.
  readonly #credentials: ConnectionFields | undefined;
  readonly #remoteAddress: string | undefined;
  readonly #subuser: string | undefined;
  /** The entity of the client's system, which requests without a session (a login too) are sent to. */
  readonly #systemEntity: string;
  /** The entity of the session in use (`#sessionId`): a reused one's may be another system's. */
  #entity: string;
  #sessionId: string | undefined;
  // The last login() or logout() called, while it is not over: its StartSession command (none for
  // a logout()), which a login() with the same one shares, its promise and its signal (see #queue).
  #last: [string | undefined, Promise<CommandResponse>, AbortSignal | undefined] | undefined;
  // Set by close(): its promise, which every later close() returns.
  #closed: Promise<void> | undefined;
  // What wakes each request waiting for a retry or a login (see #wait); close() calls them.
  readonly #waiting = new Set<() => void>();

  constructor(options?: CommandClientOptions) {
    options = optionsOf(options);
    const system = options.system ?? 'live';
    if (!Object.hasOwn(ISPAPI_SYSTEMS, system)) {
      throw invalidArgument(`system must be 'live' or 'ote', not ${JSON.stringify(system)}.`);
    }
    this.system = system;
    const defaults = ISPAPI_SYSTEMS[system];
    this.#entity = this.#systemEntity = defaults.entity;
    const url = endpointUrl('url', options.url ?? defaults.url);
    this.url = url.href;

    const credentials = options.credentials;
    if (credentials != null) {
      if (!isText(credentials.login) || typeof credentials.password !== 'string') {
        throw invalidArgument('credentials need a login and a password.');
      }
      this.#credentials = { login: loginOf(credentials), password: credentials.password, otp: textOption('credentials.otp', credentials.otp) };
    }
    // Tested for truthiness: null, or false from `useSession && session`, counts as no Session.
    // Anything else but one (a session id, a token) used to answer every request with a 421.
    // Recognised by the methods this client calls.
    const session = options.session;
    if (session && (typeof session.getToken !== 'function' || typeof session.invalidate !== 'function')) {
      throw invalidArgument('session must have getToken() and invalidate().');
    }
    // Its identity says where its token is from. ispapiSessionAuthenticator's names the URL and
    // entity it logs in at, both made as this client makes its own (endpointUrl's href): another
    // one would send the login there and its session id here. The URLs are compared without query,
    // fragment or trailing slashes; the local proxy forwards to the system, so it stands for the
    // system's own URL (of the same entity, checked first). Quoted without what follows them (the
    // login). An oauth2() token is no ISPAPI session id. Any other identity is the caller's own.
    const identity = typeof session?.identity === 'string' ? session.identity : '';
    const [, at = '', entity] = /^ispapi (\S+) entity=(\S+) login=/.exec(identity) ?? [];
    const bare = (href: string): string => {
      const { origin, pathname } = new URL(href);
      let end = pathname.length;
      while (pathname[end - 1] === '/') end -= 1;
      return origin + pathname.slice(0, end);
    };
    const place = (href: string): string => (bare(href) === bare(ISPAPI_PROXY_URL) ? bare(defaults.url) : bare(href));
    if (URL.canParse(at) && (entity !== defaults.entity || place(at) !== place(this.url))) {
      throw invalidArgument(`session logs in at ${at} (entity ${entity}), but the client sends to ${this.url} (entity ${defaults.entity}): give ispapiSessionAuthenticator the same url and system.`);
    }
    if (identity.startsWith('oauth2 ')) {
      throw invalidArgument('session is an OAuth 2.0 session: its token is no ISPAPI session id (use ispapiSessionAuthenticator).');
    }
    this.#session = session;
    this.#remoteAddress = textOption('remoteAddress', options.remoteAddress);
    this.#subuser = textOption('subuser', options.subuser);
    const retry = options.retry ?? {};
    const given = typeof retry === 'object' ? retry : { retries: retry === false ? 0 : retry };
    // The REST client's key, which left the default two retries.
    if ('limit' in given) throw invalidArgument("retry takes { retries }, not limit (ky's option, for createApiClient).");
    const baseDelayMs = wholeNumber('retry.baseDelayMs', given.baseDelayMs, 100);
    const maxRetries = wholeNumber('retry.retries', given.retries, 2);
    // Not below the base, the default included: a baseDelayMs above 2000 needs a maxDelayMs too.
    const maxDelayMs = wholeNumber('retry.maxDelayMs', given.maxDelayMs, 2000, baseDelayMs);
    const maxRetryAfterMs = wholeNumber('retry.maxRetryAfterMs', given.maxRetryAfterMs, 60_000);
    this.#retryDelay = (error, status, readOnly, retries, after) => {
      // Retried: a transport error that is safe to retry; else, for a read-only command, 408, 429, 500,
      // 502, 503 or 504 (test() reads no status as "undefined", none of them), unless its Retry-After is
      // too long (none compares false). One of an hour or more is read as the hour (parseRetryAfter's
      // cap): whatever maxRetryAfterMs says, it may be longer, and a retry after the hour too early.
      if (
        retries >= maxRetries ||
        !(error === undefined ? readOnly && /^(408|429|50[0234])$/.test(status as unknown as string) : isRetryableError(error, readOnly)) ||
        (after as unknown as number) > Math.min(maxRetryAfterMs, 3_599_999)
      ) {
        return undefined;
      }
      // After the answer's Retry-After (a transport error has none), else the backoff.
      return after ?? Math.round(((1 + Math.random()) * Math.min(maxDelayMs, baseDelayMs * 2 ** retries)) / 2);
    };
    this.#newPool = dispatcherFactory(url.origin, options, wholeNumber('timeoutMs', options.timeoutMs, 300_000), wholeNumber('connectTimeoutMs', options.connectTimeoutMs, 10_000), wholeNumber('maxResponseBytes', options.maxResponseBytes, 2 ** 26, 1));
    this.#logger = loggerOption(options.logger) ?? (options.debug === true ? createLogger({ level: 'debug' }) : silentLogger);
    const userAgent = typeof options.userAgent === 'string' ? options.userAgent : formatUserAgent(options.userAgent);
    // A header value: CR or LF would inject headers; undici refuses control characters and anything beyond Latin-1.
    if (/[^ -~\xa0-\xff]/.test(userAgent)) {
      throw invalidArgument('userAgent must be Latin-1 without control characters.');
    }
    this.userAgent = userAgent;
    this.#target = { method: 'POST', path: url.pathname + url.search, headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': userAgent } };
  }

  /** The entity (`54cd` live, `1234` OT&E) the client sends: its session's, else its system's. */
  get entity(): string {
    return this.#sessionId ? this.#entity : this.#systemEntity;
  }

  /** Whether a session started by `login()` (or reused) is in use. */
  get loggedIn(): boolean {
    return !!this.#sessionId;
  }

  /**
   * Send one command. Resolves with the API's response, or with a synthetic 421/423 for a
   * transport failure (with `httpStatus`, `cause`, `attempt`, `durationMs`). Rejects only with
   * `HttpClientError`: `INVALID_ARGUMENT` (a command or option that cannot be sent), `ABORTED`,
   * `CLOSED`, `INVALID_STATE` (a Session that cannot log in: misconfigured); or with what a getter
   * of `command` throws: an Error as it is, anything else in an `Error` whose `cause` it is.
   */
  request(command: Readonly<Record<string, unknown>>, options?: CommandRequestOptions): Promise<CommandResponse> {
    try {
      return this.#send(flattenCommand(command), optionsOf(options));
    } catch (error) {
      // An Error, whatever a caller's getter threw.
      return Promise.reject(error instanceof Error ? error : Error(String(error), { cause: error }));
    }
  }

  /**
   * Every page of a list command (`Query…List`), one response each. Starts at the command's
   * `FIRST` (or 0) and asks for `FIRST = LAST + 1` next, keeping the command exactly as it
   * was sent (the caller's object is never changed, masked values are never re-sent). Stops
   * after the last page, on a response that is not a success, without `TOTAL`, with
   * `LIMIT <= 0`, or when the window does not advance; the failed response is yielded, but not a
   * later page whose answer names another `FIRST` than the one asked for (a server that ignores
   * it). An answer without `FIRST` cannot be checked: a server that ignores `FIRST` without naming
   * one has its first page yielded twice before the window is found not to advance.
   *
   * @example
   * for await (const page of client.pages({ COMMAND: 'QueryDomainList', LIMIT: 1000 })) {
   *   for (const record of page.records) console.log(record.DOMAIN);
   * }
   */
  async *pages(command: Readonly<Record<string, unknown>>, options?: PagesOptions): AsyncGenerator<CommandResponse, void, undefined> {
    options = optionsOf(options);
    const pairs = flattenCommand(command);
    const maxPages = wholeNumber('maxPages', options.maxPages, 10_000);
    let firstIndex = pairs.findIndex(([key]) => key === 'FIRST');
    // Without FIRST, each page's is added at the end.
    if (firstIndex < 0) firstIndex = pairs.length;
    // undefined (no FIRST) reads as "undefined": 0.
    const given: unknown = pairs[firstIndex]?.[1].trim();
    let first = /^\d+$/.test(given as string) ? +(given as string) : 0;
    for (let page = 0; page < maxPages; page++) {
      // A copy per page: each response keeps the command it was sent with.
      const response = await this.#send(pairs.toSpliced(firstIndex, 1, ['FIRST', String(first)]), options);
      // A later page whose window did not advance (a server that ignores FIRST) is not yielded:
      // its records would repeat.
      if (page && response.isSuccess() && response.property('FIRST') !== undefined && response.pagination?.first !== first) return;
      yield response;
      // Undefined after an error, without TOTAL, and so on (see Pagination.hasNext).
      const nextFirst = response.pagination?.nextFirst ?? 0;
      // `first` is 0 or more: 0 (no next page) is not above it.
      if (nextFirst <= first) return;
      first = nextFirst;
    }
  }

  /**
   * StartSession with the credentials; on success the client sends the session id instead of
   * login, password and otp from now on, until the server answers 530 for it: then the client
   * forgets it and replays a read-only command once with the credentials. Resolves with the StartSession response. login() and
   * {@link logout} take effect in call order: each one's request waits until those called before
   * it are over (its `signal` and {@link close} end that wait at once). A login() called right
   * after another one with the same options, while that one is not over and its signal has not
   * fired, sends nothing: it resolves with that login's response or rejects as it does, with
   * `ABORTED` too when the first caller's `signal` fires (give the calls the same signal, or
   * none); its own `signal` and {@link close} end only its own wait. With a session in use already, a new one replaces it and
   * the old one stays open on the server until it times out (it may be shared through
   * {@link saveSession}): call {@link logout} first to end it.
   */
  async login(options?: LoginOptions): Promise<CommandResponse> {
    options = optionsOf(options);
    this.#refuseWithSession();
    if (!this.#credentials) throw new HttpClientError('INVALID_STATE', 'login() needs the credentials option.');
    const signal = options.signal;
    // The server checks the ranges of TIMEOUT and MAXTTL.
    const command = flattenCommand({ COMMAND: 'StartSession', TIMEOUT: options.timeoutSeconds, MAXTTL: options.maxTtlSeconds });
    const key = String(command);
    const last = this.#last;
    // The login just before with the same command is shared, unless its signal has fired (it is
    // doomed, and this call comes after that). close() and this call's signal end only this call's
    // wait (and a signal that is not an AbortSignal is refused), not the login it waits for.
    if (last?.[0] === key && !last[2]?.aborted) return this.#wait(last[1], signal);
    return this.#queue(signal, async () => {
      // An empty session id: the credentials, even when a session is in use.
      const response = await this.#send(command, { signal, sessionId: '' });
      const started = startedSession(response);
      // A session of this client's system, where the login went (not a reused session's).
      if (started) {
        this.#sessionId = started;
        this.#entity = this.#systemEntity;
      }
      return response;
    }, key);
  }

  /**
   * EndSession; the client forgets the session when the server ended it or did not know it.
   * It is sent once the login() and logout() calls made before it are over (its `signal` and
   * {@link close} end that wait at once), so that it ends the session they leave. Without a
   * session, resolves with the synthetic `530 SESSION NOT FOUND`.
   */
  async logout(options?: { signal?: AbortSignal | undefined }): Promise<CommandResponse> {
    options = optionsOf(options);
    this.#refuseWithSession();
    return this.#queue(options.signal, async () => {
      const ended = this.#sessionId;
      if (!ended) return syntheticResponse(530, SESSION_NOT_FOUND, { url: this.url });
      const response = await this.#send([['COMMAND', 'EndSession']], { signal: options.signal });
      // Not a session reuseSession() set meanwhile.
      if (sessionEnded(response) && this.#sessionId === ended) this.#sessionId = undefined;
      return response;
    });
  }

  /** `{ entity, session }` of the session in use, to reuse it later; undefined without one. */
  saveSession(): SavedSession | undefined {
    return this.#sessionId ? { entity: this.#entity, session: this.#sessionId } : undefined;
  }

  /**
   * Use a saved session: sets both its entity and its id. Not on a client with a Session, whose
   * token it would be sent with (as with {@link login}), nor while a {@link login} or {@link logout}
   * is not over (`INVALID_STATE`): it would end or replace the session set here.
   */
  reuseSession(saved: SavedSession): void {
    this.#refuseWithSession();
    if (this.#last) throw new HttpClientError('INVALID_STATE', 'Await login() and logout() before reuseSession().');
    // null (plain JavaScript) is refused like any other bad value, not with a TypeError.
    if (!isText((saved as SavedSession | null)?.entity) || !isText(saved.session)) {
      throw invalidArgument('A saved session needs an entity and a session id.');
    }
    this.#entity = saved.entity;
    this.#sessionId = saved.session;
  }

  /**
   * Close the pool once the requests in flight are done. Nothing is sent after that: later
   * requests reject with `CLOSED`, and so do, at once, the requests waiting for a retry (backoff
   * or `Retry-After`) or for their Session's login. Every call returns the first call's promise.
   */
  close(): Promise<void> {
    // The pool sends nothing more, and finishes the requests in flight.
    this.#closed ??= Promise.resolve(this.#pool?.close());
    // Once it is set, so that they reject with CLOSED. Nothing waits after the first call (#wait
    // refuses then), but those it woke, whose rejection is already settled.
    for (const wake of this.#waiting) wake();
    return this.#closed;
  }

  /**
   * Throws `INVALID_ARGUMENT` for a signal that is not an AbortSignal (from plain JavaScript),
   * `CLOSED` once the client is closed and `ABORTED` once `signal` fired: nothing is sent after that.
   */
  #refuse(signal: AbortSignal | undefined): void {
    if (signal != null && !(signal instanceof AbortSignal)) throw invalidArgument('signal must be an AbortSignal.');
    if (this.#closed) throw new HttpClientError('CLOSED', 'The client is closed.');
    if (signal?.aborted) throw new HttpClientError('ABORTED', 'Aborted by the signal.', { cause: signal.reason });
  }

  #refuseWithSession(): void {
    if (this.#session) {
      throw new HttpClientError('INVALID_STATE', 'This client has a Session: use session.start() and session.end().');
    }
  }

  // Not async itself: without a Session the request goes straight to #exchange.
  #send(pairs: [string, string][], options: CommandRequestOptions): Promise<CommandResponse> {
    // Throws rather than rejecting: request() and the async callers turn that into a rejection.
    wholeNumber('timeoutMs', options.timeoutMs, 0);
    textOption('remoteAddress', options.remoteAddress);
    textOption('subuser', options.subuser);
    this.#refuse(options.signal);
    const outgoing: Outgoing = {
      c: pairs,
      // The commands that only read (Check…, Query…, Status…, Get…; blanks before them allowed) are safe to retry.
      // The first pair is always COMMAND; none would read as "undefined", which is none of them either.
      // Given, only true retries (a string "false" from a config file is no yes).
      i: ((options.idempotent as unknown) ?? /^\s*(?:Check|Query|Status|Get)/i.test(pairs[0]?.[1] as unknown as string)) === true,
      o: options,
      s: performance.now(),
    };
    // Straight to #exchange with the given session id or the credentials alone.
    if (textOption('sessionId', options.sessionId) != null || !(this.#session || this.#sessionId)) return this.#exchange(outgoing, options.sessionId, 1);
    return this.#sendInSession(outgoing);
  }

  // With the Session's token, else the session login() started. After a 530 the token is invalidated
  // (the session forgotten), and a read-only command is replayed once with a new one (the credentials),
  // its attempts numbered on from the first ones.
  async #sendInSession(outgoing: Outgoing, attempt = 1): Promise<CommandResponse> {
    const session = this.#session;
    let token: Token | undefined;
    if (session) try {
      token = await this.#wait(session.getToken(), outgoing.o.signal);
    } catch (error) {
      if (HttpClientError.isInstance(error)) throw error; // closed or aborted while waiting for the login
      const detail: ResponseDetail = { url: this.url, durationMs: performance.now() - outgoing.s, cause: error };
      if (AuthError.isInstance(error)) {
        if (error.cause instanceof CommandResponse) return error.cause;
        if (error.code === 'CONFIGURATION') {
          // Its message says what (AuthError messages hold no secret).
          throw new HttpClientError('INVALID_STATE', `The Session is misconfigured: ${error.message}`, { cause: error });
        }
        if (error.code === 'INVALID_CREDENTIALS') return syntheticResponse(530, SESSION_NOT_FOUND, detail);
      }
      return syntheticResponse(421, HTTP_ERROR, detail);
    }
    const id = token?.value ?? this.#sessionId;
    const response = await this.#exchange(outgoing, id, attempt);
    // A made-up response is never a 530 here: #exchange makes up only 421 and 423.
    // No touch(): getToken() recorded the use, no later than the server saw it. A use dated when
    // the answer came (a slow one) kept handing out a session the server had idled out since, and
    // a failed request (a 421) is no use at all.
    if (response.code !== 530) return response;
    if (token) session?.invalidate(token);
    // The credentials refused: nothing to replay with.
    else if (!id) return response;
    // Forgotten unless a login() or reuseSession() set another meanwhile (the replay uses that one).
    else if (this.#sessionId === id) this.#sessionId = undefined;
    // Not after a replay (whose first attempt is not the first).
    if (attempt > 1 || !outgoing.i || !(session || this.#sessionId || this.#credentials)) return response;
    return this.#sendInSession(outgoing, response.attempt + 1);
  }

  async #exchange(outgoing: Outgoing, session: string | undefined, firstAttempt: number): Promise<CommandResponse> {
    const { c: pairs, o: options } = outgoing;
    const signal = options.signal;
    const connection: ConnectionFields = {
      // What `entity` reports: the session in use's, else this client's system's. Not the system of
      // a session reused and since ended, which the credentials (a login) or a per-request
      // `sessionId` would go to (through a proxy URL, the entity alone tells the systems apart).
      entity: session && this.#sessionId ? this.#entity : this.#systemEntity,
      remoteAddress: options.remoteAddress ?? this.#remoteAddress,
      session,
      user: options.subuser ?? this.#subuser,
      // Spread last, as above.
      ...this.#credentials,
    };
    const body = encodeRequestBody(connection, commandTextOf(pairs));
    for (let attempt = firstAttempt; ; attempt++) {
      // Nothing is sent after close() or the abort (a request that waited for its login, a retry), and no new pool is made.
      this.#refuse(signal);
      // What the attempt got: the answer's status, Retry-After and text, set once its body is read;
      // else the transport's error (and empty text).
      let status: number | undefined;
      let retryAfter: string | string[] | undefined;
      let text = '';
      let error: unknown;
      try {
        const answer = await (this.#pool ??= this.#newPool()).request({
          signal: signal ?? null,
          body,
          // A per-request timeout replaces the pool's; null keeps the pool's.
          headersTimeout: options.timeoutMs ?? null,
          bodyTimeout: options.timeoutMs ?? null,
          // Spread last: on Node 20, an object literal that starts with a spread and adds properties
          // after it costs about 3 µs to build (V8 11), a third of this client's own time per request.
          ...this.#target,
        });
        text = await answer.body.text();
        status = answer.statusCode;
        retryAfter = answer.headers['retry-after'];
      } catch (thrown) {
        error = thrown;
      }
      if (signal?.aborted) throw new HttpClientError('ABORTED', 'Aborted by the signal.', { cause: signal.reason });
      const detail: ResponseDetail = {
        url: this.url,
        durationMs: performance.now() - outgoing.s,
        // The transport's error: none (undefined) with a 2xx answer.
        cause: error,
        attempt,
        httpStatus: status,
        command: () => Object.fromEntries(maskPairs(pairs)),
        // A secret the server echoed (`530 ... password hunter2`) is masked in the description and
        // toJSON(); the properties (a StartSession's new session id) stay as they are.
        unecho: (response) => unechoer(connection, pairs, response),
      };
      let response: CommandResponse;
      let retryInMs: number | undefined;
      // No status (undefined) compares false: not 2xx either.
      const ok = (status as unknown as number) >= 200 && (status as unknown as number) < 300;
      if (ok) {
        response = parseResponse(text, detail);
      } else {
        response = syntheticResponse(421, HTTP_ERROR, { ...detail, retryAfterMs: parseRetryAfter([retryAfter].flat()[0] ?? null, Date.now()) });
        // The retries so far: the attempts after the first of this call.
        retryInMs = this.#retryDelay(error, status, outgoing.i, attempt - firstAttempt, response.retryAfterMs);
      }
      // One debug entry per attempt. What the logger throws changes nothing (see logSafely).
      const logger = this.#logger;
      logSafely(() => {
        if (logger.isLevelEnabled('debug')) {
          const fields: Record<string, unknown> = {
            system: this.system,
            entity: connection.entity,
            url: this.url,
            command: response.command,
            status,
            code: response.code,
            description: response.description,
            runtime: response.runtime,
            queuetime: response.queuetime,
            durationMs: Math.round(response.durationMs * 1000) / 1000,
            attempt,
          };
          if (error !== undefined) fields.error = errorSummary(error);
          if (retryInMs !== undefined) fields.retryInMs = retryInMs;
          if (logger.isLevelEnabled('trace')) {
            // The request body as it would be sent, with `s_pw`, `s_session`, `s_otp` and secret command values masked.
            fields.post = encodeRequestBody(
              { ...connection, password: connection.password && MASK, session: connection.session && MASK, otp: connection.otp && MASK },
              commandTextOf(maskPairs(pairs)),
            );
            // Masked first: redaction may change part of a secret (`token=42` in a password), which then would not be found.
            // The response's secrets where it echoes them; a made-up response has none, so for a body that
            // became one (cut off before its EOF line, say) those of the body read up to its end, as whole.
            // A 2xx body that became one also has every line's value masked: the secret lines it lost (a
            // new session id, cut off in or before its line) may be echoed before the cut, in a description.
            fields.body = redactResponseText(unechoer(connection, pairs, response.synthetic ? parseResponse(text + '\nEOF') : response)(error === undefined ? text : response.raw), ok && response.synthetic);
          }
          logger.debug(COMMAND_LOG_MESSAGE, fields);
        }
      });
      if (retryInMs === undefined) return response;
      // The backoff or Retry-After wait: close() and the signal end it at once.
      let timer: NodeJS.Timeout | undefined;
      await this.#wait(
        new Promise((resolve) => (timer = setTimeout(resolve, retryInMs))),
        signal,
      ).finally(() => {
        clearTimeout(timer);
      });
    }
  }

  /**
   * `run` once the login() and logout() calls made before are over, however they end; close()
   * and `signal` end the wait at once. `key` is a login()'s StartSession command.
   */
  #queue(signal: AbortSignal | undefined, run: () => Promise<CommandResponse>, key?: string): Promise<CommandResponse> {
    const before = this.#last?.[1];
    // At once when none is left (like a request: a close() right after it lets it finish), else
    // after the one before, however it ends, so that each settles after all those before it.
    // One stopped by its signal while it waited sends nothing: it is over as soon as the one
    // before it is, before the callers waiting for that one go on (reuseSession() may follow them).
    const next = (): Promise<CommandResponse> => {
      if (signal?.aborted) over();
      return run();
    };
    const call = before ? before.then(next, next) : run();
    const over = (): void => {
      // The next login() starts a session again. This runs before the callers waiting for this one go on.
      if (this.#last?.[1] === call) this.#last = undefined;
    };
    void call.then(over, over);
    this.#last = [key, call, signal];
    // Queued: close() and the signal end the wait for those before it at once; once its own request
    // runs, that request finishes like any other.
    return before ? this.#wait(before.catch(() => 0), signal).then(() => call) : call;
  }

  /** `promise`, or a rejection with `CLOSED` or `ABORTED` as soon as close() is called or `signal` fires (the work behind `promise` goes on). */
  #wait<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let wake!: () => void;
    return new Promise<T>((resolve, reject: (error: Error) => void) => {
      promise.then(resolve, reject);
      // Closed or aborted already (by the logger, say): rejects at once.
      this.#refuse(signal);
      // Called by close() (once it is closed) or the abort: #refuse throws CLOSED or ABORTED.
      wake = () => {
        try {
          this.#refuse(signal);
        } catch (error) {
          reject(error as Error);
        }
      };
      this.#waiting.add(wake);
      signal?.addEventListener('abort', wake);
    }).finally(() => {
      this.#waiting.delete(wake);
      // Not there when #refuse threw for a signal that is not an AbortSignal (login(), logout()).
      (signal as Partial<AbortSignal> | undefined)?.removeEventListener?.('abort', wake);
    });
  }
}
