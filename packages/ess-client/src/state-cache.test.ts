import { describe, expect, it } from 'vitest';
import { compareTimes, StateCache } from './state-cache.js';
import type { EssState } from './types.js';

function state(id: string, time: string, source = 'cameras/a', stategroupid = 'motion'): EssState {
  return { id, time, type: 't', source, stategroupid };
}

describe('compareTimes', () => {
  it('orders ISO 8601 times with up to 7 fractional digits and offsets', () => {
    expect(compareTimes('2026-04-24T13:41:38.1234567Z', '2026-04-24T13:41:38.1234568Z')).toBeLessThan(0);
    expect(compareTimes('2026-04-24T13:41:38.12Z', '2026-04-24T13:41:38.1199999Z')).toBeGreaterThan(0);
    expect(compareTimes('2026-04-24T15:41:38+02:00', '2026-04-24T13:41:38Z')).toBe(0);
    expect(compareTimes('yesterday', '2026-04-24T13:41:38Z')).toBe(0);
  });
});

describe('StateCache', () => {
  it('keeps the latest state per source and state group; an older event never wins', () => {
    const cache = new StateCache();
    expect(cache.apply(state('1', '2026-01-01T00:00:01.0000001Z'))).toBe(true);
    expect(cache.apply(state('2', '2026-01-01T00:00:00.9999999Z'))).toBe(false);
    expect(cache.apply(state('3', '2026-01-01T00:00:01.0000001Z', 'cameras/a', 'recording'))).toBe(true);
    expect(cache.snapshot().map((entry) => entry.id).sort()).toEqual(['1', '3']);
  });

  it('replaces itself with a snapshot, keeping newer states that events set meanwhile', () => {
    const cache = new StateCache();
    cache.apply(state('old', '2026-01-01T00:00:00Z', 'cameras/gone'));
    const mark = cache.mark();
    cache.apply(state('event', '2026-01-01T00:00:05Z'));
    cache.apply(state('stale-event', '2026-01-01T00:00:01Z', 'cameras/b'));
    cache.replace([state('snap-a', '2026-01-01T00:00:03Z'), state('snap-b', '2026-01-01T00:00:03Z', 'cameras/b')], mark);
    expect(cache.snapshot().map((entry) => entry.id).sort()).toEqual(['event', 'snap-b']);
  });

  it('counts an event it refused as no change: a later snapshot still replaces that state', () => {
    const cache = new StateCache();
    cache.apply(state('new', '2026-01-01T00:00:05Z'));
    const mark = cache.mark();
    expect(cache.apply(state('old', '2026-01-01T00:00:01Z'))).toBe(false);
    expect(cache.mark()).toBe(mark);
    cache.replace([state('snap', '2026-01-01T00:00:03Z')], mark);
    expect(cache.snapshot().map((entry) => entry.id)).toEqual(['snap']);
  });

  it('stays right with many sources whose names end alike, and after a snapshot replaced it', () => {
    const cache = new StateCache();
    const expected = new Map<string, string>();
    // 3000 sources sharing their last 12 characters, in two groups, updated out of order.
    const sources = Array.from({ length: 3000 }, (_, n) => `cameras/${n}-000000000000`);
    for (let step = 0; step < 30_000; step += 1) {
      const source = sources[(step * 7919) % sources.length] ?? 'cameras/x';
      const group = step % 3 === 0 ? 'recording' : 'motion';
      const second = String(step % 50).padStart(2, '0');
      const time = `2026-01-01T00:00:${second}.${String(step).padStart(7, '0')}Z`;
      const key = `${source} ${group}`;
      const previous = expected.get(key);
      const newer = previous === undefined || previous.split('|')[1]! <= time;
      expect(cache.apply(state(`s${step}`, time, source, group))).toBe(newer);
      if (newer) expected.set(key, `s${step}|${time}`);
    }
    const snapshot = new Map(cache.snapshot().map((entry) => [`${entry.source} ${entry.stategroupid}`, entry.id]));
    expect(snapshot).toEqual(new Map([...expected].map(([key, value]) => [key, value.split('|')[0]])));

    const fresh = new StateCache();
    fresh.apply(state('before', '2026-01-01T00:00:00Z'));
    fresh.replace([state('snap', '2026-01-01T00:01:00Z')], fresh.mark());
    expect(fresh.apply(state('older', '2026-01-01T00:00:59Z'))).toBe(false);
    expect(fresh.apply(state('newer', '2026-01-01T00:01:01Z', 'cameras/b'))).toBe(true);
    expect(fresh.snapshot().map((entry) => entry.id).sort()).toEqual(['newer', 'snap']);
  });
});
