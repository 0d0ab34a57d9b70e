import { type EntryLevel, type LogLevel, levelWeights } from './levels.js';
import type { Redactor } from './redact.js';
import type { LogEntry, LogFields, Logger } from './types.js';

/** Where a {@link BaseLogger} sends an entry that passed its level check. */
export type EntrySink = (entry: LogEntry) => void;

interface LoggerCore {
  readonly threshold: number;
  readonly redactor: Redactor;
  readonly sink: EntrySink;
  readonly isEnabled?: ((level: EntryLevel) => boolean) | undefined;
}

/**
 * The one logger implementation behind `createLogger` and `adaptLogger`: a level check first
 * (so a disabled level costs a comparison and nothing else), then redaction, then the sink.
 */
export class BaseLogger implements Logger {
  readonly #core: LoggerCore;
  readonly #bindings: LogFields;

  constructor(core: LoggerCore, bindings: LogFields = {}) {
    this.#core = core;
    this.#bindings = bindings;
  }

  trace(msg: string, fields?: LogFields): void {
    if (this.isLevelEnabled('trace')) this.#write('trace', msg, fields);
  }

  debug(msg: string, fields?: LogFields): void {
    if (this.isLevelEnabled('debug')) this.#write('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    if (this.isLevelEnabled('info')) this.#write('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    if (this.isLevelEnabled('warn')) this.#write('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    if (this.isLevelEnabled('error')) this.#write('error', msg, fields);
  }

  child(bindings: LogFields): Logger {
    // Bindings are redacted once here, not on every entry.
    return new BaseLogger(this.#core, { ...this.#bindings, ...this.#core.redactor.value(bindings) });
  }

  isLevelEnabled(level: LogLevel): boolean {
    if (level === 'silent' || levelWeights[level] < this.#core.threshold) return false;
    return this.#core.isEnabled?.(level) ?? true;
  }

  #write(level: EntryLevel, msg: string, fields: LogFields | undefined): void {
    const { redactor } = this.#core;
    this.#core.sink({
      time: new Date().toISOString(),
      level,
      msg: redactor.text(msg),
      fields: fields === undefined ? this.#bindings : { ...this.#bindings, ...redactor.value(fields) },
    });
  }
}

export function thresholdOf(level: LogLevel): number {
  return levelWeights[level];
}
