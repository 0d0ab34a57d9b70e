import { chmod, mkdir, stat } from 'node:fs/promises';
import type { Logger } from '@sessionkit/logger';
import { errorCode, fileSystemError, hasPosixModes } from './fs-errors.js';
import { sweepLeftovers } from './leftovers.js';
import { StoreError } from './store-error.js';

/**
 * Creates `dir` (mode 0700) if needed, then checks that it is a directory owned by this user
 * and tightens its mode to 0700. Runs before every write, so a directory loosened by hand is
 * fixed on the next write. On Windows only the directory check applies. The first call per
 * directory in a process also removes temporary files left by killed processes.
 */
export async function ensurePrivateDirectory(dir: string, logger: Logger): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    // EEXIST/ENOTDIR: something that is not a directory is in the way; the check below says so.
    const code = errorCode(error);
    if (code !== 'EEXIST' && code !== 'ENOTDIR') throw fileSystemError(error, 'create the directory', dir);
  }
  let info;
  try {
    info = await stat(dir);
  } catch (error) {
    throw fileSystemError(error, 'inspect the directory', dir);
  }
  if (!info.isDirectory()) {
    throw new StoreError('PERMISSION', `${dir} is not a directory. Move it away or choose another directory.`);
  }
  if (hasPosixModes) await checkOwnerAndMode(dir, info.uid, info.mode, logger);
  await sweepLeftovers(dir, logger);
}

async function checkOwnerAndMode(dir: string, owner: number, mode: number, logger: Logger): Promise<void> {
  const uid = process.getuid?.();
  if (uid !== undefined && owner !== uid) {
    throw new StoreError('PERMISSION', `${dir} belongs to user ${owner}, not to this user (${uid}). Use a directory you own.`);
  }
  if ((mode & 0o777) !== 0o700) {
    try {
      await chmod(dir, 0o700);
    } catch (error) {
      throw fileSystemError(error, 'restrict the mode of', dir);
    }
    logger.debug('tightened the store directory to mode 0700', { dir, previousMode: (mode & 0o777).toString(8) });
  }
}
