import * as logging from '@sessionkit/logger';
import { defaultStoreDirectory } from './default-directory.js';
import { type DirectoryLocksOptions, runLocked } from './directory-locks.js';
import { assertOwner, createTempFile, errorCode, fileSystemError, hasPosixModes, ignore, inspectFile, notPlain, readFlags, unlessMissing } from './fs-errors.js';
import { keyFileStem } from './key-file-name.js';
import { heldLocks } from './lock-file.js';
import { crypto, type FileHandle, fs, nodePath } from './node-builtins.js';
import { ensurePrivateDirectory } from './private-directory.js';
import { StoreError } from './store-error.js';
import type { LockOptions, StoredRecord, TokenStore } from './types.js';
import { assertKey, assertLockArguments, assertMilliseconds, defaultLockTimeoutMs, parseRecord, serializeRecord } from './validate.js';

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
   * A lock file not refreshed for this long (or for its holder's own, if longer: the lock's tag
   * carries it) is stale and may be broken. The holder refreshes it every `staleLockMs / 3`, so
   * only a dead or frozen holder goes stale. A lock whose owner process is gone (same host) is
   * broken at once. At least 100.
   * @default 30000
   */
  staleLockMs?: number | undefined;
  /**
   * Receives warnings (a corrupt file, a stale lock broken) and debug entries.
   * @default silentLogger
   */
  logger?: logging.Logger | undefined;
}

/** Default of {@link FileStoreOptions.lockTimeoutMs} (every store's). */
export { defaultLockTimeoutMs };
/** Default of {@link FileStoreOptions.staleLockMs}. */
export const defaultStaleLockMs = 30_000;

/**
 * Keeps each record in its own file, private to the user: directory 0700, files 0600 (checked
 * and tightened on every write), named from a SHA-256 of the key. Writes are atomic (a
 * temporary file in the same directory, flushed, then renamed), so a reader never sees a torn
 * file. A file that cannot be parsed is treated as missing, with a warning, and moved aside to
 * `<file>.corrupt-<time>-<uuid>` when read while this process holds its key's lock (inside `withLock`, or
 * any `get` of that key meanwhile: see `heldLocks`); otherwise it stays until the next `set`
 * replaces it (or a `get` under the lock moves it).
 * A symbolic link at a token or lock path, a token file owned by another user and (for writes
 * and locks) a directory owned by another user are refused with `PERMISSION`. `withLock` is
 * exclusive across processes through an owner-tagged lock file.
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
  declare readonly dir: string;
  /** The lock settings and the logger; `set` hands them to the leftover sweep, which judges breaker guards by them. */
  readonly #settings: DirectoryLocksOptions;

  constructor(options?: FileStoreOptions | null) {
    // From JavaScript: null is no options, a string the dir (it was passed over for the default
    // directory), and a dir that is not a string an INVALID_ARGUMENT; so is ''
    // (an environment variable set but empty), which resolve() would take as the current directory.
    options ??= {};
    const dir: unknown = options.dir ?? (typeof options == 'object' ? defaultStoreDirectory() : options);
    if (!dir || typeof dir !== 'string') throw new StoreError('INVALID_ARGUMENT', 'dir must be a non-empty string.');
    this.#settings = {
      dir: (this.dir = nodePath.resolve(dir)),
      lockTimeoutMs: assertMilliseconds('lockTimeoutMs', options.lockTimeoutMs ?? defaultLockTimeoutMs),
      staleLockMs: assertMilliseconds('staleLockMs', options.staleLockMs ?? defaultStaleLockMs, 100),
      logger: options.logger ?? logging.silentLogger,
    };
  }

  /** The file that holds `key`'s record. */
  pathFor(key: string): string {
    assertKey(key);
    return nodePath.join(this.dir, `${keyFileStem(key)}.json`);
  }

  /**
   * The record under `key`, or undefined when there is none or the file does not parse (then a
   * warning is logged and, under the key's lock, the file moved aside, see the class). Rejects
   * with `PERMISSION` when the path is a symbolic link or the file belongs to another user. A file
   * of this user that it cannot read (mode 0200) gets mode 0600 and is read again.
   */
  async get(key: string): Promise<StoredRecord | undefined> {
    const path = this.pathFor(key);
    let handle: FileHandle | undefined;
    for (let repaired; !handle; repaired = true) {
      const found = await inspectFile(path);
      if (!found) return undefined;
      // Never trust a file someone else wrote (into a loose directory): it would hand us their
      // token. This also covers another user's directory, whose files are theirs; it is checked
      // again on the open file, which may have been swapped since.
      assertOwner(found.uid, path);
      try {
        handle = await fs.open(path, readFlags);
      } catch (error) {
        const code = errorCode(error);
        // Gone: undefined (also after a repair).
        if (repaired || (code !== 'EACCES' && code !== 'EPERM')) {
          unlessMissing(error, 'open', path);
          return undefined;
        }
        // Our own file without the owner's read bit: make it 0600 and try once more (if chmod
        // fails, so does the second open, with PERMISSION).
        await fs.chmod(path, 0o600).catch(ignore);
      }
    }
    try {
      const info = await handle.stat({ bigint: true });
      if (!info.isFile()) throw notPlain(path);
      assertOwner(info.uid, path);
      // Permission bits other than 0o600 (511n is 0o777n, 384n 0o600n: the shorter in the bundle).
      if (hasPosixModes && (info.mode & 511n) !== 384n) {
        await handle.chmod(0o600);
        this.#settings.logger.debug('tightened the mode to 0600', { file: path });
      }
      const record = parseRecord(await handle.readFile('utf8'));
      if (!record) {
        // Moved aside to `<path>.corrupt-<time>-<uuid>` (two moved in one millisecond keep apart), but
        // only while this process holds the key's lock (a get() inside withLock, as Session's re-read,
        // or beside it: see heldLocks), where no writer of another process that takes the lock can
        // replace it meanwhile;
        // elsewhere it stays for the next set() to replace (or a get() under the lock to move): a
        // rename there could take a record a writer has just put in its place. Even under the lock,
        // only this file: renamed only while `path` still names it (it is open, so no other file can
        // have its inode number), and a record that an unlocked set() renamed in the instant between
        // that check and the rename is put back at once (link: never over a newer record; EEXIST
        // means a newer one is there, and the moved one is dropped). A link failing otherwise (an I/O
        // error, a full disk, too many links) found the path empty, EEXIST being reported first: the
        // record is renamed back instead, and if that fails too it stays aside, named in the warning,
        // not deleted.
        const aside = `${path}.corrupt-${Date.now()}-${crypto.randomUUID()}`;
        let movedTo: string | undefined;
        if (heldLocks.has(nodePath.join(this.dir, `${keyFileStem(key)}.lock`)) && (await fs.lstat(path, { bigint: true }).catch(ignore))?.ino === info.ino && (await fs.rename(path, aside).then(() => 1, ignore))) {
          movedTo =
            (await fs.lstat(aside, { bigint: true }).catch(ignore))?.ino === info.ino
              ? aside
              : await fs.link(aside, path)
                .then(() => fs.unlink(aside), (error: unknown) => (errorCode(error) === 'EEXIST' ? fs.unlink(aside) : fs.rename(aside, path)))
                .then(ignore, () => aside);
        }
        this.#settings.logger.warn('a token file could not be parsed; treated as missing', { file: path, movedTo });
      }
      return record;
    } catch (error) {
      throw fileSystemError(error, 'read', path);
    } finally {
      await handle.close().catch(ignore);
    }
  }

  /**
   * Atomically replaces `key`'s file with `value`: writes a temporary file beside it (mode
   * exactly 0600), flushes it, renames it over the file, then flushes the directory.
   */
  async set(key: string, value: StoredRecord): Promise<void> {
    const path = this.pathFor(key);
    const text = serializeRecord(value);
    await ensurePrivateDirectory(this.#settings);
    await inspectFile(path);
    const tempPath = nodePath.join(this.dir, `.${keyFileStem(key)}.json.${crypto.randomUUID()}.tmp`);
    const handle = await createTempFile(tempPath, path);
    try {
      // UTF-8, the default; closed whatever happens.
      await handle.writeFile(text).then(() => handle.sync()).finally(() => handle.close());
      await fs.rename(tempPath, path);
    } catch (error) {
      await fs.unlink(tempPath).catch(ignore);
      throw fileSystemError(error, 'write', path);
    }
    // Makes the rename durable. Not supported on Windows, where it is skipped.
    if (hasPosixModes) {
      await fs.open(this.dir).then((dir) => dir.sync().finally(() => dir.close())).catch((error: unknown) => {
        this.#settings.logger.debug('could not flush the store directory', { dir: this.dir, code: errorCode(error) });
      });
    }
  }

  /** Removes `key`'s file; a missing file is not an error. */
  async delete(key: string): Promise<void> {
    const path = this.pathFor(key);
    if (await inspectFile(path)) {
      await fs.unlink(path).catch((error: unknown) => {
        unlessMissing(error, 'delete', path);
      });
    }
  }

  /**
   * Runs `fn` holding `key`'s lock, exclusive across processes (and across store instances in
   * this process). Waits at most `options.timeoutMs` (default `lockTimeoutMs`), then rejects
   * with `LOCK_TIMEOUT`. Not re-entrant: calling `withLock` for the same key inside `fn` waits
   * for itself until the timeout. A bad key or `timeoutMs`, or an `fn` that is not a function,
   * is refused with `INVALID_ARGUMENT` before any lock is taken.
   */
  async withLock<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    assertLockArguments(key, fn, options);
    return runLocked(this.#settings, key, fn, options?.timeoutMs);
  }
}
