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

it('refuses a filter with a key it does not know, which would leave a misspelled list at every value', () => {
  // { modifier: 'exclude', eventType: [...] } sent as it was excluded every event.
  for (const [filter, key] of [
    [{ modifier: 'exclude', eventType: ['06c5010d-11f2-4d70-bd79-4cec3a20d589'] }, 'eventType'],
    [{ resourceType: ['outputs'] }, 'resourceType'],
    [{ resourceTypes: ['outputs'], sourceIDs: ['x'] }, 'sourceIDs'],
  ] as const) {
    expect(() => toWireFilters([{}, filter])).toThrow(
      expect.objectContaining({ code: 'INVALID_COMMAND', message: `filters[1] has the unknown key "${key}": a filter takes modifier, resourceTypes, sourceIds and eventTypes.` }),
    );
  }
  expect(toWireFilters([{ modifier: 'exclude', resourceTypes: ['outputs'], sourceIds: ['a'], eventTypes: ['b'] }])).toHaveLength(1);
});
