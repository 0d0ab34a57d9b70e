import type { EntryLevel } from './levels.js';
import type { LogFields } from './types.js';

// Entries are redacted copies, already free of cycles; BigInt, Map and Set still need help.
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return String(value);
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

/** JSON text of a redacted value, without throwing on BigInt. */
export function safeStringify(value: unknown): string {
  return JSON.stringify(value, replacer);
}

/**
 * One JSON object per line: `time`, `level`, `msg`, then bindings and fields. A binding or
 * field whose name is taken (`time`, `level`, `msg`) is kept with a `_` prefix.
 */
export function formatJson(level: EntryLevel, msg: string, fields: LogFields, time: string): string {
  const out: Record<string, unknown> = { time, level, msg };
  for (const [key, value] of Object.entries(fields)) out[Object.hasOwn(out, key) ? `_${key}` : key] = value;
  return safeStringify(out);
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : safeStringify(value);
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object') return safeStringify(value);
  return String(value);
}

/** A line for people: `12:00:00.000 INFO  message key=value …`. */
export function formatPretty(level: EntryLevel, msg: string, fields: LogFields, time: string): string {
  let line = `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${msg}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}
