import type { EssEvent, EssState } from './types.js';

const timePattern = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/;

/** [epoch seconds, nanoseconds] of an ISO 8601 time, or undefined when it does not parse. */
function timeKey(time: unknown): [number, number] | undefined {
  if (typeof time !== 'string') return undefined;
  const match = timePattern.exec(time);
  if (match === null) return undefined;
  const seconds = Date.parse(`${match[1] ?? ''}${match[3] ?? ''}`);
  if (Number.isNaN(seconds)) return undefined;
  return [seconds, Number((match[2] ?? '').padEnd(9, '0').slice(0, 9))];
}

/** Negative when `a` is older than `b`; 0 when equal or not comparable. */
export function compareTimes(a: unknown, b: unknown): number {
  const left = timeKey(a);
  const right = timeKey(b);
  if (left === undefined || right === undefined) return 0;
  return left[0] - right[0] || left[1] - right[1];
}

/** Whether an event carries a state (a `stategroupid`). */
export function isStateful(event: EssEvent): event is EssState {
  return typeof event.stategroupid === 'string';
}

interface Entry {
  state: EssState;
  /** Change counter value when an event last set this entry. */
  version: number;
}

/**
 * The current state per (`source`, `stategroupid`): the latest `type`, from getState
 * snapshots and stateful events. An older event (by `time`) never overwrites a newer state.
 */
export class StateCache {
  #entries = new Map<string, Entry>();
  #version = 0;

  static key(state: EssState): string {
    return `${state.source}\n${state.stategroupid}`;
  }

  /** Apply a stateful event; true when it changed the cache. */
  apply(state: EssState): boolean {
    const key = StateCache.key(state);
    const current = this.#entries.get(key);
    if (current !== undefined && compareTimes(current.state.time, state.time) > 0) return false;
    this.#version += 1;
    this.#entries.set(key, { state, version: this.#version });
    return true;
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
    const next = new Map<string, Entry>();
    for (const state of states) next.set(StateCache.key(state), { state, version: mark });
    for (const [key, entry] of this.#entries) {
      if (entry.version <= mark) continue;
      const snapshot = next.get(key);
      if (snapshot === undefined || compareTimes(entry.state.time, snapshot.state.time) >= 0) next.set(key, entry);
    }
    this.#entries = next;
  }

  clear(): void {
    this.#entries.clear();
  }

  /** The current states, in no particular order. */
  snapshot(): EssState[] {
    return Array.from(this.#entries.values(), (entry) => entry.state);
  }

  get size(): number {
    return this.#entries.size;
  }
}
