import { StoreError } from './store-error.js';
import type { LockOptions, StoredRecord } from './types.js';

/**
 * Throws `INVALID_ARGUMENT` for an empty or non-string key, or one with NUL or a lone surrogate:
 * it would share its file, keychain item or lock with other keys (the keychain cuts a name at
 * NUL; in UTF-8 a lone surrogate turns into U+FFFD).
 */
export function assertKey(key: unknown): asserts key is string {
  // `\p{Cs}` with the u flag finds lone surrogates only (a pair is one code point): `!isWellFormed()`,
  // which the ES2023 lib that dependent packages compile this file with does not declare.
  // KeychainStore checks its service name with the same pattern.
  if (!key || typeof key !== 'string' || /[\0\p{Cs}]/u.test(key)) {
    throw new StoreError('INVALID_ARGUMENT', 'A store key must be a non-empty string without NUL or lone surrogates.');
  }
}

/**
 * The JSON text of a record, checked so that what is stored reads back as a record (a toJSON
 * method can turn it into something else). Throws `INVALID_ARGUMENT` for a non-record or a
 * value JSON cannot encode (BigInt, cycles).
 */
export function serializeRecord(value: unknown): string {
  let text: string | undefined;
  let cause: unknown;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    cause = error;
  }
  if (!text || !parseRecord(text)) {
    throw new StoreError('INVALID_ARGUMENT', 'A record must be a JSON object with a numeric "version", without BigInt or cycles.', { cause });
  }
  return text;
}

/** Parse stored JSON text as a record; undefined when it is not valid JSON or not a record. */
export function parseRecord(text: string): StoredRecord | undefined {
  try {
    const value = JSON.parse(text) as StoredRecord | null;
    // Of what JSON.parse returns, only an object that is not an array can have a "version".
    if (typeof value?.version === 'number') return value;
  } catch {
    // Not JSON.
  }
  return undefined;
}

/** How long `withLock` waits by default in every store (`lockTimeoutMs`), then `LOCK_TIMEOUT`. */
export const defaultLockTimeoutMs = 10_000;

/**
 * Returns `value` if it is a number of milliseconds from `minimum` to 2,147,483,647 (about 24.8
 * days), and throws `INVALID_ARGUMENT` otherwise: Node.js runs a longer timer after 1 ms instead.
 */
export function assertMilliseconds(name: string, value: number, minimum = 0): number {
  if (typeof value !== 'number' || !(value >= minimum && value <= 2_147_483_647)) {
    throw new StoreError('INVALID_ARGUMENT', `${name} must be a number of ms from ${minimum} to 2147483647.`);
  }
  return value;
}

/**
 * Throws `INVALID_ARGUMENT` for `withLock` arguments that every store refuses, before it takes
 * any lock: a bad key, an `fn` that is not a function (which would otherwise fail with a
 * TypeError only once the lock was held) and a bad `timeoutMs`.
 */
export function assertLockArguments(key: unknown, fn: unknown, options: LockOptions | undefined): void {
  assertKey(key);
  if (typeof fn !== 'function') throw new StoreError('INVALID_ARGUMENT', 'fn must be a function.');
  if (options?.timeoutMs !== undefined) assertMilliseconds('timeoutMs', options.timeoutMs);
}
