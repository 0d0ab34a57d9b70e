import { createBaseLogger } from './base-logger.js';
import { escapeControls, formatJson, formatPretty } from './format.js';
import type { LogLevel } from './levels.js';
import type { RedactOptions } from './redact.js';
import type { Logger } from './types.js';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /**
   * The least severe level written.
   * @default the value of `SESSIONKIT_LOG_LEVEL`, else `'info'`
   */
  level?: LogLevel | undefined;
  /**
   * `'pretty'` for people, `'json'` for one JSON object per line.
   * @default 'pretty'
   */
  format?: 'pretty' | 'json' | undefined;
  /**
   * Receives each formatted line (without a newline).
   * @default a write of the line and a newline to standard error
   */
  write?: ((line: string) => void) | undefined;
  /** Extra keys to redact; the defaults always apply unless `replaceDefaultKeys` is set. */
  redact?: RedactOptions | undefined;
  /** Fields added to every entry. */
  bindings?: Record<string, unknown> | undefined;
}

/**
 * A logger that formats entries as pretty text or JSON lines and redacts secrets in every
 * message and field.
 *
 * @example
 * const logger = createLogger({ level: 'debug', format: 'json' });
 * logger.child({ component: 'session' }).debug('token acquired', { expiresInMs: 3_600_000 });
 */
export function createLogger(given?: LoggerOptions): Logger {
  // null counts as not given; a level given alone ('debug') is not taken for options.
  const options = given ?? {};
  if (typeof options !== 'object') throw new TypeError('createLogger() options must be an object.');
  const format: string = options.format ?? 'pretty';
  const write = options.write ?? ((line) => process.stderr.write(`${line}\n`));
  const toLine = format === 'json' ? formatJson : formatPretty;
  // The level is checked first (in createBaseLogger), then the format. A line holds no line break.
  const logger = createBaseLogger(options.level, options.redact, (...entry) => { write(escapeControls(toLine(...entry))); });
  if (format !== 'pretty' && format !== 'json') {
    throw new TypeError(`Unknown log format "${format}". Use 'pretty' or 'json'.`);
  }
  // A stream given for a function (`write: process.stdout`) would throw at the first entry.
  if (typeof write != 'function') throw new TypeError('write must be a function that takes a line, such as (line) => process.stdout.write(line + "\\n").');
  return logger.child(options.bindings ?? {});
}
