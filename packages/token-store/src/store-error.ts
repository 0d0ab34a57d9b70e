const marker = Symbol.for('@sessionkit/token-store.error');

/** What went wrong in a store. */
export type StoreErrorCode =
  /** The backing service (keychain, Secret Service, Redis) cannot be reached or is not installed. */
  | 'UNAVAILABLE'
  /** `withLock` waited `timeoutMs` without getting the lock. */
  | 'LOCK_TIMEOUT'
  /** A permission problem, or a path that is not a plain file (a planted symlink). */
  | 'PERMISSION'
  /** A call to the backing service took too long. */
  | 'TIMEOUT'
  /** A key or record the store cannot accept. */
  | 'INVALID_ARGUMENT'
  /** Any other input/output failure. */
  | 'IO';

/** Options of {@link StoreError}. */
export interface StoreErrorOptions {
  cause?: unknown;
}

/** The one error type of `@sessionkit/token-store`. */
export class StoreError extends Error {
  override readonly name = 'StoreError' as const;
  declare readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options: StoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : options);
    this.code = code;
    Object.defineProperty(this, marker, { value: true });
  }

  /** True for a StoreError from any copy of this package. */
  static isInstance(value: unknown): value is StoreError {
    // Only this package's constructor sets the marker (reading it from a primitive gives undefined),
    // as the other @sessionkit errors check theirs.
    return (value as Partial<Record<symbol, unknown>> | null | undefined)?.[marker] === true;
  }
}

/** `LOCK_TIMEOUT` after waiting `timeoutMs` for the lock `what`, held by `holder`. */
export function lockTimeout(timeoutMs: number, what: string, holder = 'another caller'): StoreError {
  return new StoreError('LOCK_TIMEOUT', `Waited ${timeoutMs} ms for the lock ${what}, held by ${holder}. Raise timeoutMs or find the holder.`);
}
