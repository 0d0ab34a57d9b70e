/**
 * The runtime imports of core-session, logger and token-store, in one place. The bundle keeps one
 * import statement per module that imports a package; importing them here once makes `dist` smaller.
 */
export { AuthError, isCertificateError, parseRetryAfter } from '@sessionkit/core-session';
export { createLogger, createRedactor, silentLogger } from '@sessionkit/logger';
export { StoreError } from '@sessionkit/token-store';
