import type { Logger } from '@sessionkit/logger';
import { keyFileStem } from './key-file-name.js';
import { KeyedMutex } from './keyed-mutex.js';
import { holdLockFile } from './lock-file.js';
import { nodePath } from './node-builtins.js';
import { ensurePrivateDirectory } from './private-directory.js';

/**
 * One queue per lock file for the whole process, shared by every store instance, so callers
 * in one process wait their turn here instead of polling a lock file their own process holds.
 */
const processQueues = new KeyedMutex();

/** Options of {@link runLocked}. */
export interface DirectoryLocksOptions {
  dir: string;
  lockTimeoutMs: number;
  staleLockMs: number;
  logger: Logger;
}

/**
 * Runs `fn` holding the lock for `key`, exclusive across processes, as the lock file
 * `<sha256(key)>.lock` in the private directory `options.dir`, waiting at most `timeoutMs` in all.
 * FileStore and KeychainStore both lock through this.
 */
export async function runLocked<T>(options: DirectoryLocksOptions, key: string, fn: () => Promise<T>, timeoutMs: number = options.lockTimeoutMs): Promise<T> {
  // In ms of process.uptime(), which fake timers leave alone (see clock.ts).
  const deadline = process.uptime() * 1000 + timeoutMs;
  const path = nodePath.join(options.dir, `${keyFileStem(key)}.lock`);
  return processQueues.run(path, async () => {
    await ensurePrivateDirectory(options);
    return holdLockFile(path, options, deadline, timeoutMs, fn);
  }, timeoutMs);
}
