import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * Issued tokens by their SHA-256, never by their value, so neither memory dumps nor a state
 * file hold a usable token.
 */
export class TokenTable<T extends { expiresAt: number }> {
  readonly #records = new Map<string, T>();
  readonly #onChange: () => void;

  constructor(onChange: () => void = () => undefined) {
    this.#onChange = onChange;
  }

  get(token: string): T | undefined {
    return this.#records.get(hashOf(token));
  }

  set(token: string, record: T): void {
    this.#records.set(hashOf(token), record);
    this.#onChange();
  }

  delete(token: string): boolean {
    const deleted = this.#records.delete(hashOf(token));
    if (deleted) this.#onChange();
    return deleted;
  }

  clear(): void {
    this.#records.clear();
    this.#onChange();
  }

  /** Forget every record `matches` picks (the access tokens of a revoked grant); true when any was. */
  deleteWhere(matches: (record: T) => boolean): boolean {
    let deleted = false;
    for (const [hash, record] of this.#records) if (matches(record)) deleted = this.#records.delete(hash) || deleted;
    if (deleted) this.#onChange();
    return deleted;
  }

  /** Forget every record that expired at or before `time`. */
  sweep(time: number): void {
    for (const [hash, record] of this.#records) if (record.expiresAt <= time) this.#records.delete(hash);
  }

  entries(): [string, T][] {
    return [...this.#records];
  }

  load(entries: readonly [string, T][]): void {
    for (const [hash, record] of entries) this.#records.set(hash, record);
  }
}

interface StateFileContent<A, R> {
  version: 1;
  accessTokens: [string, A][];
  refreshTokens: [string, R][];
}

/** The pending writes of every open state file, made when the process exits: one listener for all. */
const atExit = new Set<() => void>();
const flushAtExit = (): void => {
  for (const flush of atExit) flush();
};

/**
 * Keeps the identity provider's tokens in a JSON file (mode 0600, replaced atomically) so that
 * a restarted sandbox still accepts the tokens it issued: what a demo that runs twice needs.
 * Changes are written together, 50 ms after the first (rewriting the whole file for every token
 * grew quadratically with the tokens issued, and blocked the event loop each time); `close()`
 * writes what is pending (throwing when that fails) and stops writing, and what is pending is
 * written when the process exits normally (not on a signal it does not handle).
 */
export function bindStateFile<A extends { expiresAt: number }, R extends { expiresAt: number }>(
  path: string,
  now: () => number,
): { access: TokenTable<A>; refresh: TokenTable<R>; close: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let pending = false;
  let closed = false;
  const schedule = (): void => {
    if (closed) return;
    pending = true;
    timer ??= setTimeout(() => {
      timer = undefined;
      write();
    }, 50).unref();
  };
  const access = new TokenTable<A>(schedule);
  const refresh = new TokenTable<R>(schedule);
  if (existsSync(path)) {
    try {
      const content = JSON.parse(readFileSync(path, 'utf8')) as Partial<StateFileContent<A, R>>;
      if (content.version === 1 && Array.isArray(content.accessTokens) && Array.isArray(content.refreshTokens)) {
        access.load(content.accessTokens);
        refresh.load(content.refreshTokens);
        access.sweep(now());
        refresh.sweep(now());
      }
    } catch {
      // An unreadable state file only means the previous tokens are forgotten.
    }
  }
  const save = (): void => {
    const content: StateFileContent<A, R> = { version: 1, accessTokens: access.entries(), refreshTokens: refresh.entries() };
    const temporary = `${path}.${String(process.pid)}.tmp`;
    try {
      writeFileSync(temporary, JSON.stringify(content), { mode: 0o600 });
      renameSync(temporary, path);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw error;
    }
  };
  // What is pending, written: a failure leaves it pending, for the next change's write and close().
  const write = (): void => {
    if (!pending) return;
    try {
      save();
      pending = false;
    } catch {
      // Still pending.
    }
  };
  // Written once at start, so that a file that cannot be written fails the start rather than
  // every token request after it.
  try {
    save();
  } catch (error) {
    throw new Error(`The state file ${path} cannot be written: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!atExit.size) process.on('exit', flushAtExit);
  atExit.add(write);
  return {
    access,
    refresh,
    close: () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      atExit.delete(write);
      if (!atExit.size) process.removeListener('exit', flushAtExit);
      if (pending) save();
    },
  };
}
