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
 */
export function bindStateFile<A extends { expiresAt: number }, R extends { expiresAt: number }>(
  path: string,
  now: () => number,
): { access: TokenTable<A>; refresh: TokenTable<R> } {
  let save = (): void => undefined;
  const access = new TokenTable<A>(() => { save(); });
  const refresh = new TokenTable<R>(() => { save(); });
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
  save = () => {
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
  // Written once at start, so that a file that cannot be written fails the start rather than
  // every token request after it.
  try {
    save();
  } catch (error) {
    throw new Error(`The state file ${path} cannot be written: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return { access, refresh };
}
