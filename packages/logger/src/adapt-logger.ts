import { createBaseLogger, type LoggerCore } from './base-logger.js';
import { type EntryLevel, levelWeights, type LogLevel, resolveLevel } from './levels.js';
import { createRedactor, type RedactOptions } from './redact.js';
import type { LogEntry, Logger } from './types.js';

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

/** The part of a winston logger the adapter uses. */
export interface WinstonLike {
  levels: Record<string, number>;
  add(transport: never): unknown;
  log(entry: { level: string; message: string }): unknown;
  isLevelEnabled(level: string): boolean;
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

// Our levels and, in order of preference, the names winston's level sets (npm, syslog, cli) use.
const WINSTON_NAMES: Record<EntryLevel, readonly string[]> = {
  trace: ['trace', 'silly', 'debug'],
  debug: ['debug'],
  info: ['info'],
  warn: ['warn', 'warning'],
  error: ['error'],
};

/**
 * Wrap `console`, a pino logger, a winston logger, or any `{ log(entry) }` object as a
 * sessionkit {@link Logger}. Entries are redacted before they reach the target.
 *
 * @example
 * const session = new Session({ authenticator, logger: adaptLogger(pino()) });
 */
export function adaptLogger(target: LoggerTarget, options: AdaptLoggerOptions = {}): Logger {
  const loose = target as unknown as Record<string, unknown> & { levels?: { values?: unknown } };
  const has = (method: string): boolean => typeof loose[method] === 'function';
  let sink: LoggerCore['sink'];
  let isEnabled: LoggerCore['isEnabled'];

  if (typeof loose.levels?.values === 'object' && has('isLevelEnabled')) {
    const pino = target as PinoLike;
    sink = (entry) => { pino[entry.level](entry.fields, entry.msg); };
    isEnabled = (level) => pino.isLevelEnabled(level);
  } else if (typeof loose.levels === 'object' && has('add') && has('log')) {
    const winston = target as WinstonLike;
    const names = Object.fromEntries(
      Object.entries(WINSTON_NAMES).map(([level, candidates]) => [level, candidates.find((name) => name in winston.levels) ?? 'info']),
    ) as Record<EntryLevel, string>;
    sink = (entry) => winston.log({ ...entry.fields, level: names[entry.level], message: entry.msg });
    isEnabled = (level) => winston.isLevelEnabled(names[level]);
  } else if (['debug', 'info', 'warn', 'error'].every(has)) {
    const consoleTarget = target as ConsoleLike;
    sink = ({ level, msg, fields }) => {
      const method = level === 'trace' ? 'debug' : level;
      if (Object.keys(fields).length > 0) consoleTarget[method](msg, fields);
      else consoleTarget[method](msg);
    };
  } else if (has('log')) {
    sink = (entry) => { (target as LogSink).log(entry); };
  } else {
    throw new TypeError('adaptLogger() takes console, a pino or winston logger, or an object with a log(entry) method.');
  }
  // pino and winston apply their own level, so by default every level is passed on to them.
  const level = resolveLevel(options.level ?? (isEnabled === undefined ? undefined : 'trace'), 'info');
  return createBaseLogger({ threshold: levelWeights[level], redactor: createRedactor(options.redact), sink, isEnabled });
}
