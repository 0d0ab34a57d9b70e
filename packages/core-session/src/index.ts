export { AuthError } from './auth-error.js';
export type { AuthErrorCode, AuthErrorOptions } from './auth-error.js';
export type { RetryOptions } from './backoff.js';
export { oauth2, parseRetryAfter } from './oauth2.js';
export type { OAuth2Options } from './oauth2.js';
export { Session } from './session.js';
export type { RefreshFailedEvent, SessionData, SessionEvents, SessionFromEnvOptions, SessionOptions, ThrottledEvent } from './session.js';
export { storeKeyFor } from './store-key.js';
export type { AuthContext, Authenticator, Token } from './token.js';
