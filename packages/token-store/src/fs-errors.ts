import { type FileHandle, fs, fsSync, type Stats } from './node-builtins.js';
import { StoreError } from './store-error.js';

/** The `code` of a Node.js system error, if it is one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A StoreError for a failed file-system call: `PERMISSION` for access and symlink errors, `IO` otherwise. */
export function fileSystemError(error: unknown, action: string, path: string): StoreError {
  if (StoreError.isInstance(error)) return error;
  const code = errorCode(error);
  if (code === 'ELOOP' || code === 'EMLINK') return notPlain(path);
  if (code === 'EACCES' || code === 'EPERM') {
    return new StoreError('PERMISSION', `Permission denied to ${action} ${path}: check its owner and mode, and its directory's.`, { cause: error });
  }
  return new StoreError('IO', `Could not ${action} ${path} (${code ?? 'unknown error'}).`, { cause: error });
}

/** Undefined for a missing file (`ENOENT`); throws the {@link fileSystemError} for any other error. */
export function unlessMissing(error: unknown, action: string, path: string): undefined {
  if (errorCode(error) !== 'ENOENT') throw fileSystemError(error, action, path);
}

/** Whether the platform has POSIX owners and modes that this package checks. */
export const hasPosixModes: boolean = process.platform !== 'win32';

/**
 * The flags that open an existing file for reading: `O_RDONLY` (which is 0), and where the
 * platform has them `O_NOFOLLOW` (opening a symbolic link fails instead of following it) and
 * `O_NONBLOCK` (opening a FIFO planted at the path does not hang). Windows has neither flag
 * (both undefined there, which `|` reads as 0); there the lstat checks are what refuses a link.
 */
export const readFlags: number = fsSync.constants.O_NOFOLLOW | fsSync.constants.O_NONBLOCK;

/** For best-effort cleanup whose failure changes nothing for the caller. */
export function ignore(): undefined {
  // Nothing to do.
}

/**
 * `PERMISSION` for something at `path` that is not the plain file (or directory) of its own expected
 * there: a link, or a directory shared as /tmp is (the sticky bit).
 */
export function notPlain(path: string, expected: 'file' | 'directory' = 'file'): StoreError {
  return new StoreError('PERMISSION', `Refusing ${path}: not a plain ${expected} of its own (a planted link? a shared directory?).`);
}

/** Throws `PERMISSION` unless `owner`, the uid of `path`, is this process's user (where there are POSIX owners). */
export function assertOwner(owner: number | bigint, path: string): void {
  // process.getuid exists exactly where there are POSIX owners (not on Windows or Android).
  const uid = process.getuid?.();
  if (uid !== undefined && Number(owner) !== uid) {
    throw new StoreError('PERMISSION', `${path} is owned by user ${owner}, not ${uid}: use a directory (and files) you own.`);
  }
}

/**
 * Creates the temporary file `tempPath` beside `path`: exclusively (never an existing file or
 * a link), mode exactly 0600, open for writing.
 */
export async function createTempFile(tempPath: string, path: string): Promise<FileHandle> {
  let handle: FileHandle | undefined;
  try {
    // 'wx' is O_CREAT | O_EXCL (with O_WRONLY and O_TRUNC, a no-op on a new file): it never opens
    // an existing file, and never follows a symbolic link (POSIX: EEXIST), so O_NOFOLLOW adds nothing.
    handle = await fs.open(tempPath, 'wx', 0o600);
    // The umask can only remove bits, even the owner's read bit (umask 0477), which would leave
    // a lock file its owner cannot read back to release: chmod makes the mode exactly 0600.
    if (hasPosixModes) await handle.chmod(0o600);
    return handle;
  } catch (error) {
    if (handle) {
      await handle.close().catch(ignore);
      await fs.unlink(tempPath).catch(ignore);
    }
    throw fileSystemError(error, 'create a temporary file beside', path);
  }
}

/**
 * The file at `path`, undefined when there is none; throws `PERMISSION` for anything but a
 * regular file (a planted link). Token files and lock files are both inspected with it.
 */
export async function inspectFile(path: string): Promise<Stats | undefined> {
  try {
    const info = await fs.lstat(path);
    if (!info.isFile()) throw notPlain(path);
    return info;
  } catch (error) {
    unlessMissing(error, 'inspect', path);
    return undefined;
  }
}
