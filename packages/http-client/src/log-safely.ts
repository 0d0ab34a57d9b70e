import type { Logger } from '@sessionkit/logger';
import { invalidArgument } from './http-client-error.js';

/**
 * Runs `log`, the calls of a caller's logger (`isLevelEnabled()`, `debug()`), and ignores what it
 * throws: a logger never changes the outcome of a request (a write the server executed and whose
 * answer was lost could be sent again).
 */
export const logSafely = (log: () => void): void => {
  try {
    log();
  } catch {
    // Ignored, as above.
  }
};

/**
 * The `logger` option, checked for what the clients call: console itself has no `isLevelEnabled()`,
 * and every entry was dropped without a word (see logSafely).
 */
export const loggerOption = (logger: Logger | undefined): Logger | undefined => {
  if (logger != null && (typeof logger.isLevelEnabled != 'function' || typeof logger.debug != 'function')) {
    throw invalidArgument('logger must be a Logger of @sessionkit/logger: createLogger(), or adaptLogger(target) for console, pino or winston.');
  }
  return logger ?? undefined;
};
