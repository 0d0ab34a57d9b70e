import { expect, it } from 'vitest';
import { toWireFilters } from './commands.js';

it('fills filter defaults and refuses malformed filters before anything is sent', () => {
  expect(toWireFilters([{}])).toEqual([{ modifier: 'include', resourceTypes: ['*'], sourceIds: ['*'], eventTypes: ['*'] }]);
  expect(toWireFilters([{ modifier: 'EXCLUDE', resourceTypes: ['cameras'] }])[0]).toMatchObject({ modifier: 'exclude', resourceTypes: ['cameras'] });
  for (const bad of [undefined, [], {}, [null], [{ modifier: 'maybe' }], [{ resourceTypes: 'cameras' }], [{ eventTypes: [] }], [{ sourceIds: [1] }]]) {
    expect(() => toWireFilters(bad)).toThrow(expect.objectContaining({ code: 'INVALID_COMMAND' }));
  }
});

it('refuses the holes of sparse arrays, which JSON would send as null', () => {
  // eslint-disable-next-line no-sparse-arrays
  for (const bad of [[{ resourceTypes: ['cameras', , 'outputs'] }], [{ eventTypes: [, 'x'] }], [{}, , {}], [, {}]]) {
    expect(() => toWireFilters(bad)).toThrow(expect.objectContaining({ code: 'INVALID_COMMAND' }));
  }
});
