import type { EssEvent, EssState } from './types.js';

const timePattern = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/;

/** [epoch milliseconds, nanoseconds] of an ISO 8601 time, or undefined when it does not parse. */
function timeKey(time: unknown): [number, number] | undefined {
  if (typeof time !== 'string') return undefined;
  const match = timePattern.exec(time);
  if (!match) return undefined;
  const seconds = Date.parse(`${match[1] ?? ''}${match[3] ?? ''}`);
  if (isNaN(seconds)) return undefined;
  return [seconds, Number((match[2] ?? '').padEnd(9, '0').slice(0, 9))];
}

/** Negative when `a` is older than `b`; 0 when equal or not comparable. */
export function compareTimes(a: unknown, b: unknown): number {
  // Fast path: UTC times in the same format order as strings.
  if (typeof a === 'string' && typeof b === 'string' && a.length === b.length && a.charCodeAt(a.length - 1) === 90 && b.charCodeAt(b.length - 1) === 90) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const left = timeKey(a);
  const right = timeKey(b);
  if (!left || !right) return 0;
  return left[0] - right[0] || left[1] - right[1];
}

/** Whether an event carries a state (a `stategroupid`) of a `source`. */
export function isStateful(event: EssEvent): event is EssState {
  return typeof event.stategroupid === 'string' && typeof event.source === 'string';
}

/**
 * A cheap hash of a source for the front cache: its length and last 4 characters (the random
 * end of `{resourceType}/{guid}`). Only the front cache's hit rate depends on it; a miss
 * falls back to the `Map`.
 */
function tailHash(source: string): number {
  const length = source.length;
  let hash = Math.imul(length, 0x9e3779b1);
  for (let index = length > 4 ? length - 4 : 0; index < length; index += 1) hash = Math.imul(hash ^ source.charCodeAt(index), 0x01000193);
  return hash ^ (hash >>> 15);
}

const frontSize = 1024;

interface Entry {
  readonly group: string;
  state: EssState;
  /** Change counter value when an event last set this entry. */
  version: number;
}

/**
 * The current state per (`source`, `stategroupid`): the latest `type`, from getState
 * snapshots and stateful events. An older event (by `time`) never overwrites a newer state.
 * Kept as source -> the few state groups of that source, updated in place. A direct-mapped
 * front cache of recently seen sources saves most `Map` lookups: each event's `source` is a
 * new string, and hashing it for the `Map` costs more than the rest of `apply`.
 */
export class StateCache {
  #sources = new Map<string, Entry[]>();
  #version = 0;
  readonly #frontKeys = new Array<string | undefined>(frontSize).fill(undefined);
  readonly #frontEntries = new Array<Entry[] | undefined>(frontSize).fill(undefined);

  /** Apply a stateful event; true when it changed the cache. */
  apply(state: EssState): boolean {
    const source = state.source;
    const slot = tailHash(source) & (frontSize - 1);
    let entries = this.#frontKeys[slot] === source ? this.#frontEntries[slot] : undefined;
    if (entries === undefined) {
      entries = this.#entries(source);
      this.#frontKeys[slot] = source;
      this.#frontEntries[slot] = entries;
    }
    const changed = this.#put(entries, state, this.#version + 1, true);
    if (changed) this.#version += 1;
    return changed;
  }

  /** A mark to pass to {@link replace} for a snapshot requested now. */
  mark(): number {
    return this.#version;
  }

  /**
   * Replace the cache with a getState snapshot requested at `mark`. Entries that events set
   * after the mark stay when they are newer than the snapshot's.
   */
  replace(states: readonly EssState[], mark: number): void {
    const previous = this.#sources;
    this.#sources = new Map();
    this.#frontKeys.fill(undefined);
    this.#frontEntries.fill(undefined);
    for (const state of states) this.#put(this.#entries(state.source), state, mark);
    for (const entries of previous.values()) {
      for (const { state, version } of entries) {
        if (version > mark) this.#put(this.#entries(state.source), state, version, true);
      }
    }
  }

  /** The entries of `source`, made when it has none. */
  #entries(source: string): Entry[] {
    let entries = this.#sources.get(source);
    if (entries === undefined) this.#sources.set(source, (entries = []));
    return entries;
  }

  /**
   * Set `state` in the `entries` of its source, as of `version`; with `keepNewer`, not over a
   * newer one (false then: nothing changed).
   */
  #put(entries: Entry[], state: EssState, version: number, keepNewer?: boolean): boolean {
    for (const entry of entries) {
      if (entry.group !== state.stategroupid) continue;
      if (keepNewer && compareTimes(state.time, entry.state.time) < 0) return false;
      entry.state = state;
      entry.version = version;
      return true;
    }
    entries.push({ group: state.stategroupid, state, version });
    return true;
  }

  /** The current states, in no particular order. */
  snapshot(): EssState[] {
    const states: EssState[] = [];
    for (const entries of this.#sources.values()) for (const entry of entries) states.push(entry.state);
    return states;
  }
}
