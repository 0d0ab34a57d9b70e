/** The last `capacity` event ids seen, to drop duplicates with bounded memory. */
export class RecentIds {
  readonly #capacity: number;
  readonly #ids = new Set<string>();
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
    this.#ring = new Array<string | undefined>(this.#capacity);
  }

  /** True when `id` was added and is still remembered. */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** Remember `id`, forgetting the oldest one when full. */
  add(id: string): void {
    const oldest = this.#ring[this.#next];
    if (oldest !== undefined) this.#ids.delete(oldest);
    this.#ring[this.#next] = id;
    this.#ids.add(id);
    this.#next = (this.#next + 1) % this.#capacity;
  }

  get size(): number {
    return this.#ids.size;
  }
}
