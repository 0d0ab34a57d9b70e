import type { Logger } from '@sessionkit/logger';
import type { StoredRecord, TokenStore } from '@sessionkit/token-store';
import { arrayOf, toWireFilters, type WireFilter } from './commands.js';

/** A subscription as the client remembers it across reconnects and restarts. */
export interface RememberedSubscription {
  /** The id `subscribe()` returned (stable across re-subscriptions). */
  id: string;
  /** The gateway's id in the current session; undefined until added to it. */
  serverId: string | undefined;
  filters: WireFilter[];
}

/** What the client persists so a restarted process can resume its session. */
export interface ResumeRecord {
  sessionId: string;
  /** The last event handed to the consumer; undefined before the first one. */
  lastEventId: string | undefined;
  subscriptions: RememberedSubscription[];
  /** Server ids of subscriptions to remove once the session is resumed (unsubscribed while offline). */
  removals: string[];
}

/** Read a record written by {@link ResumeWriter}; undefined when absent, foreign or damaged. */
export function parseResumeRecord(record: StoredRecord | undefined): ResumeRecord | undefined {
  // Version 1 of the record format (written by ResumeWriter below).
  if (record?.version !== 1 || typeof record.sessionId !== 'string' || !record.sessionId) return undefined;
  const subscriptions: RememberedSubscription[] = [];
  for (const item of arrayOf(record.subscriptions)) {
    const { id, serverId, filters } = (item ?? {}) as Record<string, unknown>;
    if (typeof id !== 'string') continue;
    try {
      // Checked as subscribe() checks them: a malformed command would make the gateway close the connection.
      subscriptions.push({ id, serverId: typeof serverId === 'string' ? serverId : undefined, filters: toWireFilters(filters) });
    } catch {
      // damaged: left out
    }
  }
  return {
    sessionId: record.sessionId,
    lastEventId: (typeof record.lastEventId === 'string' && record.lastEventId) || undefined,
    subscriptions,
    removals: arrayOf(record.removals).filter((id): id is string => typeof id === 'string'),
  };
}

/**
 * Writes resume records to a TokenStore one at a time: while a write is in flight, newer
 * records replace each other and only the latest is written next.
 */
export class ResumeWriter {
  readonly #store: TokenStore;
  readonly #key: string;
  readonly #logger: Logger;
  #next: ResumeRecord | undefined;
  #writing: Promise<void> | undefined;
  /** Records saved so far, and how many of them finished writes have covered (written, or failed). */
  #saved = 0;
  #covered = 0;
  readonly #waiting: { upTo: number; resolve: () => void }[] = [];

  constructor(store: TokenStore, key: string, logger: Logger) {
    this.#store = store;
    this.#key = key;
    this.#logger = logger;
  }

  async read(): Promise<ResumeRecord | undefined> {
    try {
      return parseResumeRecord(await this.#store.get(this.#key));
    } catch (error) {
      this.#logger.warn('could not read the resume record', { error });
      return undefined;
    }
  }

  save(record: ResumeRecord): void {
    this.#next = record;
    this.#saved += 1;
    this.#writing ??= this.#drain();
  }

  /** Resolves once every saved record is written (records saved meanwhile too: it waits for a pause). */
  async flush(): Promise<void> {
    await this.#writing;
  }

  /**
   * Resolves once the record saved last, or a later one, is written (or its write failed, which is
   * logged): at most two writes away, however many records are saved meanwhile.
   */
  written(): Promise<void> {
    const upTo = this.#saved;
    return upTo <= this.#covered ? Promise.resolve() : new Promise((resolve) => this.#waiting.push({ upTo, resolve }));
  }

  async #drain(): Promise<void> {
    for (let record = this.#next; record; record = this.#next) {
      this.#next = undefined;
      const upTo = this.#saved;
      try {
        // Stored as JSON: an undefined lastEventId or serverId is left out, and read back as undefined.
        await this.#store.set(this.#key, { version: 1, ...record, savedAt: Date.now() });
      } catch (error) {
        this.#logger.warn('could not save the resume record', { error });
      }
      this.#covered = upTo;
      // Saved in order, so the waiters are in order of upTo.
      while (this.#waiting[0] && this.#waiting[0].upTo <= upTo) this.#waiting.shift()?.resolve();
    }
    this.#writing = undefined;
  }
}
