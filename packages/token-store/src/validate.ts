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

/**
 * The JSON text of a record, checked so that what is stored reads back as a record.
 * Throws `INVALID_ARGUMENT` for a non-record or a value JSON cannot encode (BigInt, cycles).
 */
export function serializeRecord(value: unknown): string {
  assertRecord(value);
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new StoreError('INVALID_ARGUMENT', 'A stored record must be encodable as JSON (no BigInt values or cycles).', { cause: error });
  }
  // A toJSON method can turn a record into something else; check what will be read back.
  if (parseRecord(text) === undefined) {
    throw new StoreError('INVALID_ARGUMENT', 'A stored record must encode as a JSON object with a numeric "version" field.');
  }
  return text;
}

/** Parse stored JSON text as a record; undefined when it is not valid JSON or not a record. */
export function parseRecord(text: string): StoredRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  try {
    assertRecord(value);
  } catch {
    return undefined;
  }
  return value;
}

/** Throws `INVALID_ARGUMENT` unless `value` is a finite number of milliseconds, at least `minimum`. */
export function assertMilliseconds(name: string, value: number, minimum = 0): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < minimum) {
    throw new StoreError('INVALID_ARGUMENT', `${name} must be a finite number of milliseconds, at least ${minimum}.`);
  }
}
