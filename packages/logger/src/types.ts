import type { EntryLevel, LogLevel } from './levels.js';

/** Structured fields attached to an entry. */
export type LogFields = Record<string, unknown>;

/** The leveled, structured logger every sessionkit package writes to. */
export interface Logger {
  trace(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `bindings` to every entry. */
  child(bindings: LogFields): Logger;
  /** Whether an entry at `level` would be written. Check it before building costly fields. */
  isLevelEnabled(level: LogLevel): boolean;
}

/** One entry as a custom sink receives it: already redacted. */
export interface LogEntry {
  /** ISO 8601 time at which the entry was made. */
  time: string;
  level: EntryLevel;
  msg: string;
  /** The logger's bindings merged with the call's fields (the call's win). */
  fields: LogFields;
}
