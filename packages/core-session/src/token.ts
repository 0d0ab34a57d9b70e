import type { Logger } from '@sessionkit/logger';

/**
 * A credential a session hands to clients: an OAuth 2.0 access token, a command API's session
 * id, or anything else an {@link Authenticator} obtains. Plain data: it is stored as JSON.
 * Every field but `value` and `obtainedAt` is optional.
 */
export interface Token {
  /** The secret itself: an access token or a session id. */
  readonly value: string;
  /**
   * The authorization scheme, used by `session.authorization()` as `<type> <value>`.
   * @default 'Bearer'
   */
  readonly type?: string | undefined;
  /**
   * When it stops being valid, in UTC epoch milliseconds; undefined when unknown (never expires by time), as is
   * Infinity. Kept as it is when it is under 1 s after `obtainedAt` or not after it (a cache handing out a token with
   * the life it has left): a session serves such a token until 1 s after `obtainedAt`, then replaces it. From 1 s on,
   * the session's refresh window and margin apply as they are.
   */
  readonly expiresAt?: number | undefined;
  /** A refresh token for `Authenticator.refresh`, when the server issued one. */
  readonly refreshToken?: string | undefined;
  /**
   * Sliding expiry: the token dies this long after its last use. Overrides the session's
   * `idleTtlMs` for this token. A finite number (Infinity is refused as `INVALID_RESPONSE`); leave it out for
   * none. Under 1 s (0 or less too), a session does not idle the token out before 1 s after `obtainedAt`.
   */
  readonly idleTtlMs?: number | undefined;
  /** The granted scope, space-separated. */
  readonly scope?: string | undefined;
  /** When the request that obtained it was sent, in UTC epoch milliseconds. */
  readonly obtainedAt: number;
}

/** What a session gives an authenticator for one attempt. */
export interface AuthContext {
  /**
   * Aborted when the attempt times out (`attemptTimeoutMs`), or when `session.end()` cancels the
   * acquisition it belongs to (a `revoke()` that `end()` runs is aborted only by its timeout); pass
   * it to the request. A token returned after it aborted is not used; after `end()` it is revoked.
   */
  readonly signal: AbortSignal;
  /** The session's clock (UTC epoch milliseconds). Read it just before sending, for `obtainedAt`. */
  readonly now: () => number;
  /** The session's logger. Never give it a secret. */
  readonly logger: Logger;
  /** 1 for the first attempt, 2 for the first retry, and so on. */
  readonly attempt: number;
}

/**
 * How a session obtains tokens. `oauth2()` builds one for an OAuth 2.0 token endpoint; any
 * object of this shape works (a command API's StartSession login, a signed assertion, ...).
 * Throw `AuthError` from its methods so the session can tell what to retry:
 * `SERVER` and `NETWORK` are retried with backoff, `RATE_LIMITED` records a throttle that every
 * process sharing the store honours, the others fail at once.
 *
 * @example
 * const authenticator: Authenticator = {
 *   identity: 'ispapi https://api.example.com/api/call.cgi demo',
 *   async authenticate({ now, signal }) {
 *     const obtainedAt = now();
 *     const sessionId = await startSession(signal);
 *     return { value: sessionId, type: 'Session', idleTtlMs: 15 * 60_000, obtainedAt };
 *   },
 * };
 */
export interface Authenticator {
  /**
   * Who the tokens belong to, without any secret: for example the token URL, client id, user
   * name and scope. Sessions with the same identity (and store) share one token; the store key
   * is a hash of it, and every stored record carries another hash of it: a session refuses the
   * record of another identity under its key with `AuthError('CONFIGURATION')`.
   */
  readonly identity: string;
  /** Obtain a new token with the primary credentials. */
  authenticate(context: AuthContext): Promise<Token>;
  /**
   * Obtain a new token from `token` (its refresh token). When it fails, the session falls back to
   * `authenticate` once. Reject with `AuthError('INVALID_CREDENTIALS')` when the server refuses the
   * refresh token: this process then never presents it again (after another failure it does, at the
   * next acquisition). Left out (or `null`, from plain JavaScript): none.
   */
  refresh?(token: Token, context: AuthContext): Promise<Token>;
  /** Log out or revoke `token`; called by `session.end()`, and for a token that came after `end()` abandoned its acquisition. Left out (or `null`): none. */
  revoke?(token: Token, context: AuthContext): Promise<void>;
}
