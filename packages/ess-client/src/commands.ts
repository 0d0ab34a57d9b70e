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

function invalid(message: string): EssError {
  return new EssError('INVALID_COMMAND', message);
}

function list(value: unknown, name: string, index: number): string[] {
  if (value === undefined) return ['*'];
  if (!Array.isArray(value) || value.length === 0) throw invalid(`filters[${index}].${name} must be a non-empty array of strings.`);
  return value.map((item: unknown) => {
    if (typeof item !== 'string' || item.length === 0) throw invalid(`filters[${index}].${name} must hold non-empty strings.`);
    return item;
  });
}

/**
 * Check filters before they are sent (a malformed command makes the gateway close the
 * connection) and fill in the defaults. Throws EssError('INVALID_COMMAND').
 */
export function toWireFilters(filters: unknown): WireFilter[] {
  if (!Array.isArray(filters) || filters.length === 0) throw invalid('filters must be a non-empty array.');
  return filters.map((filter: unknown, index) => {
    if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) throw invalid(`filters[${index}] must be an object.`);
    const raw = filter as Record<string, unknown>;
    const modifier = raw.modifier === undefined ? 'include' : typeof raw.modifier === 'string' ? raw.modifier.toLowerCase() : undefined;
    if (modifier !== 'include' && modifier !== 'exclude') throw invalid(`filters[${index}].modifier must be "include" or "exclude".`);
    return {
      modifier,
      resourceTypes: list(raw.resourceTypes, 'resourceTypes', index),
      sourceIds: list(raw.sourceIds, 'sourceIds', index),
      eventTypes: list(raw.eventTypes, 'eventTypes', index),
    };
  });
}
