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

/**
 * Keeps the identity provider's tokens in a JSON file (mode 0600, replaced atomically) so that
 * a restarted sandbox still accepts the tokens it issued: what a demo that runs twice needs.
 * Changes are written together, 50 ms after the first (rewriting the whole file for every token
 * grew quadratically with the tokens issued, and blocked the event loop each time); `flush()`
 * writes what is pending at once, as `close()` and the process's exit do.
 */
export function bindStateFile<A extends { expiresAt: number }, R extends { expiresAt: number }>(
  path: string,
  now: () => number,
): { access: TokenTable<A>; refresh: TokenTable<R>; flush: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    timer ??= setTimeout(flush, 50).unref();
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
  // Pending changes, written now: by the timer, by close(), and when the process exits (a sandbox
  // not closed, or a process that ends within the 50 ms). A failure later than the start's is left
  // for the next write: the tokens are still served from memory.
  function flush(): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    timer = undefined;
    try {
      save();
    } catch {
      // Written again with the next change, or at close.
    }
  }
  process.once('exit', flush);
  // Written once at start, so that a file that cannot be written fails the start rather than
  // every token request after it.
  try {
    save();
  } catch (error) {
    process.removeListener('exit', flush);
    throw new Error(`The state file ${path} cannot be written: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return {
    access,
    refresh,
    flush: () => {
      flush();
      process.removeListener('exit', flush);
    },
  };
}
