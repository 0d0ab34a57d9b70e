import { resolve } from 'node:path';
import { type Logger, silentLogger } from '@sessionkit/logger';
import { callAsync } from './call-async.js';
import { defaultStoreDirectory } from './default-directory.js';
import { type DirectoryLocksOptions, runLocked } from './directory-locks.js';
import { defaultLockTimeoutMs, defaultStaleLockMs } from './file-store.js';
import { type HelperReply, type HelperRequest, KeychainHelper } from './keychain-helper.js';
import { vanishedAttempts } from './keychain-helper-source.js';
import { missingSessionBus, resolveKeyringModule, secretServiceAdvice } from './keychain-module.js';
import { StoreError } from './store-error.js';
import type { LockOptions, StoredRecord, TokenStore } from './types.js';
import { assertKey, assertLockArguments, assertMilliseconds, parseRecord, serializeRecord } from './validate.js';

/** Options of {@link KeychainStore}. */
export interface KeychainStoreOptions {
  /**
   * The keychain service name every record is filed under; the store key is the account name.
   * @default 'sessionkit'
   */
  service?: string | undefined;
  /**
   * How long one keychain call may take before it fails with `StoreError('TIMEOUT')`, counted
   * from when the call is sent to the helper process, which has by then started and loaded the
   * native module: it covers opening the keychain (connecting to D-Bus on Linux), the native call
   * and the further looks when another process deletes the item meanwhile. It does not cover the
   * wait for the calls queued before it (a store's calls are served one at a time), nor the
   * helper's start-up on a store's first call (or the first after a `close()` or a timeout),
   * which has its own bound: the larger of 10 s and `timeoutMs`, then `TIMEOUT` for the calls
   * waiting for it, none of which was made.
   * @default 10000
   */
  timeoutMs?: number | undefined;
  /**
   * The directory for `withLock`'s lock files (the same lock files FileStore uses).
   * @default `$XDG_CONFIG_HOME/sessionkit`, else `~/.config/sessionkit` (`%APPDATA%\sessionkit` on Windows)
   */
  lockDir?: string | undefined;
  /**
   * How long `withLock` waits before `StoreError('LOCK_TIMEOUT')`, unless the call passes its own.
   * @default 10000
   */
  lockTimeoutMs?: number | undefined;
  /**
   * A lock file not refreshed for this long is stale and may be broken (see FileStore). At least 100.
   * @default 30000
   */
  staleLockMs?: number | undefined;
  /**
   * Receives warnings (an unparseable keychain item).
   * @default silentLogger
   */
  logger?: Logger | undefined;
}

/** Default of {@link KeychainStoreOptions.timeoutMs}. */
export const defaultKeychainTimeoutMs = 10_000;

function classifyCallFailure(message: string): StoreError {
  if (/too long|invalid/i.test(message)) {
    return new StoreError('INVALID_ARGUMENT', `The keychain refused the item: ${message}. Records must fit the platform's limit (about 2.5 KB on Windows).`);
  }
  if (/access|platform (secure storage )?failure|locked|d-?bus/i.test(message)) {
    return new StoreError('UNAVAILABLE', `The keychain could not be used: ${message}. It may be locked or denying access: unlock it, or check that its service is running.`);
  }
  return new StoreError('IO', `A keychain call failed: ${message}.`);
}

/**
 * Keeps records in the operating system's keychain: macOS Keychain, Windows Credential
 * Manager, the Linux Secret Service (gnome-keyring, KeePassXC, KWallet) over D-Bus, through
 * the optional peer dependency `@napi-rs/keyring`. On Linux it uses the Secret Service only:
 * with none reachable every call rejects with `StoreError('UNAVAILABLE')` saying what to
 * install or start, and never falls back to the kernel keyring.
 *
 * The native module is loaded only when the store is first used, and only in a helper child
 * process, so that every call is bounded by `timeoutMs` (`StoreError('TIMEOUT')`) even when a
 * native call blocks (the helper's start-up has a bound of its own: see `timeoutMs`). `withLock`
 * uses the same lock files as FileStore, in `lockDir`.
 *
 * @example
 * import { KeychainStore } from '@sessionkit/token-store/keychain';
 *
 * const store = new KeychainStore({ service: 'my-cli' });
 * await store.set('https://login.example.com client-a', { version: 1, accessToken: '…' });
 * const record = await store.get('https://login.example.com client-a');
 */
export class KeychainStore implements TokenStore {
  /** The keychain service name records are filed under. */
  readonly service: string;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  readonly #lockOptions: DirectoryLocksOptions;
  #helper: KeychainHelper | undefined;

  constructor(options?: KeychainStoreOptions | null) {
    // From JavaScript: null is no options, and a lockDir that is not a string an INVALID_ARGUMENT; so is
    // '', which resolve() would take as the current directory.
    options ??= {};
    // A string is not the lock directory, as FileStore's is its dir: it would be ignored.
    if (typeof options != 'object') throw new StoreError('INVALID_ARGUMENT', 'KeychainStore options must be an object, such as { lockDir }.');
    const service = options.service ?? 'sessionkit';
    // The keychain cuts a name at NUL and turns a lone surrogate into U+FFFD: such a service
    // would share its items with another service (the same rule as assertKey for keys).
    if (typeof service !== 'string' || service === '' || /[\0\p{Cs}]/u.test(service)) {
      throw new StoreError('INVALID_ARGUMENT', 'KeychainStore service must be a non-empty string without NUL or lone surrogates.');
    }
    this.service = service;
    this.#timeoutMs = options.timeoutMs ?? defaultKeychainTimeoutMs;
    assertMilliseconds('timeoutMs', this.#timeoutMs, 1);
    const lockTimeoutMs = options.lockTimeoutMs ?? defaultLockTimeoutMs;
    const staleLockMs = options.staleLockMs ?? defaultStaleLockMs;
    assertMilliseconds('lockTimeoutMs', lockTimeoutMs);
    assertMilliseconds('staleLockMs', staleLockMs, 100);
    this.#logger = options.logger ?? silentLogger;
    const lockDir = options.lockDir ?? defaultStoreDirectory();
    if (!lockDir || typeof lockDir !== 'string') throw new StoreError('INVALID_ARGUMENT', 'KeychainStore lockDir must be a non-empty string.');
    const dir = resolve(lockDir);
    this.#lockOptions = { dir, lockTimeoutMs, staleLockMs, logger: this.#logger };
  }

  /** The record under `key`, or undefined (also when the item is not a record; then a warning is logged). */
  get(key: string): Promise<StoredRecord | undefined> {
    return callAsync(async () => {
      assertKey(key);
      const value = await this.#call({ op: 'get', service: this.service, account: key });
      if (typeof value !== 'string') return undefined;
      const record = parseRecord(value);
      if (record === undefined) this.#logger.warn('a keychain item could not be parsed; treated as missing', { service: this.service });
      return record;
    });
  }

  /** Stores `value` as JSON under `key`, replacing what was there. */
  set(key: string, value: StoredRecord): Promise<void> {
    return callAsync(async () => {
      assertKey(key);
      await this.#call({ op: 'set', service: this.service, account: key, value: serializeRecord(value) });
    });
  }

  /** Removes `key`; a missing key is not an error. */
  delete(key: string): Promise<void> {
    return callAsync(async () => {
      assertKey(key);
      await this.#call({ op: 'delete', service: this.service, account: key });
    });
  }

  /**
   * Runs `fn` holding `key`'s lock, exclusive across processes through a lock file in
   * `lockDir`. Waits at most `options.timeoutMs` (default `lockTimeoutMs`), then rejects with
   * `LOCK_TIMEOUT`. Not re-entrant.
   */
  withLock<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return callAsync(() => {
      assertLockArguments(key, fn, options);
      return runLocked(this.#lockOptions, key, fn, options?.timeoutMs);
    });
  }

  /**
   * Stops the helper process now instead of at exit. The calls queued or in progress reject with
   * `UNAVAILABLE` (one in progress may still have reached the keychain). The store stays usable:
   * the next call starts a new helper.
   */
  close(): Promise<void> {
    const helper = this.#helper;
    this.#helper = undefined;
    return helper?.close() ?? Promise.resolve();
  }

  async #call(request: HelperRequest): Promise<string | boolean | null> {
    if (process.platform === 'linux') {
      const problem = missingSessionBus(process.env);
      if (problem !== undefined) throw new StoreError('UNAVAILABLE', secretServiceAdvice(problem));
    }
    this.#helper ??= new KeychainHelper(resolveKeyringModule());
    // One request, one turn in the helper's queue: an item another process deletes under the
    // call is handled in the helper (see keychain-helper-source.ts), ahead of the calls made after it.
    const reply: HelperReply = await this.#helper.call(request, this.#timeoutMs);
    if (reply.ok) return reply.value;
    if (reply.stage === 'load') {
      throw new StoreError('UNAVAILABLE', `Could not load the optional package @napi-rs/keyring (${reply.message}). Reinstall it for this platform: npm install @napi-rs/keyring`);
    }
    if (reply.stage === 'open') {
      throw new StoreError('UNAVAILABLE', process.platform === 'linux' ? secretServiceAdvice(reply.message) : `The OS keychain is not available: ${reply.message}.`);
    }
    if (reply.stage === 'vanished') {
      throw new StoreError('IO', `A keychain ${request.op} failed: another process deleted the item under it ${vanishedAttempts} times in a row (${reply.message}). Try again.`);
    }
    throw classifyCallFailure(reply.message);
  }
}
