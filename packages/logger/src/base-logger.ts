import { safeStringify, toText } from './format.js';
import { type EntryLevel, entryLevels, type LogLevel, levelWeights, resolveLevel } from './levels.js';
import { createRedactor, type RedactOptions, UNREADABLE } from './redact.js';
import type { LogFields, Logger } from './types.js';

/** Receives each entry that passed the level check, already redacted, as the parts of a `LogEntry`. */
export type Sink = (level: EntryLevel, msg: string, fields: LogFields, time: string) => void;

/**
 * The one logger implementation behind `createLogger` and `adaptLogger`: a level check first
 * (so a disabled level costs a comparison and nothing else), then redaction, then the sink.
 * `level` is resolved as {@link resolveLevel} does (fallback `'info'`); `isEnabled` is a further
 * check by the target (pino and winston apply their own level).
 *
 * No field makes a log call throw (its caller is often handling an error already): see `readable`.
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
  // Only after a field threw (a getter or `toJSON` that throws, a revoked Proxy; an Error whose
  // `cause` getter throws no longer does: `copy` reads that member on its own), in redaction or
  // when the sink or its target serialized it: each field is read, redacted and serialized alone
  // (as the JSON format does), and one that throws is UNREADABLE; then the readable ones are
  // redacted together, as the whole would have been: a name that holds a secret is renamed, and
  // what depends on several fields (`{ name: 'password', value }`) is hidden. Redacted one by one
  // under their own names, such a name was written in clear, its field lost, and such a value in
  // clear. When not even the keys can be listed, `fields` is UNREADABLE. Nothing of the error is
  // kept: its message may hold what the field held. Bindings, redacted already, are only read.
  const readable = (fields: unknown, redacted?: boolean): LogFields => {
    try {
      // An array (from untyped code) is one value, whose items are redacted together (the word
      // after a `--flag`), not one by one. (Asked inside: a revoked Proxy throws even here.)
      if (Array.isArray(fields)) return { fields: UNREADABLE };
      const values: [string, unknown][] = [];
      const alone: [string, unknown][] = [];
      for (const key of Object.keys(fields ?? {})) {
        let field: LogFields;
        try {
          const value = (fields as LogFields)[key];
          field = redacted ? { [key]: value } : redactor.value({ [key]: value });
          // Serialized as the JSON format would: a `toJSON` may throw.
          safeStringify(field);
          values.push([key, value]);
        } catch {
          values.push([key, UNREADABLE]);
          // Its name redacted too.
          field = redacted ? { [key]: UNREADABLE } : redactor.value({ [key]: UNREADABLE });
        }
        alone.push(...Object.entries(field));
      }
      if (!redacted) {
        try {
          const together = redactor.value(Object.fromEntries(values));
          safeStringify(together);
          return together;
        } catch {
          // A value that copied alone threw the second time: the fields as redacted alone.
        }
      }
      return Object.fromEntries(alone);
    } catch {
      return { fields: UNREADABLE };
    }
  };
  // A copy (what `redactor.value` made) that is fields: a plain object, as the copy of any object
  // with fields is (an Error, an instance of a class), or none.
  const isFields = (copy: unknown): copy is LogFields | undefined => copy == null || Object.getPrototypeOf(copy) === Object.prototype;
  const make = (bindings: LogFields): Logger => {
    const methods = Object.fromEntries(
      entryLevels.map((level) => [
        level,
        (msg: string, fields?: LogFields): void => {
          if (!isLevelEnabled(level)) return;
          // Not a string from untyped code (`logger.error(error)`): as text, if it has one.
          const text = redactor.text(toText(msg));
          const time = new Date().toISOString();
          // Set once the fields are redacted: a failure after that is the sink's.
          let all: LogFields | undefined;
          let copy: unknown;
          try {
            copy = redactor.value(fields);
            // Anything else, from untyped code (`logger.info('saved', id)`, a URL, a Map, an
            // array), is one field: not a field per character or item, nor nothing (a number or
            // a Map has no keys of its own).
            sink(level, text, (all = { ...bindings, ...(isFields(copy) ? copy : { fields: copy }) }), time);
          } catch (error) {
            // The sink failed on fields that serialize: the failure is its own (a `write` function
            // or target that throws on plain fields). It is not caught, and the sink is not called
            // again: that is a bug in the code that set the logger up, to be seen at once, not
            // every entry lost without a trace or written twice.
            try {
              safeStringify(all);
            } catch {
              all = undefined;
            }
            if (all) throw error;
            // Redaction failed (the sink was not called) or a field did not serialize in the
            // sink: the entry again, with the fields that can be read.
            sink(level, text, { ...readable(bindings, true), ...readable(isFields(copy) ? fields : { fields }) }, time);
          }
        },
      ]),
    ) as Record<EntryLevel, Logger['info']>;
    return {
      ...methods,
      // Bindings are redacted once here, not on every entry.
      child: (more) => {
        let redacted: unknown;
        try {
          redacted = redactor.value(more);
        } catch {
          redacted = readable(more);
        }
        // A name (`child('http')`, from untyped code) would be a field per character.
        if (!isFields(redacted)) {
          throw new TypeError(`Bindings must be an object of fields, such as { component: 'http' }, not ${Array.isArray(more) ? 'an array' : `a ${typeof more == 'object' ? Object.prototype.toString.call(more).slice(8, -1) : typeof more}`}.`);
        }
        return make({ ...bindings, ...redacted });
      },
      isLevelEnabled,
    };
  };
  return make({});
}
