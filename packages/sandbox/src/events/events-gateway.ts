// Placeholder: the events gateway is built under issue 6 (owner: the ess-client work).
import type { SandboxModule } from '../module.js';

/** Options of the events gateway. */
export type EventsGatewayOptions = Record<string, never>;

/** What the gateway needs from the identity provider. */
export interface EventsGatewayDependencies {
  verifyAccessToken(token: string): { identity: string } | undefined;
}

/** Counters of the events gateway. */
export interface EventsGatewayStats {
  connections: number;
}

/** The Events and State WebSocket endpoint at `/api/ws/events/v1`. */
export interface EventsGateway extends SandboxModule {
  readonly stats: EventsGatewayStats;
  /** Push events to every session whose subscriptions match them. */
  publish(events: readonly Record<string, unknown>[]): void;
}

export function createEventsGateway(_options: EventsGatewayOptions, _dependencies: EventsGatewayDependencies): EventsGateway {
  const stats = { connections: 0 };
  return {
    stats,
    handles: (pathname) => pathname === '/api/ws/events/v1' || pathname === '/api/ws/events/v1/',
    handle: (_request, response) => {
      response.writeHead(426).end();
    },
    publish: () => undefined,
    close: () => Promise.resolve(),
  };
}
