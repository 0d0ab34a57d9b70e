import type { Logger } from '@sessionkit/logger';
import { createTempFile, errorCode, fileSystemError, ignore, inspectFile, readFlags } from './fs-errors.js';
import { hostname, link, randomUUID, readFile, readlinkSync, rename, unlink } from './node-builtins.js';
import { lockTimeout } from './store-error.js';

/** What a lock file holds: who owns the lock. */
export interface LockOwner {
  pid: number;
  host: string;
  /** Random per acquisition: tells two locks of the same process apart. */
  nonce: string;
  /** When the owner wrote the lock, in epoch milliseconds. */
  time: number;
  /** Linux: the owner's PID namespace, so a PID is only judged dead from inside the same one. */
  pidNamespace?: string | undefined;
}

/** Options of {@link acquireLockFile}. */
export interface AcquireLockOptions {
  /** Epoch milliseconds after which waiting ends in `LOCK_TIMEOUT`. */
  deadline: number;
  /** Reported in the `LOCK_TIMEOUT` message. */
  timeoutMs: number;
  /** A lock whose file has not been touched for this long is stale. At least 100: every store refuses less. */
  staleLockMs: number;
  logger: Logger;
}

interface ObservedLock {
  text: string;
  owner: LockOwner | undefined;
  mtimeMs: number;
}

/** Cached: '' once known to be unreadable. */
let ownPidNamespace: string | undefined;
/** This process's PID namespace (Linux only: elsewhere there is no /proc to read it from). */
function pidNamespace(): string | undefined {
  try {
    ownPidNamespace ??= readlinkSync('/proc/self/ns/pid');
  } catch {
    ownPidNamespace = '';
  }
  return ownPidNamespace || undefined;
}

/** The owner tag in a lock file's text; undefined for anything else (such as a file being written). */
function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as LockOwner;
    if (typeof owner.pid === 'number' && typeof owner.host === 'string' && typeof owner.nonce === 'string' && typeof owner.time === 'number' && (owner.pidNamespace === undefined || typeof owner.pidNamespace === 'string')) return owner;
  } catch {
    // Not JSON (or null): not an owner tag.
  }
  return undefined;
}

function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return errorCode(error) !== 'ESRCH';
  }
}

/** Why `lock` may be broken, or undefined while it is live. */
function staleReason(lock: ObservedLock, staleLockMs: number): string | undefined {
  const owner = lock.owner;
  if (owner?.host === hostname()) {
    const namespace = pidNamespace();
    const sameNamespace = owner.pidNamespace === undefined || namespace === undefined || owner.pidNamespace === namespace;
    if (sameNamespace && !isProcessAlive(owner.pid)) return 'its owner process has exited';
  }
  const ageMs = Math.round(Date.now() - lock.mtimeMs);
  return ageMs > staleLockMs ? `not refreshed for ${ageMs} ms (staleLockMs ${staleLockMs})` : undefined;
}

/**
 * The lock file at `path`, or undefined when there is none. Throws `PERMISSION` for anything
 * but a regular file (a planted symbolic link), without following it.
 */
async function readLock(path: string): Promise<ObservedLock | undefined> {
  try {
    const info = await inspectFile(path);
    if (!info) return undefined;
    const text = await readFile(path, { encoding: 'utf8', flag: readFlags });
    return { text, owner: parseOwner(text), mtimeMs: info.mtimeMs };
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw fileSystemError(error, 'read', path);
  }
}

/**
 * Removes the file at `path` if it is still `stale` (the lock or guard judged stale), safely
 * against it changing hands meanwhile: moves it aside atomically (rename to `aside`, a name
 * unique to this caller), compares what was moved, and puts anything else back with link(),
 * which never replaces a file created at `path` since. Resolves true when the file was removed,
 * false when another one was moved and could not be put back (a newer one took its place), and
 * undefined when `path` was gone or what was moved has been put back.
 */
async function removeIfUnchanged(path: string, stale: ObservedLock, aside: string): Promise<boolean | undefined> {
  try {
    await rename(path, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw fileSystemError(error, 'move aside', path);
  }
  try {
    if ((await readLock(aside).catch(ignore))?.text === stale.text) return true;
    // Put back (link() resolves with nothing), or false.
    return await (link(aside, path).catch(() => false) as Promise<false | undefined>);
  } finally {
    await unlink(aside).catch(ignore);
  }
}

/**
 * Clears the breaker guard at `guard` (see `breakStaleLock`) if it is stale, judged like a lock:
 * its breaker died mid-break (same host), or it has not been refreshed for `staleLockMs`. It is
 * removed with `removeIfUnchanged` (moved aside to `aside`), never with a plain unlink: another
 * breaker may have cleared it first and a third linked a fresh one, which an unlink would
 * remove, letting two breakers in at once. Resolves false when there was no guard.
 */
export async function clearStaleGuard(guard: string, staleLockMs: number, aside: string): Promise<boolean> {
  const breaker = await readLock(guard);
  if (breaker && staleReason(breaker, staleLockMs) !== undefined) await removeIfUnchanged(guard, breaker, aside);
  return breaker !== undefined;
}

/**
 * Breaks a lock judged stale, safely against other breakers and against the lock changing
 * hands meanwhile: breakers take turns through a `.breaker` guard (not `.break`, the directory
 * earlier builds used), re-read and re-judge the lock under it, and remove it only if it is
 * still the lock judged stale (`removeIfUnchanged`).
 * The guard is a hard link to the breaker's own owner tag (`tempPath`: atomic, exclusive, never
 * seen empty); one left by a breaker that died mid-break is cleared by `clearStaleGuard`.
 * Returns true when the caller should retry at once, false when it should wait.
 */
async function breakStaleLock(path: string, observed: ObservedLock, staleLockMs: number, nonce: string, tempPath: string, logger: Logger): Promise<boolean> {
  const guard = `${path}.breaker`;
  // One aside name for the guard and the lock: this breaker moves one file aside at a time,
  // and the leftover sweep knows the name.
  const aside = `${path}.stale-${nonce}`;
  try {
    await link(tempPath, guard);
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw fileSystemError(error, 'create', guard);
    // Another breaker's turn: wait, after clearing its guard if it died (or froze) mid-break;
    // retry at once if the guard has gone already.
    return !(await clearStaleGuard(guard, staleLockMs, aside));
  }
  try {
    const current = await readLock(path);
    if (current?.text !== observed.text) return true;
    const reason = staleReason(current, staleLockMs);
    if (reason === undefined) return false;
    const removed = await removeIfUnchanged(path, current, aside);
    if (removed) logger.warn('broke a stale lock', { lock: path, ownerPid: current.owner?.pid, ownerHost: current.owner?.host, reason });
    // The lock changed hands between the check and the rename, and could not be given back.
    else if (removed === false) logger.warn('a stale lock changed hands while being broken; two holders are possible', { lock: path });
    return true;
  } finally {
    // Its own guard, held for the few milliseconds above. (A breaker frozen for longer than
    // staleLockMs may find another's guard here; like a frozen holder, it has lost its turn.)
    await unlink(guard).catch(ignore);
  }
}

/**
 * Takes the lock file at `path`, exclusive across processes: the owner tag is written to a
 * private temporary file which is then hard-linked to `path` (atomic, fails if `path` exists,
 * never follows a link), so the lock file is never seen empty. While held, its modification
 * time is refreshed every `staleLockMs / 3` so a long holder is not judged stale. The function
 * returned releases the lock (if still ours) and never throws.
 */
export async function acquireLockFile(path: string, options: AcquireLockOptions): Promise<() => Promise<void>> {
  const { deadline, staleLockMs, logger } = options;
  const nonce = randomUUID();
  const tempPath = `${path}.${nonce}.tmp`;
  const handle = await createTempFile(tempPath, path);
  try {
    let pollMs = 2;
    let quickRetries = 0;
    for (;;) {
      // Rewritten before every attempt so the time and the file's mtime say "now" at the link.
      const owner: LockOwner = { pid: process.pid, host: hostname(), nonce, time: Date.now(), pidNamespace: pidNamespace() };
      await handle.truncate(0);
      await handle.write(JSON.stringify(owner), 0); // UTF-8, the default
      try {
        await link(tempPath, path);
        break;
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw fileSystemError(error, 'create', path);
      }
      const current = await readLock(path);
      const retryNow = current === undefined || (staleReason(current, staleLockMs) !== undefined && await breakStaleLock(path, current, staleLockMs, nonce, tempPath, logger));
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        const holder = current?.owner;
        throw lockTimeout(options.timeoutMs, path, holder && `process ${holder.pid} on ${holder.host} since ${new Date(holder.time).toISOString()}`);
      }
      if (retryNow && quickRetries < 3) {
        quickRetries += 1;
        continue;
      }
      quickRetries = 0;
      // The global timer: node:timers/promises would add an import to the bundle for this alone.
      await new Promise((resolve) => setTimeout(resolve, Math.min(remaining, pollMs * (0.5 + Math.random()))));
      pollMs = Math.min(pollMs * 1.5, 25);
    }
  } catch (error) {
    await handle.close().catch(ignore);
    throw error;
  } finally {
    await unlink(tempPath).catch(ignore);
  }
  let heartbeat: Promise<void> = Promise.resolve();
  // The handle is the lock file's own inode: touching it can never touch someone else's lock.
  // Every staleLockMs / 3, at least 33 ms (staleLockMs is at least 100).
  const timer = setInterval(() => {
    heartbeat = heartbeat.then(() => {
      const now = new Date();
      return handle.utimes(now, now);
    }).catch(ignore);
  }, Math.floor(staleLockMs / 3));
  timer.unref();
  return async () => {
    clearInterval(timer);
    await heartbeat;
    try {
      if ((await readLock(path))?.owner?.nonce === nonce) await unlink(path);
      else logger.warn('the lock was broken while held', { lock: path });
    } catch (error) {
      logger.warn('could not release the lock; it will go stale', { lock: path, code: errorCode(error) });
    } finally {
      await handle.close().catch(ignore);
    }
  };
}
