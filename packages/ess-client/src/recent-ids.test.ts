import { expect, it } from 'vitest';
import { RecentIds } from './recent-ids.js';

it('remembers the last `capacity` ids only', () => {
  const ids = new RecentIds(3);
  for (const id of ['a', 'b', 'c']) ids.add(id);
  expect(['a', 'b', 'c'].every((id) => ids.has(id))).toBe(true);
  ids.add('d');
  expect(ids.has('a')).toBe(false);
  expect(ids.has('d')).toBe(true);
  expect(ids.size).toBe(3);
  for (let n = 0; n < 10_000; n += 1) ids.add(`x${n}`);
  expect(ids.size).toBe(3);
});
