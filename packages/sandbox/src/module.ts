import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * One protocol served by the sandbox. The server routes each request to the first module
 * whose `handles(pathname)` is true; modules share nothing but this shape.
 */
export interface SandboxModule {
  /** Whether this module serves `pathname` (the request path without the query). */
  handles(pathname: string): boolean;
  /** Answer one HTTP request. Must always end the response. */
  handle(request: IncomingMessage, response: ServerResponse, url: URL): void | Promise<void>;
  /** Take over a WebSocket upgrade; only modules that speak WebSocket implement it. */
  upgrade?(request: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void;
  /** Abruptly close every open connection this module holds (for fault tests). */
  dropConnections?(): void;
  /** Release timers and connections. */
  close(): Promise<void>;
}
