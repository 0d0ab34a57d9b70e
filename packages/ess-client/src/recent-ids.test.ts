import { describe, expect, it } from 'vitest';
import { type DedupeMode, RecentIds } from './recent-ids.js';

/** The obvious implementation: an array of the last `capacity` accepted ids. */
class Reference {
  readonly #ids: string[] = [];
  #guardRemaining = 0;

  constructor(
    readonly capacity: number,
    readonly mode: DedupeMode,
  ) {}

  guard(): void {
    this.#guardRemaining = this.capacity;
  }

  accept(id: string): boolean {
    const checking = this.mode === 'always' || this.#guardRemaining > 0;
    if (checking && this.#ids.includes(id)) return false;
    if (checking && this.mode === 'after-reconnect') this.#guardRemaining -= 1;
    this.#ids.push(id);
    if (this.#ids.length > this.capacity) this.#ids.shift();
    return true;
  }
}

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let value = Math.imul(state ^ (state >>> 15), 1 | state);
    value ^= value + Math.imul(value ^ (value >>> 7), 61 | value);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

describe('RecentIds', () => {
  it("'always': checks every id against the last `capacity` ids only", () => {
    const ids = new RecentIds(3, 'always');
    expect(['a', 'b', 'c'].map((id) => ids.accept(id))).toEqual([true, true, true]);
    expect(ids.accept('b')).toBe(false);
    expect(ids.accept('d')).toBe(true);
    expect(ids.accept('a')).toBe(true); // forgotten: 'd' pushed it out
    for (let n = 0; n < 10_000; n += 1) ids.accept(`x${n}`);
    expect(ids.accept('x9999')).toBe(false);
    expect(ids.accept('x0')).toBe(true);
  });

  it("'after-reconnect': checks the first `capacity` ids of a connection against the ones before", () => {
    const ids = new RecentIds(4, 'after-reconnect');
    ids.guard();
    expect(['a', 'b', 'a'].map((id) => ids.accept(id))).toEqual([true, true, false]);
    expect(ids.accept('c')).toBe(true);
    expect(ids.accept('d')).toBe(true);
    expect(ids.accept('d')).toBe(true); // steady state: not checked
    ids.guard(); // a reconnect: a replay may repeat the last ids
    expect(['c', 'd', 'e'].map((id) => ids.accept(id))).toEqual([false, false, true]);
  });

  it('answers as a plain array of the last ids would, over long random runs in both modes', () => {
    for (const mode of ['always', 'after-reconnect'] as const) {
      for (const capacity of [1, 2, 3, 5, 8, 13, 64, 1000]) {
        const next = random(capacity * 7919 + mode.length);
        const ids = new RecentIds(capacity, mode);
        const reference = new Reference(capacity, mode);
        // A pool about twice the capacity: duplicates inside and outside the window are frequent.
        const pool = Array.from({ length: capacity * 2 + 3 }, (_, n) => (n % 5 === 0 ? `${'long-prefix/'.repeat(12)}${n}` : `id-${n}`));
        const answers: boolean[] = [];
        const expected: boolean[] = [];
        for (let step = 0; step < 20_000; step += 1) {
          if (mode === 'after-reconnect' && next() < 0.002) {
            ids.guard();
            reference.guard();
          }
          const id = pool[Math.floor(next() * pool.length)] ?? 'id-0';
          answers.push(ids.accept(id));
          expected.push(reference.accept(id));
        }
        expect(answers, `${mode}, capacity ${capacity}`).toEqual(expected);
        expect(answers.includes(false)).toBe(true);
      }
    }
  });

  it('keeps hashing tails for random ids at capacities just under a power of two (a table 3/8 full at most)', () => {
    // Half full, as a table of 2 slots per id rounded up to a power of two was at these
    // capacities, some lookups of these ids probed more than 48 slots.
    const hex = (next: () => number): string => Math.floor(next() * 2 ** 32).toString(16).padStart(8, '0');
    for (const [capacity, seed] of [
      [500, 19],
      [4000, 8],
    ] as const) {
      const next = random(seed);
      const ids = new RecentIds(capacity, 'always');
      for (let step = 0; step < 100_000; step += 1) {
        const [a, b, c, d, e, f] = [hex(next), hex(next), hex(next), hex(next), hex(next), hex(next)];
        ids.accept(`${a}-${b.slice(0, 4)}-4${c.slice(0, 3)}-a${d.slice(0, 3)}-${e.slice(0, 4)}${f}`);
      }
      expect(ids.hashingWholeIds, `capacity ${capacity}`).toBe(false);
    }
  });

  it('hashes whole ids once their tails cluster, and stays right throughout', () => {
    const uuids = new RecentIds(1000, 'always');
    for (let n = 0; n < 5000; n += 1) uuids.accept(crypto.randomUUID());
    expect(uuids.hashingWholeIds).toBe(false);

    // Ids that differ only before a long common suffix: every tail hash is the same.
    const suffix = '/cameras/25d08c6a-cc08-4498-8772-242111f9840c';
    const clustered = new RecentIds(1000, 'always');
    const reference = new Reference(1000, 'always');
    const next = random(42);
    for (let step = 0; step < 20_000; step += 1) {
      const id = `${Math.floor(next() * 1500) + 100_000}${suffix}`;
      expect(clustered.accept(id)).toBe(reference.accept(id));
    }
    expect(clustered.hashingWholeIds).toBe(true);
  });
});
