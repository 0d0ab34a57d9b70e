/** Log levels, most verbose first. `silent` disables every level. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** A level an entry can be written at (every level but `silent`). */
export type EntryLevel = Exclude<LogLevel, 'silent'>;

/** Numeric weight of each level; an entry is written when its weight reaches the threshold. */
export const levelWeights: Readonly<Record<LogLevel, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  silent: Infinity,
};

/** The levels an entry can be written at, most verbose first. */
export const entryLevels: readonly EntryLevel[] = Object.keys(levelWeights).slice(0, -1) as EntryLevel[];

/** True when `value` names a level. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && Object.hasOwn(levelWeights, value);
}

/**
 * The level to use: the explicit one, else `SESSIONKIT_LOG_LEVEL`, else the fallback.
 * An unknown name is a configuration mistake, so it throws instead of guessing.
 */
export function resolveLevel(
  level: LogLevel | undefined,
  fallback: LogLevel,
  env: Record<string, string | undefined> = process.env,
): LogLevel {
  const value: string = level ?? ((env.SESSIONKIT_LOG_LEVEL ?? '').trim().toLowerCase() || fallback);
  if (!isLogLevel(value)) {
    throw new TypeError(
      `${level === undefined ? 'SESSIONKIT_LOG_LEVEL' : 'level'} "${value}" is not a log level: use ${Object.keys(levelWeights).join(', ')}.`,
    );
  }
  return value;
}
