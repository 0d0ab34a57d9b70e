export { CommandClient, COMMAND_LOG_MESSAGE, ISPAPI_PROXY_URL, ISPAPI_SYSTEMS } from './command-client.js';
export type {
  CommandClientOptions,
  CommandCredentials,
  CommandRequestOptions,
  CommandRetryOptions,
  IspapiSystem,
  LoginOptions,
  PagesOptions,
  SavedSession,
} from './command-client.js';
export { CommandResponse } from './command-response.js';
export type { CommandResponseInit, Pagination, ResponseDetail } from './command-response.js';
export { encodeCommand } from './encode-command.js';
export type { Command, CommandScalar, CommandValue } from './encode-command.js';
export { parseResponse } from './parse-response.js';
export type { ParseResponseOptions } from './parse-response.js';
export { HttpClientError } from './http-client-error.js';
export type { HttpClientErrorCode, HttpClientErrorOptions } from './http-client-error.js';
export { ispapiSessionAuthenticator } from './session-authenticator.js';
export type { IspapiSessionAuthenticator, IspapiSessionAuthenticatorOptions } from './session-authenticator.js';
export { createApiClient } from './api-client.js';
export type { ApiClientOptions, ApiSession } from './api-client.js';
export type { UserAgentParts } from './user-agent.js';
export type { ConnectionOptions, TlsOptions } from './transport.js';
