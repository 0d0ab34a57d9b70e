const marker = Symbol.for('@sessionkit/core-session.error');

/** How long a `RATE_LIMITED` answer without its own `Retry-After` (or `retryAfterMs`) throttles. */
export const DEFAULT_RETRY_AFTER_MS = 5000;

/** The longest a `RATE_LIMITED` answer throttles (1 hour): a longer `Retry-After` is cut to it. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * How long `RATE_LIMITED` with `retryAfterMs` throttles: 1 second to 1 hour; the 5 s default when it is
 * missing, negative or not a number. Never less than a second: a `Retry-After: 0`, or a date already
 * past when the clocks differ, would otherwise let every caller of every process through at once.
 */
export function throttleDelay(retryAfterMs: number | undefined): number {
  return retryAfterMs !== undefined && retryAfterMs >= 0 ? Math.min(Math.max(retryAfterMs, 1000), MAX_RETRY_AFTER_MS) : DEFAULT_RETRY_AFTER_MS;
}

/** What went wrong while obtaining a token. */
export type AuthErrorCode =
  /** The server refused the credentials or the request (invalid_client, invalid_grant: a 401, or a 400/403 with an OAuth error). */
  | 'INVALID_CREDENTIALS'
  /** The token endpoint answered 429, or a throttle recorded in the store is still running: see `retryAfterMs`. */
  | 'RATE_LIMITED'
  /** The request did not complete: connection refused or reset, DNS failure, timeout. Retried with backoff. */
  | 'NETWORK'
  /** The server answered 5xx. Retried with backoff; with a `Retry-After` (see `retryAfterMs`), waited out as a `RATE_LIMITED` is. */
  | 'SERVER'
  /** The server answered something that is not a usable token response. */
  | 'INVALID_RESPONSE'
  /** The session or authenticator is misconfigured (a missing environment variable, an insecure URL). */
  | 'CONFIGURATION';

/** Options of {@link AuthError}. */
export interface AuthErrorOptions {
  cause?: unknown;
  /** For `RATE_LIMITED`, and `SERVER` from an answer with `Retry-After`: how long to wait before asking again, in milliseconds. */
  retryAfterMs?: number | undefined;
  /** The HTTP status, when the error comes from an HTTP answer. */
  status?: number | undefined;
  /** The OAuth 2.0 `error` code of the answer, such as `invalid_grant`. */
  oauthError?: string | undefined;
}

/** The one error type of `@sessionkit/core-session`. Its message never holds a secret. */
export class AuthError extends Error {
  override readonly name = 'AuthError' as const;
  declare readonly code: AuthErrorCode;
  /** For `RATE_LIMITED`, and `SERVER` from an answer with `Retry-After`: how long to wait before asking again, in milliseconds. */
  declare readonly retryAfterMs: number | undefined;
  /** The HTTP status, when the error comes from an HTTP answer. */
  declare readonly status: number | undefined;
  /** The OAuth 2.0 `error` code of the answer, such as `invalid_grant`. */
  declare readonly oauthError: string | undefined;

  constructor(code: AuthErrorCode, message: string, options: AuthErrorOptions = {}) {
    // Error reads `cause` from the options (only when present) and ignores the rest.
    super(message, options);
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
    this.oauthError = options.oauthError;
    Object.defineProperty(this, marker, { value: true });
  }

  /** True for an AuthError from any copy of this package. */
  static isInstance(value: unknown): value is AuthError {
    // Only this package's constructor sets the marker (reading it from a primitive gives undefined).
    return (value as Partial<Record<symbol, unknown>> | null | undefined)?.[marker] === true;
  }

  /**
   * Whether the session retries an attempt that failed with this error (`SERVER`, `NETWORK`): not a
   * `SERVER` with `retryAfterMs`, which the session waits out as it does a `RATE_LIMITED`.
   */
  get retryable(): boolean {
    return this.code === 'NETWORK' || (this.code === 'SERVER' && this.retryAfterMs === undefined);
  }
}

/**
 * The message of `error` when it is an Error, else its string form; its type when neither can be
 * read (an object without a prototype, a throwing getter): never throws.
 */
export function errorMessage(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return typeof error;
  }
}

/** What to log about `error` without its message: its string `code`, else its name or type. Never throws. */
export function errorCode(error: unknown): string {
  try {
    const code = (error as { code?: unknown } | undefined)?.code;
    return typeof code === 'string' ? code : error instanceof Error ? error.name : typeof error;
  } catch {
    return typeof error;
  }
}
