// Test helper: a proxy in front of the real D-Bus session bus, on a Unix socket of its own, that
// can hold all traffic (a bus or Secret Service that stops answering) and let it flow again.
// Not part of the published package (src/**/testing/** is excluded from files).
import { connect, createServer, type Socket } from 'node:net';

/** A running proxy started by {@link startBusProxy}. */
export interface BusProxy {
  /** The D-Bus address to give a client: `unix:path=<socketPath>`. */
  readonly address: string;
  /** How many clients have connected so far. */
  readonly connections: number;
  /** From now on, bytes in either direction are kept back. */
  hold(): void;
  /** Delivers what was kept back, in order, and lets traffic flow again. */
  release(): void;
  /** Stops listening and cuts every connection. */
  close(): Promise<void>;
}

/** Where a D-Bus address (`unix:path=…` or `unix:abstract=…`, the first of a `;` list) points. */
function socketOf(busAddress: string): string {
  const match = /(?:^|;)unix:(?:[^;]*,)?(path|abstract)=([^,;]+)/.exec(busAddress);
  if (match === null) throw new Error(`not a unix: D-Bus address: ${busAddress}`);
  // D-Bus escapes bytes in addresses as %XX.
  const path = decodeURIComponent(match[2] ?? '');
  return match[1] === 'abstract' ? `\0${path}` : path;
}

/** Starts a proxy listening on `socketPath` in front of the bus at `busAddress`. */
export function startBusProxy(socketPath: string, busAddress: string, options: { held?: boolean } = {}): Promise<BusProxy> {
  const target = socketOf(busAddress);
  let held = options.held ?? false;
  let connections = 0;
  const sockets = new Set<Socket>();
  const queued: [Buffer, Socket][] = [];
  const server = createServer((client) => {
    connections += 1;
    const upstream = connect(target);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
    }
    const forward = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (held) queued.push([chunk, to]);
        else to.write(chunk);
      });
      // What was kept back for a side that is gone is dropped with it.
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      resolve({
        address: `unix:path=${socketPath}`,
        get connections() {
          return connections;
        },
        hold() {
          held = true;
        },
        release() {
          held = false;
          for (const [chunk, to] of queued.splice(0)) if (!to.destroyed) to.write(chunk);
        },
        close() {
          for (const socket of sockets) socket.destroy();
          return new Promise<void>((done) => {
            server.close(() => {
              done();
            });
          });
        },
      });
    });
  });
}
