import { randomBytes } from 'node:crypto';

/** One API session opened by StartSession. */
export interface ApiSession {
  id: string;
  entity: string;
  /** The account the session acts for. */
  account: string;
  /** The login as given (`account` or `account!role`). */
  login: string;
  role: string | undefined;
  readOnly: boolean;
  createdAt: number;
  lastUsedAt: number;
  timeoutMs: number;
  maxTtlMs: number;
}

/** Counters of the session store. */
export interface SessionCounters {
  started: number;
  ended: number;
  expired: number;
}

/** Sessions with sliding idle expiry (TIMEOUT) and an absolute lifetime (MAXTTL). */
export class SessionStore {
  readonly counters: SessionCounters = { started: 0, ended: 0, expired: 0 };
  readonly #sessions = new Map<string, ApiSession>();
  readonly #clock: () => number;

  constructor(clock: () => number) {
    this.#clock = clock;
  }

  get size(): number {
    return this.#sessions.size;
  }

  start(fields: Omit<ApiSession, 'id' | 'createdAt' | 'lastUsedAt'>): ApiSession {
    if (this.#sessions.size >= 1000) this.#sweep();
    const now = this.#clock();
    const session: ApiSession = { ...fields, id: randomBytes(16).toString('hex'), createdAt: now, lastUsedAt: now };
    this.#sessions.set(session.id, session);
    this.counters.started += 1;
    return session;
  }

  /** The live session `id` of `entity`, marked as used now; undefined when unknown or expired. */
  use(id: string, entity: string): ApiSession | undefined {
    const session = this.#sessions.get(id);
    if (session === undefined) return undefined;
    const now = this.#clock();
    if (this.#isExpired(session, now)) {
      this.#sessions.delete(id);
      this.counters.expired += 1;
      return undefined;
    }
    if (session.entity !== entity) return undefined;
    session.lastUsedAt = now;
    return session;
  }

  end(id: string): boolean {
    const ended = this.#sessions.delete(id);
    if (ended) this.counters.ended += 1;
    return ended;
  }

  /** Expire every session now; returns how many there were. */
  expireAll(): number {
    const count = this.#sessions.size;
    this.#sessions.clear();
    this.counters.expired += count;
    return count;
  }

  clear(): void {
    this.#sessions.clear();
  }

  #isExpired(session: ApiSession, now: number): boolean {
    return now - session.lastUsedAt >= session.timeoutMs || now - session.createdAt >= session.maxTtlMs;
  }

  #sweep(): void {
    const now = this.#clock();
    for (const [id, session] of this.#sessions) {
      if (this.#isExpired(session, now)) {
        this.#sessions.delete(id);
        this.counters.expired += 1;
      }
    }
  }
}
