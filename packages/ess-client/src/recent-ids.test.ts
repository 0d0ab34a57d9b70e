import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { type DedupeMode, RecentIds } from './recent-ids.js';

/** A full garbage collection (the flag taken at run time; a new context sees the `gc` it adds). */
function collect(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** The hash RecentIds used before its per-instance seed, for ids under 8 characters (hashed whole). */
function unseededHash(id: string): number {
  let hash = 0x811c9dc5 ^ id.length;
  for (let index = 0; index < id.length; index += 1) hash = Math.imul(hash ^ id.charCodeAt(index), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d);
  return hash ^ (hash >>> 12);
}

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

  it('remembers ids over 128 characters by a digest: memory stays bounded whatever the id length, and they still compare whole', () => {
    // 1 MB ids: the ring kept 64 of them whole (64 MB; at the default 10,000 ids such a gateway
    // took the process out of heap). Made in the loop, so only the ring can keep them.
    const long = (n: number, fill = 'x'): string => `${n}:`.padEnd(2 ** 20 - 2, fill) + `:${n}`;
    const ids = new RecentIds(64, 'always');
    collect();
    const before = process.memoryUsage().heapUsed;
    for (let n = 0; n < 64; n += 1) expect(ids.accept(long(n))).toBe(true);
    collect();
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(8 * 2 ** 20);
    for (let n = 0; n < 64; n += 1) expect(ids.accept(long(n)), `repeat of id ${n}`).toBe(false);
    // Differing only in the middle: another id.
    expect(ids.accept(long(1, 'y'))).toBe(true);
    // Up to 128 characters, ids are kept as they are.
    expect(ids.accept('z'.repeat(128))).toBe(true);
    expect(ids.accept('z'.repeat(128))).toBe(false);
  });

  it('is not slowed by ids chosen to collide in a hash without its seed (ids under 8 characters, hashed whole already)', () => {
    // 7-character ids whose unseeded hash lands in the first 64 of the 65,536 slots of the
    // default capacity's table: every lookup probed the whole run of them (~34 µs per id at
    // 40,000), and the switch to whole-id hashing changed nothing for them.
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    const flood: string[] = [];
    for (let candidate = 0; flood.length < 400; candidate += 1) {
      let id = '';
      for (let rest = candidate, position = 0; position < 7; position += 1, rest = Math.floor(rest / 62)) id += alphabet.charAt(rest % 62);
      if ((unseededHash(id) & 0xffff) < 64) flood.push(id);
    }
    const ids = new RecentIds(10_000, 'always');
    expect(flood.map((id) => ids.accept(id)).every(Boolean)).toBe(true);
    expect(flood.some((id) => ids.accept(id))).toBe(false);
    // No lookup probed more than 48 slots (it would have switched to whole-id hashing).
    expect(ids.hashingWholeIds).toBe(false);
  });
});
