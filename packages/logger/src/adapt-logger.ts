import { createBaseLogger, type Sink } from './base-logger.js';
import { escapeControls, toPlain, withFields } from './format.js';
import { inspect } from 'node:util';
import { type EntryLevel, entryLevels, type LogLevel } from './levels.js';
import { type RedactOptions, UNREADABLE } from './redact.js';
import type { LogEntry, LogFields, Logger } from './types.js';

/** The part of `console` the adapter uses. */
export interface ConsoleLike {
  debug(...data: unknown[]): void;
  info(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
}

/** One level method of a pino logger, called as `logger.info(fields, msg)`. */
export type PinoMethod = (fields: object, msg: string) => void;

/** The part of a pino logger the adapter uses. */
export interface PinoLike {
  levels: { values: Record<string, number> };
  isLevelEnabled(level: string): boolean;
  trace: PinoMethod;
  debug: PinoMethod;
  info: PinoMethod;
  warn: PinoMethod;
  error: PinoMethod;
}

/**
 * The part of a winston logger the adapter uses. The winston module itself (its default logger,
 * told by its `createLogger`) has neither `levels` nor `isLevelEnabled`: its levels are taken to
 * be npm's, and winston decides.
 */
export interface WinstonLike {
  levels?: Record<string, number> | undefined;
  add(transport: never): unknown;
  log(entry: { level: string; message: string }): unknown;
  isLevelEnabled?: ((level: string) => boolean) | undefined;
}

/** Any object with a `log(entry)` method receives structured, redacted entries. */
export interface LogSink {
  log(entry: LogEntry): void;
}

/** What {@link adaptLogger} accepts. */
export type LoggerTarget = ConsoleLike | PinoLike | WinstonLike | LogSink;

/** Options for {@link adaptLogger}. */
export interface AdaptLoggerOptions {
  /**
   * The least severe level passed on.
   * @default for pino and winston every level (their own level decides); otherwise
   *   `SESSIONKIT_LOG_LEVEL`, else `'info'`
   */
  level?: LogLevel | undefined;
  /** Extra keys to redact. */
  redact?: RedactOptions | undefined;
}

// The names to try, in order, for our levels that winston's level sets (npm, syslog, cli) may lack.
const WINSTON_NAMES: Partial<Record<EntryLevel, string>> = { trace: 'trace silly debug', warn: 'warn warning' };

// winston's default levels, those of its default logger (the module), which does not expose them.
const NPM_LEVELS = { error: 0, warn: 1, info: 2, http: 3, verbose: 4, debug: 5, silly: 6 };

// The keys a pino logger (with its default options) writes around the fields of an entry.
const PINO_KEYS = ['level', 'time', 'pid', 'hostname', 'msg'];

/** A target of unknown kind, as the detection below looks at it. */
interface Loose {
  levels?: { values?: unknown };
}

/** Whether `value` is an object (or a function): something `in` can look into. */
const isObject = (value: unknown): value is object => Object(value) === value;

/**
 * Wrap `console`, a pino logger, a winston logger, or any `{ log(entry) }` object as a
 * sessionkit {@link Logger}. Entries are redacted before they reach the target.
 *
 * @example
 * import { pino } from 'pino';
 *
 * const session = new Session({ authenticator, logger: adaptLogger(pino()) });
 */
// A sink first: in the union, `log` has several signatures, so `{ log(entry) {…} }` would leave
// `entry` untyped (an implicit any under `strict`).
export function adaptLogger(target: LogSink, options?: AdaptLoggerOptions): Logger;
// eslint-disable-next-line @typescript-eslint/unified-signatures -- one signature taking the union is what leaves `entry` untyped
export function adaptLogger(target: LoggerTarget, options?: AdaptLoggerOptions): Logger;
export function adaptLogger(target: LoggerTarget, given?: AdaptLoggerOptions): Logger {
  // As createLogger's: null counts as not given; a level given alone ('debug') is not taken for options.
  const options = given ?? {};
  if (typeof options !== 'object') throw new TypeError('adaptLogger() options must be an object.');
  const has = (method: string): boolean => typeof (target as unknown as Record<string, unknown> | undefined)?.[method] === 'function';
  const adapt = (sink: Sink, isEnabled?: (level: EntryLevel) => boolean): Logger =>
    // pino and winston apply their own level, so by default every level is passed on to them.
    createBaseLogger(options.level ?? (isEnabled && 'trace'), options.redact, sink, isEnabled);

  // pino and winston write a Map or Set as `{}`: they get those as the JSON format writes them.
  const json = (fields: LogFields): LogFields => toPlain(fields) as LogFields;

  // pino is told by its `levels.values`, winston by its `add` and `log` and its `levels` (the module
  // by its `createLogger`: a sink may have an `add` method of its own); a pino target must have
  // every method its adapter calls, or it is refused here instead of failing at its first entry
  // (it is not taken for console or a sink either).
  // `?.`: null and undefined are refused below, as any other target it cannot drive.
  const levels = (target as Loose | undefined)?.levels;
  if (isObject(levels?.values)) {
    if (['isLevelEnabled', ...entryLevels].every(has)) {
      return adapt(
        // A field must not repeat one of pino's keys: JSON.parse keeps the last of them (pino's
        // message is last, a field's level came after pino's), so one value would be lost.
        (level, msg, fields) => { (target as PinoLike)[level](withFields({}, json(fields), PINO_KEYS), msg); },
        (level) => (target as PinoLike).isLevelEnabled(level),
      );
    }
  } else if (has('add') && has('log') && (isObject(levels) || has('createLogger'))) {
    const known = levels ?? NPM_LEVELS;
    const names = Object.fromEntries(
      entryLevels.map((level) => [level, (WINSTON_NAMES[level] ?? level).split(' ').find((name) => name in known) ?? 'info']),
    ) as Record<EntryLevel, string>;
    return adapt(
      (level, msg, fields) => (target as WinstonLike).log(withFields({ level: names[level], message: msg }, json(fields))),
      (level) => (target as WinstonLike).isLevelEnabled?.(names[level]) ?? true,
    );
  } else if (entryLevels.slice(1).every(has)) {
    return adapt((level, msg, fields) => {
      // The message is escaped as createLogger's lines are, so that it cannot forge a second line, and
      // passed after '%s', so that a `%c` or `%d` in it is not read as a format that takes the fields.
      // The console writes the fields itself (Node escapes line breaks in their keys and strings).
      const write = (all: LogFields): void => {
        (target as ConsoleLike)[level === 'trace' ? 'debug' : level]('%s', escapeControls(msg), ...(Object.keys(all).length ? [all] : []));
      };
      // `util.inspect`, with which the console writes the fields, reads what the copy passes on as it
      // is (a function, an object Map key holding no secret), and may throw there: a
      // `Symbol.toStringTag` getter, a custom inspect method. The console has written nothing then,
      // and writes the entry again, each field that inspect cannot write `[Unreadable]`. When inspect
      // can write the fields, the failure is the console's own, and is let through.
      const inspects = (value: unknown): boolean => {
        try {
          inspect(value, { depth: Infinity });
          return true;
        } catch {
          return false;
        }
      };
      try {
        write(fields);
      } catch (error) {
        if (inspects(fields)) throw error;
        write(Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, inspects(value) ? value : UNREADABLE])));
      }
    });
  } else if (has('log')) {
    return adapt((level, msg, fields, time) => { (target as LogSink).log({ time, level, msg, fields }); });
  }
  throw new TypeError('adaptLogger() takes console, pino, winston or a { log(entry) } sink.');
}
