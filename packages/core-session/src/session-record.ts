import type { StoredRecord } from '@sessionkit/token-store';
import type { Token } from './token.js';

/** The format version of what a session writes to its store. */
export const RECORD_VERSION = 1;

/** What a session keeps in its store, under its key. */
export interface SessionRecord {
  /** Whose record it is: `identityHashOf(authenticator.identity)`. Missing in records written before it was added. */
  identityHash?: string | undefined;
  /** The current token, when there is one. */
  token?: Token | undefined;
  /** When the token was last used, as far as any process has recorded (lazily). */
  lastUsedAt?: number | undefined;
  /** While the token endpoint throttles this identity: wait until this time (epoch ms). */
  throttledUntil?: number | undefined;
}

/** A finite number (a time, a duration). */
const isTime = Number.isFinite as (value: unknown) => value is number;

/** Undefined, or a finite number (a time, a duration). */
export function optionalNumber(value: unknown): value is number | undefined {
  return value === undefined || isTime(value);
}

export function optionalString(value: unknown): value is string | undefined {
  return value === undefined || typeof value === 'string';
}

/** `object` without its undefined fields, so stored JSON and exports stay small; Infinity (a token's none, which JSON cannot hold) is dropped too. */
function withoutUndefined<T extends object>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined && value !== Infinity)) as T;
}

/** A token from untrusted data (a store, an authenticator, `Session.restore`), or undefined when it is not one. */
export function parseToken(value: unknown): Token | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { value: secret, type, expiresAt, refreshToken, idleTtlMs, scope, obtainedAt } = value as Record<string, unknown>;
  // An expiresAt of Infinity means none (never expires by time): withoutUndefined drops it. Not an idleTtlMs of
  // Infinity: dropped, it would mean the session's idleTtlMs, not none (and JSON cannot hold it). Short or past
  // times are kept as they are: the session serves such a token for 1 s (Session's #timings).
  // No C0 control character or DEL inside the Authorization header it makes, `<type> <value>`: a
  // CR/LF would split it, and fetch's error for it quotes the value. Blanks, tabs and line breaks
  // at the header's ends are no harm (a token file's newline): a header drops them.
  return typeof secret === 'string' && secret && isTime(obtainedAt) && optionalString(type) && !/[^ -~\x80-\uffff]/.test(`${type ?? 'Bearer'} ${secret}`.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '')) && optionalString(refreshToken) && optionalString(scope) && (expiresAt === Infinity || optionalNumber(expiresAt)) && optionalNumber(idleTtlMs)
    ? withoutUndefined({ value: secret, type, expiresAt, refreshToken, idleTtlMs, scope, obtainedAt })
    : undefined;
}

/**
 * A session record from what the store returned: undefined when there is nothing, 'invalid' when the
 * version is unknown or the fields are not what this version writes. `identityHash` is undefined in a
 * record written before it was added (see Session's #read).
 */
export function decodeRecord(stored: StoredRecord | undefined): SessionRecord | undefined | 'invalid' {
  if (stored === undefined) return undefined;
  const { version, identityHash, token, lastUsedAt, throttledUntil } = stored;
  const parsed = parseToken(token);
  if (version !== RECORD_VERSION || (token !== undefined && parsed === undefined) || !optionalString(identityHash) || !optionalNumber(lastUsedAt) || !optionalNumber(throttledUntil)) return 'invalid';
  return { identityHash, token: parsed, lastUsedAt, throttledUntil };
}

/** The stored form of a session record of the identity hashed to `identityHash` (its token is one `parseToken` returned). */
export function encodeRecord(record: SessionRecord, identityHash: string): StoredRecord {
  return { version: RECORD_VERSION, ...withoutUndefined(record), identityHash };
}
