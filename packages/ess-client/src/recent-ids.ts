/** When duplicate event ids are looked for. */
export type DedupeMode = 'after-reconnect' | 'always';

/**
 * Drops duplicate event ids with bounded memory. The last `capacity` ids are kept in a ring
 * (cheap: no hashing). In `always` mode every id is checked against them. In
 * `after-reconnect` mode the ids are checked only during the first `capacity` events of each
 * connection, which is where duplicates come from: a replay after a resume repeats events from
 * before the reconnect. That keeps the steady-state cost near zero.
 */
export class RecentIds {
  readonly #capacity: number;
  readonly #always: boolean;
  readonly #ring: (string | undefined)[];
  #next = 0;
  #seen: Set<string> | undefined;
  #guardRemaining = 0;

  constructor(capacity: number, mode: DedupeMode = 'always') {
    this.#capacity = Math.max(1, capacity);
    this.#always = mode === 'always';
    this.#ring = new Array<string | undefined>(this.#capacity);
    if (this.#always) this.#seen = new Set();
  }

  /** A connection starts: check the next `capacity` ids against the recent ones. */
  guard(): void {
    this.#guardRemaining = this.#capacity;
    if (this.#seen !== undefined) return;
    const seen = new Set<string>();
    for (const id of this.#ring) if (id !== undefined) seen.add(id);
    this.#seen = seen;
  }

  /** False when `id` is a duplicate of a recent one; otherwise remembers it. */
  accept(id: string): boolean {
    const seen = this.#seen;
    if (seen !== undefined) {
      const before = seen.size;
      seen.add(id);
      if (seen.size === before) return false;
    }
    const index = this.#next;
    if (this.#always) {
      const oldest = this.#ring[index];
      if (oldest !== undefined) seen?.delete(oldest);
    } else if (seen !== undefined && --this.#guardRemaining <= 0) {
      this.#seen = undefined;
    }
    this.#ring[index] = id;
    this.#next = index + 1 === this.#capacity ? 0 : index + 1;
    return true;
  }

  /** Whether ids are being checked now. */
  get guarding(): boolean {
    return this.#seen !== undefined;
  }
}
