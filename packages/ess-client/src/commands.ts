import { EssError } from './ess-error.js';

/** A filter as sent on the wire: every field present. */
export interface WireFilter {
  modifier: 'include' | 'exclude';
  resourceTypes: string[];
  sourceIds: string[];
  eventTypes: string[];
}

/** `value` when it is an array, else none: for lists in frames and records that may be damaged. */
export function arrayOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Whether `value` is a plain object (not null, not an array): for frames and filters. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function invalid(message: string): EssError {
  return new EssError('INVALID_COMMAND', message);
}

/** The list `filter[name]`, every item a non-empty string; `['*']` when absent. */
function list(filter: Record<string, unknown>, name: string, index: number): string[] {
  const value = filter[name];
  if (value === undefined) return ['*'];
  // A copy in which a hole of a sparse array is undefined (refused): every() would skip it, and
  // JSON would send it as null.
  const items = Array.from(arrayOf(value));
  if (!items.length || !items.every((item) => typeof item === 'string' && item !== '')) {
    throw invalid(`filters[${index}].${name} must be a non-empty array of non-empty strings.`);
  }
  return items as string[];
}

/**
 * Check filters before they are sent (a malformed command makes the gateway close the
 * connection) and fill in the defaults. Throws EssError('INVALID_COMMAND').
 */
export function toWireFilters(filters: unknown): WireFilter[] {
  if (!Array.isArray(filters) || !filters.length) throw invalid('filters must be a non-empty array.');
  // Array.from visits the holes of a sparse array (as undefined, refused), which map() skips.
  return Array.from(filters, (filter: unknown, index) => {
    if (!isRecord(filter)) throw invalid(`filters[${index}] must be an object.`);
    // A misspelled key would leave its list at ['*']: { modifier: 'exclude', eventType: [...] } excluding every event.
    for (const key of Object.keys(filter)) {
      if (!['modifier', 'resourceTypes', 'sourceIds', 'eventTypes'].includes(key)) throw invalid(`filters[${index}] has the unknown key "${key.slice(0, 40)}": a filter takes modifier, resourceTypes, sourceIds and eventTypes.`);
    }
    const { modifier: given = 'include' } = filter;
    const modifier = typeof given === 'string' ? given.toLowerCase() : undefined;
    if (modifier !== 'include' && modifier !== 'exclude') throw invalid(`filters[${index}].modifier must be "include" or "exclude".`);
    return {
      modifier,
      resourceTypes: list(filter, 'resourceTypes', index),
      sourceIds: list(filter, 'sourceIds', index),
      eventTypes: list(filter, 'eventTypes', index),
    };
  });
}
