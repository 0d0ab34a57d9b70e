import type { Logger } from '@sessionkit/logger';
import { now, timers } from './clock.js';
import { assertOwner, errorCode, fileSystemError, hasPosixModes, notPlain } from './fs-errors.js';
import { clearStaleGuard } from './lock-file.js';
import { fs, nodePath } from './node-builtins.js';

/**
 * What {@link ensurePrivateDirectory} needs: the directory, where to log, and `staleLockMs`,
 * by which its leftover sweep judges breaker guards (as breakers do).
 */
export interface PrivateDirectoryOptions {
  dir: string;
  logger: Logger;
  staleLockMs: number;
}

const swept = new Set<string>();
/**
 * The names of this package's temporary files, and no one else's (`dir` may be shared):
 * `.<sha256>.json.<uuid>.tmp` (FileStore writes), `<sha256>.lock.<uuid>.tmp` (lock owner tags)
 * and `<sha256>.lock.stale-<uuid>` (locks being broken); and `<sha256>.lock.breaker`,
 * the guard of a lock being broken.
 */
const leftoverName = /^(\.\w{64}\.json\.[\w-]{36}\.tmp|\w{64}\.lock\.([\w-]{36}\.tmp|stale-[\w-]{36}|breaker))$/;

/**
 * Creates `dir` (mode 0700) if needed, then checks that it is a directory owned by this user
 * and tightens its mode to 0700. Runs before every write, so a directory loosened by hand is
 * fixed on the next write. On Windows only the directory check applies. The first call per
 * directory in a process also removes temporary files left by killed processes, and stale
 * breaker guards.
 */
export async function ensurePrivateDirectory({ dir, logger, staleLockMs }: PrivateDirectoryOptions): Promise<void> {
  const info = await makeDirectory(dir)
    .catch((error: unknown) => {
      // ENOTDIR: something that is not a directory is in the way; the check below says so.
      if (errorCode(error) !== 'ENOTDIR') throw error;
    })
    .then(() => fs.stat(dir))
    .catch((error: unknown) => {
      throw fileSystemError(error, 'create', dir);
    });
  // A directory with the sticky bit (0o1000) is one every user shares (/tmp): made 0700, it would be
  // theirs no more (as root, which owns /tmp, nothing else refuses it).
  if (!info.isDirectory() || info.mode & 0o1000) throw notPlain(dir, 'directory');
  assertOwner(info.uid, dir);
  if (hasPosixModes) {
    const mode = info.mode & 0o777;
    if (mode !== 0o700) {
      await fs.chmod(dir, 0o700).catch((error: unknown) => {
        throw fileSystemError(error, 'restrict the mode of', dir);
      });
      logger.debug('tightened the mode to 0700', { dir, previousMode: mode.toString(8) });
    }
  }
  // Once per directory and process, removes this package's temporary files left by processes
  // killed mid-write or mid-wait (see `leftoverName`) that are older than ten minutes. A live
  // writer's temporary file exists for milliseconds and a waiting locker rewrites its own on every
  // poll, so neither is ever that old. A breaker's guard is otherwise only cleared when that lock
  // is next broken, so a stale one (its breaker died, or it was not refreshed for `staleLockMs`)
  // is cleared here as breakers clear it (`clearStaleGuard`), never one that is live when read.
  // Failures are ignored: this is housekeeping.
  if (swept.has(dir)) return;
  swept.add(dir);
  const sweptAt = now();
  for (const name of await fs.readdir(dir).catch(() => [])) {
    if (!leftoverName.test(name)) continue;
    const path = nodePath.join(dir, name);
    try {
      const leftover = await fs.lstat(path);
      if (name.endsWith('.breaker')) await clearStaleGuard(path, staleLockMs);
      else if (leftover.isFile() && sweptAt - leftover.mtimeMs > 600_000) {
        await fs.unlink(path);
        logger.debug('removed a leftover temporary file', { file: path });
      }
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}

/**
 * Creates `dir`, and the parents it lacks, each mode 0700 whatever the umask: a umask such as
 * 0177 leaves a new directory without its owner's search bit, so nothing could be created in
 * it (`mkdir` with `recursive` would fail below a new parent, and leave that parent so). Only
 * directories made here are changed: one that exists already (EEXIST, also when another
 * caller made it meanwhile) is left as it is, for the caller to check.
 */
async function makeDirectory(dir: string): Promise<void> {
  // join(dir, '..') is dirname(dir): `dir` is absolute and normalized (resolved).
  const parent = nodePath.join(dir, '..');
  await makeOne(dir, parent)
    .catch(async (error: unknown) => {
      // Not past the root: a missing drive or share on Windows (`Z:\\`) is its own parent.
      if (errorCode(error) !== 'ENOENT' || parent === dir) throw error;
      await makeDirectory(parent);
      await makeOne(dir, parent);
    })
    .then(() => fs.chmod(dir, 0o700), (error: unknown) => {
      if (errorCode(error) !== 'EEXIST') throw error;
    });
}

/**
 * `mkdir(dir)`, waiting out a directory above it that another caller (in this process or
 * another) has just made and not yet given its search bit: under a umask such as 0177 a new
 * directory is 0600 until that caller's chmod, and EACCES meanwhile. Tried again, for up to
 * about a second, while the nearest directory above `dir` that this process can look at is ours
 * (it may have gained the bit since; one of ours refusing for another reason, such as mode 0500,
 * is reported a second later).
 */
async function makeOne(dir: string, parent: string, waitMs = 1): Promise<void> {
  await fs.mkdir(dir, { mode: 0o700 }).catch(async (error: unknown) => {
    if (errorCode(error) !== 'EACCES' || waitMs > 512 || !(await nearestIsOurs(parent))) throw error;
    await new Promise((resolve) => timers.setTimeout(resolve, waitMs));
    await makeOne(dir, parent, waitMs * 2);
  });
}

async function nearestIsOurs(path: string): Promise<boolean> {
  const above = nodePath.join(path, '..');
  // Not even stat()-able: a directory above it lacks the search bit (EACCES), or lacked it when
  // mkdir() failed and has it now, while `path` is not made yet (ENOENT, once read as a refusal:
  // one caller in thousands failed under load). Either way the nearest one that is decides.
  return fs.stat(path).then((info) => info.uid === process.getuid?.(), () => above !== path && nearestIsOurs(above));
}
