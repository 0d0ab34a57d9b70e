import { BaseLogger, type EntrySink, thresholdOf } from './base-logger.js';
import { type EntryLevel, type LogLevel, resolveLevel } from './levels.js';
import { createRedactor, type RedactOptions } from './redact.js';
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

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function');
}

function isPino(target: LoggerTarget): target is PinoLike {
  const levels = (target as Partial<PinoLike>).levels;
  return isObject(levels) && isObject(levels.values) && typeof (target as Partial<PinoLike>).isLevelEnabled === 'function';
}

function isWinston(target: LoggerTarget): target is WinstonLike {
  const candidate = target as Partial<WinstonLike>;
  return isObject(candidate.levels) && typeof candidate.add === 'function' && typeof candidate.log === 'function';
}

function isConsole(target: LoggerTarget): target is ConsoleLike {
  const candidate = target as Partial<ConsoleLike>;
  return ['debug', 'info', 'warn', 'error'].every((name) => typeof candidate[name as keyof ConsoleLike] === 'function');
}

const WINSTON_NAMES: Record<EntryLevel, readonly string[]> = {
  trace: ['trace', 'silly', 'debug'],
  debug: ['debug'],
  info: ['info'],
  warn: ['warn', 'warning'],
  error: ['error', 'err'],
};

function winstonLevels(target: WinstonLike): Record<EntryLevel, string> {
  const pick = (level: EntryLevel): string => WINSTON_NAMES[level].find((name) => name in target.levels) ?? 'info';
  return { trace: pick('trace'), debug: pick('debug'), info: pick('info'), warn: pick('warn'), error: pick('error') };
}

const CONSOLE_METHODS: Record<EntryLevel, keyof ConsoleLike> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
};

function hasFields(fields: LogFields): boolean {
  for (const _ in fields) return true;
  return false;
}

/**
 * Wrap `console`, a pino logger, a winston logger, or any `{ log(entry) }` object as a
 * sessionkit {@link Logger}. Entries are redacted before they reach the target.
 *
 * @example
 * const session = new Session({ authenticator, logger: adaptLogger(pino()) });
 */
export function adaptLogger(target: LoggerTarget, options: AdaptLoggerOptions = {}): Logger {
  const redactor = createRedactor(options.redact);
  let sink: EntrySink;
  let isEnabled: ((level: EntryLevel) => boolean) | undefined;
  let defaultLevel: LogLevel = 'trace';

  if (isPino(target)) {
    sink = (entry) => { target[entry.level](entry.fields, entry.msg); };
    isEnabled = (level) => target.isLevelEnabled(level);
  } else if (isWinston(target)) {
    const names = winstonLevels(target);
    sink = (entry) => target.log({ ...entry.fields, level: names[entry.level], message: entry.msg });
    isEnabled = (level) => target.isLevelEnabled(names[level]);
  } else if (isConsole(target)) {
    defaultLevel = resolveLevel(undefined, 'info');
    sink = (entry) => {
      const method = CONSOLE_METHODS[entry.level];
      if (hasFields(entry.fields)) target[method](entry.msg, entry.fields);
      else target[method](entry.msg);
    };
  } else if (typeof (target as Partial<LogSink>).log === 'function') {
    defaultLevel = resolveLevel(undefined, 'info');
    sink = (entry) => { target.log(entry); };
  } else {
    throw new TypeError('adaptLogger() takes console, a pino or winston logger, or an object with a log(entry) method.');
  }
  const level = options.level === undefined ? defaultLevel : resolveLevel(options.level, defaultLevel);
  return new BaseLogger({ threshold: thresholdOf(level), redactor, sink, isEnabled });
}
