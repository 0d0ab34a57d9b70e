import type { StoredRecord } from '@sessionkit/token-store';
import type { Token } from './token.js';

/** The format version of what a session writes to its store. */
export const RECORD_VERSION = 1;

/** What a session keeps in its store, under its key. */
export interface SessionRecord {
  /** The current token, when there is one. */
  token: Token | undefined;
  /** When the token was last used, as far as any process has recorded (lazily). */
  lastUsedAt: number | undefined;
  /** While the token endpoint throttles this identity: wait until this time (epoch ms). */
  throttledUntil: number | undefined;
}

function optionalNumber(value: unknown): value is number | undefined {
  return value === undefined || (typeof value === 'number' && Number.isFinite(value));
}

function optionalString(value: unknown): value is string | undefined {
  return value === undefined || typeof value === 'string';
}

/** A token from untrusted data (a store, `Session.restore`), or undefined when it is not one. */
export function parseToken(value: unknown): Token | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const candidate = value as Record<string, unknown>;
  const { value: secret, type, expiresAt, refreshToken, idleTtlMs, scope, obtainedAt } = candidate;
  if (typeof secret !== 'string' || secret.length === 0) return undefined;
  if (typeof obtainedAt !== 'number' || !Number.isFinite(obtainedAt)) return undefined;
  if (!optionalString(type) || !optionalString(refreshToken) || !optionalString(scope)) return undefined;
  if (!optionalNumber(expiresAt) || !optionalNumber(idleTtlMs)) return undefined;
  return compactToken({ value: secret, type, expiresAt, refreshToken, idleTtlMs, scope, obtainedAt });
}

/** `token` without its undefined fields, so stored JSON and exports stay small. */
export function compactToken(token: Token): Token {
  const out: { -readonly [K in keyof Token]: Token[K] } = { value: token.value, obtainedAt: token.obtainedAt };
  if (token.type !== undefined) out.type = token.type;
  if (token.expiresAt !== undefined) out.expiresAt = token.expiresAt;
  if (token.refreshToken !== undefined) out.refreshToken = token.refreshToken;
  if (token.idleTtlMs !== undefined) out.idleTtlMs = token.idleTtlMs;
  if (token.scope !== undefined) out.scope = token.scope;
  return out;
}

/**
 * A session record from what the store returned. Undefined when there is nothing, the
 * version is unknown, or the fields are not what this version writes.
 */
export function decodeRecord(stored: StoredRecord | undefined): SessionRecord | undefined | 'invalid' {
  if (stored === undefined) return undefined;
  if (stored.version !== RECORD_VERSION) return 'invalid';
  const token = stored.token === undefined ? undefined : parseToken(stored.token);
  if (stored.token !== undefined && token === undefined) return 'invalid';
  const { lastUsedAt, throttledUntil } = stored;
  if (!optionalNumber(lastUsedAt) || !optionalNumber(throttledUntil)) return 'invalid';
  return { token, lastUsedAt, throttledUntil };
}

/** The stored form of a session record. */
export function encodeRecord(record: SessionRecord): StoredRecord {
  const out: StoredRecord = { version: RECORD_VERSION };
  if (record.token !== undefined) out.token = compactToken(record.token);
  if (record.lastUsedAt !== undefined) out.lastUsedAt = record.lastUsedAt;
  if (record.throttledUntil !== undefined) out.throttledUntil = record.throttledUntil;
  return out;
}
