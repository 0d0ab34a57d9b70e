import { fingerprint, type Logger, silentLogger } from '@sessionkit/logger';
import { MemoryStore, StoreError, type TokenStore } from '@sessionkit/token-store';
import { AuthError } from './auth-error.js';
import { backoffDelay, delay, type RetryOptions, type RetryPolicy, retryPolicy } from './backoff.js';
import { oauth2, type OAuth2Options } from './oauth2.js';
import { requireSecureUrl } from './secure-url.js';
import { compactToken, decodeRecord, encodeRecord, parseToken, type SessionRecord } from './session-record.js';
import { storeKeyFor } from './store-key.js';
import type { AuthContext, Authenticator, Token } from './token.js';
import { TypedEmitter } from './typed-emitter.js';

/** Options of {@link Session}. */
export interface SessionOptions {
  /** How tokens are obtained: `oauth2({...})` or any {@link Authenticator}. */
  authenticator: Authenticator;
  /**
   * Where the token and the throttle record live. Share a `FileStore` (or keychain) between
   * processes so they share one token. Sessions in one process that share a store and key
   * also share one acquisition in flight.
   * @default a new MemoryStore (this session only)
   */
  store?: TokenStore | undefined;
  /** The store key. @default a hash of `authenticator.identity` (never a secret) */
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
   * after its last use (`getToken()` or `touch()`).
   * @default undefined (no idle expiry)
   */
  idleTtlMs?: number | undefined;
  /** @default silentLogger */
  logger?: Logger | undefined;
  /** The time in UTC epoch milliseconds; tests pass a controllable clock. @default Date.now */
  clock?: (() => number) | undefined;
  /** Retries of attempts that fail with `SERVER` or `NETWORK`, with full-jitter backoff. @default { retries: 2, baseDelayMs: 200, maxDelayMs: 5000 } */
  retry?: RetryOptions | undefined;
  /** Give up on one attempt of the authenticator after this long (hang protection). @default 30000 */
  attemptTimeoutMs?: number | undefined;
  /** How long to wait for the store's lock before failing with `StoreError('LOCK_TIMEOUT')`. @default the store's own */
  lockTimeoutMs?: number | undefined;
  /** The API base URL the clients of this session should call, when configured (`SESSIONKIT_API_URL`). */
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
  token: Token | undefined;
  lastUsedAt: number | undefined;
}

/** Payload of the `refresh-failed` event. */
export interface RefreshFailedEvent {
  /** Usually an `AuthError`; a `StoreError` when the store's lock could not be taken. */
  error: unknown;
  /** True for a refresh in the background: the session keeps serving its current token. */
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
  /** An attempt to get a new token failed. */
  'refresh-failed': [event: RefreshFailedEvent];
  /** The token endpoint throttles this identity (a 429 here, or a throttle record from another process). */
  throttled: [event: ThrottledEvent];
}

interface Acquired {
  token: Token;
  lastUsedAt: number;
  persistedUsedAt: number;
}

type Mode = 'background' | 'blocking';

/** What sessions in one process that share a store and key share. */
interface SharedState {
  flight: Promise<Acquired> | undefined;
  /** Token values invalidated in this process (after a 401), newest last. */
  invalid: Set<string>;
  /** The latest throttle seen in this process. */
  throttledUntil: number;
}

const MAX_INVALID = 32;
const DEFAULT_RETRY_AFTER_MS = 5000;
const shared = new WeakMap<TokenStore, Map<string, SharedState>>();

function sharedStateFor(store: TokenStore, key: string): SharedState {
  let byKey = shared.get(store);
  if (byKey === undefined) {
    byKey = new Map();
    shared.set(store, byKey);
  }
  let state = byKey.get(key);
  if (state === undefined) {
    state = { flight: undefined, invalid: new Set(), throttledUntil: 0 };
    byKey.set(key, state);
  }
  return state;
}

function authorizationOf(token: Token): string {
  return `${token.type ?? 'Bearer'} ${token.value}`;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) throw new RangeError(`${name} must be 0 or more milliseconds, not ${String(value)}.`);
  return value;
}

function errorCode(error: unknown): string {
  if (AuthError.isInstance(error)) return error.code;
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string') return (error as { code: string }).code;
  return error instanceof Error ? error.name : typeof error;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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
 * const response = await fetch(url, { headers: { authorization: await session.authorization() } });
 * if (response.status === 401) session.invalidate(token); // then get a token again and replay once
 */
export class Session extends TypedEmitter<SessionEvents> {
  /** The store key of this session's identity. */
  readonly key: string;
  /** `authenticator.identity`. */
  readonly identity: string;
  /** The API base URL from the options or `SESSIONKIT_API_URL`, when set. */
  readonly apiUrl: string | undefined;

  readonly #authenticator: Authenticator;
  readonly #store: TokenStore;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #refreshWindowMs: number;
  readonly #expiryMarginMs: number;
  readonly #idleTtlMs: number | undefined;
  readonly #retry: RetryPolicy;
  readonly #attemptTimeoutMs: number;
  readonly #lockOptions: { timeoutMs?: number };
  readonly #shared: SharedState;

  #token: Token | undefined;
  #ready: Promise<Token> | undefined;
  #readyAuthorization: Promise<string> | undefined;
  /** Until this time getToken() answers from memory without any other check. */
  #fastUntil = -Infinity;
  #lastUsedAt = 0;
  #persistedUsedAt = 0;
  #persisting: Promise<void> | undefined;
  // Timings of the current token, computed once when it is adopted.
  #refreshAt = Infinity;
  #forcedAt = Infinity;
  #expiresAt = Infinity;
  #idleTtl: number | undefined;
  #idleMargin = 0;
  #backgroundRunning = false;
  #backgroundRetryAt = 0;
  #generation = 0;
  #lastThrottleEmitted = 0;

  constructor(options: SessionOptions) {
    const logger = options.logger ?? silentLogger;
    super(logger);
    const authenticator = options.authenticator as Authenticator | undefined;
    if (authenticator === undefined || typeof authenticator.authenticate !== 'function' || typeof authenticator.identity !== 'string') {
      throw new TypeError('Session needs an authenticator: oauth2({...}) or an object with identity and authenticate().');
    }
    this.#authenticator = authenticator;
    this.identity = authenticator.identity;
    this.#store = options.store ?? new MemoryStore();
    this.key = options.key ?? storeKeyFor(authenticator.identity);
    this.apiUrl = options.apiUrl;
    this.#clock = options.clock ?? Date.now;
    this.#refreshWindowMs = nonNegative('refreshWindowMs', options.refreshWindowMs, 300_000);
    this.#expiryMarginMs = nonNegative('expiryMarginMs', options.expiryMarginMs, 10_000);
    this.#idleTtlMs = options.idleTtlMs === undefined ? undefined : nonNegative('idleTtlMs', options.idleTtlMs, 0);
    this.#retry = retryPolicy(options.retry);
    this.#attemptTimeoutMs = nonNegative('attemptTimeoutMs', options.attemptTimeoutMs, 30_000);
    this.#lockOptions = options.lockTimeoutMs === undefined ? {} : { timeoutMs: nonNegative('lockTimeoutMs', options.lockTimeoutMs, 0) };
    this.#logger = logger.child({ component: 'session', key: this.key.slice(-8) });
    this.#shared = sharedStateFor(this.#store, this.key);
  }

  /**
   * A session for the OAuth 2.0 identity described by environment variables:
   * `SESSIONKIT_TOKEN_URL`, `SESSIONKIT_CLIENT_ID` (required), `SESSIONKIT_CLIENT_SECRET`,
   * `SESSIONKIT_USERNAME`, `SESSIONKIT_PASSWORD`, `SESSIONKIT_SCOPE`, `SESSIONKIT_API_URL`.
   * With a user name and password it uses the `password` grant, else `client_credentials`
   * (which needs the secret). A missing variable is an `AuthError('CONFIGURATION')` naming it.
   *
   * @example
   * const session = Session.fromEnv(process.env, { store: new FileStore() });
   */
  static fromEnv(env: Record<string, string | undefined> = process.env, options: SessionFromEnvOptions = {}): Session {
    const read = (name: string): string | undefined => {
      const value = env[name];
      return value === undefined || value.trim() === '' ? undefined : value;
    };
    const need = (name: string, hint: string): string => {
      const value = read(name);
      if (value === undefined) throw new AuthError('CONFIGURATION', `The environment variable ${name} is not set: ${hint}`);
      return value;
    };
    const tokenUrl = need('SESSIONKIT_TOKEN_URL', 'set it to the OAuth 2.0 token endpoint, such as https://id.example.com/connect/token.');
    const clientId = need('SESSIONKIT_CLIENT_ID', 'set it to the OAuth 2.0 client id.');
    const username = read('SESSIONKIT_USERNAME');
    const password = read('SESSIONKIT_PASSWORD');
    let clientSecret: string | undefined;
    if (username !== undefined || password !== undefined) {
      if (username === undefined) need('SESSIONKIT_USERNAME', 'the password grant needs it because SESSIONKIT_PASSWORD is set.');
      if (password === undefined) need('SESSIONKIT_PASSWORD', 'the password grant needs it because SESSIONKIT_USERNAME is set.');
      clientSecret = read('SESSIONKIT_CLIENT_SECRET');
    } else {
      clientSecret = need(
        'SESSIONKIT_CLIENT_SECRET',
        'the client_credentials grant needs it (or set SESSIONKIT_USERNAME and SESSIONKIT_PASSWORD for the password grant).',
      );
    }
    const apiUrl = read('SESSIONKIT_API_URL');
    if (apiUrl !== undefined && !URL.canParse(apiUrl)) throw new AuthError('CONFIGURATION', 'The environment variable SESSIONKIT_API_URL is not a valid URL.');
    const { allowInsecure, timeoutMs, clientAuthentication, fetch, ...sessionOptions } = options;
    // Checked here too, so that a bad or plain-http URL is reported by the variable's name.
    requireSecureUrl(tokenUrl, 'The environment variable SESSIONKIT_TOKEN_URL', allowInsecure === true);
    const authenticator = oauth2({
      tokenUrl,
      grant: username === undefined ? 'client_credentials' : 'password',
      clientId,
      clientSecret,
      username,
      password,
      scope: read('SESSIONKIT_SCOPE'),
      allowInsecure,
      timeoutMs,
      clientAuthentication,
      fetch,
    });
    return new Session({ ...sessionOptions, authenticator, apiUrl: options.apiUrl ?? apiUrl });
  }

  /**
   * A session that starts with the token of `data` (from `session.export()`), for programs that
   * persist sessions themselves. Throws `AuthError('CONFIGURATION')` when `data` belongs to
   * another identity or is not session data.
   */
  static restore(data: SessionData, options: SessionOptions): Session {
    const session = new Session(options);
    const input = data as Partial<SessionData> | undefined;
    if (input?.version !== 1 || typeof input.key !== 'string') {
      throw new AuthError('CONFIGURATION', 'Session.restore() needs the data session.export() returned (version 1).');
    }
    if (input.key !== session.key) {
      throw new AuthError('CONFIGURATION', 'This session data belongs to another identity (its key differs from this session\'s).');
    }
    if (input.token !== undefined) {
      const token = parseToken(input.token);
      if (token === undefined) throw new AuthError('CONFIGURATION', 'The session data holds a token of an unknown shape.');
      const lastUsedAt = typeof input.lastUsedAt === 'number' ? input.lastUsedAt : token.obtainedAt;
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
    if (now < this.#fastUntil && this.#ready !== undefined) {
      this.#lastUsedAt = now;
      return this.#ready;
    }
    return this.#slowGetToken(now);
  }

  /** The `Authorization` header value for the current token, such as `Bearer eyJ…`. */
  authorization(): Promise<string> {
    const now = this.#clock();
    if (now < this.#fastUntil && this.#readyAuthorization !== undefined) {
      this.#lastUsedAt = now;
      return this.#readyAuthorization;
    }
    return this.#slowGetToken(now).then(authorizationOf);
  }

  /**
   * After the API answered 401 with `token`: drop it, but only if it is still the current
   * token (compare before invalidating), so that many failed requests cause one acquisition.
   * Takes the Token, its value, or the `authorization()` string. Then get a token and replay once.
   */
  invalidate(token: Token | string): void {
    const current = this.#token;
    const value = typeof token === 'string' ? token : token.value;
    const matches = current !== undefined && (value === current.value || value === authorizationOf(current));
    const invalidValue = matches ? current.value : value;
    this.#shared.invalid.delete(invalidValue);
    this.#shared.invalid.add(invalidValue);
    if (this.#shared.invalid.size > MAX_INVALID) {
      const oldest = this.#shared.invalid.values().next().value;
      if (oldest !== undefined) this.#shared.invalid.delete(oldest);
    }
    if (!matches) {
      this.#logger.trace('invalidate: not the current token, ignored');
      return;
    }
    this.#logger.debug('token invalidated', { fingerprint: fingerprint(current.value) });
    this.#forget();
  }

  /**
   * Record a use of the token now, for sliding (idle) expiry, when it was used other than
   * through `getToken()` (which records use itself). Written to the store lazily.
   */
  touch(): void {
    const now = this.#clock();
    if (this.#token === undefined) return;
    if (this.#idleTtl !== undefined && now >= this.#lastUsedAt + this.#idleTtl) return;
    this.#lastUsedAt = now;
    this.#persistUseIfDue(now);
  }

  /** Write the last-use time to the store now instead of lazily (before a process exits, say). */
  async flush(): Promise<void> {
    while (this.#persisting !== undefined) await this.#persisting;
    const token = this.#token;
    const usedAt = this.#lastUsedAt;
    if (token === undefined || usedAt <= this.#persistedUsedAt) return;
    this.#persistedUsedAt = usedAt;
    this.#updateFastUntil();
    const persisting = this.#store
      .withLock(
        this.key,
        async () => {
          const record = await this.#read();
          if (record?.token?.value !== token.value || (record.lastUsedAt ?? 0) >= usedAt) return;
          await this.#write({ ...record, lastUsedAt: usedAt });
        },
        this.#lockOptions,
      )
      .catch((error: unknown) => {
        this.#logger.warn('could not record the last use of the token in the store', { code: errorCode(error) });
      })
      .finally(() => {
        this.#persisting = undefined;
      });
    this.#persisting = persisting;
    await persisting;
  }

  /**
   * End the session: forget the token here and in the store (a running throttle stays
   * recorded), then log out or revoke it when the authenticator can. A failed revocation is
   * logged, not thrown. A later `getToken()` authenticates again.
   */
  async end(): Promise<void> {
    this.#generation += 1;
    let token = this.#token;
    if (token !== undefined) this.invalidate(token);
    this.#forget();
    await this.#store.withLock(
      this.key,
      async () => {
        const record = await this.#read();
        token ??= record?.token;
        const throttledUntil = record?.throttledUntil;
        if (throttledUntil !== undefined && throttledUntil > this.#clock()) {
          await this.#store.set(this.key, encodeRecord({ token: undefined, lastUsedAt: undefined, throttledUntil }));
        } else {
          await this.#store.delete(this.key);
        }
      },
      this.#lockOptions,
    );
    const authenticator = this.#authenticator;
    if (token === undefined || authenticator.revoke === undefined) return;
    const revoked = token;
    try {
      await this.#attempt((context) => authenticator.revoke?.(revoked, context) ?? Promise.resolve());
      this.#logger.debug('token revoked', { fingerprint: fingerprint(revoked.value) });
    } catch (error) {
      this.#logger.warn('could not revoke the token', { code: errorCode(error), message: errorMessage(error) });
    }
  }

  /**
   * The current token and its last use, for programs that persist sessions themselves
   * (`Session.restore`). The result holds secrets: keep it private.
   */
  export(): SessionData {
    const token = this.#token;
    return { version: 1, key: this.key, token: token === undefined ? undefined : compactToken(token), lastUsedAt: token === undefined ? undefined : this.#lastUsedAt };
  }

  // ---------------------------------------------------------------------------------------

  async #slowGetToken(now: number): Promise<Token> {
    const token = this.#token;
    if (token !== undefined && this.#usable(now)) {
      this.#lastUsedAt = now;
      if (now >= this.#refreshAt) this.#refreshInBackground(now);
      this.#persistUseIfDue(now);
      this.#updateFastUntil();
      return token;
    }
    if (token !== undefined && now < this.#shared.throttledUntil && this.#stillValid(now)) {
      // Throttled: a token that has not expired yet keeps being used.
      this.#lastUsedAt = now;
      return token;
    }
    for (let round = 0; ; round += 1) {
      const acquired = await this.#acquire('blocking');
      if (!this.#shared.invalid.has(acquired.value) || round >= 1) return acquired;
    }
  }

  #usable(now: number): boolean {
    return now < this.#forcedAt && (this.#idleTtl === undefined || now < this.#lastUsedAt + this.#idleTtl - this.#idleMargin);
  }

  #stillValid(now: number): boolean {
    return now < this.#expiresAt && (this.#idleTtl === undefined || now < this.#lastUsedAt + this.#idleTtl);
  }

  /** Start writing lastUsedAt to the store when it is due (idle tokens only) and no write is running. */
  #persistUseIfDue(now: number): void {
    if (this.#idleTtl === undefined || this.#persisting !== undefined) return;
    if (now - this.#persistedUsedAt >= this.#persistInterval()) void this.flush();
  }

  #persistInterval(): number {
    return Math.max(1, (this.#idleTtl ?? Infinity) / 4);
  }

  #updateFastUntil(): void {
    if (this.#token === undefined) {
      this.#fastUntil = -Infinity;
      return;
    }
    let until = Math.min(this.#refreshAt, this.#forcedAt);
    if (this.#idleTtl !== undefined) {
      until = Math.min(until, this.#lastUsedAt + this.#idleTtl - this.#idleMargin, this.#persistedUsedAt + this.#persistInterval());
    }
    this.#fastUntil = until;
  }

  #forget(): void {
    this.#token = undefined;
    this.#ready = undefined;
    this.#readyAuthorization = undefined;
    this.#fastUntil = -Infinity;
  }

  /** Refresh point, forced point and expiry of `token` under this session's settings. */
  #timings(token: Token): { refreshStart: number; forcedAt: number; expiresAt: number; idleTtl: number | undefined; idleMargin: number } {
    const idleTtl = token.idleTtlMs ?? this.#idleTtlMs;
    const idleMargin = idleTtl === undefined ? 0 : Math.min(this.#expiryMarginMs, idleTtl / 10);
    if (token.expiresAt === undefined) return { refreshStart: Infinity, forcedAt: Infinity, expiresAt: Infinity, idleTtl, idleMargin };
    const lifetime = Math.max(0, token.expiresAt - token.obtainedAt);
    const window = Math.min(this.#refreshWindowMs, lifetime / 2);
    const margin = Math.min(this.#expiryMarginMs, lifetime / 10);
    return { refreshStart: token.expiresAt - window, forcedAt: token.expiresAt - margin, expiresAt: token.expiresAt, idleTtl, idleMargin };
  }

  #adopt(acquired: Acquired, how: string): void {
    const { token } = acquired;
    const changed = this.#token?.value !== token.value;
    this.#token = token;
    if (changed || this.#ready === undefined) {
      this.#ready = Promise.resolve(token);
      this.#readyAuthorization = Promise.resolve(authorizationOf(token));
      this.#lastUsedAt = acquired.lastUsedAt;
      this.#persistedUsedAt = acquired.persistedUsedAt;
    } else {
      this.#lastUsedAt = Math.max(this.#lastUsedAt, acquired.lastUsedAt);
      this.#persistedUsedAt = Math.max(this.#persistedUsedAt, acquired.persistedUsedAt);
    }
    const timings = this.#timings(token);
    this.#forcedAt = timings.forcedAt;
    this.#expiresAt = timings.expiresAt;
    this.#idleTtl = timings.idleTtl;
    this.#idleMargin = timings.idleMargin;
    // Background refreshes start at a random point of the first half of the window, so that
    // processes holding the same token do not all refresh at once.
    const spread = Number.isFinite(timings.refreshStart) ? Math.max(0, timings.forcedAt - timings.refreshStart) / 2 : 0;
    this.#refreshAt = timings.refreshStart + Math.random() * spread;
    this.#backgroundRetryAt = 0;
    this.#updateFastUntil();
    if (changed) {
      this.#logger.debug(how === 'acquired' ? 'token acquired' : `token ${how}`, {
        fingerprint: fingerprint(token.value),
        expiresInMs: token.expiresAt === undefined ? undefined : token.expiresAt - this.#clock(),
      });
      this.emit('token', token);
    }
  }

  #refreshInBackground(now: number): void {
    if (this.#backgroundRunning || this.#shared.flight !== undefined || now < this.#backgroundRetryAt || now < this.#shared.throttledUntil) return;
    this.#backgroundRunning = true;
    this.#logger.debug('refreshing in the background', { expiresInMs: this.#expiresAt - now });
    this.#acquire('background')
      .catch((error: unknown) => {
        const at = this.#clock();
        this.#backgroundRetryAt = at + Math.min(30_000, Math.max(1000, (this.#forcedAt - at) / 4));
        this.#logger.warn('background refresh failed; still serving the current token', { code: errorCode(error), message: errorMessage(error) });
        this.emit('refresh-failed', { error, background: true, fallback: false });
      })
      .finally(() => {
        this.#backgroundRunning = false;
      });
  }

  /** Join the acquisition in flight for this store and key, or start one. */
  #acquire(mode: Mode): Promise<Token> {
    const state = this.#shared;
    let flight = state.flight;
    if (flight === undefined) {
      const started = this.#runAcquisition(mode);
      flight = started;
      state.flight = started;
      const clear = (): void => {
        if (state.flight === started) state.flight = undefined;
      };
      started.then(clear, (error: unknown) => {
        clear();
        this.#logger.debug('could not get a token', { code: errorCode(error), background: mode === 'background' });
      });
    } else {
      this.#logger.trace('joining the acquisition in flight');
    }
    const generation = this.#generation;
    return flight.then((acquired) => {
      if (generation === this.#generation && !this.#shared.invalid.has(acquired.token.value)) this.#adopt(acquired, 'acquired');
      return acquired.token;
    });
  }

  async #runAcquisition(mode: Mode): Promise<Acquired> {
    // Read without the lock first: when another process already holds a good token, no lock is needed.
    const before = await this.#read();
    const early = this.#pick(before, mode) ?? this.#whileThrottled(before, mode);
    if (early !== undefined) return early;

    this.#logger.trace('waiting for the store lock');
    try {
      return await this.#lockedAcquisition(mode);
    } catch (error) {
      // The holder took too long (its own retries, say); it may have stored a token meanwhile.
      if (StoreError.isInstance(error) && error.code === 'LOCK_TIMEOUT') {
        const found = this.#pick(await this.#read(), mode);
        if (found !== undefined) return found;
      }
      // The store cannot be reached (a Redis outage, say): a token that has not expired yet
      // beats an error; without one, the caller gets the StoreError.
      if (mode === 'blocking' && StoreError.isInstance(error) && (error.code === 'UNAVAILABLE' || error.code === 'TIMEOUT')) {
        const servable = this.#servable(undefined);
        if (servable !== undefined) {
          this.#logger.warn('the store is unavailable; serving the current token until it expires', { code: error.code });
          return servable;
        }
      }
      throw error;
    }
  }

  #lockedAcquisition(mode: Mode): Promise<Acquired> {
    return this.#store.withLock(
      this.key,
      async () => {
        // Another process may have done the work while this one waited for the lock.
        const record = await this.#read();
        const found = this.#pick(record, mode) ?? this.#whileThrottled(record, mode);
        if (found !== undefined) return found;
        let token: Token;
        try {
          token = await this.#obtain(record?.token, mode);
        } catch (error) {
          if (AuthError.isInstance(error) && error.code === 'RATE_LIMITED') {
            const until = this.#clock() + (error.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS);
            await this.#write({ token: record?.token, lastUsedAt: record?.lastUsedAt, throttledUntil: until });
            this.#noteThrottle(until);
            const servable = mode === 'blocking' ? this.#servable(record) : undefined;
            if (servable !== undefined) return servable;
          }
          throw error;
        }
        const now = this.#clock();
        await this.#write({ token, lastUsedAt: now, throttledUntil: undefined });
        return { token, lastUsedAt: now, persistedUsedAt: now };
      },
      this.#lockOptions,
    );
  }

  /** The stored token when it can be used as it is for `mode`. */
  #pick(record: SessionRecord | undefined, mode: Mode): Acquired | undefined {
    const token = record?.token;
    if (token === undefined || this.#shared.invalid.has(token.value)) return undefined;
    const now = this.#clock();
    const lastUsedAt = Math.max(record?.lastUsedAt ?? token.obtainedAt, this.#token?.value === token.value ? this.#lastUsedAt : 0);
    const timings = this.#timings(token);
    if (now >= timings.forcedAt) return undefined;
    if (timings.idleTtl !== undefined && now >= lastUsedAt + timings.idleTtl - timings.idleMargin) return undefined;
    if (mode === 'background' && now >= timings.refreshStart) return undefined;
    return { token, lastUsedAt, persistedUsedAt: record?.lastUsedAt ?? token.obtainedAt };
  }

  /** A token that has not expired yet, from the store or memory. */
  #servable(record: SessionRecord | undefined): Acquired | undefined {
    const now = this.#clock();
    const candidates: [Token | undefined, number | undefined][] = [
      [record?.token, record?.lastUsedAt],
      [this.#token, this.#lastUsedAt],
    ];
    for (const [token, usedAt] of candidates) {
      if (token === undefined || this.#shared.invalid.has(token.value)) continue;
      const timings = this.#timings(token);
      const lastUsedAt = usedAt ?? token.obtainedAt;
      if (now >= timings.expiresAt) continue;
      if (timings.idleTtl !== undefined && now >= lastUsedAt + timings.idleTtl) continue;
      return { token, lastUsedAt, persistedUsedAt: record?.lastUsedAt ?? token.obtainedAt };
    }
    return undefined;
  }

  /**
   * While a throttle runs: a still-valid token for a blocking caller, else RATE_LIMITED.
   * Undefined when there is no throttle.
   */
  #whileThrottled(record: SessionRecord | undefined, mode: Mode): Acquired | undefined {
    const now = this.#clock();
    const until = Math.max(record?.throttledUntil ?? 0, this.#shared.throttledUntil);
    if (until <= now) return undefined;
    this.#noteThrottle(until);
    const servable = mode === 'blocking' ? this.#servable(record) : undefined;
    if (servable !== undefined) return servable;
    throw new AuthError('RATE_LIMITED', `The token endpoint is throttling this identity; retry after ${until - now} ms.`, { retryAfterMs: until - now });
  }

  #noteThrottle(until: number): void {
    if (until > this.#shared.throttledUntil) this.#shared.throttledUntil = until;
    if (until === this.#lastThrottleEmitted) return;
    this.#lastThrottleEmitted = until;
    const retryAfterMs = Math.max(0, until - this.#clock());
    this.#logger.warn('the token endpoint is throttling this identity', { retryAfterMs });
    this.emit('throttled', { until, retryAfterMs });
  }

  /** A new token: by the refresh token when there is one, falling back to the primary grant once. */
  async #obtain(stored: Token | undefined, mode: Mode): Promise<Token> {
    const authenticator = this.#authenticator;
    const base = [stored, this.#token].find((token) => token?.refreshToken !== undefined);
    if (base !== undefined && authenticator.refresh !== undefined) {
      try {
        return this.#checked(
          await this.#attempt((context) => authenticator.refresh?.(base, context) ?? Promise.reject(new AuthError('INVALID_CREDENTIALS', 'No refresh.'))),
        );
      } catch (error) {
        if (AuthError.isInstance(error) && error.code === 'RATE_LIMITED') throw error;
        this.#logger.debug('refresh failed; falling back to the primary grant', { code: errorCode(error) });
        this.emit('refresh-failed', { error, background: mode === 'background', fallback: true });
      }
    }
    return this.#checked(await this.#attempt((context) => authenticator.authenticate(context)));
  }

  #checked(token: Token): Token {
    const checked = parseToken(token);
    if (checked === undefined) {
      throw new AuthError('INVALID_RESPONSE', 'The authenticator returned something that is not a token (it needs a non-empty string value and a numeric obtainedAt).');
    }
    return checked;
  }

  /** Run one authenticator call with a timeout, retrying SERVER and NETWORK failures with full-jitter backoff. */
  async #attempt<T>(run: (context: AuthContext) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const controller = new AbortController();
      const timeoutMs = this.#attemptTimeoutMs;
      const timer = setTimeout(() => {
        controller.abort(new AuthError('NETWORK', `The authenticator did not finish within ${timeoutMs} ms.`));
      }, timeoutMs);
      const context: AuthContext = { signal: controller.signal, now: this.#clock, logger: this.#logger, attempt };
      try {
        return await new Promise<T>((resolve, reject) => {
          controller.signal.addEventListener('abort', () => { reject(controller.signal.reason as Error); }, { once: true });
          run(context).then(resolve, reject);
        });
      } catch (error) {
        const retryable = AuthError.isInstance(error) && error.retryable;
        if (!retryable || attempt > this.#retry.retries) throw error;
        const wait = backoffDelay(this.#retry, attempt);
        this.#logger.debug('attempt failed; retrying', { code: errorCode(error), attempt, delayMs: wait });
        await delay(wait);
      } finally {
        clearTimeout(timer);
        controller.abort();
      }
    }
  }

  async #read(): Promise<SessionRecord | undefined> {
    let stored;
    try {
      stored = await this.#store.get(this.key);
    } catch (error) {
      this.#logger.warn('could not read the session record; treating it as missing', { code: errorCode(error) });
      return undefined;
    }
    const record = decodeRecord(stored);
    if (record === 'invalid') {
      this.#logger.warn('ignoring a session record this version cannot read');
      return undefined;
    }
    return record;
  }

  async #write(record: SessionRecord): Promise<void> {
    try {
      await this.#store.set(this.key, encodeRecord(record));
    } catch (error) {
      this.#logger.warn('could not write the session record; other processes will not see this token', { code: errorCode(error) });
    }
  }
}
