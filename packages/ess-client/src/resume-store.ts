import type { Logger } from '@sessionkit/logger';
import type { StoredRecord, TokenStore } from '@sessionkit/token-store';
import type { WireFilter } from './commands.js';

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
}

const recordVersion = 1;

function isWireFilter(value: unknown): value is WireFilter {
  if (typeof value !== 'object' || value === null) return false;
  const filter = value as Record<string, unknown>;
  const isList = (list: unknown): boolean => Array.isArray(list) && list.every((item) => typeof item === 'string');
  return (
    (filter.modifier === 'include' || filter.modifier === 'exclude') &&
    isList(filter.resourceTypes) &&
    isList(filter.sourceIds) &&
    isList(filter.eventTypes)
  );
}

/** Read a record written by {@link ResumeWriter}; undefined when absent, foreign or damaged. */
export function parseResumeRecord(record: StoredRecord | undefined): ResumeRecord | undefined {
  if (record?.version !== recordVersion || typeof record.sessionId !== 'string' || record.sessionId === '') return undefined;
  const lastEventId = typeof record.lastEventId === 'string' && record.lastEventId !== '' ? record.lastEventId : undefined;
  const subscriptions: RememberedSubscription[] = [];
  if (Array.isArray(record.subscriptions)) {
    for (const item of record.subscriptions as unknown[]) {
      if (typeof item !== 'object' || item === null) continue;
      const entry = item as Record<string, unknown>;
      if (typeof entry.id !== 'string' || !Array.isArray(entry.filters) || !entry.filters.every(isWireFilter)) continue;
      subscriptions.push({
        id: entry.id,
        serverId: typeof entry.serverId === 'string' ? entry.serverId : undefined,
        filters: entry.filters,
      });
    }
  }
  return { sessionId: record.sessionId, lastEventId, subscriptions };
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

  constructor(store: TokenStore, key: string, logger: Logger) {
    this.#store = store;
    this.#key = key;
    this.#logger = logger;
  }

  async read(): Promise<ResumeRecord | undefined> {
    try {
      return parseResumeRecord(await this.#store.get(this.#key));
    } catch (error) {
      this.#logger.warn('could not read the resume record; starting a new session', { error });
      return undefined;
    }
  }

  save(record: ResumeRecord): void {
    this.#next = record;
    this.#writing ??= this.#drain();
  }

  /** Resolves once every saved record is written. */
  async flush(): Promise<void> {
    await this.#writing;
  }

  async #drain(): Promise<void> {
    for (let record = this.#next; record !== undefined; record = this.#next) {
      this.#next = undefined;
      try {
        await this.#store.set(this.#key, {
          version: recordVersion,
          sessionId: record.sessionId,
          lastEventId: record.lastEventId ?? null,
          subscriptions: record.subscriptions.map((subscription) => ({ ...subscription, serverId: subscription.serverId ?? null })),
          savedAt: Date.now(),
        });
      } catch (error) {
        this.#logger.warn('could not save the resume record', { error });
      }
    }
    this.#writing = undefined;
  }
}
