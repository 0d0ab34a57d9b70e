import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { type AddressInfo, isIP, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { type CommandApi, type CommandApiOptions, type CommandApiStats, createCommandApi } from './command/command-api.js';
import {
  createEventsGateway,
  type EventsGateway,
  type EventsGatewayOptions,
  type EventsGatewayStats,
} from './events/events-gateway.js';
import {
  type AccessTokenInfo,
  createIdentityProvider,
  type IdentityProvider,
  type IdentityProviderOptions,
  type IdentityProviderStats,
} from './idp/identity-provider.js';
import type { SandboxModule } from './module.js';
import { createSelfSignedCertificate, type TlsMaterial } from './tls.js';

/** Options of {@link startSandbox}. The identity provider's options sit at the top level. */
export interface SandboxOptions extends IdentityProviderOptions {
  /** TCP port, an integer from 0 to 65535 or a string of its digits (`process.env.PORT`); 0 picks a free one. @default 0 */
  port?: number | string | undefined;
  /**
   * Address to listen on, a non-empty string; `0.0.0.0` or `::` listen on every interface (the
   * URLs of the sandbox then name `127.0.0.1`). @default '127.0.0.1'
   */
  host?: string | undefined;
  /**
   * Serve HTTPS (and WSS): `true` makes a self-signed certificate at start, exposed as
   * `sandbox.certificate` for clients to trust explicitly; or pass your own key and certificate.
   * @default false
   */
  tls?: boolean | TlsMaterial | undefined;
  /** Options of the ISPAPI command API. */
  commands?: CommandApiOptions | undefined;
  /** Options of the events gateway. */
  ess?: EventsGatewayOptions | undefined;
}

/** Counters of every protocol the sandbox serves. */
export interface SandboxStats {
  readonly idp: IdentityProviderStats;
  readonly commands: CommandApiStats;
  readonly events: EventsGatewayStats;
}

/** A running sandbox. */
export interface Sandbox {
  /**
   * Base URL, such as `http://127.0.0.1:54321`: where a client on this machine connects, as are
   * the endpoints below. Listening on every interface (`host` `0.0.0.0` or `::`), they name
   * `127.0.0.1`: other machines connect to this machine's address instead.
   */
  readonly url: string;
  /** The OAuth 2.0 token endpoint. */
  readonly tokenUrl: string;
  /** The OAuth 2.0 token revocation endpoint (RFC 7009). */
  readonly revocationUrl: string;
  /** The ISPAPI command endpoint. */
  readonly commandUrl: string;
  /** The Events and State WebSocket endpoint. */
  readonly essUrl: string;
  /** The self-signed certificate in PEM when serving TLS, for clients to trust. */
  readonly certificate: string | undefined;
  readonly stats: SandboxStats;
  /** The identity provider, with its fault controls. */
  readonly idp: IdentityProvider;
  /** The command API, with its fault controls. */
  readonly commands: CommandApi;
  /** The events gateway, with its fault controls. */
  readonly events: EventsGateway;
  /** Push events to subscribed sessions. */
  publish(events: Record<string, unknown> | readonly Record<string, unknown>[]): void;
  /** Abruptly close every open connection (HTTP keep-alive and WebSocket). */
  dropConnections(): void;
  /** Stop listening and close every connection. */
  close(): Promise<void>;
}

function notFound(response: ServerResponse): void {
  response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
}

/**
 * The request target as a URL, or undefined when it is not one. An origin-form target is taken
 * as the path even when it starts with `//`, which `new URL(target, base)` would read as a host.
 */
function targetUrl(target: string): URL | undefined {
  try {
    return target.startsWith('/') ? new URL(`http://sandbox.invalid${target}`) : new URL(target);
  } catch {
    return undefined;
  }
}

/**
 * Where to listen, checked before anything starts: a host that is no string, or is empty, made
 * the server listen on every interface, and a port that is no number a pipe (url
 * `http://undefined:undefined`). Undefined and null are the defaults, as for the other options.
 */
function listenAddress(options: SandboxOptions): { port: number; host: string } {
  const host: unknown = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw new TypeError(`host must be a non-empty string, not ${JSON.stringify(String(host)).slice(0, 40)}.`);
  const given: unknown = options.port ?? 0;
  // A string of digits (process.env.PORT) is a port, as to Node's listen().
  const port = typeof given === 'string' && /^\d+$/.test(given) ? Number(given) : given;
  if (typeof port !== 'number') throw new TypeError(`port must be an integer from 0 to 65535, not ${JSON.stringify(String(port)).slice(0, 40)}.`);
  if (!(Number.isInteger(port) && port >= 0 && port <= 65_535)) throw new RangeError(`port must be an integer from 0 to 65535, not ${port}.`);
  return { port, host };
}

/** Whether `host` is an address that means every interface: `0.0.0.0`, or `::` in any spelling. */
export function isEveryInterface(host: string): boolean {
  return isIP(host) === 4 ? host === '0.0.0.0' : isIP(host) === 6 && /^[0:]+$/.test(host);
}

/**
 * The host of the sandbox's URLs for the address it listens on: an address meaning every
 * interface is none to connect to (clients refuse plain http to it, and the self-signed
 * certificate does not name it), so this machine's IPv4 loopback address stands for it, for `::`
 * too: Node listens there on IPv4 as well (dual-stack, unless `ipv6Only`), and Node 22.23 fails
 * to verify a certificate's `::1` for an `https://[::1]` URL.
 */
function connectableHost(address: string): string {
  if (isEveryInterface(address)) return '127.0.0.1';
  return isIP(address) === 6 ? `[${address}]` : address;
}

/**
 * The key and certificate to serve TLS with, checked before anything starts: none for `false`
 * (and undefined or null, the default), a new self-signed pair for `true`, else `{ key, cert }`
 * in PEM (strings or Buffers). Anything else (`{}`, a path) is a TypeError: it was handed to the
 * HTTPS server as it was, which then failed every handshake.
 */
async function tlsMaterial(given: SandboxOptions['tls'] | null): Promise<{ key: string | Buffer; cert: string } | undefined> {
  const tls: unknown = given ?? false;
  if (tls === false) return undefined;
  if (tls === true) return createSelfSignedCertificate();
  const pem = (value: unknown): boolean => (typeof value === 'string' || Buffer.isBuffer(value)) && value.length > 0;
  if (typeof tls !== 'object' || !pem((tls as TlsMaterial).key) || !pem((tls as TlsMaterial).cert)) {
    throw new TypeError('tls must be true, false or { key, cert } in PEM.');
  }
  // Buffers too (from plain JavaScript): Node takes both. sandbox.certificate is PEM text.
  const { key, cert } = tls as { key: string | Buffer; cert: string | Buffer };
  try {
    createSecureContext({ key, cert });
  } catch (error) {
    // Node's own error (PEM routines::no start line), before anything starts.
    throw new TypeError('tls key and cert must be PEM that Node can read (a key, and a certificate that matches it).', { cause: error });
  }
  return { key, cert: cert.toString() };
}

/**
 * Start a local server speaking the OAuth 2.0 token endpoint, the ISPAPI command protocol and
 * the Events and State WebSocket API, on a free port of 127.0.0.1 by default.
 *
 * @example
 * const sandbox = await startSandbox();
 * // ... point clients at sandbox.tokenUrl, sandbox.commandUrl, sandbox.essUrl
 * await sandbox.close();
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const { port, host: listenHost } = listenAddress(options);
  const material = await tlsMaterial(options.tls);
  // The identity provider last: it binds the stateFile (writes it), which no refused start should do.
  let idp: IdentityProvider;
  const verifyAccessToken = (token: string): AccessTokenInfo | undefined => idp.verifyAccessToken(token);
  const commands = createCommandApi(options.commands ?? {}, { verifyAccessToken });
  const events = createEventsGateway(options.ess ?? {}, { verifyAccessToken });
  try {
    idp = createIdentityProvider(options);
  } catch (error) {
    // The events gateway already runs (its generator's timer).
    await Promise.allSettled([commands.close(), events.close()]);
    throw error;
  }
  const modules: SandboxModule[] = [idp, commands, events];

  const route = (request: IncomingMessage): { module: SandboxModule | undefined; url: URL } | undefined => {
    const url = targetUrl(request.url ?? '/');
    return url === undefined ? undefined : { module: modules.find((candidate) => candidate.handles(url.pathname)), url };
  };

  const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    const routed = route(request);
    if (routed === undefined) {
      request.resume();
      response.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end('bad request target');
      return;
    }
    const { module, url } = routed;
    if (module === undefined) {
      notFound(response);
      return;
    }
    Promise.resolve(module.handle(request, response, url)).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(error instanceof Error ? error.message : 'internal error');
    });
  };

  // Takes the requests that came with an upgrade the sandbox does not speak; never listens.
  const plain = createHttpServer(onRequest);
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const routed = route(request);
    if (routed?.module?.upgrade !== undefined && /^websocket$/i.test(request.headers.upgrade ?? '')) {
      routed.module.upgrade(request, socket, head, routed.url);
      return;
    }
    // Once an 'upgrade' listener exists, Node hands it every request with an Upgrade header, such
    // as h2c's (Java's HttpClient on http://, curl --http2). An HTTP/1.1 server answers those as
    // the request they are: so here, its head written again without the upgrade, then its body,
    // read by a server of its own, on this connection, closed after the answer.
    const lines = [`${request.method ?? 'GET'} ${request.url ?? '/'} HTTP/1.1`];
    const raw = request.rawHeaders;
    for (let index = 0; index < raw.length; index += 2) {
      if (!/^(upgrade|connection|http2-settings)$/i.test(raw[index] ?? '')) lines.push(`${raw[index]}: ${raw[index + 1]}`);
    }
    const replayed = new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _encoding, done) => {
        socket.write(chunk, () => {
          done();
        });
      },
      final: (done) => {
        socket.end(done);
      },
      destroy: (error, done) => {
        socket.destroy();
        done(error);
      },
    });
    replayed.push(`${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`);
    replayed.push(head);
    socket.on('data', (chunk: Buffer) => replayed.push(chunk));
    socket.on('end', () => replayed.push(null));
    socket.on('error', () => replayed.destroy());
    socket.on('close', () => replayed.destroy());
    plain.emit('connection', replayed);
  };

  const sockets = new Set<Socket>();
  let server: Server;
  try {
    // A key or certificate Node cannot read throws here.
    server = material === undefined ? createHttpServer(onRequest) : createHttpsServer(material, onRequest);
    server.keepAliveTimeout = 60_000;
    // The TCP socket, over TLS too: from before the handshake, so that close() does not wait for
    // a handshake that may never come. Destroying it destroys the TLS socket over it.
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    server.on('upgrade', onUpgrade);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    // The modules already run (the event generator's timer): a failed start leaves nothing running.
    await Promise.all(modules.map((module) => module.close()));
    throw error;
  }

  const address = server.address() as AddressInfo;
  const host = connectableHost(address.address);
  const scheme = material === undefined ? 'http' : 'https';
  const url = `${scheme}://${host}:${address.port}`;

  const dropConnections = (): void => {
    for (const module of modules) module.dropConnections?.();
    for (const socket of sockets) socket.destroy();
  };

  return {
    url,
    tokenUrl: `${url}/IDP/connect/token`,
    revocationUrl: `${url}/IDP/connect/revocation`,
    commandUrl: `${url}/api/call.cgi`,
    essUrl: `${scheme === 'https' ? 'wss' : 'ws'}://${host}:${address.port}/api/ws/events/v1`,
    certificate: material?.cert,
    stats: {
      get idp() {
        return idp.stats;
      },
      get commands() {
        return commands.stats;
      },
      get events() {
        return events.stats;
      },
    },
    idp,
    commands,
    events,
    publish: (published) => {
      events.publish(published);
    },
    dropConnections,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => { resolve(); }));
      dropConnections();
      // Every module closed, and the server, before a module's failure is thrown (the state file's last write).
      const results = await Promise.allSettled(modules.map((module) => module.close()));
      await closed;
      for (const result of results) if (result.status === 'rejected') throw result.reason;
    },
  };
}
