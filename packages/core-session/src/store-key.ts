import { createHash } from 'node:crypto';

/**
 * The store key of an identity: `sessionkit-session-` and 32 hex characters of the SHA-256 of
 * the identity. Stable across processes and versions; reveals nothing of the identity.
 */
export function storeKeyFor(identity: string): string {
  return `sessionkit-session-${createHash('sha256').update(identity).digest('hex').slice(0, 32)}`;
}
