import { type EntryLevel, entryLevels, type LogLevel, levelWeights, resolveLevel } from './levels.js';
import { createRedactor, type RedactOptions } from './redact.js';
import type { LogFields, Logger } from './types.js';

/** Receives each entry that passed the level check, already redacted, as the parts of a `LogEntry`. */
export type Sink = (level: EntryLevel, msg: string, fields: LogFields, time: string) => void;

/**
 * The one logger implementation behind `createLogger` and `adaptLogger`: a level check first
 * (so a disabled level costs a comparison and nothing else), then redaction, then the sink.
 * `level` is resolved as {@link resolveLevel} does (fallback `'info'`); `isEnabled` is a further
 * check by the target (pino and winston apply their own level).
 */
export function createBaseLogger(
  level: LogLevel | undefined,
  redact: RedactOptions | undefined,
  sink: Sink,
  isEnabled?: (level: EntryLevel) => boolean,
): Logger {
  const threshold = levelWeights[resolveLevel(level, 'info')];
  const redactor = createRedactor(redact);
  const isLevelEnabled = (level: LogLevel): boolean =>
    level !== 'silent' && levelWeights[level] >= threshold && (isEnabled?.(level) ?? true);
  const make = (bindings: LogFields): Logger => {
    const methods = Object.fromEntries(
      entryLevels.map((level) => [
        level,
        (msg: string, fields?: LogFields): void => {
          if (isLevelEnabled(level)) sink(level, redactor.text(msg), { ...bindings, ...redactor.value(fields) }, new Date().toISOString());
        },
      ]),
    ) as Record<EntryLevel, Logger['info']>;
    return {
      ...methods,
      // Bindings are redacted once here, not on every entry.
      child: (more) => make({ ...bindings, ...redactor.value(more) }),
      isLevelEnabled,
    };
  };
  return make({});
}
