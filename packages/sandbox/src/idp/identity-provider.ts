// Placeholder: the identity provider is built under issue 4 (owner: the core-session work).
import type { SandboxModule } from '../module.js';

/** Options of the identity provider; they are also top-level options of `startSandbox`. */
export interface IdentityProviderOptions {
  /** Token lifetime in seconds. @default 3600 */
  tokenTtlSeconds?: number | undefined;
}

/** Request counters of the identity provider. */
export interface IdentityProviderStats {
  requests: number;
}

/** The OAuth 2.0 token endpoint. */
export interface IdentityProvider extends SandboxModule {
  readonly stats: IdentityProviderStats;
  /** The identity an access token was issued to, or undefined when it is unknown or expired. */
  verifyAccessToken(token: string): { identity: string } | undefined;
}

export function createIdentityProvider(_options: IdentityProviderOptions): IdentityProvider {
  const stats = { requests: 0 };
  return {
    stats,
    handles: (pathname) => pathname === '/IDP/connect/token' || pathname === '/API/IDP/connect/token',
    handle: (_request, response) => {
      stats.requests += 1;
      response.writeHead(501).end();
    },
    verifyAccessToken: () => undefined,
    close: () => Promise.resolve(),
  };
}
