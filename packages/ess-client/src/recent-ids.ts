import { hash as digest, randomBytes } from 'node:crypto';

/** When duplicate event ids are looked for. */
export type DedupeMode = 'after-reconnect' | 'always';

/**
 * A 32-bit hash (FNV-1a from a random `seed`, then mixed) of an id's length and its characters:
 * its last 8, where ids usually differ (the random end of a UUID or ULID, the low digits of a
 * counter), or all of it (`whole`) once tails were found to cluster. Hashing in JavaScript costs a
 * few nanoseconds per character. Only buckets depend on it: ids are always compared whole.
 */
function hashOf(id: string, whole: boolean, seed: number): number {
  let hash = seed ^ id.length;
  for (let index = whole || id.length < 8 ? 0 : id.length - 8; index < id.length; index += 1) hash = Math.imul(hash ^ id.charCodeAt(index), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d);
  return hash ^ (hash >>> 12);
}

/**
 * Drops duplicate event ids with bounded memory: the last `capacity` ids, in a ring, indexed by
 * an open-addressing hash table in typed arrays (linear probing). Nothing is allocated per id,
 * and only an id's last 8 characters are hashed (its length too), which is where ids differ;
 * ids are always compared whole. Should the tails cluster (a lookup probing more than 48 slots,
 * as ids with a long common suffix would make it), the table is rebuilt hashing whole ids from
 * then on.
 *
 * What holds against a gateway that chooses its ids: the hash starts from a random seed of each
 * instance (in place of FNV's fixed offset basis: no cost per id), so ids cannot be computed in
 * advance to collide in the table, as they could against a fixed hash (ids under 8 characters,
 * whose tail hash is the whole hash, then made every lookup probe a long run: about 34 µs per
 * id). The seed is not a cryptographic key (FNV is no keyed hash such as SipHash): a gateway
 * that could learn it, or search for collisions by timing the client's answers, is not ruled
 * out; with ids of 8 characters or more, the switch to whole-id hashing still applies.
 *
 * Memory is bounded whatever the length of the ids: an id over 128 characters (real ones are
 * UUIDs or similar, 36) is remembered, and compared, as its SHA-256 digest (44 characters of
 * base64), so the ring holds at most `capacity` strings of 128 characters. A gateway sending
 * 100 KB ids had the last 10,000 of them kept whole (1 GB; 1 MB ids ran the process out of
 * heap). A short id equal to the digest of a long one would be taken as its duplicate: only a
 * gateway computing SHA-256 of its own ids could make one.
 *
 * An id goes into the slot where its lookup ended, and the entry of the id it overwrites in
 * the ring is left in the table: such a stale entry names a ring index that now holds a newer
 * id, which is compared instead, so it can only match an id still in the ring. The table has 4
 * slots per id and is rebuilt from the ring once it is 3/8 full, stale entries included. One
 * probe per id and no removal: measured about 20 ns less per id than removing entries by
 * backward shift (a second and third random access, and branches that mispredict).
 *
 * In `always` mode every id is checked. In `after-reconnect` mode ids are checked only during
 * the first `capacity` events of each connection, which is where duplicates come from (a
 * replay after a resume repeats events from before the reconnect); in between, ids are only
 * written to the ring, and the table is rebuilt from it at the next `guard()`.
 */
export class RecentIds {
  readonly #capacity: number;
  readonly #always: boolean;
  /** The ring of recent ids; `#next` is the oldest (the one to overwrite). */
  readonly #ids: (string | undefined)[];
  /** Hash of each ring entry. */
  readonly #hashes: Int32Array;
  /** Open-addressing table: ring index + 1, or 0 for an empty slot. */
  readonly #slots: Int32Array | Uint16Array;
  readonly #mask: number;
  #next = 0;
  /** Entries in the table, stale ones included (at most). */
  #entries = 0;
  #checking: boolean;
  #guardRemaining = 0;
  /** Hashing whole ids instead of their tails, since the tails were found to cluster. */
  #whole = false;
  /** This instance's start of the hash: random, so ids cannot be chosen to collide. */
  readonly #seed = randomBytes(4).readInt32LE();

  constructor(capacity: number, mode: DedupeMode) {
    this.#capacity = Math.max(1, Math.floor(capacity));
    this.#always = mode === 'always';
    this.#checking = this.#always;
    let size = 8;
    while (size < this.#capacity * 4) size *= 2;
    this.#mask = size - 1;
    // 16-bit slots while ring indexes fit: half the cache lines, which the parsing of every
    // frame keeps evicting (128 KiB at the default capacity).
    this.#slots = new (this.#capacity < 65535 ? Uint16Array : Int32Array)(size);
    this.#hashes = new Int32Array(this.#capacity);
    this.#ids = new Array<string | undefined>(this.#capacity).fill(undefined);
  }

  /** A connection starts: check the next `capacity` ids against the recent ones. */
  guard(): void {
    if (this.#always) return;
    this.#guardRemaining = this.#capacity;
    if (this.#checking) return;
    this.#checking = true;
    this.#rebuild(true);
  }

  /** Whether whole ids are hashed (the tails of recent ids clustered). */
  get hashingWholeIds(): boolean {
    return this.#whole;
  }

  /**
   * Fill the table from the ring, dropping stale entries. `rehash` computes the hashes again
   * (ids written while not checking have none); otherwise they are current.
   */
  #rebuild(rehash?: boolean): void {
    const slots = this.#slots;
    const hashes = this.#hashes;
    const mask = this.#mask;
    slots.fill(0);
    // An upper bound (the ring may not be full yet) is enough: it only times the next rebuild.
    this.#entries = this.#capacity;
    this.#ids.forEach((id, index) => {
      if (id === undefined) return;
      if (rehash) hashes[index] = hashOf(id, this.#whole, this.#seed);
      let slot = (hashes[index] ?? 0) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = index + 1;
    });
  }

  /** False when `id` is a duplicate of a recent one; otherwise remembers it. */
  accept(id: string): boolean {
    // Longer than any real id: its digest, so that memory stays bounded (see above). One length check for the others.
    if (id.length > 128) id = digest('sha256', id, 'base64');
    const position = this.#next;
    const ids = this.#ids;
    if (this.#checking) {
      const hash = hashOf(id, this.#whole, this.#seed);
      const slots = this.#slots;
      const hashes = this.#hashes;
      const mask = this.#mask;
      let slot = hash & mask;
      for (let entry = slots[slot] ?? 0, probes = 0; entry !== 0; slot = (slot + 1) & mask, entry = slots[slot] ?? 0) {
        if (hashes[entry - 1] === hash && ids[entry - 1] === id) return false;
        // Probing more than 48 slots means the tail hash clusters these ids: hash them whole.
        if (++probes > 48 && !this.#whole) {
          this.#whole = true;
          this.#rebuild(true);
          return this.accept(id);
        }
      }
      slots[slot] = position + 1;
      hashes[position] = hash;
      ids[position] = id;
      if (++this.#entries > ((mask + 1) >> 3) * 3) this.#rebuild();
      if (!this.#always && --this.#guardRemaining <= 0) this.#checking = false;
    } else {
      ids[position] = id;
    }
    this.#next = position + 1 === this.#capacity ? 0 : position + 1;
    return true;
  }
}
