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
export type { CommandApi, CommandApiOptions, CommandApiStats } from './command/command-api.js';
export type { EventsGateway, EventsGatewayDependencies, EventsGatewayOptions, EventsGatewayStats } from './events/events-gateway.js';
