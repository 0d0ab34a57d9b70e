import { hash } from 'node:crypto';

/** The first `length` hex characters of the SHA-256 of `text`. */
export function sha256Hex(text: string, length: number): string {
  return hash('sha256', text).slice(0, length);
}

/**
 * The store key of an identity: `sessionkit-session-` and 32 hex characters of the SHA-256 of
 * the identity. Stable across processes and versions; reveals nothing of the identity.
 */
export function storeKeyFor(identity: string): string {
  return `sessionkit-session-${sha256Hex(identity, 32)}`;
}

/**
 * What a session writes into its records and `export()` data to say whose they are: 16 hex
 * characters of the SHA-256 of the identity (as in its default key, which also reveals nothing of it).
 */
export function identityHashOf(identity: string): string {
  return sha256Hex(identity, 16);
}
