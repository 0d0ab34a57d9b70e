// Placeholder: the command API is built under issue 5 (owner: the http-client work).
import type { SandboxModule } from '../module.js';

/** Options of the ISPAPI command API. */
export type CommandApiOptions = Record<string, never>;

/** Request counters of the command API. */
export interface CommandApiStats {
  requests: number;
}

/** The ISPAPI command endpoint at `/api/call.cgi`. */
export interface CommandApi extends SandboxModule {
  readonly stats: CommandApiStats;
}

export function createCommandApi(_options: CommandApiOptions): CommandApi {
  const stats = { requests: 0 };
  return {
    stats,
    handles: (pathname) => pathname === '/api/call.cgi',
    handle: (_request, response) => {
      stats.requests += 1;
      response.writeHead(501).end();
    },
    close: () => Promise.resolve(),
  };
}
