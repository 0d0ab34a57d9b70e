import { KeyedMutex } from './keyed-mutex.js';
import type { LockOptions, StoredRecord, TokenStore } from './types.js';
import { assertKey, assertRecord } from './validate.js';

/**
 * Keeps records in this process's memory, as JSON text so callers never share mutable
 * objects with the store. `withLock` serialises callers per key within this process.
 * For tests and short-lived programs.
 */
export class MemoryStore implements TokenStore {
  readonly #records = new Map<string, string>();
  readonly #locks = new KeyedMutex();

  get(key: string): Promise<StoredRecord | undefined> {
    assertKey(key);
    const text = this.#records.get(key);
    return Promise.resolve(text === undefined ? undefined : (JSON.parse(text) as StoredRecord));
  }

  set(key: string, value: StoredRecord): Promise<void> {
    assertKey(key);
    assertRecord(value);
    this.#records.set(key, JSON.stringify(value));
    return Promise.resolve();
  }

  delete(key: string): Promise<void> {
    assertKey(key);
    this.#records.delete(key);
    return Promise.resolve();
  }

  withLock<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    assertKey(key);
    return this.#locks.run(key, fn, options?.timeoutMs);
  }
}
