import type { LogEntry } from './types.js';

// Entries are redacted copies, already free of cycles; BigInt, Map and Set still need help.
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
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
export function formatJson(entry: LogEntry): string {
  const out: Record<string, unknown> = { time: entry.time, level: entry.level, msg: entry.msg };
  for (const [key, value] of Object.entries(entry.fields)) out[Object.hasOwn(out, key) ? `_${key}` : key] = value;
  return safeStringify(out);
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === 'object') return safeStringify(value);
  return String(value);
}

/** A line for people: `12:00:00.000 INFO  message key=value …`. */
export function formatPretty(entry: LogEntry): string {
  let line = `${entry.time.slice(11, 23)} ${entry.level.toUpperCase().padEnd(5)} ${entry.msg}`;
  for (const [key, value] of Object.entries(entry.fields)) {
    if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}
