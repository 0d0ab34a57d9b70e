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
  /**
   * No session can expire before this time: the earliest deadline when sessions were started
   * or last swept (using a session only moves its deadline later). Lets `expireIdle` skip the
   * sweep while nothing can have expired.
   */
  #nextExpiry = Number.POSITIVE_INFINITY;

  constructor(clock: () => number) {
    this.#clock = clock;
  }

  /** Sessions stored, expired ones that have not been swept yet included. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Sessions alive now: expires the ones past their TIMEOUT or MAXTTL by the clock first. */
  get active(): number {
    this.expireIdle();
    return this.#sessions.size;
  }

  /**
   * Drop the sessions that have expired by the clock, counting them as expired. Cheap when
   * none can have expired yet (no sweep before the earliest deadline).
   */
  expireIdle(): void {
    if (this.#sessions.size > 0 && this.#clock() >= this.#nextExpiry) this.#sweep();
  }

  start(fields: Omit<ApiSession, 'id' | 'createdAt' | 'lastUsedAt'>): ApiSession {
    if (this.#sessions.size >= 1000) this.#sweep();
    const now = this.#clock();
    const session: ApiSession = { ...fields, id: randomBytes(16).toString('hex'), createdAt: now, lastUsedAt: now };
    this.#sessions.set(session.id, session);
    this.#nextExpiry = Math.min(this.#nextExpiry, deadlineOf(session));
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
    this.#nextExpiry = Number.POSITIVE_INFINITY;
    this.counters.expired += count;
    return count;
  }

  clear(): void {
    this.#sessions.clear();
    this.#nextExpiry = Number.POSITIVE_INFINITY;
  }

  #isExpired(session: ApiSession, now: number): boolean {
    return now - session.lastUsedAt >= session.timeoutMs || now - session.createdAt >= session.maxTtlMs;
  }

  #sweep(): void {
    const now = this.#clock();
    let nextExpiry = Number.POSITIVE_INFINITY;
    for (const [id, session] of this.#sessions) {
      if (this.#isExpired(session, now)) {
        this.#sessions.delete(id);
        this.counters.expired += 1;
      } else {
        nextExpiry = Math.min(nextExpiry, deadlineOf(session));
      }
    }
    this.#nextExpiry = nextExpiry;
  }
}

/** When `session` expires unless it is used again (idle TIMEOUT or MAXTTL, whichever is first). */
function deadlineOf(session: ApiSession): number {
  return Math.min(session.lastUsedAt + session.timeoutMs, session.createdAt + session.maxTtlMs);
}
