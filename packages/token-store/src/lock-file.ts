import type { Logger } from '@sessionkit/logger';
import { now, timers } from './clock.js';
import { createTempFile, errorCode, fileSystemError, ignore, inspectFile, readFlags, unlessMissing } from './fs-errors.js';
import { crypto, fs, fsSync, os } from './node-builtins.js';
import { lockTimeout } from './store-error.js';

/** What a lock file holds: who owns the lock. */
export interface LockOwner {
  pid: number;
  host: string;
  /** Random per acquisition: tells two locks of the same process apart. */
  nonce: string;
  /** When the owner wrote the lock, in epoch milliseconds (`now`, see clock.ts). */
  time: number;
  /** Linux: the owner's PID namespace, so a PID is only judged dead from inside the same one. */
  pidNamespace?: string | undefined;
  /** The owner's staleLockMs, which its heartbeat keeps to (see `staleReason`). */
  staleLockMs?: number | undefined;
}

/** Options of {@link holdLockFile}. */
export interface AcquireLockOptions {
  /** A lock whose file has not been touched for this long (or for its owner's, if longer) is stale. At least 100: every store refuses less. */
  staleLockMs: number;
  logger: Logger;
}

interface ObservedLock {
  text: string;
  owner: LockOwner | undefined;
  /** The file's age when it was last seen (`now` minus its mtime): see `readLock`. */
  ageMs: number;
}

/**
 * This process's PID namespace, read once as the module loads (a process never changes its own);
 * undefined where it cannot be read (Linux only: elsewhere there is no /proc to read it from).
 * A Node startup snapshot (`--build-snapshot`) that loads this module would keep the namespace of
 * the process that built it; lazily read, it cost 14 B more in `/file`.
 */
const ownPidNamespace = ((): string | undefined => {
  try {
    return fsSync.readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
})();

/**
 * The owner tag in a lock file's text; undefined for anything else (such as a file being written,
 * or a `time` that is not a time: the timeout message quotes it as a date).
 */
function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as LockOwner;
    if (typeof owner.pid === 'number' && typeof owner.host === 'string' && typeof owner.nonce === 'string' && +new Date(owner.time) >= 0 && (owner.pidNamespace === undefined || typeof owner.pidNamespace === 'string')) return owner;
  } catch {
    // Not JSON (or null): not an owner tag.
  }
  return undefined;
}

/**
 * Why `lock` may be broken, or '' while it is live, by its age when `readLock` read it.
 * Its owner refreshes it every third of its own staleLockMs, which may be longer than the
 * caller's: it is stale only once older than the longer of the two. A tag without one (earlier
 * versions), or with one that is not a number up to the longest option (2147483647), counts as the
 * caller's, as it did before tags carried it. However long the owner's, a dead owner on this host
 * (and in this PID namespace) is found at once.
 */
function staleReason(lock: ObservedLock, staleLockMs: number): string {
  const owner = lock.owner;
  // Not a process (a pid of 0 or less, which kill reads as a process group): never dead.
  if (owner?.host === os.hostname() && owner.pid > 0) {
    if (owner.pidNamespace === undefined || !ownPidNamespace || owner.pidNamespace === ownPidNamespace) {
      // Exited: ESRCH. A pid that is not an integer of 32 bits makes process.kill throw
      // ERR_INVALID_ARG_TYPE, not ESRCH: not exited, so never broken as dead; nor is a process of
      // another user (EPERM), nor one that has exited but was not yet reaped by its parent (a
      // zombie still takes signals: its lock waits out staleLockMs). Reading its state from /proc
      // could tell, but /proc may show another PID namespace than kill's, where that pid is
      // another process: a live holder's lock would be broken.
      try {
        process.kill(owner.pid, 0);
      } catch (error) {
        if (errorCode(error) === 'ESRCH') return 'its owner process has exited';
      }
    }
  }
  const ageMs = lock.ageMs;
  // Only a number up to the longest option: JSON may hold a string ("2000000000", which <= would
  // coerce) or 1e999 (Infinity). One below the caller's changes nothing.
  const ownerMs = owner?.staleLockMs;
  const limitMs = Math.max(staleLockMs, typeof ownerMs === 'number' && ownerMs <= 2_147_483_647 ? ownerMs : 0);
  // Dated ahead by more than the limit: written before the clock was set back (or planted); it
  // would not go stale for as long.
  if (-ageMs > limitMs) return `dated ${-ageMs} ms ahead (staleLockMs ${limitMs})`;
  return ageMs > limitMs ? `not refreshed for ${ageMs} ms (staleLockMs ${limitMs})` : '';
}

/**
 * The lock file at `path`, or undefined when there is none. Throws `PERMISSION` for anything
 * but a regular file (a planted symbolic link), without following it.
 */
async function readLock(path: string): Promise<ObservedLock | undefined> {
  try {
    if (!(await inspectFile(path))) return undefined;
    // UTF-8, as Buffer's String() decodes it.
    const text = String(await fs.readFile(path, { flag: readFlags }));
    // Its age from an mtime read after the text, and at once: asynchronous calls each wait for a
    // thread of libuv's pool, which slow dns.lookup, crypto or zlib jobs can keep busy, and an mtime
    // read before the reads of the text (or dated after them) made a live holder's lock look as old
    // as that wait: a waiter broke it. One system call on this thread, as the holder's heartbeat.
    // Read after the text, an mtime belongs to that lock or to a newer one: never older. (Its type
    // was checked before the read, which follows no link.)
    return { text, owner: parseOwner(text), ageMs: Math.round(now() - fsSync.lstatSync(path).mtimeMs) };
  } catch (error) {
    unlessMissing(error, 'read', path);
    return undefined;
  }
}

/**
 * Clears the breaker guard at `guard` (see `breakStaleLock`) if it is stale, judged like a lock:
 * its breaker died mid-break (same host), or it has not been refreshed for `staleLockMs`. A plain
 * unlink: two callers judging the same dead guard at once can race, the second removing a guard a
 * third breaker has just linked, so two breakers may be in at once; the lock itself is then still
 * deleted only if what `breakStaleLock` moved aside is the lock judged stale, anything else being
 * put back. (Moving a guard aside and putting it back could revive a departed breaker's guard.)
 * Resolves true when there was no guard, or it was stale (cleared): the lock can be tried at once.
 */
export async function clearStaleGuard(guard: string, staleLockMs: number): Promise<boolean> {
  const breaker = await readLock(guard);
  const gone = !breaker || !!staleReason(breaker, staleLockMs);
  if (breaker && gone) await fs.unlink(guard).catch(ignore);
  return gone;
}

/**
 * The lock files this process holds now (while `fn` runs). `FileStore.get` moves a corrupt file
 * aside only under its key's lock, where no writer of another process that takes the lock can
 * replace it meanwhile. Per process, not per caller: a `get` in this process outside `withLock`
 * while another caller holds the lock counts too (its inode checks handle the holder's `set`).
 */
export const heldLocks: Set<string> = new Set<string>();

/**
 * Runs `fn` holding the lock file at `path`, exclusive across processes: the owner tag is written
 * to a private temporary file which is then hard-linked to `path` (atomic, fails if `path` exists,
 * never follows a link), so the lock file is never seen empty. While held, its modification
 * time is refreshed every `staleLockMs / 3` so a long holder is not judged stale. Once `fn` has
 * settled, the lock is released (if still ours; if not, or if the check or the unlink fails, its
 * own lock file is dated to 1970, in case a breaker has it aside and puts it back); the release
 * never throws. Waiting ends in `LOCK_TIMEOUT` at `deadline` (in ms of `process.uptime()`, see
 * clock.ts); its message reports `timeoutMs`.
 */
export async function holdLockFile<T>(path: string, { staleLockMs, logger }: AcquireLockOptions, deadline: number, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const nonce = crypto.randomUUID();
  const tempPath = `${path}.${nonce}.tmp`;
  const handle = await createTempFile(tempPath, path);
  // The heartbeat: the owner tag's file is touched from now on, so that it is never older than
  // staleLockMs / 3 when it is linked as the lock (and while it is held), whatever the writes and
  // the link wait for: asynchronous calls each wait for a thread of libuv's pool (4 by default),
  // which slow dns.lookup, crypto or zlib jobs can keep busy. Started at the link, it came after such
  // waits, and a lock taken behind a backlog appeared older than staleLockMs: a waiter broke it.
  // The handle is the owner tag's inode, and then the lock file's own: touching it can never touch
  // someone else's lock. Every staleLockMs / 3 (a timer truncates it to whole ms), at least 33 ms
  // (staleLockMs is at least 100), on a real timer, in seconds of the real clock (see clock.ts).
  // Two readings: only the mtime is read (staleness); the atime may be a millisecond apart from it.
  // A synchronous call, one system call on this thread, for the same reason: the lock of a live
  // holder would go stale.
  const timer = timers.setInterval(() => {
    try {
      fsSync.futimesSync(handle.fd, now() / 1000, now() / 1000);
    } catch {
      // The release below finds out whether the lock is still ours.
    }
  }, staleLockMs / 3).unref();
  /**
   * Breaks a lock judged stale, safely against other breakers and against the lock changing
   * hands meanwhile: breakers take turns through a `.breaker` guard (not `.break`, the directory
   * earlier builds used), re-read and re-judge the lock under it, move it aside atomically
   * (rename), and delete it only if what was moved is the lock judged stale; anything else is put
   * back with `link`, which never replaces a lock a process took at the path while it was aside
   * (the put-back then fails: two holders, with a warning). A holder that releases while its lock
   * is aside dates its lock file to 1970 (see `holdLockFile`), so a put-back lock is stale at once.
   * The guard is a hard link to the breaker's own owner tag (`tempPath`: atomic, exclusive, never
   * seen empty); one left by a breaker that died mid-break is cleared by `clearStaleGuard`.
   * Returns true when the caller should retry at once, false when it should wait.
   */
  const breakStaleLock = async (observed: ObservedLock): Promise<boolean> => {
    const guard = `${path}.breaker`;
    try {
      await fs.link(tempPath, guard);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw fileSystemError(error, 'create', guard);
      // Another breaker's turn: wait, after clearing its guard if it died (or froze) mid-break;
      // retry at once if the guard has gone already, or was stale (cleared now).
      return clearStaleGuard(guard, staleLockMs);
    }
    try {
      const current = await readLock(path);
      if (current?.text !== observed.text) return true;
      const reason = staleReason(current, staleLockMs);
      if (!reason) return false;
      const aside = `${path}.stale-${nonce}`;
      try {
        await fs.rename(path, aside);
      } catch (error) {
        // Gone (released, or broken by another breaker): retried at once.
        unlessMissing(error, 'move aside', path);
        return true;
      }
      if ((await readLock(aside).catch(ignore))?.text === current.text) {
        logger.warn('broke a stale lock', { lock: path, ownerPid: current.owner?.pid, ownerHost: current.owner?.host, reason });
      } else if (!(await fs.link(aside, path).then(() => 1, ignore))) {
        // The lock changed hands between the check and the rename, and could not be given back
        // (link never replaces a newer lock at `path`).
        logger.warn('a stale lock changed hands while being broken; two holders are possible', { lock: path });
      }
      await fs.unlink(aside).catch(ignore);
      return true;
    } finally {
      // Only while it is still this breaker's own guard: a breaker stalled for longer than
      // staleLockMs has had its guard cleared as stale, and the guard now there is a successor's.
      if ((await readLock(guard).catch(ignore))?.owner?.nonce === nonce) await fs.unlink(guard).catch(ignore);
    }
  };
  // Dated to 1970 at the end when the lock was taken and then found broken, or not released.
  let stale: boolean | undefined;
  try {
    try {
      let pollMs = 2;
      let quickRetries = 0;
      for (;;) {
        // Rewritten before every attempt so the time and the file's mtime say "now" at the link.
        await handle.truncate();
        await handle.write(JSON.stringify({ pid: process.pid, host: os.hostname(), nonce, time: now(), pidNamespace: ownPidNamespace, staleLockMs } satisfies LockOwner), 0); // UTF-8, the default
        try {
          await fs.link(tempPath, path);
          break;
        } catch (error) {
          // Made a StoreError below.
          if (errorCode(error) !== 'EEXIST') throw error;
        }
        const current = await readLock(path);
        const retryNow = !current || (staleReason(current, staleLockMs) && await breakStaleLock(current));
        // Retried at once (up to three times in a row) before the deadline is checked: a lock just
        // broken, or gone, is taken even with a deadline already past (timeoutMs 0: try once).
        if (retryNow && quickRetries++ < 3) continue;
        quickRetries = 0;
        const remaining = deadline - process.uptime() * 1000;
        if (remaining <= 0) {
          const holder = current?.owner;
          throw lockTimeout(timeoutMs, path, holder && `process ${holder.pid} on ${holder.host} since ${new Date(holder.time).toISOString()}`);
        }
        // A real timer, not the global one, which fake timers (vi.useFakeTimers() and the like)
        // replace: a test with fake timers would wait for a contended lock forever.
        await new Promise((resolve) => timers.setTimeout(resolve, Math.min(remaining, pollMs * (0.5 + Math.random()))));
        pollMs = Math.min(pollMs * 1.5, 25);
      }
    } catch (error) {
      // A StoreError (LOCK_TIMEOUT, ...) as it is; a file system's error (the disk full as the
      // lock's owner tag is written, say) as one too.
      throw fileSystemError(error, 'create', path);
    } finally {
      await fs.unlink(tempPath).catch(ignore);
    }
    heldLocks.add(path);
    try {
      return await fn();
    } finally {
      heldLocks.delete(path);
      // The release. Refreshed until it is done: its check and unlink may wait for a busy pool too.
      // Dated stale at the end, unless the lock file was ours and is gone.
      stale = true;
      try {
        if ((await readLock(path))?.owner?.nonce === nonce) {
          await fs.unlink(path);
          stale = false;
        } else {
          // Moved aside by a breaker that may yet put it back (see `breakStaleLock`): dated to 1970,
          // this lock file (our own inode, wherever it is now, which no one else's lock can be) is
          // stale at once for every waiter, not only after staleLockMs.
          logger.warn('the lock was broken while held', { lock: path });
        }
      } catch (error) {
        // Dated too: the breaker's move may have come between the check and the unlink (ENOENT), or
        // the check or the unlink failed otherwise with the lock still ours at the path. Not after an
        // unlink that succeeded: had a breaker moved our lock by then, what the unlink removed was a
        // lock another process took meanwhile, which the one put back is all that still protects.
        logger.warn('could not release the lock; dated it stale', { lock: path, code: errorCode(error) });
      }
    }
  } finally {
    // The heartbeat first: it would date the file "now" again.
    timers.clearInterval(timer);
    if (stale) await handle.utimes(0, 0).catch(ignore);
    await handle.close().catch(ignore);
  }
}
