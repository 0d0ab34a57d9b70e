import { randomUUID } from 'node:crypto';
import { constants, readlinkSync } from 'node:fs';
import { type FileHandle, link, lstat, mkdir, open, readFile, rename, rmdir, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@sessionkit/logger';
import { errorCode, fileSystemError, ignore, nonBlocking, noFollow, notPlain } from './fs-errors.js';
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
  /** A lock whose file has not been touched for this long is stale. */
  staleLockMs: number;
  logger: Logger;
}

interface ObservedLock {
  text: string;
  owner: LockOwner | undefined;
  mtimeMs: number;
}

const firstPollMs = 2;
const maxPollMs = 25;

let cachedPidNamespace: string | null | undefined;
/** This process's PID namespace (Linux only: elsewhere there is no /proc to read it from). */
function pidNamespace(): string | undefined {
  if (cachedPidNamespace === undefined) {
    try {
      cachedPidNamespace = readlinkSync('/proc/self/ns/pid');
    } catch {
      cachedPidNamespace = null;
    }
  }
  return cachedPidNamespace ?? undefined;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<Record<keyof LockOwner, unknown>> | null;
    const { pid, host, nonce, time, pidNamespace: namespace } = owner ?? {};
    if (typeof pid === 'number' && typeof host === 'string' && typeof nonce === 'string' && typeof time === 'number' && (namespace === undefined || typeof namespace === 'string')) {
      return { pid, host, nonce, time, pidNamespace: namespace };
    }
  } catch {
    // Not JSON: a lock file being written, or not a lock file.
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
  const ageMs = Date.now() - lock.mtimeMs;
  if (ageMs > staleLockMs) return `it was last refreshed ${Math.round(ageMs)} ms ago (staleLockMs ${staleLockMs})`;
  return undefined;
}

/**
 * The lock file at `path`, or undefined when there is none. Throws `PERMISSION` for anything
 * but a regular file (a planted symbolic link), without following it.
 */
async function readLock(path: string): Promise<ObservedLock | undefined> {
  try {
    const info = await lstat(path);
    if (!info.isFile()) throw notPlain(path);
    const text = await readFile(path, { encoding: 'utf8', flag: constants.O_RDONLY | noFollow | nonBlocking });
    return { text, owner: parseOwner(text), mtimeMs: info.mtimeMs };
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw fileSystemError(error, 'read the lock file', path);
  }
}

/**
 * Breaks a lock judged stale, safely against other breakers and against the lock changing
 * hands meanwhile: breakers take turns through a `.break` directory (mkdir is atomic), re-read
 * and re-judge the lock under it, move it aside atomically (rename), and delete it only if what
 * was moved is the lock judged stale; anything else is put back.
 * Returns true when the caller should retry at once, false when it should wait.
 */
async function breakStaleLock(path: string, observed: ObservedLock, staleLockMs: number, nonce: string, logger: Logger): Promise<boolean> {
  const guard = `${path}.break`;
  try {
    await mkdir(guard, { mode: 0o700 });
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw fileSystemError(error, 'create', guard);
    let info;
    try {
      info = await lstat(guard);
    } catch {
      return true;
    }
    if (!info.isDirectory()) {
      throw notPlain(guard, 'directory');
    }
    // Its owner died while breaking a lock: clear the way for the next breaker.
    if (Date.now() - info.mtimeMs > staleLockMs) await rmdir(guard).catch(ignore);
    return false;
  }
  try {
    const current = await readLock(path);
    if (current?.text !== observed.text) return true;
    const reason = staleReason(current, staleLockMs);
    if (reason === undefined) return false;
    const aside = `${path}.stale-${nonce}`;
    try {
      await rename(path, aside);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return true;
      throw fileSystemError(error, 'move aside the stale lock', path);
    }
    const moved = await readLock(aside).catch(() => undefined);
    if (moved?.text === current.text) {
      await unlink(aside).catch(ignore);
      logger.warn('broke a stale lock', { lock: path, ownerPid: current.owner?.pid, ownerHost: current.owner?.host, reason });
    } else {
      // The lock changed hands between the check and the rename: give it back.
      try {
        await link(aside, path);
      } catch {
        logger.warn('a stale lock changed hands while being broken; two holders are possible', { lock: path });
      }
      await unlink(aside).catch(ignore);
    }
    return true;
  } finally {
    await rmdir(guard).catch(ignore);
  }
}

/**
 * Takes the lock file at `path`, exclusive across processes: the owner tag is written to a
 * private temporary file which is then hard-linked to `path` (atomic, fails if `path` exists,
 * never follows a link), so the lock file is never seen empty. While held, its modification
 * time is refreshed every `staleLockMs / 3` so a long holder is not judged stale.
 */
export async function acquireLockFile(path: string, options: AcquireLockOptions): Promise<() => Promise<void>> {
  const { deadline, staleLockMs, logger } = options;
  const nonce = randomUUID();
  const tempPath = `${path}.${nonce}.tmp`;
  let handle: FileHandle;
  try {
    handle = await open(tempPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | noFollow, 0o600);
  } catch (error) {
    throw fileSystemError(error, 'create a lock file beside', path);
  }
  let owner: LockOwner;
  try {
    let pollMs = firstPollMs;
    let quickRetries = 0;
    for (;;) {
      owner = { pid: process.pid, host: hostname(), nonce, time: Date.now(), pidNamespace: pidNamespace() };
      // Rewritten before every attempt so the time and the file's mtime say "now" at the link.
      await handle.truncate(0);
      await handle.write(JSON.stringify(owner), 0, 'utf8');
      try {
        await link(tempPath, path);
        break;
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw fileSystemError(error, 'create the lock file', path);
      }
      const current = await readLock(path);
      let retryNow = current === undefined;
      if (current !== undefined && staleReason(current, staleLockMs) !== undefined) {
        retryNow = await breakStaleLock(path, current, staleLockMs, nonce, logger);
      }
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
      await sleep(Math.min(remaining, pollMs * (0.5 + Math.random())));
      pollMs = Math.min(pollMs * 1.5, maxPollMs);
    }
  } catch (error) {
    await handle.close().catch(ignore);
    await unlink(tempPath).catch(ignore);
    throw error;
  }
  await unlink(tempPath).catch(ignore);
  return holdLock(path, owner, handle, staleLockMs, logger);
}

/** Keeps the lock fresh while held; the function it returns releases it (if still ours) and never throws. */
function holdLock(path: string, owner: LockOwner, handle: FileHandle, staleLockMs: number, logger: Logger): () => Promise<void> {
  let heartbeat: Promise<void> = Promise.resolve();
  // The handle is the lock file's own inode: touching it can never touch someone else's lock.
  const timer = setInterval(() => {
    heartbeat = heartbeat.then(async () => {
      const now = new Date();
      await handle.utimes(now, now);
    }).catch(ignore);
  }, Math.max(10, Math.floor(staleLockMs / 3)));
  timer.unref();
  return async () => {
    clearInterval(timer);
    await heartbeat;
    try {
      const current = await readLock(path);
      if (current?.owner?.nonce === owner.nonce) {
        await unlink(path);
      } else {
        logger.warn('another process broke the lock while it was held', { lock: path });
      }
    } catch (error) {
      logger.warn('could not release a lock; it will be broken as stale', { lock: path, code: errorCode(error) });
    } finally {
      await handle.close().catch(ignore);
    }
  };
}
