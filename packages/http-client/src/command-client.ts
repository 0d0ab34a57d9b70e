import { performance } from 'node:perf_hooks';
import { AuthError, type Session, type Token } from '@sessionkit/core-session';
import { createLogger, type Logger, silentLogger } from '@sessionkit/logger';
import type { Dispatcher, Pool } from 'undici';
import { CommandResponse } from './command-response.js';
import { commandTextOf, flattenCommand } from './encode-command.js';
import { HttpClientError } from './http-client-error.js';
import { parseResponse, type ResponseDetail, syntheticResponse } from './parse-response.js';
import { maskedCommand, maskedPost, redactResponseText, redactText } from './redaction.js';
import { type ConnectionFields, encodeConnectionFields, encodeFormComponent } from './request-body.js';
import { classifyError, createPool, type TlsOptions } from './transport.js';
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

/** Retries of failed transports (never of API results). */
export interface CommandRetryOptions {
  /** Retries after the first attempt. @default 2 */
  retries?: number | undefined;
  /** Backoff before the first retry, doubled for each further one, with jitter. @default 100 */
  baseDelayMs?: number | undefined;
  /** The longest backoff. @default 2000 */
  maxDelayMs?: number | undefined;
  /** A `Retry-After` longer than this is not waited for: the failure is returned instead. @default 60000 */
  maxRetryAfterMs?: number | undefined;
}

/** Options of {@link CommandClient}. */
export interface CommandClientOptions {
  /** The system: its URL and entity. @default 'live' */
  system?: IspapiSystem | undefined;
  /** Another URL (a sandbox, the local proxy {@link ISPAPI_PROXY_URL}); the entity stays the system's. */
  url?: string | undefined;
  /** Login and password; the client sends them with each request until `login()` starts a session. */
  credentials?: CommandCredentials | undefined;
  /**
   * A core-session `Session` whose authenticator logs in with StartSession (see
   * `ispapiSessionAuthenticator`). The client sends its token as `s_session`; after a 530 it
   * invalidates the token, and replays read-only commands once with a new one.
   */
  session?: Session | undefined;
  /** `s_remoteaddr`: the end customer's IP address, for accounts with an IP filter. */
  remoteAddress?: string | undefined;
  /** `s_user`: view the data of this subuser. */
  subuser?: string | undefined;
  /**
   * One keep-alive pool of bounded size for this client, with idle connections kept for 60 s.
   * Without it, connections are still reused but closed after 4 s idle, and not bounded.
   * @default false ({ connections: 16 } when true)
   */
  highPerformance?: boolean | { connections?: number | undefined } | undefined;
  /** Certificates to trust (PEM), such as `sandbox.certificate`. Shorthand for `tls.ca`. */
  ca?: TlsOptions['ca'];
  /** TLS settings of the connections. */
  tls?: TlsOptions | undefined;
  /** Response timeout: how long to wait for the answer's headers, and then between parts of its body. @default 300000 */
  timeoutMs?: number | undefined;
  /** How long connecting (TCP and TLS) may take. @default 10000 */
  connectTimeoutMs?: number | undefined;
  /** Retries of transport failures that are safe to retry; `false` or `0` for none. @default { retries: 2 } */
  retry?: number | false | CommandRetryOptions | undefined;
  /** Where the debug entries go. @default silentLogger */
  logger?: Logger | undefined;
  /** Without a `logger`: log every request to standard error at debug level. @default false */
  debug?: boolean | undefined;
  /** The user agent, verbatim, or parts for the SDK format. @default 'sessionkit (platform; arch; rv:version) sessionkit-http-client/version node/vX' */
  userAgent?: string | UserAgentParts | undefined;
}

/** Options of one request. */
export interface CommandRequestOptions {
  /** Cancels the request; `request()` then rejects with `HttpClientError('ABORTED')`. */
  signal?: AbortSignal | undefined;
  /** The response timeout of this request. */
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
   * without the client's core-session `Session`.
   */
  sessionId?: string | undefined;
}

/** Options of {@link CommandClient.pages}. */
export interface PagesOptions extends CommandRequestOptions {
  /** Stop after this many pages. @default 10000 */
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

const READ_ONLY = /^(?:Check|Query|Status|Get)/i;
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const FORM_HEADERS = 'application/x-www-form-urlencoded';

/** Whether a command only reads (Check…, Query…, Status…, Get…), so that retrying it is safe. */
export function isReadOnlyCommand(name: string): boolean {
  return READ_ONLY.test(name.trim());
}

interface Attempt {
  status: number | undefined;
  headers: Record<string, string | string[] | undefined> | undefined;
  text: string;
  error: unknown;
}

interface ResolvedRetry {
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxRetryAfterMs: number;
}

function resolveRetry(retry: CommandClientOptions['retry']): ResolvedRetry {
  const defaults = { retries: 2, baseDelayMs: 100, maxDelayMs: 2000, maxRetryAfterMs: 60_000 };
  if (retry === undefined) return defaults;
  if (retry === false) return { ...defaults, retries: 0 };
  if (typeof retry === 'number') return { ...defaults, retries: retry };
  return {
    retries: retry.retries ?? defaults.retries,
    baseDelayMs: retry.baseDelayMs ?? defaults.baseDelayMs,
    maxDelayMs: retry.maxDelayMs ?? defaults.maxDelayMs,
    maxRetryAfterMs: retry.maxRetryAfterMs ?? defaults.maxRetryAfterMs,
  };
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new HttpClientError('INVALID_ARGUMENT', `${name} must be a finite number of 0 or more, not ${String(value)}.`);
  }
  return value;
}

/** Milliseconds to wait from a `Retry-After` header (seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\s*\d+(?:\.\d+)?\s*$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal === undefined) {
      setTimeout(resolve, ms);
      return;
    }
    if (signal.aborted) {
      reject(aborted(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(aborted(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function aborted(signal: AbortSignal): HttpClientError {
  return new HttpClientError('ABORTED', 'The request was aborted by its signal.', { cause: signal.reason });
}

/** The Session's token; a caller's signal stops the wait (the login itself goes on for the others). */
function tokenOf(session: Session, signal: AbortSignal | undefined): Promise<Token> {
  const pending = session.getToken();
  if (signal === undefined) return pending;
  if (signal.aborted) return Promise.reject(aborted(signal));
  return new Promise<Token>((resolve, reject) => {
    const onAbort = (): void => {
      reject(aborted(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (token) => {
        signal.removeEventListener('abort', onAbort);
        resolve(token);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(asError(error));
      },
    );
  });
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error), { cause: error });
}

function errorSummary(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: redactText(String(error)) };
  const code = classifyError(error).code;
  return { name: error.name, ...(code === undefined ? {} : { code }), message: redactText(error.message) };
}

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
  readonly system: IspapiSystem;
  /** The endpoint. */
  readonly url: string;

  readonly #origin: string;
  readonly #path: string;
  readonly #pool: Pool;
  readonly #headers: Record<string, string>;
  readonly #logger: Logger;
  readonly #retry: ResolvedRetry;
  readonly #responseTimeoutMs: number;
  readonly #session: Session | undefined;
  readonly #login: string | undefined;
  readonly #password: string | undefined;
  readonly #otp: string | undefined;
  readonly #remoteAddress: string | undefined;
  readonly #subuser: string | undefined;
  #entity: string;
  #sessionId: string | undefined;
  #closed = false;
  // The encoded connection fields of the latest request: they rarely change between requests.
  #encodedFor: ConnectionFields | undefined;
  #encoded = '';

  constructor(options: CommandClientOptions = {}) {
    const system = options.system ?? 'live';
    if (!Object.hasOwn(ISPAPI_SYSTEMS, system)) {
      throw new HttpClientError('INVALID_ARGUMENT', `system must be 'live' or 'ote', not ${JSON.stringify(system)}.`);
    }
    this.system = system;
    this.#entity = ISPAPI_SYSTEMS[system].entity;
    let url: URL;
    try {
      url = new URL(options.url ?? ISPAPI_SYSTEMS[system].url);
    } catch (error) {
      throw new HttpClientError('INVALID_ARGUMENT', 'url is not a valid URL.', { cause: error });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new HttpClientError('INVALID_ARGUMENT', `url must be http: or https:, not ${url.protocol}`);
    }
    if (url.username !== '' || url.password !== '') {
      throw new HttpClientError('INVALID_ARGUMENT', 'url must not hold credentials; use the credentials option.');
    }
    this.url = url.href;
    this.#origin = url.origin;
    this.#path = `${url.pathname}${url.search}`;

    const credentials = options.credentials;
    if (credentials !== undefined) {
      if (typeof credentials.login !== 'string' || credentials.login === '' || typeof credentials.password !== 'string') {
        throw new HttpClientError('INVALID_ARGUMENT', 'credentials need a login and a password.');
      }
      this.#login = credentials.role === undefined || credentials.role === '' ? credentials.login : `${credentials.login}!${credentials.role}`;
      this.#password = credentials.password;
      this.#otp = credentials.otp;
    }
    this.#session = options.session;
    this.#remoteAddress = options.remoteAddress;
    this.#subuser = options.subuser;
    this.#retry = resolveRetry(options.retry);
    nonNegative('retry.retries', this.#retry.retries, 0);
    this.#responseTimeoutMs = nonNegative('timeoutMs', options.timeoutMs, 300_000);
    const connectTimeoutMs = nonNegative('connectTimeoutMs', options.connectTimeoutMs, 10_000);
    this.#logger = options.logger ?? (options.debug === true ? createLogger({ level: 'debug' }) : silentLogger);

    const highPerformance = options.highPerformance;
    const enabled = highPerformance === true || (typeof highPerformance === 'object');
    const connections = enabled ? (typeof highPerformance === 'object' ? highPerformance.connections : undefined) ?? 16 : undefined;
    if (connections !== undefined && !(Number.isInteger(connections) && connections >= 1)) {
      throw new HttpClientError('INVALID_ARGUMENT', 'highPerformance.connections must be a whole number of 1 or more.');
    }
    const tls: TlsOptions = { ...options.tls, ...(options.ca === undefined ? {} : { ca: options.ca }) };
    this.#pool = createPool(this.#origin, {
      highPerformance: enabled,
      connections,
      connectTimeoutMs,
      responseTimeoutMs: this.#responseTimeoutMs,
      tls,
    });
    const userAgent = typeof options.userAgent === 'string' ? options.userAgent : formatUserAgent(options.userAgent);
    this.#headers = { 'content-type': FORM_HEADERS, 'user-agent': userAgent };
  }

  /** The entity (`54cd` live, `1234` OT&E) the client sends. */
  get entity(): string {
    return this.#entity;
  }

  /** The user agent the client sends. */
  get userAgent(): string {
    return this.#headers['user-agent'] ?? '';
  }

  /** Whether a session started by `login()` (or reused) is in use. */
  get loggedIn(): boolean {
    return this.#sessionId !== undefined;
  }

  /**
   * Send one command. Resolves with the API's response, or with a synthetic 421/423 for a
   * transport failure (with `httpStatus`, `cause`, `attempt`, `durationMs`). Rejects only with
   * `HttpClientError`: `INVALID_ARGUMENT` (a command that cannot be sent), `ABORTED`, `CLOSED`.
   */
  request(command: Readonly<Record<string, unknown>>, options: CommandRequestOptions = {}): Promise<CommandResponse> {
    let pairs: [string, string][];
    try {
      pairs = flattenCommand(command);
    } catch (error) {
      return Promise.reject(asError(error));
    }
    return this.#send(pairs, options, false);
  }

  /**
   * Every page of a list command (`Query…List`), one response each. Starts at the command's
   * `FIRST` (or 0) and asks for `FIRST = LAST + 1` next, keeping the command exactly as it
   * was sent (the caller's object is never changed, masked values are never re-sent). Stops
   * after the last page, on a response that is not a success, without `TOTAL`, with
   * `LIMIT <= 0`, or when the window does not advance; the failed response is yielded.
   *
   * @example
   * for await (const page of client.pages({ COMMAND: 'QueryDomainList', LIMIT: 1000 })) {
   *   for (const record of page.records) console.log(record.DOMAIN);
   * }
   */
  async *pages(command: Readonly<Record<string, unknown>>, options: PagesOptions = {}): AsyncGenerator<CommandResponse, void, undefined> {
    const pairs = flattenCommand(command);
    const maxPages = nonNegative('maxPages', options.maxPages, 10_000);
    const firstIndex = pairs.findIndex(([key]) => key === 'FIRST');
    const given = firstIndex === -1 ? undefined : pairs[firstIndex]?.[1];
    let first = given !== undefined && /^\d+$/.test(given.trim()) ? Number(given) : 0;
    for (let page = 0; page < maxPages; page += 1) {
      const pagePairs = pairs.map((pair): [string, string] => [pair[0], pair[1]]);
      if (firstIndex === -1) pagePairs.push(['FIRST', String(first)]);
      else pagePairs[firstIndex] = ['FIRST', String(first)];
      const response = await this.#send(pagePairs, options, false);
      yield response;
      const pagination = response.pagination;
      if (!response.isSuccess() || pagination?.nextFirst === undefined || pagination.nextFirst <= first) return;
      first = pagination.nextFirst;
    }
  }

  /**
   * StartSession with the credentials; on success the client sends the session id instead of
   * login, password and otp from now on. Resolves with the StartSession response.
   */
  async login(options: LoginOptions = {}): Promise<CommandResponse> {
    if (this.#session !== undefined) {
      throw new HttpClientError('INVALID_STATE', 'This client\'s sessions are managed by its Session: use session.start() and session.end().');
    }
    if (this.#login === undefined) throw new HttpClientError('INVALID_STATE', 'login() needs the credentials option.');
    const pairs: [string, string][] = [['COMMAND', 'StartSession']];
    if (options.timeoutSeconds !== undefined) pairs.push(['TIMEOUT', String(nonNegative('timeoutSeconds', options.timeoutSeconds, 0))]);
    if (options.maxTtlSeconds !== undefined) pairs.push(['MAXTTL', String(nonNegative('maxTtlSeconds', options.maxTtlSeconds, 0))]);
    const response = await this.#send(pairs, { signal: options.signal }, true);
    const id = response.isSuccess() ? response.property('SESSION') : undefined;
    if (id !== undefined && id !== '') this.#sessionId = id;
    return response;
  }

  /**
   * EndSession; the client forgets the session when the server ended it or did not know it.
   * Without a session, resolves with the synthetic `530 SESSION NOT FOUND`.
   */
  async logout(options: { signal?: AbortSignal | undefined } = {}): Promise<CommandResponse> {
    if (this.#session !== undefined) {
      throw new HttpClientError('INVALID_STATE', 'This client\'s sessions are managed by its Session: use session.end().');
    }
    if (this.#sessionId === undefined) return syntheticResponse('sessionNotFound', { url: this.url, attempt: 1 });
    const response = await this.#send([['COMMAND', 'EndSession']], { signal: options.signal }, false);
    if (response.isSuccess() || response.code === 530) this.#sessionId = undefined;
    return response;
  }

  /** `{ entity, session }` of the session in use, to reuse it later; undefined without one. */
  saveSession(): SavedSession | undefined {
    return this.#sessionId === undefined ? undefined : { entity: this.#entity, session: this.#sessionId };
  }

  /** Use a saved session: sets both its entity and its id. */
  reuseSession(saved: SavedSession): void {
    if (typeof saved.entity !== 'string' || saved.entity === '' || typeof saved.session !== 'string' || saved.session === '') {
      throw new HttpClientError('INVALID_ARGUMENT', 'A saved session needs an entity and a session id.');
    }
    this.#entity = saved.entity;
    this.#sessionId = saved.session;
  }

  /** Close the pool once the requests in flight are done; later requests reject with `CLOSED`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.close();
  }

  // Not async itself: without a Session the request goes straight to #exchange.
  #send(pairs: [string, string][], options: CommandRequestOptions, credentialsOnly: boolean): Promise<CommandResponse> {
    if (this.#closed) return Promise.reject(new HttpClientError('CLOSED', 'The client is closed.'));
    const signal = options.signal;
    if (signal?.aborted === true) return Promise.reject(aborted(signal));
    const started = performance.now();
    const name = pairs[0]?.[1] ?? '';
    const readOnly = options.idempotent ?? isReadOnlyCommand(name);
    const commandText = commandTextOf(pairs);
    const connection: ConnectionFields = {
      entity: this.#entity,
      login: this.#login,
      otp: this.#otp,
      password: this.#password,
      remoteAddress: options.remoteAddress ?? this.#remoteAddress,
      session: credentialsOnly ? undefined : options.sessionId ?? this.#sessionId,
      user: options.subuser ?? this.#subuser,
    };
    const session = this.#session;
    if (session === undefined || credentialsOnly || options.sessionId !== undefined) return this.#exchange(pairs, commandText, connection, readOnly, options, started, 1);
    return this.#sendInSession(session, pairs, commandText, connection, readOnly, options, started);
  }

  async #sendInSession(
    session: Session,
    pairs: [string, string][],
    commandText: string,
    connection: ConnectionFields,
    readOnly: boolean,
    options: CommandRequestOptions,
    started: number,
  ): Promise<CommandResponse> {
    let token: Token;
    try {
      token = await tokenOf(session, options.signal);
    } catch (error) {
      return this.#sessionFailure(error, started);
    }
    let response = await this.#exchange(pairs, commandText, { ...connection, session: token.value }, readOnly, options, started, 1);
    if (response.code !== 530 || response.synthetic) {
      session.touch();
      return response;
    }
    session.invalidate(token);
    if (!readOnly) return response;
    try {
      token = await tokenOf(session, options.signal);
    } catch (error) {
      return this.#sessionFailure(error, started);
    }
    response = await this.#exchange(pairs, commandText, { ...connection, session: token.value }, readOnly, options, started, response.attempt + 1);
    if (response.code === 530 && !response.synthetic) session.invalidate(token);
    else session.touch();
    return response;
  }

  #sessionFailure(error: unknown, started: number): CommandResponse {
    if (HttpClientError.isInstance(error)) throw error; // aborted while waiting for the login
    const detail: ResponseDetail = { url: this.url, cause: error, attempt: 1, durationMs: performance.now() - started };
    if (AuthError.isInstance(error)) {
      if (error.cause instanceof CommandResponse) return error.cause;
      if (error.code === 'CONFIGURATION') {
        throw new HttpClientError('INVALID_STATE', 'The client\'s Session cannot log in: its authenticator is misconfigured.', { cause: error });
      }
      if (error.code === 'INVALID_CREDENTIALS') return syntheticResponse('sessionNotFound', detail);
    }
    return syntheticResponse('httpError', detail);
  }

  async #attempt(body: string, options: CommandRequestOptions): Promise<Attempt> {
    const request: Dispatcher.RequestOptions = {
      path: this.#path,
      method: 'POST',
      headers: this.#headers,
      body,
      signal: options.signal ?? null,
    };
    if (options.timeoutMs !== undefined) {
      request.headersTimeout = options.timeoutMs;
      request.bodyTimeout = options.timeoutMs;
    }
    try {
      const answer = await this.#pool.request(request);
      const text = await answer.body.text();
      return { status: answer.statusCode, headers: answer.headers, text, error: undefined };
    } catch (error) {
      return { status: undefined, headers: undefined, text: '', error };
    }
  }

  async #exchange(
    pairs: readonly [string, string][],
    commandText: string,
    connection: ConnectionFields,
    readOnly: boolean,
    options: CommandRequestOptions,
    started: number,
    firstAttempt: number,
  ): Promise<CommandResponse> {
    const body = `${this.#encodeConnection(connection)}s_command=${encodeFormComponent(commandText)}`;
    const signal = options.signal;
    const retry = this.#retry;
    for (let attempt = firstAttempt, retries = 0; ; attempt += 1, retries += 1) {
      const result = await this.#attempt(body, options);
      if (signal?.aborted === true) throw aborted(signal);
      const detail: ResponseDetail = {
        url: this.url,
        attempt,
        durationMs: performance.now() - started,
        httpStatus: result.status,
        command: () => maskedCommand(pairs),
      };
      let response: CommandResponse;
      let retryInMs: number | undefined;
      if (result.error !== undefined) {
        response = syntheticResponse('httpError', { ...detail, cause: result.error });
        const kind = classifyError(result.error);
        if (retries < retry.retries && !kind.permanent && (kind.notSent || readOnly)) retryInMs = this.#backoff(retries);
      } else if (result.status === undefined || result.status < 200 || result.status >= 300) {
        response = syntheticResponse('httpError', detail);
        if (retries < retry.retries && readOnly && result.status !== undefined && RETRY_STATUSES.has(result.status)) {
          const after = retryAfterMs(result.headers?.['retry-after']);
          if (after === undefined) retryInMs = this.#backoff(retries);
          else if (after <= retry.maxRetryAfterMs) retryInMs = after;
        }
      } else {
        response = parseResponse(result.text, detail);
      }
      this.#log(response, connection, pairs, result, retryInMs);
      if (retryInMs === undefined) return response;
      await sleep(retryInMs, signal);
    }
  }

  #encodeConnection(connection: ConnectionFields): string {
    const last = this.#encodedFor;
    if (
      last !== undefined &&
      last.entity === connection.entity &&
      last.login === connection.login &&
      last.otp === connection.otp &&
      last.password === connection.password &&
      last.remoteAddress === connection.remoteAddress &&
      last.session === connection.session &&
      last.user === connection.user
    ) {
      return this.#encoded;
    }
    this.#encoded = encodeConnectionFields(connection);
    this.#encodedFor = connection;
    return this.#encoded;
  }

  #backoff(retries: number): number {
    const ceiling = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** retries);
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  #log(response: CommandResponse, connection: ConnectionFields, pairs: readonly [string, string][], result: Attempt, retryInMs: number | undefined): void {
    const logger = this.#logger;
    if (!logger.isLevelEnabled('debug')) return;
    const fields: Record<string, unknown> = {
      system: this.system,
      entity: connection.entity,
      url: this.url,
      command: response.command ?? maskedCommand(pairs),
      status: result.status,
      code: response.code,
      description: response.description,
      runtime: response.runtime,
      queuetime: response.queuetime,
      durationMs: Math.round(response.durationMs * 1000) / 1000,
      attempt: response.attempt,
    };
    if (result.error !== undefined) fields.error = errorSummary(result.error);
    if (retryInMs !== undefined) fields.retryInMs = retryInMs;
    if (logger.isLevelEnabled('trace')) {
      fields.post = maskedPost(connection, pairs);
      fields.body = redactResponseText(result.error === undefined ? result.text : response.raw);
    }
    logger.debug(COMMAND_LOG_MESSAGE, fields);
  }
}
