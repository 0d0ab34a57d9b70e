import { type Logger, silentLogger } from '@sessionkit/logger';
import { defaultStoreDirectory } from './default-directory.js';
import { DirectoryLocks } from './directory-locks.js';
import { createTempFile, errorCode, fileSystemError, hasPosixModes, ignore, moveAside, nonBlocking, noFollow, notPlain, putBack } from './fs-errors.js';
import { keyFileStem } from './key-file-name.js';
import { basename, constants, type FileHandle, join, lstat, open, randomUUID, rename, resolve, unlink } from './node-builtins.js';
import { ensurePrivateDirectory } from './private-directory.js';
import type { LockOptions, StoredRecord, TokenStore } from './types.js';
import { assertKey, assertMilliseconds, parseRecord, serializeRecord } from './validate.js';

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /**
   * The directory holding one file per key. Created with mode 0700.
   * @default `$XDG_CONFIG_HOME/sessionkit`, else `~/.config/sessionkit` (`%APPDATA%\sessionkit` on Windows)
   */
  dir?: string | undefined;
  /**
   * How long `withLock` waits for a key's lock before `StoreError('LOCK_TIMEOUT')`, unless the
   * call passes its own `timeoutMs`.
   * @default 10000
   */
  lockTimeoutMs?: number | undefined;
  /**
   * A lock file not refreshed for this long is stale and may be broken. The holder refreshes
   * it every `staleLockMs / 3`, so only a dead or frozen holder goes stale. A lock whose owner
   * process is gone (same host) is broken at once. At least 100.
   * @default 30000
   */
  staleLockMs?: number | undefined;
  /**
   * Receives warnings (a corrupt file moved aside, a stale lock broken) and debug entries.
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

/** Default of {@link FileStoreOptions.lockTimeoutMs}. */
export const defaultLockTimeoutMs = 10_000;
/** Default of {@link FileStoreOptions.staleLockMs}. */
export const defaultStaleLockMs = 30_000;

/**
 * Keeps each record in its own file, private to the user: directory 0700, files 0600 (checked
 * and tightened on every write), named from a SHA-256 of the key. Writes are atomic (a
 * temporary file in the same directory, flushed, then renamed), so a reader never sees a torn
 * file. A file that cannot be parsed is moved aside to `<file>.corrupt-<time>`, logged as a
 * warning, and treated as missing. A symbolic link at a token or lock path is refused with
 * `PERMISSION`. `withLock` is exclusive across processes through an owner-tagged lock file.
 *
 * @example
 * import { FileStore } from '@sessionkit/token-store/file';
 *
 * const store = new FileStore({ lockTimeoutMs: 5_000 });
 * await store.withLock('api.example.com client-a', async () => {
 *   const record = await store.get('api.example.com client-a');
 *   if (record === undefined) await store.set('api.example.com client-a', { version: 1, token: '…' });
 * });
 */
export class FileStore implements TokenStore {
  /** The absolute directory the files live in. */
  readonly dir: string;
  readonly #logger: Logger;
  readonly #locks: DirectoryLocks;

  constructor(options: FileStoreOptions = {}) {
    this.dir = resolve(options.dir ?? defaultStoreDirectory());
    const lockTimeoutMs = options.lockTimeoutMs ?? defaultLockTimeoutMs;
    const staleLockMs = options.staleLockMs ?? defaultStaleLockMs;
    assertMilliseconds('lockTimeoutMs', lockTimeoutMs);
    assertMilliseconds('staleLockMs', staleLockMs, 100);
    this.#logger = options.logger ?? silentLogger;
    this.#locks = new DirectoryLocks({ dir: this.dir, lockTimeoutMs, staleLockMs, logger: this.#logger });
  }

  /** The file that holds `key`'s record. */
  pathFor(key: string): string {
    assertKey(key);
    return join(this.dir, `${keyFileStem(key)}.json`);
  }

  /**
   * The record under `key`, or undefined when there is none or the file was corrupt (it is
   * then moved aside). Rejects with `PERMISSION` when the path is a symbolic link.
   */
  async get(key: string): Promise<StoredRecord | undefined> {
    const path = this.pathFor(key);
    if (!(await this.#assertNotLink(path))) return undefined;
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDONLY | noFollow | nonBlocking);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EACCES' || code === 'EPERM') return this.#moveAside(path, undefined, 'could not be read');
      if (code === 'ENOENT') return undefined;
      throw fileSystemError(error, 'open', path);
    }
    let text: string;
    let inode: bigint;
    try {
      const info = await handle.stat({ bigint: true });
      if (!info.isFile()) throw notPlain(path);
      inode = info.ino;
      if (hasPosixModes && (info.mode & 0o777n) !== 0o600n && BigInt(process.getuid?.() ?? -1) === info.uid) {
        await handle.chmod(0o600);
        this.#logger.debug('tightened the mode to 0600', { file: path });
      }
      text = await handle.readFile('utf8');
    } catch (error) {
      throw fileSystemError(error, 'read', path);
    } finally {
      await handle.close().catch(ignore);
    }
    return parseRecord(text) ?? this.#moveAside(path, inode, 'could not be parsed');
  }

  /**
   * Atomically replaces `key`'s file with `value`: writes a temporary file beside it (mode
   * exactly 0600), flushes it, renames it over the file, then flushes the directory.
   */
  async set(key: string, value: StoredRecord): Promise<void> {
    const path = this.pathFor(key);
    const text = serializeRecord(value);
    await ensurePrivateDirectory(this.dir, this.#logger);
    await this.#assertNotLink(path);
    const tempPath = join(this.dir, `.${basename(path)}.${randomUUID()}.tmp`);
    const handle = await createTempFile(tempPath, path);
    try {
      try {
        // The umask can only remove bits; chmod makes the mode exactly 0600.
        if (hasPosixModes) await handle.chmod(0o600);
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tempPath, path);
    } catch (error) {
      await unlink(tempPath).catch(ignore);
      throw fileSystemError(error, 'write', path);
    }
    // Makes the rename durable. Not supported on Windows, where it is skipped.
    if (hasPosixModes) {
      await open(this.dir, constants.O_RDONLY).then((dir) => dir.sync().finally(() => dir.close())).catch((error: unknown) => {
        this.#logger.debug('could not flush the store directory', { dir: this.dir, code: errorCode(error) });
      });
    }
  }

  /** Removes `key`'s file; a missing file is not an error. */
  async delete(key: string): Promise<void> {
    const path = this.pathFor(key);
    if (!(await this.#assertNotLink(path))) return;
    try {
      await unlink(path);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw fileSystemError(error, 'delete', path);
    }
  }

  /**
   * Runs `fn` holding `key`'s lock, exclusive across processes (and across store instances in
   * this process). Waits at most `options.timeoutMs` (default `lockTimeoutMs`), then rejects
   * with `LOCK_TIMEOUT`. Not re-entrant: calling `withLock` for the same key inside `fn` waits
   * for itself until the timeout.
   */
  async withLock<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    assertKey(key);
    if (options?.timeoutMs !== undefined) assertMilliseconds('timeoutMs', options.timeoutMs);
    return await this.#locks.run(key, fn, options?.timeoutMs);
  }

  /** True when `path` exists (as a regular file); throws PERMISSION for anything else (a planted link). */
  async #assertNotLink(path: string): Promise<boolean> {
    try {
      if (!(await lstat(path)).isFile()) throw notPlain(path);
      return true;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false;
      throw fileSystemError(error, 'inspect', path);
    }
  }

  /**
   * Renames a bad file to `<path>.corrupt-<time>`. If a writer replaced the file after it was
   * read (`inode` differs), the good file is put back unless an even newer one exists.
   */
  async #moveAside(path: string, inode: bigint | undefined, problem: string): Promise<undefined> {
    const aside = `${path}.corrupt-${Date.now()}`;
    if (!(await moveAside(path, aside))) return;
    const moved = inode === undefined ? undefined : await lstat(aside, { bigint: true }).catch(ignore);
    if (moved !== undefined && moved.ino !== inode) await putBack(aside, path);
    else this.#logger.warn(`a token file ${problem}; moved it aside and treated it as missing`, { file: path, movedTo: aside });
  }
}
