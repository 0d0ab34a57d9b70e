import { describe, expect, it } from 'vitest';
import { RecentIds } from './recent-ids.js';

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
    expect(ids.guarding).toBe(false);
    expect(ids.accept('d')).toBe(true); // steady state: not checked
    ids.guard(); // a reconnect: a replay may repeat the last ids
    expect(ids.guarding).toBe(true);
    expect(['c', 'd', 'e'].map((id) => ids.accept(id))).toEqual([false, false, true]);
  });
});
