import { hash } from 'node:crypto';

/**
 * A short, stable, non-reversible tag for a secret, for logs that need to tell two tokens
 * apart: the first 6 hex characters of its SHA-256.
 */
export function fingerprint(secret: string): string {
  return hash('sha256', secret, 'hex').slice(0, 6);
}
