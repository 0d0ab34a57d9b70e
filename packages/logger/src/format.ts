import type { EntryLevel } from './levels.js';
import { UNREADABLE } from './redact.js';
import type { LogFields } from './types.js';

// Entries are redacted copies, already free of cycles; BigInt, Map and Set still need help. A Map
// is written as an object whose names are its keys as text (an object key as its `toString` gives
// it); a name taken by an earlier key (`1` and `'1'`, two objects written `[object Object]`) gets a
// number, `#2`, `#3`…, until it is free, so that no entry is lost (and a thousand such keys do not
// make a line of a million underscores). Symbol keys are not written, as before.
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return String(value);
  if (value instanceof Map) {
    const out = Object.create(null) as Record<string, unknown>;
    // The last number each text was given.
    const numbers = new Map<string, number>();
    for (const [key, item] of value as Map<unknown, unknown>) {
      if (typeof key === 'symbol') continue;
      const text = String(key);
      let number = numbers.get(text) ?? 1;
      let name = text;
      while (name in out) name = `${text}#${++number}`;
      numbers.set(text, number);
      out[name] = item;
    }
    return out;
  }
  if (value instanceof Set) return [...value];
  return value;
}

/**
 * A redacted value with each Map, Set and BigInt in it as the JSON format writes them, the rest as
 * it is (a Date stays a Date): for pino and winston, which write a Map or Set as `{}`. An object or
 * array is copied only when something in it changes.
 */
export function toPlain(value: unknown): unknown {
  const plain = replacer('', value);
  if (!plain || typeof plain !== 'object' || plain instanceof Date) return plain;
  // What a Map becomes (without a prototype, for JSON) is given one, as a plain object has, so
  // that util.inspect (winston's prettyPrint) writes it as one; it and a Set's array are new, and
  // changed in place.
  const out = (value instanceof Map ? { ...plain } : plain) as Record<string, unknown>;
  let copy = out === value ? undefined : out;
  for (const key in out) {
    const item = toPlain(out[key]);
    if (item !== out[key]) (copy ??= (Array.isArray(out) ? out.slice() : { ...out }) as Record<string, unknown>)[key] = item;
  }
  return copy ?? value;
}

/** JSON text of a redacted value, without throwing on BigInt. */
export function safeStringify(value: unknown): string {
  return JSON.stringify(value, replacer);
}

/**
 * `head`, then `fields`, none overwriting another: a field whose name is taken (in `head`, in
 * `taken`, or by the new name of an earlier field) gets `_` prefixes until its name is free, so
 * after `msg`, a field `msg` becomes `_msg`, and then a field `_msg` becomes `__msg`. The
 * object has no prototype, so that a `__proto__` field is a field like any other.
 */
export function withFields<T extends object>(head: T, fields: LogFields, taken: readonly string[] = []): T & LogFields {
  const out: LogFields = Object.assign(Object.create(null) as LogFields, head);
  for (const [name, value] of Object.entries(fields)) {
    let key = name;
    while (key in out || taken.includes(key)) key = `_${key}`;
    out[key] = value;
  }
  return out as T & LogFields;
}

/**
 * One JSON object per line: `time`, `level`, `msg`, then bindings and fields, renamed as
 * {@link withFields} does (fields named like array indexes first among them, as JavaScript orders keys).
 */
export function formatJson(level: EntryLevel, msg: string, fields: LogFields, time: string): string {
  // Two objects joined: in one, JavaScript would put fields named like array indexes (`200`) first.
  // Nothing (`undefined`) when a `toJSON` field says so, once as JSON.stringify calls it: no fields.
  const rest = (safeStringify(withFields({}, fields, ['time', 'level', 'msg'])) as string | undefined) ?? '{}';
  return safeStringify({ time, level, msg }).slice(0, -1) + (rest.length > 2 ? `,${rest.slice(1)}` : '}');
}

/** `String(value)`, or UNREADABLE where that throws (a throwing `toString`, no prototype, a revoked Proxy). */
export function toText(value: unknown): string {
  try {
    return String(value);
  } catch {
    return UNREADABLE;
  }
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : safeStringify(value);
  // As JSON writes a Date (`null` when it is invalid), so a field reads the same in both formats.
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'null' : value.toISOString();
  // Its JSON text, quoted as a string is: raw, `{"a":"b c=d"}` would read as two fields.
  if (value && typeof value === 'object') return formatValue(safeStringify(value));
  // A function (its `toString` or `Symbol.toPrimitive`, which may throw) or a primitive: its
  // text, quoted as a string is (`Symbol(a b=c)`, a function's source).
  return formatValue(toText(value));
}

/**
 * `line` with line breaks (CR, LF, U+2028, U+2029 and the like), the bidirectional embeddings,
 * overrides and isolates (U+202A-202E, U+2066-2069) and other control characters but tab written
 * as escapes (`\n`, `\u2028`), so that an entry is one line and cannot pass for two (or move a
 * terminal's cursor, or show its text reordered). In JSON text, they can only be inside strings.
 */
export function escapeControls(line: string): string {
  return line.replace(/[^\t -~\xa0-\u2027\u202f-\u2065\u206a-\uffff]/g, (char) =>
    char < ' ' ? safeStringify(char).slice(1, -1) : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A line for people: `12:00:00.000 INFO  message key=value …`. */
export function formatPretty(level: EntryLevel, msg: string, fields: LogFields, time: string): string {
  let line = `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${msg}`;
  for (const [key, value] of Object.entries(fields)) {
    // A key is quoted as a value is, so that `a=1 b` cannot pass for two fields.
    if (value !== undefined) line += ` ${formatValue(key)}=${formatValue(value)}`;
  }
  return line;
}
