import { callAsync } from './call-async.js';
import { StoreError } from './store-error.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { LockOptions, StoredRecord, TokenStore } from './types.js';
import { assertKey, assertLockArguments, assertMilliseconds, defaultLockTimeoutMs, parseRecord, serializeRecord } from './validate.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * How long `withLock` waits for a key held by another caller before `LOCK_TIMEOUT`, unless a
   * call passes its own `timeoutMs`.
   * @default 10000
   */
  lockTimeoutMs?: number | undefined;
}

/**
 * Keeps records in this process's memory, as JSON text so callers never share mutable
 * objects with the store. `withLock` serialises callers per key within this process.
 * For tests and short-lived programs. As in the other stores, waiting for a lock is bounded
 * (`lockTimeoutMs`, 10 s by default) and ends in `LOCK_TIMEOUT`, never in a silent hang.
 *
 * @example
 * const store = new MemoryStore();
 * await store.set('identity', { version: 1, accessToken: '…' });
 * await store.withLock('identity', async () => {
 *   // read and write the record: no other caller of this store holds the lock meanwhile
 * });
 */
export class MemoryStore implements TokenStore {
  readonly #records = new Map<string, string>();
  readonly #locks = new KeyedMutex();
  readonly #lockTimeoutMs: number;

  constructor(options?: MemoryStoreOptions | null) {
    // From JavaScript: null is no options; a number or a string is none either.
    if (options != null && typeof options != 'object') throw new StoreError('INVALID_ARGUMENT', 'MemoryStore options must be an object.');
    this.#lockTimeoutMs = assertMilliseconds('lockTimeoutMs', options?.lockTimeoutMs ?? defaultLockTimeoutMs);
  }

  /** The record under `key`, or undefined. Rejects with `INVALID_ARGUMENT` for a bad key. */
  get(key: string): Promise<StoredRecord | undefined> {
    return callAsync(() => {
      assertKey(key);
      const text = this.#records.get(key);
      return text === undefined ? undefined : parseRecord(text);
    });
  }

  /** Stores a copy of `value`. Rejects with `INVALID_ARGUMENT` for a bad key or record. */
  set(key: string, value: StoredRecord): Promise<void> {
    return callAsync(() => {
      assertKey(key);
      this.#records.set(key, serializeRecord(value));
    });
  }

  /** Removes `key`; a missing key is not an error. */
  delete(key: string): Promise<void> {
    return callAsync(() => {
      assertKey(key);
      this.#records.delete(key);
    });
  }

  /**
   * Runs `fn` once every earlier `withLock` caller for `key` in this store has finished;
   * waiting longer than `options.timeoutMs` (default `lockTimeoutMs`) rejects with
   * `LOCK_TIMEOUT`. Not re-entrant: calling `withLock` for the same key inside `fn` waits for
   * itself until the timeout.
   */
  withLock<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return callAsync(() => {
      assertLockArguments(key, fn, options);
      // On the global timers: everything here is in this process, so a test's fake clock bounds the wait.
      return this.#locks.run(key, fn, options?.timeoutMs ?? this.#lockTimeoutMs, globalThis);
    });
  }
}
