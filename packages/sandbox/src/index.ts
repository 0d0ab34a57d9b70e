export { startSandbox } from './server.js';
export type { Sandbox, SandboxOptions, SandboxStats } from './server.js';
export type { SandboxModule } from './module.js';
export type { TlsMaterial } from './tls.js';
export type {
  AccessTokenInfo,
  AuthRateLimit,
  GrantType,
  IdentityProvider,
  IdentityProviderClient,
  IdentityProviderFault,
  IdentityProviderOptions,
  IdentityProviderStats,
  IdentityProviderUser,
  IssuedToken,
} from './idp/identity-provider.js';
export type {
  CommandApi,
  CommandApiDependencies,
  CommandApiOptions,
  CommandApiStats,
  CommandFault,
  CommandRequestRecord,
  CommandRole,
  CommandUser,
  FaultHandle,
  FaultOptions,
} from './command/command-api.js';
export type { RestStats } from './command/rest-api.js';
export { decodeCommandRequestBody } from './command/command-text.js';
export type { DecodedCommandRequest } from './command/command-text.js';
export type {
  EventsGateway,
  EventsGatewayDependencies,
  EventsGatewayOptions,
  EventsGatewayStats,
  RefuseUpgradesOptions,
} from './events/events-gateway.js';
export { eventTypes, stateGroups } from './events/event-generator.js';
export type { EventGeneratorOptions } from './events/event-generator.js';
