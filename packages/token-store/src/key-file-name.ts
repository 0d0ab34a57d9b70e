import { crypto } from './node-builtins.js';

/**
 * The file-name stem for a key: the SHA-256 of the key in hex. A key can hold a user name or
 * a URL; the hash keeps it out of directory listings and makes every key a safe file name.
 */
export function keyFileStem(key: string): string {
  // update() hashes a string as UTF-8 by default.
  return crypto.createHash('sha256').update(key).digest('hex');
}
