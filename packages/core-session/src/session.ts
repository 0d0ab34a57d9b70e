import { setTimeout as sleep } from 'node:timers/promises';
import { fingerprint, type Logger, silentLogger } from '@sessionkit/logger';
import { MemoryStore, StoreError, type TokenStore } from '@sessionkit/token-store';
import { AuthError, errorCode, MAX_RETRY_AFTER_MS, throttleDelay } from './auth-error.js';
import { backoffDelay, MAX_TIMER_MS, milliseconds, type RetryOptions, type RetryPolicy, retryPolicy } from './backoff.js';
import { oauth2, type OAuth2Options } from './oauth2.js';
import { requireSecureUrl } from './secure-url.js';
import { decodeRecord, encodeRecord, optionalNumber, optionalString, parseToken, type SessionRecord } from './session-record.js';
import { identityHashOf, storeKeyFor } from './store-key.js';
import type { AuthContext, Authenticator, Token } from './token.js';
import { TypedEmitter } from './typed-emitter.js';

/** Options of {@link Session}. */
export interface SessionOptions {
  /** How tokens are obtained: `oauth2({...})` or any {@link Authenticator}. */
  authenticator: Authenticator;
  /**
   * Where the token and the throttle record live. Share a `FileStore` (or keychain) between
   * processes so they share one token. Sessions in one process that share a store, key and
   * identity also share one acquisition in flight.
   * @default a new MemoryStore (this session only)
   */
  store?: TokenStore | undefined;
  /**
   * The store key. One key per identity: a record says whose it is, and a session meeting another
   * identity's record under its key fails with `AuthError('CONFIGURATION')`.
   * @default a hash of `authenticator.identity` (never a secret)
   */
  key?: string | undefined;
  /**
   * How long before expiry a background refresh starts (at a random point in the first half of
   * the window), while the current token keeps being served. Capped at half the token's lifetime.
   * @default 300000 (5 minutes)
   */
  refreshWindowMs?: number | undefined;
  /**
   * How long before expiry (or idle expiry) a token is no longer handed out and callers wait
   * for a new one. Capped at a tenth of the token's lifetime.
   * @default 10000
   */
  expiryMarginMs?: number | undefined;
  /**
   * Sliding expiry for tokens that do not carry their own `idleTtlMs`: a token dies this long
   * after its last use (`getToken()` or `touch()`). Above 0: leave it out for none.
   * @default undefined (no idle expiry)
   */
  idleTtlMs?: number | undefined;
  /** @default silentLogger */
  logger?: Logger | undefined;
  /** The time in UTC epoch milliseconds; tests pass a controllable clock. @default Date.now */
  clock?: (() => number) | undefined;
  /** Retries of attempts that fail with `SERVER` (not one with `retryAfterMs`: waited out as a 429 is) or `NETWORK`, with full-jitter backoff. @default { retries: 2, baseDelayMs: 200, maxDelayMs: 5000 } */
  retry?: RetryOptions | undefined;
  /** Give up on one attempt of the authenticator after this long (hang protection); above 0 and at most 2147483647 (setTimeout's limit). @default 30000 */
  attemptTimeoutMs?: number | undefined;
  /** How long to wait for the store's lock before failing with `StoreError('LOCK_TIMEOUT')`; at most 2147483647. @default the store's own */
  lockTimeoutMs?: number | undefined;
  /** The API base URL the clients of this session should call, when configured (`SESSIONKIT_API_URL`). An invalid URL is an `AuthError('CONFIGURATION')`. */
  apiUrl?: string | undefined;
}

/** Options of {@link Session.fromEnv}: session options plus the oauth2 transport options. */
export type SessionFromEnvOptions = Omit<SessionOptions, 'authenticator'> &
  Pick<OAuth2Options, 'allowInsecure' | 'timeoutMs' | 'clientAuthentication' | 'fetch'>;

/** What `session.export()` returns and `Session.restore()` takes. It holds secrets: keep it private (file mode 0600). */
export interface SessionData {
  version: 1;
  /** The store key of the identity it belongs to. */
  key: string;
  /** A hash of `authenticator.identity` (never the identity itself); left out in data exported before it was added. */
  identityHash?: string | undefined;
  token: Token | undefined;
  lastUsedAt: number | undefined;
}

/** Payload of the `refresh-failed` event. */
export interface RefreshFailedEvent {
  /** Usually an `AuthError`; a `StoreError` when the store's lock could not be taken. */
  error: unknown;
  /**
   * True for a refresh in the background: the session keeps serving its current token. False for a
   * refused refresh token (`fallback`) while `getToken()` callers wait.
   */
  background: boolean;
  /** True when the failure was the refresh-token grant and the session now falls back to the primary grant. */
  fallback: boolean;
}

/** Payload of the `throttled` event. */
export interface ThrottledEvent {
  /** No process sharing the store asks the token endpoint before this time (epoch ms). */
  until: number;
  retryAfterMs: number;
}

/** The events of a {@link Session} and their listener arguments. */
export interface SessionEvents {
  /** A new token is in use (acquired here or read from the store). The token is a secret: do not log it. */
  token: [token: Token];
  /**
   * A refresh in the background failed (the session keeps serving its current token), once per
   * refresh, by the session that started it; not when `end()` cancelled it. Or a refresh token was
   * refused and the session falls back to its primary grant (`fallback: true`). A failed acquisition
   * that `getToken()` callers wait for is not reported here: they reject with its error.
   */
  'refresh-failed': [event: RefreshFailedEvent];
  /** The token endpoint throttles this identity (a 429 or a 5xx with `Retry-After` here, or a throttle record from another process). */
  throttled: [event: ThrottledEvent];
}

interface Acquired {
  token: Token;
  lastUsedAt: number;
  persistedUsedAt: number;
}

/** When a token is refreshed, handed out no more, and dead, under a session's settings. */
interface Timings {
  /** The start of the refresh window (without jitter). */
  refreshStart: number;
  /** From here on callers wait for a new token. */
  forcedAt: number;
  expiresAt: number;
  /** Sliding expiry; Infinity when the token has none. */
  idleTtl: number;
  /** How long before idle expiry callers wait for a new token. */
  idleMargin: number;
  /** With an idleTtl under 1 s, until then (1 s after obtainedAt) the token is not idled out; else -Infinity. */
  servedUntil: number;
}

type Mode = 'background' | 'blocking';

/** What sessions in one process that share a store, key and identity share. */
interface SharedState {
  flight: Promise<Acquired> | undefined;
  /** Token values, or authorization() strings, invalidated in this process (after a 401), newest last. */
  invalid: Set<string>;
  /**
   * Refresh tokens this process has spent (rotated away) or the server refused (INVALID_CREDENTIALS,
   * then a login), newest last. Apart from `invalid`, so that a burst of invalidations never pushes out the one the
   * store still holds after a failed write.
   */
  spent: Set<string>;
  /** Refresh tokens whose last refresh failed on a server or network error, newest last. */
  failing: Set<string>;
  /** How many invalidate() calls there were: a session whose count is behind checks its token against `invalid`. */
  invalidations: number;
  /** The latest throttle seen in this process. */
  throttledUntil: number;
  /** Acquisitions in a row whose authenticator failed here (not throttled), and when the last did (performance.now()). */
  failures: number;
  failedAt: number;
}

const MAX_INVALID = 32;
const NO_TOKEN: Timings = { refreshStart: Infinity, forcedAt: Infinity, expiresAt: Infinity, idleTtl: Infinity, idleMargin: 0, servedUntil: -Infinity };
const shared = new WeakMap<TokenStore, Map<string, SharedState>>();

/**
 * Whether `error` asks the session to leave the token endpoint alone for a while (a throttle every
 * process waits out): `RATE_LIMITED`, or `SERVER` with `retryAfterMs` (a 503 with `Retry-After`).
 */
function throttles(error: unknown): error is AuthError {
  return AuthError.isInstance(error) && (error.code === 'RATE_LIMITED' || (error.code === 'SERVER' && !error.retryable));
}

/**
 * What a log entry says of an authenticator's failure: its code, and the message of an AuthError
 * (sessionkit's own keep secrets out). Another error's message, a custom authenticator's, may quote
 * one (a login URL with its password, say): it is left out.
 */
const described = (error: unknown): { code: string; message?: string } =>
  AuthError.isInstance(error) ? { code: errorCode(error), message: error.message } : { code: errorCode(error) };

/** Add `value` (a token's value, or a refresh token) to `refused` (a SharedState's `invalid`, `spent` or `failing`) as its newest; the newest MAX_INVALID are kept. */
function refuse(refused: Set<string>, value: string): void {
  refused.delete(value);
  refused.add(value);
  if (refused.size > MAX_INVALID) refused.delete([...refused][0] ?? '');
}

function sharedStateFor(store: TokenStore, key: string): SharedState {
  const byKey = shared.get(store) ?? new Map<string, SharedState>();
  const state = byKey.get(key) ?? { flight: undefined, invalid: new Set<string>(), spent: new Set<string>(), failing: new Set<string>(), invalidations: 0, throttledUntil: 0, failures: 0, failedAt: 0 };
  byKey.set(key, state);
  shared.set(store, byKey);
  return state;
}

/** `url` when it is a valid URL, undefined when it is undefined or null, else an `AuthError('CONFIGURATION')` naming `what` (not the value: it may hold a secret). */
function validUrl(url: string | undefined, what: string): string | undefined {
  // null, from plain JavaScript, counts as not set.
  if (url != null && !URL.canParse(url)) throw new AuthError('CONFIGURATION', `${what} is not a valid URL.`);
  return url ?? undefined;
}

/** The reasons end() aborts acquisitions with: a caller of another session retries on one. */
const endings = new WeakSet<object>();
/** Acquisitions that were in flight when a session ended: their tokens are revoked. */
const endedFlights = new WeakSet<Promise<Acquired>>();

function sessionEnded(): AuthError {
  const error = new AuthError('NETWORK', 'The session ended during this acquisition.');
  endings.add(error);
  return error;
}

function authorizationOf(token: Token): string {
  return `${token.type ?? 'Bearer'} ${token.value}`;
}

/**
 * The token lifecycle of one identity: authenticate once, serve the token from memory, refresh
 * it in the background before it expires, re-authenticate after a 401, and keep at most one
 * acquisition in flight per identity, in this process and (through `store.withLock`) across
 * processes. Build one per identity and share it with every client.
 *
 * @example
 * const session = new Session({
 *   authenticator: oauth2({ tokenUrl, grant: 'client_credentials', clientId: 'reporting', clientSecret }),
 *   store: new FileStore(),
 * });
 * const token = await session.getToken();
 * const response = await fetch(url, { headers: { authorization: await session.authorization() } });
 * if (response.status === 401) session.invalidate(token); // then get a token again and replay once
 */
export class Session extends TypedEmitter<SessionEvents> {
  // Declared, not initialized here: the constructor assigns them.
  /** The store key of this session's identity. */
  declare readonly key: string;
  /** `authenticator.identity`. */
  declare readonly identity: string;
  /** The API base URL from the options or `SESSIONKIT_API_URL`, when set. */
  declare readonly apiUrl: string | undefined;

  readonly #authenticator: Authenticator;
  readonly #store: TokenStore;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #refreshWindowMs: number;
  readonly #expiryMarginMs: number;
  /** Infinity for none. */
  readonly #idleTtlMs: number;
  readonly #retry: RetryPolicy;
  readonly #attemptTimeoutMs: number;
  readonly #lockOptions: { timeoutMs?: number };
  readonly #shared: SharedState;
  /** identityHashOf(identity): written into every record and export, and checked in every one read. */
  readonly #identityHash: string;
  /** Whether the key is the one derived from the identity (then only this identity writes under it). */
  readonly #ownKey: boolean;

  #token: Token | undefined;
  /**
   * The token restore() gave, while it is the latest this session knows of: held, or invalidated (a
   * 401) with no other token adopted since; see {@link #older}. Its refresh token is then still the one to refresh with.
   */
  #restored: Token | undefined;
  #ready: Promise<Token> | undefined;
  #readyAuthorization: Promise<string> | undefined;
  /** Until this time getToken() answers from memory, checking only that no session of this process invalidated a token since. */
  #fastUntil = -Infinity;
  /** The shared invalidation count when this session last checked its token against the shared invalid set. */
  #invalidations = 0;
  #lastUsedAt = 0;
  #persistedUsedAt = 0;
  #persisting: Promise<void> | undefined;
  /** Timings of the current token, computed once when it is adopted. */
  #timing = NO_TOKEN;
  /** The start of the current token's refresh window, with jitter. */
  #refreshAt = Infinity;
  #backgroundRunning = false;
  #backgroundRetryAt = 0;
  #generation = 0;
  #lastThrottleEmitted = 0;
  /** When touch() may next check the store's last use of a token idle here (see touch()). */
  #storeCheckAt = 0;
  /** Aborted by end(): it cancels the acquisitions this session started before. */
  #ending = new AbortController();

  constructor(options: SessionOptions) {
    // None at all (plain JavaScript): the TypeError below names what is needed.
    options = Object(options) as SessionOptions;
    const logger = options.logger ?? silentLogger;
    super(logger, ['token', 'refresh-failed', 'throttled']);
    // console or winston itself would fail at its first entry (no child(), no trace()).
    if (typeof logger.child != 'function' || typeof logger.trace != 'function') throw new TypeError('logger must be a Logger of @sessionkit/logger: createLogger(), or adaptLogger(target) for console, pino or winston.');
    const authenticator = options.authenticator as Authenticator | undefined;
    if (typeof authenticator?.authenticate !== 'function' || typeof authenticator.identity !== 'string') {
      throw new TypeError('Session needs an authenticator with identity and authenticate().');
    }
    this.key = options.key ?? storeKeyFor(authenticator.identity);
    this.identity = authenticator.identity;
    this.apiUrl = validUrl(options.apiUrl, 'apiUrl');
    this.#authenticator = authenticator;
    this.#store = options.store ?? new MemoryStore();
    this.#clock = options.clock ?? Date.now;
    this.#refreshWindowMs = milliseconds('refreshWindowMs', options.refreshWindowMs, 300_000);
    this.#expiryMarginMs = milliseconds('expiryMarginMs', options.expiryMarginMs, 10_000);
    // 0 would have every token replaced 1 s after it was obtained (an idle time under 1 s serves a token that long): leave it out for none.
    this.#idleTtlMs = milliseconds('idleTtlMs', options.idleTtlMs, Infinity, undefined, true);
    this.#retry = retryPolicy(options.retry ?? undefined);
    this.#attemptTimeoutMs = milliseconds('attemptTimeoutMs', options.attemptTimeoutMs, 30_000, MAX_TIMER_MS, true);
    this.#lockOptions = options.lockTimeoutMs == null ? {} : { timeoutMs: milliseconds('lockTimeoutMs', options.lockTimeoutMs, 0, MAX_TIMER_MS) };
    this.#logger = logger.child({ component: 'session', key: this.key.slice(-8) });
    this.#identityHash = identityHashOf(authenticator.identity);
    this.#ownKey = this.key === storeKeyFor(authenticator.identity);
    // Never shared with a session of another identity given the same key: it would hand out its token.
    // (The hash has a fixed length: no two pairs of key and hash give the same string.)
    this.#shared = sharedStateFor(this.#store, this.key + this.#identityHash);
  }

  /**
   * A session for the OAuth 2.0 identity described by environment variables:
   * `SESSIONKIT_TOKEN_URL`, `SESSIONKIT_CLIENT_ID` (required), `SESSIONKIT_CLIENT_SECRET`,
   * `SESSIONKIT_USERNAME`, `SESSIONKIT_PASSWORD`, `SESSIONKIT_SCOPE`, `SESSIONKIT_API_URL`.
   * With a user name or a password it uses the `password` grant, which needs both (either alone is
   * an `AuthError('CONFIGURATION')` naming the other, also when a client secret is set); with
   * neither, `client_credentials` (which needs the secret). A missing variable is an
   * `AuthError('CONFIGURATION')` naming it.
   *
   * @example
   * const session = Session.fromEnv(process.env, { store: new FileStore() });
   */
  static fromEnv(env: Record<string, string | undefined> = process.env, options?: SessionFromEnvOptions | null): Session {
    // null (plain JavaScript) counts as none, as every option given as null does.
    options ??= {};
    /** The variable `name`; unset or blank is undefined. */
    const read = (name: string): string | undefined => (env[name]?.trim() ? env[name] : undefined);
    /** The variable `name`, or an error naming it (and `hint`: what needs it). */
    const need = (name: string, hint = ''): string => {
      const value = read(name);
      if (value === undefined) throw new AuthError('CONFIGURATION', `The environment variable ${name} is not set${hint}.`);
      return value;
    };
    const tokenUrl = need('SESSIONKIT_TOKEN_URL');
    const clientId = need('SESSIONKIT_CLIENT_ID');
    const username = read('SESSIONKIT_USERNAME');
    const password = read('SESSIONKIT_PASSWORD');
    // Either of the user name and password chooses the password grant, which needs both.
    const grant = (username ?? password) === undefined ? 'client_credentials' : 'password';
    if (grant === 'password') {
      need('SESSIONKIT_USERNAME', ': the password grant needs it');
      need('SESSIONKIT_PASSWORD', ': the password grant needs it');
    }
    const clientSecret =
      grant === 'password'
        ? read('SESSIONKIT_CLIENT_SECRET')
        : need('SESSIONKIT_CLIENT_SECRET', ': the client_credentials grant needs it (or set SESSIONKIT_USERNAME and SESSIONKIT_PASSWORD for the password grant)');
    // An invalid options.apiUrl is reported by the constructor, as "apiUrl".
    const apiUrl = options.apiUrl ?? validUrl(read('SESSIONKIT_API_URL'), 'The environment variable SESSIONKIT_API_URL');
    // Checked here too, so that a bad or plain-http URL is reported by the variable's name.
    requireSecureUrl(tokenUrl, 'The environment variable SESSIONKIT_TOKEN_URL', options.allowInsecure === true);
    // oauth2 takes its transport options (allowInsecure, timeoutMs, clientAuthentication, fetch) from `options`.
    const authenticator = oauth2({
      ...options,
      tokenUrl,
      grant,
      clientId,
      clientSecret,
      username,
      password,
      scope: read('SESSIONKIT_SCOPE'),
    });
    return new Session({ ...options, authenticator, apiUrl });
  }

  /**
   * A session that starts with the token of `data` (from `session.export()`), for programs that
   * persist sessions themselves. Throws `AuthError('CONFIGURATION')` when `data` belongs to
   * another identity or is not session data (a `lastUsedAt` that is not a finite time included).
   * Data without `identityHash` (exported by an older version) gives its token only under the key derived
   * from the identity; under a key the program chose, the session acquires one.
   */
  static restore(data: SessionData, options: SessionOptions): Session {
    const session = new Session(options);
    const input = data as Partial<SessionData> | undefined;
    const token = parseToken(input?.token);
    const identityHash = input?.identityHash;
    if (input?.version !== 1 || typeof input.key !== 'string' || (input.token !== undefined && !token) || !optionalString(identityHash)) {
      throw new AuthError('CONFIGURATION', 'Session.restore() needs what session.export() returned.');
    }
    // As the stored record's check: NaN would drop the token, Infinity keep it past its idle expiry.
    if (!optionalNumber(input.lastUsedAt)) throw new AuthError('CONFIGURATION', 'Session.restore() needs a lastUsedAt that is a finite time (epoch ms) or none.');
    if (input.key !== session.key || (identityHash !== undefined && identityHash !== session.#identityHash)) {
      throw new AuthError('CONFIGURATION', 'This session data belongs to another identity.');
    }
    // Without identityHash (older data), whose token it is can be told only under the key derived from the identity.
    if (token && (identityHash || session.#ownKey)) {
      const lastUsedAt = input.lastUsedAt ?? token.obtainedAt;
      session.#adopt({ token, lastUsedAt, persistedUsedAt: lastUsedAt }, 'restored');
    }
    return session;
  }

  /** Verify the stored token or acquire a new one; the same as `getToken()`, named for start-up. */
  start(): Promise<Token> {
    return this.getToken();
  }

  /**
   * A valid token. Answers from memory (no I/O, no allocation) until the refresh window;
   * inside it, refreshes in the background and keeps answering; near expiry, waits for a new
   * token, with one acquisition in flight per identity in this process and, through
   * `store.withLock`, across processes. Records use, for sliding expiry.
   * Rejects with `AuthError` (or `StoreError` when the store's lock cannot be had).
   */
  getToken(): Promise<Token> {
    const now = this.#clock();
    if (now < this.#fastUntil && this.#ready && this.#invalidations === this.#shared.invalidations) {
      this.#lastUsedAt = now;
      return this.#ready;
    }
    return this.#slowGetToken(now);
  }

  /** The `Authorization` header value for the current token, such as `Bearer eyJ…`. */
  authorization(): Promise<string> {
    const now = this.#clock();
    if (now < this.#fastUntil && this.#readyAuthorization && this.#invalidations === this.#shared.invalidations) {
      this.#lastUsedAt = now;
      return this.#readyAuthorization;
    }
    return this.#slowGetToken(now).then(authorizationOf);
  }

  /**
   * After the API answered 401 with `token`: drop it, but only if it is still the current
   * token (compare before invalidating), so that many failed requests cause one acquisition.
   * Takes the Token, its value, or an `authorization()` string (of any type). Then get a token and replay once.
   * Anything else (`undefined`, `null`, a number: plain JavaScript) throws `AuthError('CONFIGURATION')`
   * at once, as `Session.restore()` does for data that is not session data: ignored, it would leave
   * the refused token in use, and the replay would fail again.
   */
  invalidate(token: Token | string): void {
    // A Bearer header (of an older token, say) stands for its token; a header of another type is
    // refused as it is, and matches its token's authorization() string (#isRefused).
    const given = typeof token === 'string' ? token.replace(/^bearer +/i, '') : (token as Partial<Token> | null | undefined)?.value;
    if (typeof given !== 'string') throw new AuthError('CONFIGURATION', 'invalidate() needs a token, its value or an authorization() string.');
    const current = this.#token;
    // The value refused from now on: the current one when `token` is it or its header (of any type).
    const value = current && given === authorizationOf(current) ? current.value : given;
    this.#shared.invalidations += 1;
    refuse(this.#shared.invalid, value);
    if (value !== current?.value) {
      this.#logger.trace('invalidate: not the current token, ignored');
      return;
    }
    this.#logger.debug('token invalidated', { fingerprint: fingerprint(value) });
    this.#token = this.#ready = this.#readyAuthorization = undefined;
    this.#fastUntil = -Infinity;
  }

  /**
   * Record a use of the token now, for sliding (idle) expiry, when it was used other than
   * through `getToken()` (which records use itself). Written to the store lazily. A token idle by
   * this process's uses, but not expired, is checked against the store's last use (another process
   * may have kept it alive): the use is recorded only if the store's shows it alive now.
   */
  touch(): void {
    const now = this.#clock();
    const token = this.#token;
    const timing = this.#timing;
    if (!token) return;
    if (now < this.#usableUntil(timing, this.#lastUsedAt, true)) this.#used(now);
    // Idle by this process's uses, not expired: another process may have kept it alive (the store's last use decides).
    // At most once a second: a touch() per message must not lock the store for each (a store that
    // lost the token may hold it again: an authenticator can hand out the same value).
    else if (now < timing.expiresAt && now >= this.#storeCheckAt && !this.#persisting) {
      this.#storeCheckAt = now + 1000;
      void this.#persist(token, now, timing);
    }
  }

  /** Write the last-use time to the store now instead of lazily (before a process exits, say). */
  async flush(): Promise<void> {
    while (this.#persisting) await this.#persisting;
    const token = this.#token;
    const usedAt = this.#lastUsedAt;
    if (token === undefined || usedAt <= this.#persistedUsedAt) return;
    this.#persistedUsedAt = usedAt;
    this.#updateFastUntil();
    await this.#persist(token, usedAt);
  }

  /**
   * Under the store's lock, bring the stored last use of `token` up to `usedAt`, as the one such write
   * running; a failure is logged. With `idle` (the token's timings: touch() found it idle here), only
   * when the stored last use shows it alive at `usedAt`, and the use is then recorded here too.
   */
  #persist(token: Token, usedAt: number, idle?: Timings): Promise<void> {
    return (this.#persisting = this.#locked(async () => {
      const record = await this.#read();
      // NaN for another token: never written over, never alive.
      const stored = record?.token?.value === token.value ? (record.lastUsedAt ?? token.obtainedAt) : NaN;
      if (idle) {
        if (token !== this.#token) return;
        if (!(usedAt < this.#usableUntil(idle, stored, true))) return;
        // Never back: getToken() may have recorded a later use meanwhile.
        this.#persistedUsedAt = Math.max(this.#persistedUsedAt, usedAt, stored);
        this.#lastUsedAt = Math.max(this.#lastUsedAt, this.#persistedUsedAt);
        this.#updateFastUntil();
      }
      if (stored < usedAt) await this.#write({ ...record, lastUsedAt: usedAt });
    })
      .catch((error: unknown) => {
        this.#logger.warn('could not store the token\'s last use', { code: errorCode(error) });
      })
      .finally(() => {
        this.#persisting = undefined;
      }));
  }

  /**
   * End the session: forget the token here and in the store (a running throttle stays
   * recorded), then log out or revoke it when the authenticator can, still holding the store's
   * lock: a process waiting for it then finds the record gone and its refresh token revoked, and
   * logs in anew rather than refresh the grant ended here. A failed revocation is logged, not
   * thrown. When the store fails (or its lock cannot be had), the token held here is still
   * forgotten and revoked, then `end()` rejects with the store's error (the store may still hold
   * it). A later `getToken()` authenticates again.
   *
   * An acquisition this session started is aborted (the `signal` of its authenticator call) rather
   * than left to run until `attemptTimeoutMs`; `getToken()` calls waiting for it reject with
   * `AuthError('NETWORK')`. A token it still brings is revoked too: one stored before the abort
   * with the others, one the authenticator returns after it (ignoring the signal) when it arrives.
   */
  async end(): Promise<void> {
    this.#generation += 1;
    // The acquisition in flight now ends with this session: its token, should it still come, is
    // revoked below, so no caller adopts it (#acquire).
    const flight = this.#shared.flight;
    if (flight) endedFlights.add(flight);
    this.#ending.abort(sessionEnded());
    this.#ending = new AbortController();
    // Revoked below: a later acquisition logs in anew rather than refresh with the restored token's refresh token.
    this.#restored = undefined;
    const token = this.#token;
    // invalidate() forgets it (and marks it invalid for every session of this process); without a token there is nothing to forget.
    if (token) this.invalidate(token);
    // An acquisition in flight (aborted above when this session started it) would store its token after the delete below:
    // let it settle first (its failure is not end()'s). A token it brought is revoked too, stored or not.
    const acquired = await flight?.then(({ token }) => token, () => undefined);
    let revoking: Promise<void> | undefined;
    // Once, with the stored token when the store could be read: it differs from this one when an
    // acquisition (here or in another process) replaced it. Each token is revoked once.
    const revokeAll = (stored?: Token): Promise<void> =>
      (revoking ??= (async () => {
        const revoked = new Map<string, Token>();
        for (const each of [token, stored, acquired]) if (each) revoked.set(each.value, each);
        // Tokens about to be revoked are refused by every session of this process, also one that only
        // another session held (from the store). Without revocation, only the one held here is (above):
        // the others stay valid, and usable there.
        if (this.#authenticator.revoke) for (const each of revoked.values()) this.invalidate(each);
        for (const each of revoked.values()) await this.#revoke(each);
      })());
    try {
      await this.#locked(async () => {
        const record = await this.#read();
        try {
          const throttledUntil = record?.throttledUntil;
          if (throttledUntil !== undefined && throttledUntil > this.#clock()) await this.#store.set(this.key, encodeRecord({ throttledUntil }, this.#identityHash));
          else await this.#store.delete(this.key);
        } finally {
          // Still holding the lock: a process waiting for it would otherwise find the store empty and
          // refresh with the refresh token about to be revoked, storing a token of the grant ended here.
          // All of them, tokens without a refresh token too: a token endpoint answering with its cached
          // access token would hand that waiter the token about to be revoked. (And `revoke` takes a
          // whole token: its refresh token cannot be revoked apart from its access token.)
          await revokeAll(record?.token);
        }
      });
    } finally {
      // A store that fails (or a lock that cannot be had) does not stop the revocation of the tokens
      // held here: end() rejects with its error after it.
      await revokeAll();
    }
  }

  /** Log out or revoke `token` when the authenticator can; a failure is logged, not thrown. */
  async #revoke(token: Token): Promise<void> {
    const authenticator = this.#authenticator;
    if (!authenticator.revoke) return;
    try {
      // Not aborted by a later end(), which would leave the token valid: only by its timeout.
      await this.#attempt((context) => authenticator.revoke?.(token, context));
      this.#logger.debug('token revoked', { fingerprint: fingerprint(token.value) });
    } catch (error) {
      this.#logger.warn('could not revoke the token', described(error));
    }
  }

  /**
   * The current token and its last use, for programs that persist sessions themselves
   * (`Session.restore`). The result holds secrets: keep it private.
   */
  export(): SessionData {
    const token = this.#token;
    return { version: 1, key: this.key, identityHash: this.#identityHash, token: token && { ...token }, lastUsedAt: token && this.#lastUsedAt };
  }

  // ---------------------------------------------------------------------------------------

  async #slowGetToken(now: number): Promise<Token> {
    // A token another session of this process invalidated (after a 401 there) is not handed out here either.
    if (this.#token && this.#isRefused(this.#token)) this.invalidate(this.#token);
    this.#invalidations = this.#shared.invalidations;
    const token = this.#token;
    // While throttled, a token that has not expired yet keeps being used (and no refresh starts).
    if (token && now < this.#usableUntil(this.#timing, this.#lastUsedAt, now < this.#throttledUntil(now))) {
      this.#used(now);
      if (now >= this.#refreshAt) this.#refreshInBackground(now);
      return token;
    }
    // A token invalidated here meanwhile (a 401 elsewhere) is not handed out: acquire once more, never loop.
    // When that brings the same value again, the server issued it again: it is used (a 401 invalidates it again).
    let acquired = await this.#acquire('blocking');
    if (this.#isRefused(acquired)) acquired = await this.#acquire('blocking', true);
    // A use, for sliding expiry, as when answered from memory.
    if (acquired === this.#token) this.#used(this.#clock());
    return acquired;
  }

  /**
   * Whether `token` was invalidated in this process, by its value or by its authorization() string. That
   * string is kept whole, not split at its first space: a value may hold a space itself.
   */
  #isRefused(token: Token): boolean {
    const { invalid } = this.#shared;
    return invalid.has(token.value) || invalid.has(authorizationOf(token));
  }

  /** Record a use of the current token at `now`, for sliding expiry. */
  #used(now: number): void {
    this.#lastUsedAt = now;
    // Written to the store when due (idle tokens only) and no write is running.
    if (!this.#persisting && now >= this.#persistDueAt()) void this.flush();
    this.#updateFastUntil();
  }

  /**
   * Until when a token with `timing`, last used at `lastUsedAt`, can be handed out: until its forced
   * point, or with `untilExpiry` (for a caller that would otherwise fail) until it expires; not idled out before servedUntil.
   */
  #usableUntil(timing: Timings, lastUsedAt: number, untilExpiry: boolean): number {
    return Math.min(untilExpiry ? timing.expiresAt : timing.forcedAt, Math.max(timing.servedUntil, lastUsedAt + timing.idleTtl - (untilExpiry ? 0 : timing.idleMargin)));
  }

  /**
   * When lastUsedAt is next due in the store: a quarter of the idle time after the last write (never, without idle
   * expiry); not before servedUntil, when no session judges the token idle yet: a tiny idleTtlMs writes not on every call.
   */
  #persistDueAt(): number {
    return Math.max(this.#timing.servedUntil, this.#persistedUsedAt + Math.max(1, this.#timing.idleTtl / 4));
  }

  #updateFastUntil(): void {
    this.#fastUntil =
      this.#token ? Math.min(this.#refreshAt, this.#usableUntil(this.#timing, this.#lastUsedAt, false), this.#persistDueAt()) : -Infinity;
  }

  /** The timings of `token` under this session's settings. */
  #timings(token: Token): Timings {
    const idleTtl = token.idleTtlMs ?? this.#idleTtlMs;
    const idleMargin = idleTtl < Infinity ? Math.min(this.#expiryMarginMs, idleTtl / 10) : 0;
    // A token whose expiresAt is under 1 s after obtainedAt (or not after it) is served (and not refreshed) until
    // 1 s after obtainedAt, and one whose idleTtl is under 1 s not idled out before then: a cache hands out a token
    // with the life it has left, or none, and each later call would ask for a new one. Its times stay as they are, so
    // the next call after that replaces it; a 401 (invalidate()) at once. Longer times keep their window and margin.
    const servedUntil = token.obtainedAt + 1000;
    let { expiresAt } = token;
    let lifetime = (expiresAt ?? Infinity) - token.obtainedAt;
    // Timed as expiring at servedUntil, with no refresh window or margin before it.
    if (lifetime < 1000) {
      expiresAt = servedUntil;
      lifetime = 0;
    }
    return {
      ...NO_TOKEN,
      idleTtl,
      idleMargin,
      ...(idleTtl < 1000 && { servedUntil }),
      ...(expiresAt !== undefined && {
        refreshStart: expiresAt - Math.min(this.#refreshWindowMs, lifetime / 2),
        forcedAt: expiresAt - Math.min(this.#expiryMarginMs, lifetime / 10),
        expiresAt,
      }),
    };
  }

  #adopt(acquired: Acquired, how: string): void {
    const { token } = acquired;
    const changed = this.#token?.value !== token.value;
    this.#token = token;
    // The same token again (read back from the store, say): keep the later use times.
    this.#lastUsedAt = Math.max(changed ? 0 : this.#lastUsedAt, acquired.lastUsedAt);
    this.#persistedUsedAt = Math.max(changed ? 0 : this.#persistedUsedAt, acquired.persistedUsedAt);
    const timing = this.#timings(token);
    this.#timing = timing;
    // Background refreshes start at a random point of the first half of the window, so that
    // processes holding the same token do not all refresh at once.
    this.#refreshAt = timing.refreshStart + (timing.forcedAt < Infinity ? (Math.random() * Math.max(0, timing.forcedAt - timing.refreshStart)) / 2 : 0);
    this.#backgroundRetryAt = 0;
    this.#storeCheckAt = 0;
    this.#updateFastUntil();
    if (changed) {
      this.#restored = how === 'restored' ? token : undefined;
      this.#ready = Promise.resolve(token);
      this.#readyAuthorization = Promise.resolve(authorizationOf(token));
      this.#logger.debug(`token ${how}`, {
        fingerprint: fingerprint(token.value),
        expiresInMs: token.expiresAt === undefined ? undefined : token.expiresAt - this.#clock(),
      });
      this.emit('token', token);
    }
  }

  #refreshInBackground(now: number): void {
    if (this.#backgroundRunning || this.#shared.flight || now < this.#backgroundRetryAt || now < this.#throttledUntil(now)) return;
    this.#backgroundRunning = true;
    const generation = this.#generation;
    this.#logger.debug('refreshing in the background', { expiresInMs: this.#timing.expiresAt - now });
    const backOff = (): void => {
      const at = this.#clock();
      this.#backgroundRetryAt = at + Math.min(30_000, Math.max(1000, (this.#timing.forcedAt - at) / 4));
    };
    this.#acquire('background')
      .then(
        () => {
          // No newer token (a provider answering with its cached one, say): ask again later, as after a failure, not on every call.
          if (this.#clock() >= this.#refreshAt) backOff();
        },
        (error: unknown) => {
          backOff();
          // Cancelled by end(): not a failure to report.
          if (generation !== this.#generation) return;
          this.#logger.warn('background refresh failed; serving the current token', described(error));
          this.emit('refresh-failed', { error, background: true, fallback: false });
        },
      )
      .finally(() => {
        this.#backgroundRunning = false;
      });
  }

  /**
   * Join the acquisition in flight for this store and key, or start one. With `reissued`, a value
   * invalidated here that comes back was issued again by the server: it is valid again.
   */
  #acquire(mode: Mode, reissued = false): Promise<Token> {
    const state = this.#shared;
    let flight = state.flight;
    if (!flight) {
      flight = state.flight = this.#runAcquisition(mode);
      // Nothing else replaces a flight while it runs: once it has settled, the next caller starts a new one.
      const clear = (): void => {
        state.flight = undefined;
      };
      flight.then(clear, clear);
    } else {
      this.#logger.trace('joining the acquisition in flight');
    }
    const generation = this.#generation;
    return flight.then(
      (acquired) => {
        // A token had, from the authenticator or the store: the series of failures is over.
        state.failures = 0;
        if (endedFlights.has(flight)) {
          // An end() (of this session or another sharing the store) revokes this token: refused
          // by every session of the process, and not handed out. A caller of an ended session is
          // told; any other starts again.
          this.invalidate(acquired.token);
          if (generation !== this.#generation) throw sessionEnded();
          return this.#acquire(mode, reissued);
        }
        const { token } = acquired;
        if (reissued) {
          state.invalid.delete(token.value);
          state.invalid.delete(authorizationOf(token));
        }
        if (generation === this.#generation && !this.#isRefused(token)) this.#adopt(acquired, 'acquired');
        return token;
      },
      (error: unknown) => {
        // Cancelled by the end() of a session that is not this caller's (another one sharing the store,
        // or this one before this call): start again.
        if (endings.has(error as object) && generation === this.#generation) return this.#acquire(mode, reissued);
        // Throttled (AuthError), or the store failed (StoreError: out, or its lock or record could not
        // be had, on a full or read-only disk too), also when the flight joined was a background refresh:
        // a blocking caller gets a token that has not expired yet rather than the error.
        const servable = mode === 'blocking' && (throttles(error) || StoreError.isInstance(error)) ? this.#reuse(undefined, mode, true) : undefined;
        if (!servable) throw error;
        this.#logger.warn('serving the current token until it expires', { code: errorCode(error) });
        return servable.token;
      },
    );
  }

  async #runAcquisition(mode: Mode): Promise<Acquired> {
    // Taken now: an end() from here on cancels this acquisition, also before its first attempt.
    const ended = this.#ending.signal;
    // Read without the lock first: when another process already holds a good token, no lock is needed.
    const early = this.#fromRecord(await this.#read(), mode);
    if (early) return early;
    // After failed acquisitions the next one waits as a retry would (full jitter, from
    // retry.baseDelayMs doubling to retry.maxDelayMs since the last failure), before the lock: a
    // caller that asks again at once (a loop around a wrong password) sent a login per call.
    const state = this.#shared;
    const pause = state.failures && state.failedAt + backoffDelay(this.#retry, state.failures) - performance.now();
    if (pause > 0) {
      this.#logger.debug('pausing after failed acquisitions', { failures: state.failures, delayMs: Math.round(pause) });
      // end() cuts the wait short (the attempt then does not start).
      await sleep(pause, undefined, { signal: ended }).catch(() => undefined);
      // Ended meanwhile: not the lock (another process may hold it up to lockTimeoutMs) nor an attempt.
      ended.throwIfAborted();
    }

    this.#logger.trace('waiting for the store lock');
    try {
      return await this.#locked(async () => {
        // Another process may have done the work while this one waited for the lock. A store that
        // cannot be read here (a keychain with no Secret Service behind it) fails the acquisition, as
        // one whose lock fails does: acquiring without it, every process would ask for its own token,
        // and none would see another's throttle.
        const record = await this.#read(true);
        const found = this.#fromRecord(record, mode);
        if (found) return found;
        let token: Token;
        try {
          token = await this.#obtain(record?.token, mode, ended);
        } catch (error) {
          // A 429, or a 5xx with Retry-After: recorded for every process, as the server asked.
          if (!throttles(error)) {
            if (!ended.aborted) {
              state.failures += 1;
              state.failedAt = performance.now();
            }
            throw error;
          }
          const until = this.#clock() + throttleDelay(error.retryAfterMs);
          await this.#write({ ...record, throttledUntil: until });
          return this.#throttled(record, mode, until, error);
        }
        const now = this.#clock();
        await this.#write({ token, lastUsedAt: now });
        return { token, lastUsedAt: now, persistedUsedAt: now };
      });
    } catch (error) {
      // The holder took too long (its own retries, say); it may have stored a token meanwhile.
      const found = StoreError.isInstance(error) && error.code === 'LOCK_TIMEOUT' ? this.#reuse(await this.#read(), mode) : undefined;
      if (!found) throw error;
      return found;
    }
  }

  /**
   * A token to hand out without asking the authenticator: the stored one while it is before its
   * forced point (for a background refresh, before its refresh window); or, with `untilExpiry`
   * (a blocking caller that would otherwise fail), the stored or the current one until it expires.
   */
  #reuse(record: SessionRecord | undefined, mode: Mode, untilExpiry = false): Acquired | undefined {
    const now = this.#clock();
    for (const token of [record?.token, untilExpiry ? this.#token : undefined]) {
      if (!token || this.#isRefused(token) || this.#older(token)) continue;
      const persistedUsedAt = (record?.token?.value === token.value ? record.lastUsedAt : undefined) ?? token.obtainedAt;
      const lastUsedAt = Math.max(persistedUsedAt, this.#token?.value === token.value ? this.#lastUsedAt : 0);
      const timing = this.#timings(token);
      if (now < this.#usableUntil(timing, lastUsedAt, untilExpiry) && (untilExpiry || mode === 'blocking' || now < timing.refreshStart)) {
        return { token, lastUsedAt, persistedUsedAt };
      }
    }
    return undefined;
  }

  /**
   * True for a stored token older (by obtainedAt) than the one restore() gave, while that one is the
   * latest this session knows of (held, or invalidated since): the store missed the refreshes since
   * (made elsewhere), and with rotation its refresh token is spent. The only case where obtainedAt
   * decides: nothing else tells them apart.
   */
  #older(token: Token): boolean {
    return token.obtainedAt < (this.#restored?.obtainedAt ?? -Infinity);
  }

  /**
   * The end of this identity's throttle in this process. One over 2 hours ahead (the 1-hour cap,
   * and as much again for clocks of other hosts sharing the store that differ) was set before the
   * clock was set back: it is dropped.
   */
  #throttledUntil(now: number): number {
    const shared = this.#shared;
    if (shared.throttledUntil - now > 2 * MAX_RETRY_AFTER_MS) shared.throttledUntil = 0;
    return shared.throttledUntil;
  }

  /** The stored token when it can be used as it is; while a throttle runs, what {@link #throttled} gives. */
  #fromRecord(record: SessionRecord | undefined, mode: Mode): Acquired | undefined {
    const now = this.#clock();
    const stored = record?.throttledUntil ?? 0;
    // A stored throttle far beyond the 1-hour cap was written before the clock was set back, or from
    // a bad Retry-After by an older version: ignored, as one held is (see #throttledUntil).
    const until = Math.max(stored - now > 2 * MAX_RETRY_AFTER_MS ? 0 : stored, this.#throttledUntil(now));
    return this.#reuse(record, mode) ?? (until > now ? this.#throttled(record, mode, until) : undefined);
  }

  /** While a throttle runs until `until`: a token that has not expired yet for a blocking caller, else `error` or RATE_LIMITED. */
  #throttled(record: SessionRecord | undefined, mode: Mode, until: number, error?: AuthError): Acquired {
    const shared = this.#shared;
    shared.throttledUntil = Math.max(shared.throttledUntil, until);
    const retryAfterMs = Math.max(0, until - this.#clock());
    if (until !== this.#lastThrottleEmitted) {
      this.#lastThrottleEmitted = until;
      this.#logger.warn('the token endpoint is throttling this identity', { retryAfterMs });
      this.emit('throttled', { until, retryAfterMs });
    }
    const servable = mode === 'blocking' ? this.#reuse(record, mode, true) : undefined;
    if (servable) return servable;
    throw error ?? new AuthError('RATE_LIMITED', `The token endpoint is throttling this identity; retry after ${retryAfterMs} ms.`, { retryAfterMs });
  }

  /** A new token: by the refresh token when there is one, falling back to the primary grant once. */
  async #obtain(stored: Token | undefined, mode: Mode, ended: AbortSignal): Promise<Token> {
    const authenticator = this.#authenticator;
    const state = this.#shared;
    // The stored token's refresh token, unless this process has spent it (a refresh here rotated it
    // away, and the store write failed): then the current token's, its successor. Not the later by
    // obtainedAt: other processes, a custom clock or a clock stepped back stamp it by clocks that need
    // not agree, and an older token judged newer would present a spent refresh token. Only a stored
    // token older than a restored one is passed over (#older); after a 401 on the restored token, its
    // refresh token is still the one to use (a stored newer token wins).
    const base = [stored, this.#token ?? this.#restored].find(
      (token): token is Token & { refreshToken: string } => token?.refreshToken !== undefined && !state.spent.has(token.refreshToken) && !this.#older(token),
    );
    if (base && authenticator.refresh) {
      try {
        const token = this.#checked(await this.#attempt((context) => authenticator.refresh?.(base, context), ended));
        // Rotated: the refresh token used is spent. One kept (no new one issued) stays usable.
        if (token.refreshToken !== base.refreshToken) refuse(state.spent, base.refreshToken);
        state.failing.delete(base.refreshToken);
        return token;
      } catch (error) {
        // Throttled (a 5xx with Retry-After too): a login now would ask the endpoint before it said to.
        if (ended.aborted || throttles(error)) throw error;
        // The endpoint down or unreachable (retried already): a new login would only add load (and
        // count against a per-user login limit), so the refresh token, not refused, is kept for the
        // next acquisition. Should that one fail so too, the session falls back: some servers answer
        // a refresh token they will never take with a 5xx.
        if (AuthError.isInstance(error) && (error.code === 'SERVER' || error.code === 'NETWORK') && !state.failing.has(base.refreshToken)) {
          refuse(state.failing, base.refreshToken);
          throw error;
        }
        // Another process may have spent it first (one that took this one's lock for stale: a paused
        // holder's, say): the successor it stored, when usable, rather than a login.
        const successor = this.#reuse(await this.#read(), mode)?.token;
        if (successor && successor.refreshToken !== base.refreshToken) return successor;
        state.failing.delete(base.refreshToken);
        // Refused by the server (invalid_grant): not presented again by this process, should the
        // login fail too (each later acquisition would otherwise ask twice, the refresh first). Not
        // after an outage or a timeout, nor another failure: the refresh token may still be good.
        if (AuthError.isInstance(error) && error.code === 'INVALID_CREDENTIALS') refuse(state.spent, base.refreshToken);
        this.#logger.debug('refresh failed; falling back to the primary grant', { code: errorCode(error) });
        this.emit('refresh-failed', { error, background: mode === 'background', fallback: true });
      }
    }
    return this.#checked(await this.#attempt((context) => authenticator.authenticate(context), ended));
  }

  #checked(token: unknown): Token {
    const checked = parseToken(token);
    if (!checked) {
      throw new AuthError('INVALID_RESPONSE', 'The authenticator returned no token with a string value (and type) without control characters, a numeric obtainedAt, and a numeric expiresAt and idleTtlMs or none.');
    }
    return checked;
  }

  /**
   * Run one authenticator call with a timeout, retrying SERVER and NETWORK failures with full-jitter
   * backoff. With `ended` (end() aborts it), an acquisition: ended, it stops, and a token that comes
   * after that is revoked.
   */
  async #attempt<T>(run: (context: AuthContext) => Promise<T> | undefined, ended?: AbortSignal): Promise<T | undefined> {
    for (let attempt = 1; ; attempt += 1) {
      const controller = new AbortController();
      const { signal } = controller;
      // end() aborts this attempt too; the listener goes when the attempt ends, since `ended` lives as
      // long as the session (AbortSignal.any would keep every attempt's signal alive with it).
      const onEnd = (): void => {
        controller.abort(ended?.reason);
      };
      ended?.addEventListener('abort', onEnd);
      const timeoutMs = this.#attemptTimeoutMs;
      const timer = setTimeout(() => {
        controller.abort(new AuthError('NETWORK', `The authenticator did not answer within attemptTimeoutMs (${timeoutMs} ms).`));
      }, timeoutMs);
      try {
        // Ends the attempt on time (or at end()) even when the authenticator ignores the signal.
        return await new Promise<T | undefined>((resolve, reject) => {
          ended?.throwIfAborted();
          signal.addEventListener('abort', () => { reject(signal.reason as Error); });
          Promise.resolve(run({ signal, now: this.#clock, logger: this.#logger, attempt })).then((value) => {
            // The attempt was abandoned at end(): this token is stored nowhere, so nobody else would revoke it.
            const late = ended?.aborted ? parseToken(value) : undefined;
            if (late) void this.#revoke(late);
            resolve(value);
          }, reject);
        });
      } catch (error) {
        if (ended?.aborted || !AuthError.isInstance(error) || !error.retryable || attempt > this.#retry.retries) throw error;
        const wait = backoffDelay(this.#retry, attempt);
        this.#logger.debug('attempt failed; retrying', { code: error.code, attempt, delayMs: wait });
        // end() cuts the wait short; the next attempt then does not start.
        await sleep(wait, undefined, { signal: ended }).catch(() => undefined);
      } finally {
        clearTimeout(timer);
        ended?.removeEventListener('abort', onEnd);
        controller.abort();
      }
    }
  }

  /** Run `work` holding the store's lock on this session's key. */
  #locked<T>(work: () => Promise<T>): Promise<T> {
    return this.#store.withLock(this.key, work, this.#lockOptions);
  }

  /** The stored record; one the store fails to read counts as missing, or, with `strict`, throws its error. */
  async #read(strict?: boolean): Promise<SessionRecord | undefined> {
    let stored;
    try {
      stored = await this.#store.get(this.key);
    } catch (error) {
      if (strict) throw error;
      this.#logger.warn('could not read the session record; treating it as missing', { code: errorCode(error) });
      return undefined;
    }
    const record = decodeRecord(stored);
    if (record === 'invalid') {
      this.#logger.warn('ignoring an unreadable session record');
      return undefined;
    }
    const owner = record?.identityHash;
    if (record && owner === undefined) {
      // Written before records said whose they are. Under the key derived from this identity it is this
      // identity's (rewritten with the hash at the next write); under a key the program chose, whose token
      // it holds cannot be told: only its throttle, which holds none, is kept.
      return this.#ownKey ? record : { throttledUntil: record.throttledUntil };
    }
    // Another identity's record is never used: its token (and refresh token) is not this identity's, nor its throttle.
    if (record && owner !== this.#identityHash) {
      throw new AuthError(
        'CONFIGURATION',
        `The record stored under the key "${this.key}" was written by another identity (another token URL, client, user or scope, say): give each identity its own key, or remove that record.`,
      );
    }
    return record;
  }

  async #write(record: SessionRecord): Promise<void> {
    try {
      await this.#store.set(this.key, encodeRecord(record, this.#identityHash));
    } catch (error) {
      this.#logger.warn('could not write the session record', { code: errorCode(error) });
    }
  }
}
