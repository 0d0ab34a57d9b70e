/**
 * A stored record: a JSON object. `version` names the record's format so that it can evolve;
 * readers ignore records whose version they do not know.
 */
export interface StoredRecord {
  version: number;
  [field: string]: unknown;
}

/** Options of {@link TokenStore.withLock}. */
export interface LockOptions {
  /** How long to wait for the lock before failing with `StoreError('LOCK_TIMEOUT')`. */
  timeoutMs?: number | undefined;
}

/**
 * Where tokens live. Every adapter (memory, file, keychain, ...) implements this; sessions
 * take any of them.
 */
export interface TokenStore {
  /**
   * The record under `key`, or undefined when there is none or what is stored there is no record
   * (it does not parse); rejects with a `StoreError` when the store cannot be read.
   */
  get(key: string): Promise<StoredRecord | undefined>;
  /** Store `value` under `key`, replacing what was there. */
  set(key: string, value: StoredRecord): Promise<void>;
  /** Remove `key`; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Run `fn` holding the exclusive lock for `key`: exclusive across processes where the
   * adapter can be (file, keychain, Redis), within this process otherwise (memory). A bad key
   * or `timeoutMs`, or an `fn` that is not a function, is refused with
   * `StoreError('INVALID_ARGUMENT')` before any lock is taken.
   */
  withLock<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T>;
}
