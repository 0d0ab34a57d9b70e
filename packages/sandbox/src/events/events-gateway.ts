import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { checkCount, checkDelay, checkStatus, checkWhole } from '../checks.js';
import type { SandboxModule } from '../module.js';
import { EventGenerator, type EventGeneratorOptions } from './event-generator.js';
import { type EventFilter, type MatchTarget, matchTarget, parseFilters, subscriptionMatches } from './filters.js';
import { type LogEntry, SessionLog } from './session-log.js';

/** Options of the events gateway (`startSandbox({ ess })`). */
export interface EventsGatewayOptions {
  /** How long a session can be resumed after its connection was lost. @default 30000 */
  resumeWindowMs?: number | undefined;
  /**
   * How many sent events each session keeps for replay, and how many events in all a session
   * without a connection keeps (older ones are dropped, sent or not). A resume from an event
   * that has fallen out of this buffer is not honoured: it gets a new session (status 201).
   * @default 10000
   */
  replayBufferSize?: number | undefined;
  /** Largest number of events in one pushed frame. @default 100 */
  maxEventsPerFrame?: number | undefined;
  /**
   * The generator of camera, output and input events: `true` for the defaults, an object to
   * tune it, `false` for none (tests then use `publish`).
   * @default true (one batch of 5 events per second)
   */
  generator?: boolean | EventGeneratorOptions | undefined;
  /**
   * Delay before each getState response, as on a large system. While a delayed getState is
   * pending the connection answers no pings, like a gateway busy computing state. @default 0
   */
  getStateDelayMs?: number | undefined;
  /**
   * How long a connection without an `Authorization` header (a browser) has to send the
   * `authenticate` command. @default 10000
   */
  authenticateTimeoutMs?: number | undefined;
  /** Largest frame accepted from a client, in bytes. @default 1048576 */
  maxPayload?: number | undefined;
}

/** What the gateway needs from the identity provider. */
export interface EventsGatewayDependencies {
  /** The identity an access token was issued to, or undefined when it is unknown or expired. */
  verifyAccessToken(token: string): { identity: string } | undefined;
}

/** Counters of the events gateway (a snapshot: read `stats` again for fresh numbers). */
export interface EventsGatewayStats {
  /** WebSocket connections open now. */
  connections: number;
  /** WebSocket connections accepted since start. */
  connectionsTotal: number;
  /** Upgrades answered with 401 (missing, invalid or expired token). */
  unauthorized: number;
  /** Upgrades refused by `refuseUpgrades` (503 or another status). */
  refused: number;
  /** Sessions known now (connected or inside their resume window). */
  sessions: number;
  /** `startSession` answered 201. */
  sessionsNew: number;
  /** `startSession` answered 200. */
  sessionsResumed: number;
  /** Events accepted by `publish` or made by the generator. */
  eventsPublished: number;
  /** Events written to connections, replays included. */
  eventsSent: number;
  /** Commands received. */
  commands: number;
  /** Connections closed because of a malformed command. */
  malformed: number;
  /** Commands answered with an error by `failCommands`. */
  failed: number;
}

/** Options of {@link EventsGateway.refuseUpgrades}. */
export interface RefuseUpgradesOptions {
  /** HTTP status of the refusal, from 400 to 599. @default 503 */
  status?: number | undefined;
  /** How many upgrades to refuse (1 or more); undefined or `Infinity` refuses until `acceptUpgrades()`. */
  count?: number | undefined;
  /** `Retry-After` header of the refusal, in whole seconds; 0 sends none. @default 1 for a 503, 0 for any other status */
  retryAfterSeconds?: number | undefined;
}

/** The commands of the protocol, as a client sends them. */
const ESS_COMMANDS: readonly string[] = ['authenticate', 'startSession', 'addSubscription', 'removeSubscription', 'getState'];

/** Options of {@link EventsGateway.failCommands}. */
export interface FailCommandsOptions {
  /** Only commands of this name (such as `startSession`); undefined: any but `authenticate`. */
  command?: string | undefined;
  /** Status of the error answers, from 400 to 599. @default 503 */
  status?: number | undefined;
  /** How many commands to answer so: a whole number of 1 or more. @default 1 */
  count?: number | undefined;
}

/** The Events and State WebSocket endpoint at `/api/ws/events/v1`, with its fault controls. */
export interface EventsGateway extends SandboxModule {
  readonly stats: EventsGatewayStats;
  /**
   * Push events to every session whose subscriptions match them. Missing `id` and `time`
   * are filled in (each filled-in `time` is later than every one filled in before, even for
   * events in the same millisecond); `type` and `source` are required. One event, or an array.
   */
  publish(events: Record<string, unknown> | readonly Record<string, unknown>[]): void;
  /**
   * Publish `count` events from the generator now (even when its timer is off): a whole number
   * from 1 to 1000000 (a connected session holds every one of them until its socket takes them).
   */
  generate(count: number): void;
  /** Abruptly destroy every WebSocket connection; sessions stay resumable for the window. */
  dropConnections(): void;
  /**
   * Make every open connection go silent without closing it (no frames, no pongs, nothing
   * read), as a half-open TCP connection looks to the client.
   */
  stallConnections(): void;
  /**
   * Close every open connection cleanly with a WebSocket close `code` and `reason`: 1001 as a
   * gateway going down for its daily restart, 1008 as after a command it rejected, 1011 after
   * an internal error. Sessions stay resumable for the window, as after `dropConnections()`.
   */
  closeConnections(code: number, reason?: string): void;
  /**
   * Send `frame` as it is (a text frame) on every open connection, between the events: for
   * frames a client does not know, such as a newer gateway's, or a response to no command.
   */
  sendRaw(frame: string): void;
  /** Answer the next upgrades with an HTTP error instead of switching protocols. */
  refuseUpgrades(options?: RefuseUpgradesOptions): void;
  /** Stop refusing upgrades. */
  acceptUpgrades(): void;
  /**
   * Answer the next commands with an error status (`{"error": {"errorText": …}}`) instead of
   * carrying them out, as a gateway that is restarting or overloaded does; the connection stays open.
   */
  failCommands(options?: FailCommandsOptions): void;
  /** Delay each getState response by `ms` from now on (0 answers at once); pings wait meanwhile. */
  setGetStateDelay(ms: number): void;
  /**
   * Forget every session that has no open connection (a connection closing, as right after
   * `dropConnections()`, counts as none), as if its resume window had ended.
   */
  expireSessions(): void;
}

interface Connection {
  readonly ws: WebSocket;
  authenticated: boolean;
  session: GatewaySession | undefined;
  stalled: boolean;
  /** Bytes handed to the socket and not yet written out. */
  inFlight: number;
  flushScheduled: boolean;
  readonly commandIds: Set<number>;
  authTimer: NodeJS.Timeout | undefined;
  /** Delayed getState commands pending: pongs wait until none is. */
  busy: number;
  /** Pings that arrived while busy, answered when it is not. */
  heldPings: Buffer[];
}

interface GatewaySession {
  readonly id: string;
  readonly subscriptions: Map<string, EventFilter[]>;
  readonly log: SessionLog;
  connection: Connection | undefined;
  expiry: NodeJS.Timeout | undefined;
}

interface PublishedEvent extends LogEntry {
  readonly target: MatchTarget;
  readonly stateKey: string | undefined;
}

type Command = Record<string, unknown> & { command: string; commandId: number };

const eventsPath = '/api/ws/events/v1';
/** Bytes in flight per connection before the gateway waits for the socket to drain. */
const highWaterBytes = 1 << 20;
/**
 * Most events one `generate()` call publishes: a subscribed session holds all of them (about
 * 1 GB for this many) until its socket takes them, as the publish is synchronous.
 */
const maxGenerated = 1_000_000;
/** Events `generate()` makes and publishes at a time, so that no session-less call holds them all at once. */
const generateChunk = 10_000;

/** The millisecond of the last time issued (may run ahead of the clock, see `timestamp`). */
let lastMillisecond = 0;
/** The 100 ns ticks of the last time issued inside `lastMillisecond`, 0 to 9999. */
let timeCounter = 0;
let millisecondPrefix = '';
/**
 * ISO 8601 with 7 fractional digits, as the real gateway writes them. Times strictly increase
 * in the order they are issued: within one millisecond the last 4 digits count up; after 10000
 * times in one millisecond, or when the clock steps back, the time moves on from the last one
 * issued instead of going backwards.
 */
function timestamp(): string {
  const now = Date.now();
  if (now > lastMillisecond) {
    lastMillisecond = now;
    timeCounter = 0;
    millisecondPrefix = new Date(now).toISOString().slice(0, -1);
  } else if (++timeCounter === 10_000) {
    lastMillisecond += 1;
    timeCounter = 0;
    millisecondPrefix = new Date(lastMillisecond).toISOString().slice(0, -1);
  }
  return `${millisecondPrefix}${String(timeCounter).padStart(4, '0')}Z`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuse(socket: Duplex, status: number, headers: Record<string, string> = {}): void {
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`, 'Connection: close', 'Content-Length: 0'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.on('error', () => undefined);
  socket.end(`${lines.join('\r\n')}\r\n\r\n`, () => {
    socket.destroy();
  });
}

function normalize(event: Record<string, unknown>): PublishedEvent {
  if (!isRecord(event)) throw new TypeError('A published event must be an object.');
  const { type, source } = event;
  if (typeof type !== 'string' || type.length === 0) throw new TypeError('A published event needs a "type" (an event-type id).');
  if (typeof source !== 'string' || source.length === 0) {
    throw new TypeError('A published event needs a "source" such as "cameras/{id}".');
  }
  const id = typeof event.id === 'string' && event.id.length > 0 ? event.id : randomUUID();
  const time = typeof event.time === 'string' ? event.time : timestamp();
  const stategroupid = typeof event.stategroupid === 'string' ? event.stategroupid : undefined;
  return {
    id,
    json: JSON.stringify({ ...event, id, time }),
    target: matchTarget(source, type),
    stateKey: stategroupid === undefined ? undefined : `${source}\n${stategroupid}`,
  };
}

/**
 * The sandbox's Events and State WebSocket gateway (the protocol of video-management API
 * gateways, as Milestone XProtect's public documentation and samples describe it): bearer
 * tokens checked at upgrade, sessions resumable for a window with replay, include/exclude
 * subscriptions, getState, an event generator, and controls for fault tests.
 */
export function createEventsGateway(options: EventsGatewayOptions, dependencies: EventsGatewayDependencies): EventsGateway {
  // Checked before anything starts: NaN (say, read from an unset variable) would otherwise
  // flood clients with empty frames, keep every event, or fire a timer at once.
  const resumeWindowMs = checkDelay('resumeWindowMs', options.resumeWindowMs ?? 30_000);
  const replayBufferSize = checkWhole('replayBufferSize', options.replayBufferSize ?? 10_000);
  const maxEventsPerFrame = checkCount('maxEventsPerFrame', options.maxEventsPerFrame ?? 100);
  const authenticateTimeoutMs = checkDelay('authenticateTimeoutMs', options.authenticateTimeoutMs ?? 10_000);
  const maxPayload = checkCount('maxPayload', options.maxPayload ?? 1024 * 1024);
  let getStateDelayMs = checkDelay('getStateDelayMs', options.getStateDelayMs ?? 0);
  // Another value ('yes') was taken as the defaults.
  if (options.generator != null && typeof options.generator !== 'boolean' && typeof options.generator !== 'object') throw new TypeError('ess.generator must be true, false or an object of options.');
  const generatorOptions = options.generator === false ? undefined : options.generator === true || options.generator == null ? {} : options.generator;
  const generatorIntervalMs = checkDelay('generator.intervalMs', generatorOptions?.intervalMs ?? 1000, 1);
  const generatorBatchSize = checkCount('generator.batchSize', generatorOptions?.batchSize ?? 5);
  for (const name of ['cameras', 'outputs', 'inputs'] as const) {
    const count = generatorOptions?.[name];
    if (count !== undefined) checkWhole(`generator.${name}`, count);
  }
  const generator = new EventGenerator(generatorOptions ?? {});

  const stats: EventsGatewayStats = {
    connections: 0,
    connectionsTotal: 0,
    unauthorized: 0,
    refused: 0,
    sessions: 0,
    sessionsNew: 0,
    sessionsResumed: 0,
    eventsPublished: 0,
    eventsSent: 0,
    commands: 0,
    malformed: 0,
    failed: 0,
  };
  const server = new WebSocketServer({
    noServer: true,
    maxPayload,
    perMessageDeflate: false,
    autoPong: false,
  });
  const connections = new Set<Connection>();
  const sessions = new Map<string, GatewaySession>();
  const states = new Map<string, PublishedEvent>();
  const timers = new Set<NodeJS.Timeout>();
  let refusal: { status: number; remaining: number; retryAfterSeconds: number } | undefined;
  let failing: { command: string | undefined; status: number; remaining: number } | undefined;

  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const sessionMatches = (session: GatewaySession, target: MatchTarget): boolean => {
    for (const filters of session.subscriptions.values()) {
      if (subscriptionMatches(filters, target)) return true;
    }
    return false;
  };

  const send = (connection: Connection, frame: string): void => {
    if (connection.stalled || connection.ws.readyState !== WebSocket.OPEN) return;
    connection.ws.send(frame);
  };

  const respond = (connection: Connection, commandId: number, status: number, fields: Record<string, unknown> = {}): void => {
    send(connection, JSON.stringify({ commandId, status, ...fields }));
  };

  const fail = (connection: Connection, commandId: number, status: number, errorText: string): void => {
    respond(connection, commandId, status, { error: { errorText } });
  };

  const closeMalformed = (connection: Connection, reason: string): void => {
    stats.malformed += 1;
    connection.ws.close(1008, `malformed command: ${reason}`.slice(0, 120));
  };

  const flush = (connection: Connection): void => {
    const session = connection.session;
    if (session?.connection !== connection || connection.stalled || connection.ws.readyState !== WebSocket.OPEN) return;
    while (session.log.pending && connection.inFlight < highWaterBytes) {
      const entries = session.log.take(maxEventsPerFrame);
      let frame = '{"events":[';
      let first = true;
      for (const entry of entries) {
        if (!first) frame += ',';
        frame += entry.json;
        first = false;
      }
      frame += ']}';
      const size = frame.length;
      connection.inFlight += size;
      stats.eventsSent += entries.length;
      connection.ws.send(frame, () => {
        connection.inFlight -= size;
        if (connection.inFlight < highWaterBytes / 2) scheduleFlush(connection);
      });
    }
  };

  const scheduleFlush = (connection: Connection): void => {
    if (connection.flushScheduled || connection.stalled) return;
    connection.flushScheduled = true;
    setImmediate(() => {
      connection.flushScheduled = false;
      flush(connection);
    });
  };

  const forget = (session: GatewaySession): void => {
    if (session.expiry !== undefined) clearTimeout(session.expiry);
    session.expiry = undefined;
    if (sessions.get(session.id) === session) sessions.delete(session.id);
    stats.sessions = sessions.size;
  };

  const detach = (session: GatewaySession): void => {
    session.connection = undefined;
    if (session.expiry !== undefined) clearTimeout(session.expiry);
    session.expiry = setTimeout(() => {
      forget(session);
    }, resumeWindowMs);
    session.expiry.unref();
  };

  const startSession = (connection: Connection, command: Command): void => {
    const sessionId = command.sessionId ?? '';
    const eventId = command.eventId ?? '';
    if (typeof sessionId !== 'string' || typeof eventId !== 'string') {
      closeMalformed(connection, 'sessionId and eventId must be strings');
      return;
    }
    const current = connection.session;
    if (current !== undefined) {
      connection.session = undefined;
      if (current.connection === connection) detach(current);
    }
    const known = sessionId !== '' && eventId !== '' ? sessions.get(sessionId) : undefined;
    if (known?.log.rewindAfter(eventId) === true) {
      if (known.expiry !== undefined) clearTimeout(known.expiry);
      known.expiry = undefined;
      const previous = known.connection;
      if (previous !== undefined && previous !== connection) {
        previous.session = undefined;
        previous.ws.terminate();
      }
      known.connection = connection;
      connection.session = known;
      stats.sessionsResumed += 1;
      respond(connection, command.commandId, 200, { sessionId: known.id });
      scheduleFlush(connection);
      return;
    }
    const session: GatewaySession = {
      id: randomUUID(),
      subscriptions: new Map(),
      log: new SessionLog(replayBufferSize),
      connection,
      expiry: undefined,
    };
    sessions.set(session.id, session);
    stats.sessions = sessions.size;
    stats.sessionsNew += 1;
    connection.session = session;
    respond(connection, command.commandId, 201, { sessionId: session.id });
  };

  const getState = (connection: Connection, session: GatewaySession, commandId: number): void => {
    const answer = (): void => {
      // Another startSession on this connection meanwhile: the state asked for is another
      // session's. Answered all the same, as every command is: with an error.
      if (connection.session !== session) {
        fail(connection, commandId, 409, 'The session changed (startSession) before the state was ready: ask again.');
        return;
      }
      let frame = `{"commandId":${commandId},"status":200,"states":[`;
      let first = true;
      for (const state of states.values()) {
        if (!sessionMatches(session, state.target)) continue;
        if (!first) frame += ',';
        frame += state.json;
        first = false;
      }
      send(connection, `${frame}]}`);
    };
    if (getStateDelayMs <= 0) {
      answer();
      return;
    }
    connection.busy += 1;
    later(getStateDelayMs, () => {
      connection.busy -= 1;
      answer();
      if (connection.busy === 0) {
        for (const data of connection.heldPings.splice(0)) pong(connection, data);
      }
    });
  };

  const pong = (connection: Connection, data: Buffer): void => {
    if (connection.stalled || connection.ws.readyState !== WebSocket.OPEN) return;
    connection.ws.pong(data);
  };

  const authenticate = (connection: Connection, command: Command): void => {
    const token = command.token;
    if (typeof token !== 'string') {
      closeMalformed(connection, 'authenticate needs a token');
      return;
    }
    // The protocol: the token is checked only when the connection is made and cannot be replaced on an
    // open connection. Refused without looking at the new token; the connection keeps its own.
    if (connection.authenticated) {
      fail(connection, command.commandId, 409, 'This connection is already authenticated: the token cannot be replaced on an open connection.');
      return;
    }
    const raw = token.replace(/^Bearer\s+/i, '');
    if (dependencies.verifyAccessToken(raw) === undefined) {
      fail(connection, command.commandId, 401, 'The token is missing, invalid or expired.');
      connection.ws.close(1008, 'invalid token');
      return;
    }
    connection.authenticated = true;
    if (connection.authTimer !== undefined) clearTimeout(connection.authTimer);
    respond(connection, command.commandId, 200);
  };

  const handleCommand = (connection: Connection, message: unknown): void => {
    if (!isRecord(message) || typeof message.command !== 'string' || !Number.isSafeInteger(message.commandId)) {
      closeMalformed(connection, 'a command needs "command" and an integer "commandId"');
      return;
    }
    const command = message as Command;
    if (connection.commandIds.has(command.commandId)) {
      closeMalformed(connection, `commandId ${command.commandId} was already used on this connection`);
      return;
    }
    connection.commandIds.add(command.commandId);
    stats.commands += 1;
    const isAuthenticate = command.command === 'authenticate';
    if (!isAuthenticate && !connection.authenticated) {
      closeMalformed(connection, 'authenticate first');
      return;
    }
    // failCommands() without a name fails any command but authenticate; named, that one, authenticate too.
    if (failing !== undefined && failing.remaining > 0 && (failing.command === undefined ? !isAuthenticate : failing.command === command.command)) {
      failing.remaining -= 1;
      stats.failed += 1;
      fail(connection, command.commandId, failing.status, 'The gateway cannot carry out commands now (failCommands).');
      return;
    }
    if (isAuthenticate) {
      authenticate(connection, command);
      return;
    }
    if (command.command === 'startSession') {
      startSession(connection, command);
      return;
    }
    const known = new Set(['addSubscription', 'removeSubscription', 'getState']);
    if (!known.has(command.command)) {
      fail(connection, command.commandId, 400, `Unknown command "${command.command}".`);
      return;
    }
    const session = connection.session;
    if (session === undefined) {
      fail(connection, command.commandId, 400, 'No session on this connection: send startSession first.');
      return;
    }
    switch (command.command) {
      case 'addSubscription': {
        const filters = parseFilters(command.filters);
        if (filters === undefined) {
          closeMalformed(connection, 'filters must be a non-empty list of include/exclude filters');
          return;
        }
        const subscriptionId = randomUUID();
        session.subscriptions.set(subscriptionId, filters);
        respond(connection, command.commandId, 200, { subscriptionId });
        return;
      }
      case 'removeSubscription': {
        if (typeof command.subscriptionId !== 'string') {
          closeMalformed(connection, 'removeSubscription needs a subscriptionId');
          return;
        }
        if (session.subscriptions.delete(command.subscriptionId)) respond(connection, command.commandId, 200);
        else fail(connection, command.commandId, 404, `No subscription "${command.subscriptionId}" in this session.`);
        return;
      }
      default:
        getState(connection, session, command.commandId);
    }
  };

  const onConnection = (ws: WebSocket, authenticated: boolean): void => {
    const connection: Connection = {
      ws,
      authenticated,
      session: undefined,
      stalled: false,
      inFlight: 0,
      flushScheduled: false,
      commandIds: new Set(),
      authTimer: undefined,
      busy: 0,
      heldPings: [],
    };
    connections.add(connection);
    stats.connections = connections.size;
    stats.connectionsTotal += 1;
    if (!authenticated) {
      connection.authTimer = setTimeout(() => {
        if (!connection.authenticated) connection.ws.close(1008, 'authentication timed out');
      }, authenticateTimeoutMs);
      connection.authTimer.unref();
    }
    ws.on('error', () => undefined);
    ws.on('ping', (data: Buffer) => {
      if (connection.busy > 0) connection.heldPings.push(data);
      else pong(connection, data);
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (connection.stalled) return;
      if (isBinary) {
        closeMalformed(connection, 'binary frame');
        return;
      }
      let message: unknown;
      try {
        message = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8'));
      } catch {
        closeMalformed(connection, 'not JSON');
        return;
      }
      handleCommand(connection, message);
    });
    ws.on('close', () => {
      connections.delete(connection);
      stats.connections = connections.size;
      if (connection.authTimer !== undefined) clearTimeout(connection.authTimer);
      const session = connection.session;
      connection.session = undefined;
      if (session?.connection === connection) detach(session);
    });
  };

  const publish = (events: readonly Record<string, unknown>[]): void => {
    const published = events.map(normalize);
    stats.eventsPublished += published.length;
    for (const event of published) {
      if (event.stateKey !== undefined) states.set(event.stateKey, event);
    }
    for (const session of sessions.values()) {
      if (session.subscriptions.size === 0) continue;
      let added = false;
      for (const event of published) {
        if (!sessionMatches(session, event.target)) continue;
        session.log.append(event);
        added = true;
      }
      if (!added) continue;
      if (session.connection === undefined) session.log.trimToLimit();
      else scheduleFlush(session.connection);
    }
  };

  let generatorTimer: NodeJS.Timeout | undefined;
  if (generatorOptions !== undefined) {
    generatorTimer = setInterval(() => {
      publish(generator.next(generatorBatchSize));
    }, generatorIntervalMs);
    generatorTimer.unref();
  }

  return {
    get stats() {
      return { ...stats };
    },
    handles: (pathname) => pathname === eventsPath || pathname === `${eventsPath}/`,
    handle: (_request: IncomingMessage, response: ServerResponse) => {
      response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end('Upgrade Required: this is a WebSocket endpoint.');
    },
    upgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (refusal !== undefined) {
        const { status, retryAfterSeconds } = refusal;
        refusal.remaining -= 1;
        if (refusal.remaining <= 0) refusal = undefined;
        stats.refused += 1;
        refuse(socket, status, retryAfterSeconds > 0 ? { 'Retry-After': String(retryAfterSeconds) } : {});
        return;
      }
      const header = request.headers.authorization;
      let authenticated = false;
      if (header !== undefined) {
        const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
        if (token === undefined || dependencies.verifyAccessToken(token) === undefined) {
          stats.unauthorized += 1;
          refuse(socket, 401, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
          return;
        }
        authenticated = true;
      } else if (request.headers.origin === undefined) {
        // Browsers always send Origin and cannot set Authorization: they authenticate by command.
        stats.unauthorized += 1;
        refuse(socket, 401, { 'WWW-Authenticate': 'Bearer' });
        return;
      }
      server.handleUpgrade(request, socket, head, (ws) => {
        onConnection(ws, authenticated);
      });
    },
    publish: (given) => {
      publish(Array.isArray(given) ? given : [given as Record<string, unknown>]);
    },
    generate: (count) => {
      for (let left = checkCount("generate()'s count", count, false, maxGenerated); left > 0; left -= generateChunk) {
        publish(generator.next(Math.min(left, generateChunk)));
      }
    },
    dropConnections: () => {
      for (const connection of connections) connection.ws.terminate();
    },
    stallConnections: () => {
      for (const connection of connections) {
        connection.stalled = true;
        connection.ws.pause();
      }
    },
    closeConnections: (code, reason = '') => {
      // Checked here, connected or not: ws throws for these only with a connection to close.
      if (!(Number.isInteger(code) && ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)))) {
        throw new RangeError('closeConnections code must be a close code a server may send: 1000-1014 but 1004-1006, or 3000-4999.');
      }
      if (typeof reason !== 'string' || Buffer.byteLength(reason) > 123) throw new RangeError('closeConnections reason must be a string of at most 123 bytes (UTF-8).');
      for (const connection of connections) connection.ws.close(code, reason);
    },
    sendRaw: (frame) => {
      for (const connection of connections) send(connection, frame);
    },
    refuseUpgrades: (refuseOptions = {}) => {
      const status = checkStatus('status', refuseOptions.status ?? 503, 400);
      // Given, sent with any status (a 429 that says when to come back); by default with a 503 only.
      const retryAfterSeconds = refuseOptions.retryAfterSeconds ?? (status === 503 ? 1 : 0);
      if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) {
        throw new RangeError(`retryAfterSeconds must be a whole number of 0 or more, not ${retryAfterSeconds}.`);
      }
      refusal = {
        status,
        remaining: checkCount('count', refuseOptions.count ?? Number.POSITIVE_INFINITY, true),
        retryAfterSeconds,
      };
    },
    acceptUpgrades: () => {
      refusal = undefined;
    },
    failCommands: (failOptions = {}) => {
      // The protocol's names, exactly as sent: another (getstate) would never match, and the test relying on it pass for the wrong reason.
      const { command } = failOptions;
      if (command != null && !ESS_COMMANDS.includes(command)) {
        throw new TypeError(`failCommands() command must be one of ${ESS_COMMANDS.join(', ')}, not ${JSON.stringify(command).slice(0, 40)}.`);
      }
      failing = {
        command: command ?? undefined,
        status: checkStatus('status', failOptions.status ?? 503, 400),
        remaining: checkCount('count', failOptions.count ?? 1),
      };
    },
    setGetStateDelay: (ms) => {
      getStateDelayMs = checkDelay('setGetStateDelay', ms);
    },
    expireSessions: () => {
      for (const session of [...sessions.values()]) {
        const connection = session.connection;
        // A socket closing (dropConnections() just now, say) counts as gone: its close event comes later.
        if (connection !== undefined && connection.ws.readyState < WebSocket.CLOSING) continue;
        if (connection !== undefined) connection.session = undefined;
        forget(session);
      }
    },
    close: async () => {
      if (generatorTimer !== undefined) clearInterval(generatorTimer);
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const session of sessions.values()) {
        if (session.expiry !== undefined) clearTimeout(session.expiry);
      }
      sessions.clear();
      stats.sessions = 0;
      for (const connection of connections) connection.ws.terminate();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
