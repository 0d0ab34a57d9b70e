import { type LogFields, type Logger, silentLogger } from '@sessionkit/logger';
// From the package's root, not its modules: this entry's bundle then imports the root's
// (`./index.js`, external to it) instead of carrying a second copy of HttpClientError.
import { COMMAND_LOG_MESSAGE, HttpClientError } from './index.js';

/** The response object the public SDKs hand to a custom logger (the parts loggers use). */
export interface LegacyResponseView {
  /** The command as sent, secrets masked. */
  getCommand(): Record<string, string>;
  /** The command as `KEY = value` lines, secrets masked. */
  getCommandPlain(): string;
  /** The response text, secrets masked. */
  getPlain(): string;
  getCode(): number;
  getDescription(): string;
  getRuntime(): number;
  getQueuetime(): number;
  isSuccess(): boolean;
  isTmpError(): boolean;
  isError(): boolean;
}

/** A custom logger of the public ISPAPI SDKs: `log(post, response, error)`. */
export interface LegacyCommandLogger {
  log(post: string, response: LegacyResponseView, error?: string | null): unknown;
}

/** Options of {@link adaptLegacyCommandLogger}; null counts as none, and anything else but an object is `INVALID_ARGUMENT`. */
export interface LegacyLoggerOptions {
  /** Where every other entry goes. @default silentLogger */
  fallback?: Logger | undefined;
}

/**
 * The fields of a CommandClient's request entry (the only entries handed to the custom logger) that
 * the view reads; `body` is there because this logger enables the trace level, as `post` is.
 */
interface RequestEntry {
  body: string;
  command: Record<string, string>;
  code: number;
  description: string;
  runtime: number | undefined;
  queuetime: number | undefined;
}

const view = ({ command, code, description, runtime, queuetime, body }: RequestEntry): LegacyResponseView => ({
  getCommand: () => ({ ...command }),
  getCommandPlain: () =>
    Object.entries(command)
      .map(([key, value]) => `${key} = ${value}\n`)
      .join(''),
  getPlain: () => body,
  getCode: () => code,
  getDescription: () => description,
  getRuntime: () => runtime ?? 0,
  getQueuetime: () => queuetime ?? 0,
  isSuccess: () => code >= 200 && code < 300,
  isTmpError: () => code >= 400 && code < 500,
  isError: () => code >= 500 && code < 600,
});

// The transport error's message, or the HTTP status when it was not 2xx; null for an answer that arrived.
const errorText = (fields: LogFields): string | null => {
  // Without a status (no answer arrived) there is no HTTP status to report: read as 200.
  const { error, status = 200 } = fields as { error?: { message: string }; status?: number };
  return error?.message ?? (status < 200 || status >= 300 ? `HTTP ${status}` : null);
};

const legacyLogger = (target: LegacyCommandLogger, fallback: Logger): Logger => {
  return {
    trace: (msg, fields) => {
      fallback.trace(msg, fields);
    },
    debug: (msg, fields) => {
      if (msg === COMMAND_LOG_MESSAGE && fields) {
        // An async log() whose promise rejects (a log database down) would be an unhandled
        // rejection, which ends the process: ignored, as what it throws is.
        Promise.resolve(target.log(fields.post as string, view(fields as unknown as RequestEntry), errorText(fields))).catch(() => undefined);
      } else fallback.debug(msg, fields);
    },
    info: (msg, fields) => {
      fallback.info(msg, fields);
    },
    warn: (msg, fields) => {
      fallback.warn(msg, fields);
    },
    error: (msg, fields) => {
      fallback.error(msg, fields);
    },
    child: (bindings) => legacyLogger(target, fallback.child(bindings)),
    // Every request entry goes to the target, with the trace-level body and post.
    isLevelEnabled: (level) => level === 'debug' || level === 'trace' || fallback.isLevelEnabled(level),
  };
};

/**
 * A {@link Logger} for a `CommandClient` that hands each request to a custom logger of the
 * public SDKs' shape, `log(post, response, error)`: `post` is the request body and
 * `response.getPlain()` the response text, both with every secret masked. Other entries go to
 * `fallback`. What `log()` throws, or the promise it returns rejects with, is ignored (a request's
 * outcome never depends on it, and a rejection left unhandled would end the process).
 *
 * It is imported from its own entry, `@sessionkit/http-client/legacy-logger`, so that the root
 * does not carry it for the programs that do not use it.
 *
 * @example
 * import { adaptLegacyCommandLogger } from '@sessionkit/http-client/legacy-logger';
 * const client = new CommandClient({ credentials, logger: adaptLegacyCommandLogger({ log: (post, r, error) => audit(post, r.getPlain(), error) }) });
 */
export function adaptLegacyCommandLogger(target: LegacyCommandLogger, options?: LegacyLoggerOptions): Logger {
  if (typeof (target as LegacyCommandLogger | null)?.log !== 'function') throw new TypeError('adaptLegacyCommandLogger() needs an object with a log() method.');
  const given = options ?? {};
  if (typeof given !== 'object') throw new HttpClientError('INVALID_ARGUMENT', `options must be an object, not ${typeof given}.`);
  return legacyLogger(target, given.fallback ?? silentLogger);
}
