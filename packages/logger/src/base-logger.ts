import { type EntryLevel, type LogLevel, levelWeights } from './levels.js';
import type { Redactor } from './redact.js';
import type { LogEntry, LogFields, Logger } from './types.js';

/** What a logger built by {@link createBaseLogger} shares with its children. */
export interface LoggerCore {
  /** Weight of the least severe level written. */
  readonly threshold: number;
  readonly redactor: Redactor;
  /** Receives each entry that passed the level check, already redacted. */
  readonly sink: (entry: LogEntry) => void;
  /** A further check by the target (pino and winston apply their own level). */
  readonly isEnabled?: ((level: EntryLevel) => boolean) | undefined;
}

/**
 * The one logger implementation behind `createLogger` and `adaptLogger`: a level check first
 * (so a disabled level costs a comparison and nothing else), then redaction, then the sink.
 */
export function createBaseLogger(core: LoggerCore, bindings: LogFields = {}): Logger {
  const { threshold, redactor, sink, isEnabled } = core;
  const isLevelEnabled = (level: LogLevel): boolean =>
    level !== 'silent' && levelWeights[level] >= threshold && (isEnabled?.(level) ?? true);
  const method = (level: EntryLevel) => (msg: string, fields?: LogFields): void => {
    if (!isLevelEnabled(level)) return;
    sink({
      time: new Date().toISOString(),
      level,
      msg: redactor.text(msg),
      fields: { ...bindings, ...redactor.value(fields) },
    });
  };
  return {
    trace: method('trace'),
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    // Bindings are redacted once here, not on every entry.
    child: (more) => createBaseLogger(core, { ...bindings, ...redactor.value(more) }),
    isLevelEnabled,
  };
}
