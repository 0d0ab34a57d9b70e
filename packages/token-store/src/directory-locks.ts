import type { Logger } from '@sessionkit/logger';
import { keyFileStem } from './key-file-name.js';
import { KeyedMutex } from './keyed-mutex.js';
import { acquireLockFile } from './lock-file.js';
import { join } from './node-builtins.js';
import { ensurePrivateDirectory } from './private-directory.js';

/**
 * One queue per lock file for the whole process, shared by every store instance, so callers
 * in one process wait their turn here instead of polling a lock file their own process holds.
 */
const processQueues = new KeyedMutex();

/**
 * The lock files this process holds now (while `fn` runs). `FileStore.get` moves a corrupt file
 * aside only under its key's lock, where no writer of another process that takes the lock can
 * replace it meanwhile. Per process, not per caller: a `get` in this process outside `withLock`
 * while another caller holds the lock counts too (its inode checks handle the holder's `set`).
 */
export const heldLocks: Set<string> = new Set<string>();

/** Options of {@link directoryLocks}. */
export interface DirectoryLocksOptions {
  dir: string;
  lockTimeoutMs: number;
  staleLockMs: number;
  logger: Logger;
}

/** Runs `fn` holding the lock for `key`, waiting at most `timeoutMs` in all. */
export type RunLocked = <T>(key: string, fn: () => Promise<T>, timeoutMs?: number) => Promise<T>;

/**
 * Per-key locks exclusive across processes, as lock files `<sha256(key)>.lock` in a private
 * directory. FileStore and KeychainStore both lock through this.
 */
export function directoryLocks(options: DirectoryLocksOptions): RunLocked {
  return async (key, fn, timeoutMs = options.lockTimeoutMs) => {
    // In ms of process.uptime(), which fake timers leave alone (see clock.ts).
    const deadline = process.uptime() * 1000 + timeoutMs;
    const path = join(options.dir, `${keyFileStem(key)}.lock`);
    return processQueues.run(path, async () => {
      await ensurePrivateDirectory(options);
      const release = await acquireLockFile(path, options, deadline, timeoutMs);
      heldLocks.add(path);
      try {
        return await fn();
      } finally {
        heldLocks.delete(path);
        await release();
      }
    }, timeoutMs);
  };
}
