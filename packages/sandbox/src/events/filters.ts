/** One parsed filter of an `addSubscription` command. */
export interface EventFilter {
  readonly modifier: 'include' | 'exclude';
  readonly resourceTypes: readonly Matcher[];
  readonly sourceIds: readonly Matcher[];
  readonly eventTypes: readonly Matcher[];
}

/** Matches one value: `*` alone matches everything, `*` inside a pattern matches any run of characters. */
export type Matcher = (value: string) => boolean;

const matchAll: Matcher = () => true;

function compileMatcher(pattern: string): Matcher {
  if (pattern === '*') return matchAll;
  const lower = pattern.toLowerCase();
  if (!lower.includes('*')) return (value) => value.toLowerCase() === lower;
  const source = lower
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const expression = new RegExp(`^${source}$`, 's');
  return (value) => expression.test(value.toLowerCase());
}

function parseList(value: unknown): Matcher[] | undefined {
  if (value === undefined) return [matchAll];
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const matchers: Matcher[] = [];
  for (const item of value) {
    if (typeof item !== 'string' || item.length === 0) return undefined;
    matchers.push(compileMatcher(item));
  }
  return matchers;
}

/**
 * Parse the `filters` of an `addSubscription` command. Undefined when they are malformed
 * (which closes the connection, as the real gateway does). A missing list means `["*"]`.
 */
export function parseFilters(value: unknown): EventFilter[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const filters: EventFilter[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return undefined;
    const raw = item as Record<string, unknown>;
    const modifier = typeof raw.modifier === 'string' ? raw.modifier.toLowerCase() : undefined;
    if (modifier !== 'include' && modifier !== 'exclude') return undefined;
    const resourceTypes = parseList(raw.resourceTypes);
    const sourceIds = parseList(raw.sourceIds);
    const eventTypes = parseList(raw.eventTypes);
    if (resourceTypes === undefined || sourceIds === undefined || eventTypes === undefined) return undefined;
    filters.push({ modifier, resourceTypes, sourceIds, eventTypes });
  }
  return filters;
}

/** The parts of an event that filters look at. */
export interface MatchTarget {
  readonly resourceType: string;
  /** The id part of `source` (after the first `/`). */
  readonly sourceId: string;
  readonly source: string;
  readonly type: string;
}

/** Split `source` (`{resourceType}/{id}`) for matching. */
export function matchTarget(source: string, type: string): MatchTarget {
  const slash = source.indexOf('/');
  return slash < 0
    ? { resourceType: source, sourceId: source, source, type }
    : { resourceType: source.slice(0, slash), sourceId: source.slice(slash + 1), source, type };
}

function filterMatches(filter: EventFilter, target: MatchTarget): boolean {
  return (
    filter.resourceTypes.some((matcher) => matcher(target.resourceType)) &&
    filter.sourceIds.some((matcher) => matcher(target.sourceId) || matcher(target.source)) &&
    filter.eventTypes.some((matcher) => matcher(target.type))
  );
}

/** True when some include filter matches the event and no exclude filter does. */
export function subscriptionMatches(filters: readonly EventFilter[], target: MatchTarget): boolean {
  let included = false;
  for (const filter of filters) {
    if (!filterMatches(filter, target)) continue;
    if (filter.modifier === 'exclude') return false;
    included = true;
  }
  return included;
}
