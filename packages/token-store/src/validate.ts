import { StoreError } from './store-error.js';
import type { StoredRecord } from './types.js';

/** Throws `INVALID_ARGUMENT` for an empty or non-string key. */
export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new StoreError('INVALID_ARGUMENT', 'A store key must be a non-empty string.');
  }
}

/** Throws `INVALID_ARGUMENT` unless `value` is a JSON object with a numeric `version`. */
export function assertRecord(value: unknown): asserts value is StoredRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || typeof (value as StoredRecord).version !== 'number') {
    throw new StoreError('INVALID_ARGUMENT', 'A stored record must be a JSON object with a numeric "version" field.');
  }
}

/** Parse stored JSON text as a record; undefined when it is not one. */
export function parseRecord(text: string): StoredRecord | undefined {
  const value: unknown = JSON.parse(text);
  try {
    assertRecord(value);
  } catch {
    return undefined;
  }
  return value;
}
