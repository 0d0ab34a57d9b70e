import { isAscii } from 'node:buffer';
import { type Logger, silentLogger } from '@sessionkit/logger';
import type { TokenStore } from '@sessionkit/token-store';
import type * as Ws from 'ws';
import type { ClientOptions, RawData, WebSocket } from 'ws';
import { backoffDelay } from './backoff.js';
import { invalid, isRecord, toWireFilters, type WireFilter } from './commands.js';
import { closeError, EssError } from './ess-error.js';
import { type Batch, EventStream, type OverflowPolicy, type StreamOwner } from './event-stream.js';
import { type DedupeMode, RecentIds } from './recent-ids.js';
import { type RememberedSubscription, type ResumeRecord, ResumeWriter } from './resume-store.js';
import { isStateful, StateCache } from './state-cache.js';
import type {
  ConnectionState,
  EssClientEvents,
  EssEvent,
  EssFilter,
  EssState,
  EssStateChange,
} from './types.js';

/** What an `auth` object's `getToken()` resolves to: a core-session `Token` is one. */
export interface EssToken {
  readonly value: string;
  /** The authorization scheme. @default 'Bearer' */
  readonly type?: string | undefined;
}

/**
 * What the client uses of a `Session` (`@sessionkit/core-session`): a valid token before
 * every connect, and `invalidate`, when there is one, after a 401. Pass the Session itself, or
 * an object of your own with `getToken()`.
 */
export interface EssSession {
  getToken(): Promise<EssToken>;
  /**
   * Called with the token `getToken()` resolved to, after the gateway refused it. (Typed `never`
   * so that a Session's `invalidate` and one of your own, taking your token's type, both fit.)
   */
  invalidate?(token: never): void;
}

/** How the client reconnects. */
export interface ReconnectOptions {
  /** Ceiling of the first reconnect delay; each failed attempt doubles it (full jitter). @default 500 */
  initialDelayMs?: number | undefined;
  /** Cap of the delay once the resume window has passed. @default 30000 */
  maxDelayMs?: number | undefined;
  /** The gateway's resume window, counted from the loss of the connection. @default 30000 */
  resumeWindowMs?: number | undefined;
  /** Cap of the delay while the resume window is still open, so several attempts land inside it. @default 5000 */
  windowMaxDelayMs?: number | undefined;
  /**
   * Retries after a failed attempt: the client halts with RETRIES_EXHAUSTED at failed attempt
   * `maxRetries + 1` in a row (a lost connection is not counted, its failed reconnect attempts are).
   * @default Infinity
   */
  maxRetries?: number | undefined;
  /**
   * Whether to try again after `error` (`attempt` counts failures in a row, from 1). Asked after
   * every failure and every loss, except the loss of the connection a `reconnect()` call ends.
   * @default (error) => error.retryable
   */
  shouldReconnect?: ((error: EssError, attempt: number) => boolean) | undefined;
}

/** Options of {@link EssClient}. */
export interface EssClientOptions {
  /** The events endpoint, such as `wss://gateway/api/ws/events/v1`; without a `#fragment` (ws refuses one). */
  url: string;
  /**
   * Where bearer tokens come from, before every connect: a `Session` or an object of your own
   * with `getToken()` (invalidated, when it has `invalidate()`, after a 401, or when Node refuses
   * its token as a header), or a function returning an access token (with or without the
   * `Bearer ` prefix). The whitespace around a token is dropped. A token function is bounded by
   * `connectTimeoutMs`; a Session or an object's `getToken()` is waited for past it, with a warning
   * (`close()` ends the wait).
   */
  auth: EssSession | (() => Promise<string>);
  /** Filters subscribed on every new session (the client restores them after a gap). */
  filters?: readonly EssFilter[] | undefined;
  /**
   * Where `{sessionId, lastEventId}` is saved after every delivered batch (once every consumer is
   * done with its last event), so a restarted process resumes.
   */
  resumeStore?: TokenStore | undefined;
  /** Key of the resume record in `resumeStore`. Give each consumer its own. @default `ess-client:${url}` */
  resumeKey?: string | undefined;
  /** Reconnect settings, or `false` to halt on the first failure. @default true */
  reconnect?: boolean | ReconnectOptions | undefined;
  /** Interval of WebSocket pings; 0 turns the heartbeat off. @default 30000 */
  heartbeatMs?: number | undefined;
  /** How long a ping may wait for its pong before the connection counts as dead; at least 1. @default 10000 */
  heartbeatTimeoutMs?: number | undefined;
  /** Timeout of startSession, addSubscription and removeSubscription; at least 1. @default 10000 */
  commandTimeoutMs?: number | undefined;
  /** Timeout of getState, which takes a minute or more on large systems; at least 1. @default 300000 */
  getStateTimeoutMs?: number | undefined;
  /**
   * Timeout of the WebSocket handshake, and of the wait for a token function's token (an attempt
   * it exceeds fails with a retryable AUTH_FAILED, tried again as `reconnect` says). A Session or
   * an object's `getToken()` is waited for past it, with a warning: it has its own bounds (a
   * Session's `attemptTimeoutMs`), and an attempt given up would ask it again. At least 1.
   * @default 10000
   */
  connectTimeoutMs?: number | undefined;
  /** Events buffered per `events()` iterator before the overflow policy applies. @default 1000 */
  highWaterMark?: number | undefined;
  /**
   * At the high-water mark: `pause` stops reading the socket until the buffer is down to half
   * (nothing is lost; the gateway buffers); `error` ends the iterator with OVERFLOW, and the
   * resume record then stops advancing (it never skips what that iterator missed) until the
   * client halts or is closed.
   * @default 'pause'
   */
  overflow?: OverflowPolicy | undefined;
  /** Largest accepted frame in bytes (a getState answer can be megabytes). @default 67108864 */
  maxPayload?: number | undefined;
  /**
   * Largest command frame sent, in bytes (UTF-8): a larger one (a `subscribe()` with very long
   * filters) is refused before sending, INVALID_COMMAND, as a gateway closes the connection (1009)
   * for a frame over its own limit. The default is the sandbox's limit (the protocol's documentation
   * names none); `Infinity` sends any. @default 1048576
   */
  maxCommandBytes?: number | undefined;
  /** How many recent event ids are remembered to drop duplicates: a number from 0 to 16777216, rounded down, at least 1. @default 10000 */
  dedupeCapacity?: number | undefined;
  /**
   * When ids are checked for duplicates: `always` checks every event against the last
   * `dedupeCapacity` ids; `after-reconnect` checks only the first `dedupeCapacity` events of each
   * connection (where a replay after a resume repeats events), which costs almost nothing in
   * the steady state but trusts the gateway not to repeat an id within one connection.
   * @default 'always'
   */
  dedupe?: DedupeMode | undefined;
  /** Fetch state (getState) by itself after every new session. @default true */
  fetchState?: boolean | undefined;
  /** Extra trusted CA certificates (PEM) for `wss://`, such as the sandbox's self-signed one. */
  ca?: string | readonly string[] | undefined;
  /** @default silentLogger */
  logger?: Logger | undefined;
}

/** Counters of one client. */
export interface EssClientStats {
  /** Events accepted (after dropping duplicates). */
  events: number;
  /** Duplicate events dropped. */
  duplicates: number;
  /** Connections that reached `online`. */
  connections: number;
  /** Sessions resumed (status 200). */
  resumes: number;
  /** Gaps reported. */
  gaps: number;
}

type Frame = Record<string, unknown>;

interface Pending {
  readonly command: string;
  readonly resolve: (frame: Frame) => void;
  readonly reject: (error: EssError) => void;
  readonly timer: NodeJS.Timeout;
  /** Takes in a success answer as it is routed, before any later frame (or the answer's own events); a throw rejects. */
  readonly answered?: ((frame: Frame) => void) | undefined;
}

interface Credential {
  readonly header: string;
  /** Drops a Session's (or an auth object's) token (a token function's cannot be dropped). */
  invalidate?: () => void;
}

interface Waiter {
  resolve(): void;
  reject(error: EssError): void;
}

/** One WebSocket connection and what belongs to it alone. */
class Connection {
  // Short property names: unlike #private ones, they are kept whole in the minified bundle.
  // Declared only (no field definitions in the bundle): set by the constructor, or later.
  declare readonly ws: WebSocket;
  readonly pending = new Map<number, Pending>();
  declare readonly opened: Promise<void>;
  declare readonly ended: Promise<EssError>;
  /** The next command's commandId. */
  nextId = 1;
  /** getState commands waiting for their answer (the heartbeat deadline is off meanwhile). */
  loading = 0;
  paused = false;
  /** Why the client itself ended this connection (heartbeat), overriding the close code. */
  declare error: EssError | undefined;
  /** The heartbeat's ping interval. */
  declare timer: NodeJS.Timeout | undefined;
  /** The deadline of the pong to the last ping, while it is awaited. */
  declare pong: NodeJS.Timeout | undefined;
  /** Set once startSession has answered (the session is established). */
  started = false;
  /**
   * Ended by reconnect(): its loss reconnects at once, without asking shouldReconnect. Kept on the
   * connection, so it never applies to the loss of another one (after a close() came first, say).
   */
  declare forced: boolean | undefined;
  /** Command ids of addSubscriptions that timed out: a late answer names a subscription to remove. */
  readonly timedOut = new Set<number>();
  #ended!: (error: EssError) => void;

  constructor(ws: WebSocket) {
    this.ws = ws;
    this.ended = new Promise((resolve) => {
      this.#ended = resolve;
    });
    // A promise settles once: whichever of these comes first decides.
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (_request, response) => {
        const status = response.statusCode ?? 0;
        response.resume();
        const retryAfterMs = Number(response.headers['retry-after']) * 1000;
        reject(
          status === 401
            ? new EssError('UNAUTHORIZED', 'The gateway refused the token (401).', { status })
            : new EssError('HANDSHAKE_FAILED', `The gateway answered HTTP ${status}.`, {
                status,
                retryable: retryableStatus(status),
                retryAfterMs: retryAfterMs > 0 && retryAfterMs < Infinity ? retryAfterMs : undefined,
              }),
        );
        ws.terminate();
      });
      ws.on('error', (error: Error & { code?: string }) => {
        // ws refused a frame of the gateway's (WS_ERR_…: over maxPayload, or malformed: invalid UTF-8,
        // RSV1 without compression, a close code 999, ...) and drops the connection: the close that
        // follows (1009 for the size; 1006, as ws stops reading, for the others) is reported with
        // ws's error as its cause, saying what happened (a plain 1006 looked like a network drop).
        if (error.code?.startsWith('WS_ERR_')) {
          this.error ??= closeError(error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 1009 : 1006, '', error);
        }
        // A certificate or TLS error (the codes http-client never retries) would come again at every
        // attempt: not retryable, so the client halts (as for a refused token) instead of retrying for ever.
        // The pattern of core-session's isCertificateError, written here: ess-client loads nothing of
        // core-session at run time (it uses its types only).
        // A wss:// URL to a port that answers without TLS (a ws:// gateway, a plain HTTP server) would
        // come again too, and is no certificate error (its message says what to check): OpenSSL reads
        // the HTTP answer as a TLS record of a wrong version (or, in some versions, length). A TLS
        // socket says so in its code (ERR_SSL_WRONG_VERSION_NUMBER, ERR_SSL_PACKET_LENGTH_TOO_LONG);
        // ws's request, whose write fails first, only in its message: "write EPROTO ...:wrong version
        // number:..." (Node 20, 22 and 24), a code that was retried for ever.
        const code = error.code ?? '';
        const plain = /wrong.version|packet.length/i.test(code + error.message);
        const tls = plain || /^(ERR_(TLS|SSL)_|CERT_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|UNABLE_TO_)/.test(code);
        reject(
          new EssError(
            'CONNECTION_FAILED',
            `Could not connect: ${error.message}${tls ? (plain ? "; no TLS on that port (a ws:// server?): check the URL's scheme and port" : '; certificate not trusted or not valid: pass the ca option or fix it') : ''}`,
            {
              cause: error,
              retryable: !tls,
            },
          ),
        );
      });
      ws.once('close', () => {
        reject(new EssError('CONNECTION_FAILED', 'Connection closed during the handshake.', { retryable: true }));
      });
    });
  }

  end(error: EssError): void {
    clearInterval(this.timer);
    clearTimeout(this.pong);
    for (const [, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(
        error.code === 'CLOSED'
          ? error
          : new EssError('CONNECTION_LOST', `Connection lost before "${pending.command}" was answered.`, { cause: error, retryable: true }),
      );
    }
    this.pending.clear();
    this.#ended(error);
  }

  /** Something arrived: the connection is alive. */
  alive(): void {
    clearTimeout(this.pong);
    this.pong = undefined;
  }
}

type Reconnect = Required<{ [K in keyof ReconnectOptions]: Exclude<ReconnectOptions[K], undefined> }>;

type Settings = Required<{
  [K in
    | 'heartbeatMs'
    | 'heartbeatTimeoutMs'
    | 'commandTimeoutMs'
    | 'getStateTimeoutMs'
    | 'connectTimeoutMs'
    | 'highWaterMark'
    | 'overflow'
    | 'maxPayload'
    | 'maxCommandBytes'
    | 'dedupe'
    | 'fetchState'
    | 'resumeKey']: Exclude<EssClientOptions[K], undefined>;
}> & Pick<EssClientOptions, 'ca'>;

/** The values a string option may take: the first is its default. */
const choices: Record<string, readonly string[] | undefined> = { overflow: ['pause', 'error'], dedupe: ['always', 'after-reconnect'] };

/**
 * What the value of option `key` must be, when `value` is not that (undefined when it is), `type`
 * being its default's (checked at run time for callers without types: `'10s'` for a time, `'no'`
 * for fetchState; a number's `>=` took `'10000'`): one of its `choices`; a number at least 0 (not
 * NaN), a timeout (`…TimeoutMs`) at least 1 (0 would time out at once: a heartbeat's, every healthy
 * connection), and a timer's time (`…Ms`, but not `resumeWindowMs`, only compared with elapsed
 * time) at most 2147483647, the longest timer Node keeps (a longer one, Infinity too, would fire at
 * once); `ca` (the one without a default) PEM as tls takes it; `resumeKey` a store key; else a value
 * of its default's type.
 */
function wanted(key: string, value: unknown, type: string): string | undefined {
  const allowed = choices[key];
  if (allowed) return allowed.includes(value as string) ? undefined : `"${allowed.join('" or "')}"`;
  if (type === 'number') {
    const min = key.endsWith('TimeoutMs') ? 1 : 0;
    // maxPayload too: ws reads it as a 32-bit integer (2 ** 32 + 10 was a limit of 10 bytes).
    const bounded = /(?<!Window)Ms$|Payload/.test(key);
    return typeof value === 'number' && value >= min && (value <= 2147483647 || !bounded) ? undefined : `a number from ${min}${bounded ? ' to 2147483647' : ''}`;
  }
  // What a store takes as a key: an empty one was refused at every save and read, logged at warn
  // only, so a restarted process never resumed.
  if (key === 'resumeKey') return typeof value === 'string' && value && !/[\0\p{Cs}]/u.test(value) ? undefined : 'a non-empty string without NUL or lone surrogates';
  if (type === 'undefined') {
    // With PEM's header: a file's path for its contents (NODE_EXTRA_CA_CERTS takes a path) is text
    // Node's TLS skips, so nothing was trusted and every connect failed as untrusted, told to pass ca.
    return value === undefined || [value].flat().every((pem) => (typeof pem === 'string' ? pem : ArrayBuffer.isView(pem) ? Buffer.from(pem.buffer, pem.byteOffset, pem.byteLength) : undefined)?.includes('-----BEGIN')) ? undefined : 'PEM text (-----BEGIN CERTIFICATE-----), a string or an array of them, not a file path';
  }
  return typeof value === type ? undefined : `a ${type}`;
}

/**
 * `defaults` with each value `given` holds instead (as `??`: undefined or null takes the default),
 * checked by {@link wanted}: else `INVALID_COMMAND`, which names what is allowed, never the value
 * (it may be a secret).
 */
function withDefaults<T extends object>(given: { [K in keyof T]?: T[K] | undefined }, defaults: T): T {
  const result = {} as T;
  for (const key in defaults) {
    const problem = wanted(key, (result[key] = given[key] ?? defaults[key]), typeof defaults[key]);
    if (problem) throw invalid(`${key} must be ${problem}.`);
  }
  return result;
}

const reconnectDefaults: Reconnect = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  resumeWindowMs: 30_000,
  windowMaxDelayMs: 5_000,
  maxRetries: Infinity,
  shouldReconnect: (error) => error.retryable,
};

const filtersSubscriptionId = 'filters';

/** What makes filters equal: each as sent, but for the order within its lists. */
const filterKey = (filters: readonly WireFilter[]): string =>
  JSON.stringify(filters, (key, value: unknown) => (key && Array.isArray(value) ? [...(value as string[])].sort() : value));

/**
 * A number, or a string of digits as that number (a gateway that quotes a `status` or a `commandId`:
 * `"201"`); else undefined. For answers only: an events frame has no commandId.
 */
const numeric = (value: unknown): number | undefined => (typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,15}$/.test(value) ? +value : undefined);

/**
 * Whether `item` is an event, one of a batch or a getState's state: an object whose id is a
 * non-empty string. An empty id is none: as the resume point, eventId "" would start a new session.
 */
const isEvent = (item: unknown): item is EssEvent => isRecord(item) && typeof item.id === 'string' && !!item.id;

/** The errors #credential() makes itself (an auth that hands out no token), whose messages say what it must hand out. */
const ownAuthErrors = new WeakSet<Error>();
const ownAuthError = (message: string): Error => {
  const error = Object.assign(new TypeError(message), { code: 'CONFIGURATION' });
  ownAuthErrors.add(error);
  return error;
};

/** Whether a status refusing an upgrade or a command may pass: a server error, 429 or 408. */
const retryableStatus = (status: number): boolean => status >= 500 || status === 429 || status === 408;

// ws is loaded by the first connect(), not with this package: it was more than half of the
// package's cold-import time.
let wsModule: Promise<typeof Ws> | undefined;

/**
 * A client of the Events and State WebSocket API: one session kept across reconnects,
 * subscriptions, state, and every event delivered once and in order, or a `gap` reported.
 *
 * @example
 * const ess = new EssClient({
 *   url: 'wss://gateway.example.com/api/ws/events/v1',
 *   auth: session,
 *   filters: [{ modifier: 'include', resourceTypes: ['cameras'] }],
 *   resumeStore: new FileStore(),
 * });
 * ess.on('gap', (gap) => logger.warn('events may have been lost', { ...gap }));
 * await ess.connect();
 * for await (const event of ess.events()) handle(event);
 */
export class EssClient {
  readonly #url: string;
  readonly #auth: EssSession | (() => Promise<string>);
  readonly #logger: Logger;
  readonly #reconnect: Reconnect | undefined;
  /** The options with their defaults filled in. */
  readonly #options: Settings;
  readonly #writer: ResumeWriter | undefined;

  readonly #recent: RecentIds;
  /** The id of the event an 'event' listener closed the client at while iterators were open: owed to them. */
  #owed: string | undefined;
  readonly #cache = new StateCache();
  readonly #subscriptions = new Map<string, RememberedSubscription>();
  /** Subscriptions restored from the resume record that no subscribe() of this process has claimed. */
  readonly #unclaimed = new Set<RememberedSubscription>();
  /** Server ids to remove once a session is resumed (unsubscribed while offline); saved in the resume record. */
  readonly #removals = new Set<string>();
  /**
   * The answers of the removals in flight, by server id: a second removal of one joins the first.
   * Emptied before another connection sends any: a lost connection's answers fail as it closes.
   */
  readonly #removing = new Map<string, Promise<Frame>>();
  #streams: EventStream[] = [];
  readonly #streamOwner: StreamOwner;
  readonly #listeners: { [K in keyof EssClientEvents]: Set<EssClientEvents[K]> } = {
    event: new Set(),
    gap: new Set(),
    state: new Set(),
    connection: new Set(),
  };
  readonly #stats: EssClientStats = { events: 0, duplicates: 0, connections: 0, resumes: 0, gaps: 0 };

  #state: ConnectionState = 'offline';
  #sessionId: string | undefined;
  #lastEventId: string | undefined;
  #connection: Connection | undefined;
  #opening: Connection | undefined;
  #running: Promise<void> | undefined;
  #restored = false;
  /**
   * Set (1) by close(), cleared (0) by connect(). A number, not a boolean: TypeScript does not
   * narrow it, so it is read again after an await or a listener (close() may change it meanwhile).
   */
  #closed = 0;
  #haltError: EssError | undefined;
  #closing: Promise<void> | undefined;
  /** A new session whose state has not been fetched yet: cleared once a getState succeeds. */
  #needsState = false;
  /**
   * addSubscriptions of this session sent and not answered with an id: the gateway may hold a
   * subscription the client cannot name (no command lists them), so while not 0 the session is
   * not to be resumed. The next connection starts a new one; the record is saved without its last
   * event. Only one that timed out may still be answered (late, on its connection: see #onFrame),
   * which makes one fewer: its subscription is named and queued for removal, or it was refused.
   */
  #abandoned = 0;
  /** addSubscription commands about to be sent (their record write pending): the record lacks its last event meanwhile. */
  #marking = 0;
  #onlineWaiters: Waiter[] = [];
  /**
   * Ends the run's backoff wait early (close(), reconnect()). Set by a reconnect() that came
   * while no wait was running (from shouldReconnect, a 'delayed' listener or during an attempt):
   * then the next wait is skipped.
   */
  #wake: (() => void) | undefined;
  /** Ends the wait for a token of the run (with no token): close() calls it. */
  #stopAuth: ((none?: undefined) => void) | undefined;
  #nextSubscriptionNumber = 1;
  /** The last event handed to every consumer: what the resume record holds. */
  #delivered: string | undefined;
  /** Batches made, and the `seq` of the last one saved: the record never moves back. */
  #batches = 0;
  #savedSeq = 0;
  /** The getState() that calls made while not online share. */
  #stateWaited: Promise<EssState[]> | undefined;
  /**
   * Iterators that threw OVERFLOW and that their consumers have not let go of, since the last
   * connect() from offline or halted: while there are any, the batches made are never saved.
   */
  #overflowed = new WeakSet<EventStream>();
  #overflowCount = 0;
  /**
   * An iterator made for the events that came while connecting with no iterator open (`event`
   * listeners get them too), so that `await connect()` and then `events()` misses nothing, a
   * resume's replay included: the next `events()` call returns it. Let go (the record goes on)
   * when no call took it right after the client went online; dropped by close(). While it is
   * set, it is the only one of `#streams`.
   */
  #held: EventStream | undefined;

  constructor(options: EssClientOptions) {
    // Checked at run time for callers without types: `options.url` threw "Cannot read properties of undefined".
    if (!isRecord(options)) throw new TypeError('EssClient needs an options object, with url and auth.');
    // A URL ws cannot parse or refuses (a fragment; an empty one, a trailing `#`, it takes) is
    // refused here: ws would throw at every connect, its error showing the URL whole, credentials included.
    if (typeof options.url !== 'string' || !/^wss?:[^#]*#?$/i.test(options.url) || !URL.canParse(options.url)) {
      throw invalid('EssClient needs a ws:// or wss:// url.');
    }
    // Checked at run time for callers without types.
    if (typeof options.auth !== 'function' && typeof (options.auth as Partial<EssSession> | null)?.getToken !== 'function') {
      throw invalid('EssClient needs auth: a Session or a token function.');
    }
    this.#url = options.url;
    this.#auth = options.auth;
    const logger: Partial<Logger> = options.logger ?? silentLogger;
    if (typeof logger.child !== 'function') throw invalid('logger must be a Logger of @sessionkit/logger (createLogger() or adaptLogger()).');
    this.#logger = logger.child({ component: 'ess-client' });
    // An object: its settings over the defaults; true, undefined or null: the defaults.
    const reconnect = options.reconnect ?? true;
    if (typeof reconnect !== 'boolean' && !isRecord(reconnect)) throw invalid('reconnect must be true, false or an object.');
    this.#reconnect = reconnect === false ? undefined : withDefaults<Reconnect>(isRecord(reconnect) ? reconnect : {}, reconnectDefaults);
    this.#options = withDefaults<Settings>(options, {
      heartbeatMs: 30_000,
      heartbeatTimeoutMs: 10_000,
      commandTimeoutMs: 10_000,
      getStateTimeoutMs: 300_000,
      connectTimeoutMs: 10_000,
      highWaterMark: 1000,
      overflow: 'pause',
      maxPayload: 2 ** 26,
      maxCommandBytes: 2 ** 20,
      dedupe: 'always',
      fetchState: true,
      // None: the system's CAs.
      ca: undefined,
      resumeKey: `ess-client:${options.url}`,
    });
    const dedupeCapacity = options.dedupeCapacity ?? 10_000;
    // Rounded down, at least 1 (RecentIds). Its table and ring take up to about 40 bytes per id (the
    // ids aside): about 640 MB at the largest. The ids it keeps are at most 128 characters each (a
    // longer one is kept as its digest): about 310 bytes per id in all, 3 MB at the default.
    if (!(typeof dedupeCapacity === 'number' && dedupeCapacity >= 0 && dedupeCapacity <= 2 ** 24)) throw invalid('dedupeCapacity must be a number from 0 to 16777216.');
    this.#recent = new RecentIds(dedupeCapacity, this.#options.dedupe);
    const store = options.resumeStore ?? undefined;
    // Checked at run time for callers without types: every read and save would fail, logged at warn only.
    if (store !== undefined && !(typeof store.get === 'function' && typeof store.set === 'function')) throw invalid('resumeStore must be a TokenStore (get and set).');
    this.#writer = store && new ResumeWriter(store, this.#options.resumeKey, this.#logger);
    if (options.filters != null) {
      this.#subscriptions.set(filtersSubscriptionId, { id: filtersSubscriptionId, serverId: undefined, filters: toWireFilters(options.filters) });
    }
    this.#streamOwner = {
      flowChanged: () => {
        this.#updateFlow();
      },
      batchTaken: (batch, taken = true) => {
        if (taken) batch.taken = true;
        // An older batch taken late (an iterator from before a close(), drained after a connect()) is not saved.
        if (--batch.remaining || !batch.taken || batch.heldBack || batch.sessionId !== this.#sessionId || batch.seq < this.#savedSeq) return;
        this.#savedSeq = batch.seq;
        // A batch is made only with a writer and a session (its own, as checked above).
        this.#delivered = batch.last.id;
        this.#saveRecord();
      },
      detach: (stream) => {
        this.#streams = this.#streams.filter((candidate) => candidate !== stream);
        // An overflowed iterator its consumer let go of (return(), or a break before the error)
        // holds the record back no longer, as any consumer that leaves.
        if (stream.left && this.#overflowed.delete(stream)) this.#overflowCount -= 1;
        this.#updateFlow();
      },
      overflowed: (stream) => {
        // The stream is let go, so that no later event costs anything for it (a consumer that
        // restarts its loop after each OVERFLOW left one per restart). Until its consumer lets go
        // of it too, the batches made from the one being read on are marked and never saved
        // (their events that consumer never got: a restart replays them), even taken late; the
        // batches before it still pass as it finishes them.
        this.#streamOwner.detach(stream);
        this.#overflowed.add(stream);
        this.#overflowCount += 1;
      },
    };
  }

  /** The gateway's id of the current session. */
  get sessionId(): string | undefined {
    return this.#sessionId;
  }

  /** Id of the last event received in the current session; the client resumes after it. */
  get lastEventId(): string | undefined {
    return this.#lastEventId;
  }

  /** `connecting`, `online`, `offline` (not started or closed), `delayed` (reconnecting) or `halted` (gave up). */
  get connectionState(): ConnectionState {
    return this.#state;
  }

  /** The state cache: the latest stateful event per source and state group. */
  get state(): readonly EssState[] {
    return this.#cache.snapshot();
  }

  /** Counters since construction. */
  get stats(): EssClientStats {
    return { ...this.#stats };
  }

  /**
   * Connect (resuming a stored session when there is one) and resolve once online. Rejects
   * with an {@link EssError} when the client halts (401 twice, retries exhausted, ...) or is closed.
   */
  connect(): Promise<void> {
    if (this.#closing) return this.#closing.then(() => this.connect());
    if (this.#state === 'online') return Promise.resolve();
    this.#closed = 0;
    const online = this.#whenOnline();
    if (!this.#running) {
      this.#haltError = undefined;
      // After a close() or a halt, which ended the iterators: an OVERFLOW holds the new batches back no longer.
      this.#overflowed = new WeakSet();
      this.#overflowCount = 0;
      const running: Promise<void> = this.#run().finally(() => {
        if (this.#running === running) this.#running = undefined;
      });
      this.#running = running;
    }
    return online;
  }

  /**
   * Reconnect now: from `halted` (retry counters start again), while `delayed` (skipping the
   * wait, also when called from `shouldReconnect` or a `connection` listener before the wait
   * begins), or when `online` (dropping the connection and resuming the session, without asking
   * `shouldReconnect`).
   */
  reconnect(): Promise<void> {
    // Not running (offline, halted, or closing: then after the close): as connect().
    if (this.#closing || !this.#running) return this.connect();
    const online = this.#whenOnline();
    if (this.#connection && this.#state === 'online') {
      this.#connection.forced = true;
      this.#connection.ws.terminate();
    } else {
      (this.#wake ??= () => undefined)();
    }
    return online;
  }

  /**
   * Close the connection and end every `events()` iterator. The resume record stays, so a
   * new client (or process) can resume the session within the window. The client is
   * `offline` from the call on; `connect()` meanwhile (from a listener of that change too)
   * waits for the close to finish. An iterator drained after close() still advances the
   * resume record: call close() again to wait for that write.
   */
  close(): Promise<void> {
    // A close() during a close runs after it, and after any connect() queued meanwhile.
    if (this.#closing) return this.#closing.then(() => this.close());
    const closing = (this.#closing = this.#close().finally(() => {
      this.#closing = undefined;
    }));
    // Once #closing is set: a connect() or reconnect() from a listener of this change waits for the close.
    this.#setState('offline');
    return closing;
  }

  async #close(): Promise<void> {
    this.#closed = 1;
    this.#haltError = undefined;
    this.#wake?.();
    this.#stopAuth?.();
    const closed = new EssError('CLOSED', 'The client was closed.');
    this.#endAll(closed);
    for (const connection of [this.#connection, this.#opening]) {
      if (!connection) continue;
      connection.end(closed);
      const { ws } = connection;
      if (ws.readyState === ws.CLOSED) continue;
      const gone = new Promise((resolve) => ws.once('close', resolve));
      // A paused socket (an iterator behind) would not read the gateway's answer to the close.
      ws.resume();
      if (ws.readyState === ws.OPEN) ws.close(1000);
      else ws.terminate();
      const timer = setTimeout(() => {
        ws.terminate();
      }, 1000);
      await gone;
      clearTimeout(timer);
    }
    await this.#running;
    await this.#writer?.flush();
  }

  /**
   * Iterate over events as they arrive, each once and in order. The buffer holds up to
   * `highWaterMark` events; see the `overflow` option. Ends when the client is closed and
   * throws the EssError when it halts; called after `close()` (before the next `connect()`), it
   * hands out the held events, if any, and ends. Called right
   * after `connect()` resolves, it is the iterator that held the events which came while
   * connecting with no iterator open (a resume's replay; see the README). Its consumer is
   * done with an event when it asks for the next one or leaves (the body of a `for await` loop
   * finished, or broke out): only then does the resume record pass the batch that event ended.
   *
   * @example
   * for await (const event of ess.events()) console.log(event.type, event.source);
   */
  events(): AsyncIterableIterator<EssEvent, undefined> {
    const held = this.#held;
    this.#held = undefined;
    // Held for this call, one of #streams already (its only one).
    const stream = held ?? new EventStream(this.#streamOwner, this.#options.highWaterMark, this.#options.overflow);
    // Halted (#haltError is set while halted only): it throws the error (a held one after its
    // events); closed: it ends (after the held events).
    if (this.#haltError || this.#closed) {
      stream.fail(this.#haltError);
      this.#streams = [];
    } else if (!held) this.#streams = [...this.#streams, stream];
    return stream;
  }

  /**
   * Add a subscription to the session; the client restores it after a gap. Resolves with an
   * id for {@link unsubscribe}, stable across reconnects. Waits for the connection when it is
   * not online. When the connection is lost before the answer, it rejects (CONNECTION_LOST) and
   * the session, which may hold that subscription under an id the client never learned, is not
   * resumed: the next connection starts a new one (a `gap`) without it. So too when it times out
   * (COMMAND_TIMEOUT), until its late answer comes: that subscription is then removed, and the
   * session is resumed again. In a restarted process,
   * filters equal to those of a subscription restored from the resume record (the order within
   * a list aside) get that subscription's id, once, instead of another subscription.
   */
  async subscribe(filters: readonly EssFilter[]): Promise<string> {
    const subscription: RememberedSubscription = { id: '', serverId: undefined, filters: toWireFilters(filters) };
    const connection = await this.#online();
    const key = filterKey(subscription.filters);
    for (const restored of this.#unclaimed) {
      // Not unsubscribed meanwhile (its id may have gone to another since).
      if (this.#subscriptions.get(restored.id) === restored && filterKey(restored.filters) === key) {
        this.#unclaimed.delete(restored);
        return restored.id;
      }
    }
    await this.#addOnServer(connection, subscription);
    // The next number not taken: a restarted process holds the restored ids already.
    do {
      subscription.id = `subscription-${this.#nextSubscriptionNumber++}`;
    } while (this.#subscriptions.has(subscription.id));
    this.#subscriptions.set(subscription.id, subscription);
    this.#saveRecord();
    return subscription.id;
  }

  /**
   * Remove a subscription made by {@link subscribe}. While offline, or when the connection is
   * lost (or close() is called) before the gateway answers, the removal is queued and sent once
   * the session is resumed, also by a restarted process (it is kept in the resume record), and
   * again by the next connection's resume while it is lost, unanswered (that attempt fails: the connection may be
   * dead) or refused with a retryable status (5xx but 501, 429, 408; the client still comes
   * online), also after close() and connect() again; a new session after a gap has
   * none of the old subscriptions anyway. One whose add is still in flight is removed
   * once added. When the gateway refuses this call's removal (COMMAND_FAILED; 404, gone already,
   * is no refusal), the subscription is kept, and unsubscribe() can be called again.
   */
  async unsubscribe(id: string): Promise<void> {
    const subscription = this.#subscriptions.get(id);
    if (!subscription || id === filtersSubscriptionId) {
      throw invalid(`No subscription "${id}" from subscribe().`);
    }
    this.#subscriptions.delete(id);
    const serverId = subscription.serverId;
    if (serverId !== undefined) this.#removals.add(serverId);
    this.#saveRecord();
    // Not established: sent by the next startSession.
    if (serverId !== undefined && this.#connection?.started) {
      try {
        await this.#remove(this.#connection, serverId, true);
      } catch (error) {
        // Refused: the gateway still holds it, so the client does too, and unsubscribe() can be tried again.
        this.#subscriptions.set(id, subscription);
        this.#saveRecord();
        throw error;
      }
    }
  }

  /**
   * Fetch the current state of everything the session's subscriptions match; it also
   * replaces the state cache. Uses `getStateTimeoutMs`, and the heartbeat deadline is off
   * while it is pending. Waits for the connection when it is not online; the calls made
   * meanwhile share one getState, sent once online (each gets an array of its own, of the same
   * states).
   */
  async getState(): Promise<EssState[]> {
    if (this.#state === 'online') return this.#loadState(await this.#online());
    // Not one command each, all sent at once (a poller that gave up on each call piled them up).
    // Shared until sent: a call after that waits for a command of its own.
    const shared = (this.#stateWaited ??= this.#online().then(
      (connection) => {
        this.#stateWaited = undefined;
        return this.#loadState(connection);
      },
      (error: unknown) => {
        this.#stateWaited = undefined;
        throw error;
      },
    ));
    return [...(await shared)];
  }

  /**
   * Listen to `event`, `gap`, `state` or `connection` (another name, or a listener that is not a
   * function: INVALID_COMMAND). A listener added or removed while an event is emitted takes effect
   * from the next one.
   */
  on<K extends keyof EssClientEvents>(name: K, listener: EssClientEvents[K]): this {
    const listeners = this.#copy(name);
    // Checked at run time for callers without types: every emit would fail to call it, logged at warn only.
    if (typeof listener !== 'function') throw invalid('A listener must be a function.');
    listeners.add(listener);
    return this;
  }

  /** Stop listening. */
  off<K extends keyof EssClientEvents>(name: K, listener: EssClientEvents[K]): this {
    this.#copy(name).delete(listener);
    return this;
  }

  /**
   * The listeners of `name`, copied and put in place of the set, to change: an emit goes through
   * the set there was when it began (copied on change, not on every emit).
   */
  #copy<K extends keyof EssClientEvents>(name: K): Set<EssClientEvents[K]> {
    if (!Object.hasOwn(this.#listeners, name)) {
      throw invalid(`No event ${JSON.stringify(name)}: event, gap, state or connection.`);
    }
    return ((this.#listeners as Record<K, Set<EssClientEvents[K]>>)[name] = new Set(this.#listeners[name]));
  }

  #emit<K extends keyof EssClientEvents>(name: K, payload: Parameters<EssClientEvents[K]>[0]): void {
    for (const listener of this.#listeners[name]) {
      try {
        (listener as (value: typeof payload) => void)(payload);
      } catch (error) {
        this.#logger.warn(`a "${name}" listener threw`, { error });
      }
    }
  }

  #setState(state: ConnectionState, error?: EssError): void {
    const previous = this.#state;
    if (previous === state && !error) return;
    this.#state = state;
    this.#emit('connection', { state, previous, ...(error && { error }) });
  }

  #whenOnline(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#onlineWaiters.push({ resolve, reject });
    });
  }

  /** Resolve the callers waiting for `online`, or reject them with `error`. */
  #settleWaiters(error?: EssError): void {
    const waiters = this.#onlineWaiters;
    this.#onlineWaiters = [];
    for (const waiter of waiters) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
  }

  /** End every iterator (after its buffer; with `error` when given) and reject the callers waiting for `online`. */
  #endAll(reason: EssError, error?: EssError): void {
    // Not the iterator held for the next events() call: that call hands out its events (and the
    // ones of a resumed session's connect(), which come after them), then ends or throws.
    const held = this.#held;
    for (const stream of this.#streams) if (stream !== held) stream.fail(error);
    this.#streams = held ? [held] : [];
    this.#settleWaiters(reason);
  }

  async #online(): Promise<Connection> {
    // Awaited before the checks, online too: a close() right after the call (before the caller
    // goes on) makes it CLOSED, with nothing sent.
    for (let online: Promise<void> | undefined; ; online = this.#whenOnline()) {
      await online;
      if (this.#closed || !this.#running) {
        throw this.#haltError ?? new EssError('CLOSED', 'Not connected: call connect() first.');
      }
      if (this.#connection && this.#state === 'online') return this.#connection;
    }
  }

  /**
   * Whether to try again after `error`, the `attempt`-th failure in a row (0 for the loss of
   * an open connection, which `maxRetries` does not count), `sinceLostMs` after the loss of the
   * last connection: the delay to wait first, at least the error's Retry-After (up to
   * `maxDelayMs`); or undefined after halting (also when `shouldReconnect` throws).
   */
  #retry(error: EssError, attempt: number, sinceLostMs: number): number | undefined {
    const settings = this.#reconnect;
    const tries = Math.max(1, attempt);
    let halt = error;
    try {
      if (settings?.shouldReconnect(error, tries)) {
        if (attempt <= settings.maxRetries) {
          return Math.max(backoffDelay(settings, tries - 1, sinceLostMs), Math.min(error.retryAfterMs ?? 0, settings.maxDelayMs));
        }
        halt = new EssError('RETRIES_EXHAUSTED', `Gave up after ${settings.maxRetries} retries: ${error.message}`, { cause: error });
      }
    } catch (caught) {
      halt = new EssError(error.code, 'shouldReconnect threw.', { cause: caught });
    }
    // Closed by shouldReconnect: the run ends, not halted.
    if (this.#closed) return;
    // No retry: halt.
    this.#logger.error('halted; call reconnect() to try again', { code: halt.code, status: halt.status, closeCode: halt.closeCode });
    this.#haltError = halt;
    // Buffered events are still handed out first: they were received, and a reconnect()
    // resumes after them.
    this.#endAll(halt, halt);
    // This run is over (#run returns on undefined): reconnect() starts a new one at once, even
    // from a listener of the 'halted' change below.
    this.#running = undefined;
    this.#setState('halted', halt);
    return undefined;
  }

  async #run(): Promise<void> {
    if (!this.#restored) {
      this.#restored = true;
      await this.#restore();
    }
    if (this.#closed) return;
    this.#setState(this.#state === 'offline' ? 'connecting' : 'delayed');
    let failures = 0;
    let tokenRetried = false;
    let lostAt = Date.now();
    let wait: number | undefined = 0;
    while (!this.#closed) {
      if (wait > 0 && !this.#wake) {
        this.#logger.debug('reconnecting after a delay', { delayMs: wait, attempt: failures + 1 });
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          timer = setTimeout((this.#wake = resolve), wait);
        });
        clearTimeout(timer);
        if (this.#closed) break;
      }
      wait = 0;
      this.#wake = undefined;
      let connection: Connection;
      let credential: Credential | undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        // close() ends the wait for a token (a token request may take long, or never end). So does
        // connectTimeoutMs for a token function, which would hold the attempt for ever. A Session
        // bounds its own wait (attemptTimeoutMs, 30 s by default, more than this one): failed here,
        // a slow token endpoint would halt a client that retries little. An object cannot be told
        // from a Session (nothing of core-session is loaded): it is waited for too, with a warning.
        credential = await new Promise<Credential | undefined>((resolve, reject) => {
          this.#stopAuth = resolve;
          this.#credential().then(resolve, reject);
          const ms = this.#options.connectTimeoutMs;
          timer = setTimeout(() => {
            if (typeof this.#auth === 'function') reject(new EssError('AUTH_FAILED', `The token function did not answer within connectTimeoutMs (${ms} ms).`, { retryable: true }));
            else this.#logger.warn('auth has not answered within connectTimeoutMs: still waiting', { connectTimeoutMs: ms });
          }, ms);
        }).finally(() => {
          clearTimeout(timer);
        });
        const { WebSocket } = await (wsModule ??= import('ws'));
        if (this.#closed || !credential) break;
        connection = await this.#open(credential, WebSocket);
      } catch (caught) {
        if (this.#closed) break;
        // An error not of the client's own comes back at every attempt: not retryable, so it halts, with it as the cause.
        const error = EssError.isInstance(caught) ? caught : new EssError('CONNECTION_FAILED', 'Connecting failed unexpectedly.', { cause: caught });
        // A 401, or a Session's (or auth object's) token that Node refuses as a header (a character beyond Latin-1): the
        // token is dropped and a fresh one tried at once, once until online or another failure. Not
        // twice in a row: a Session may hand out the same value (a token file's), which would retry
        // forever. A token function's refused token cannot be dropped: that halts at once.
        const code = (caught as { code?: unknown } | undefined)?.code;
        if (!tokenRetried && (error.code === 'UNAUTHORIZED' || (code === 'ERR_INVALID_CHAR' && credential?.invalidate))) {
          tokenRetried = true;
          credential?.invalidate?.();
          this.#logger.info('token refused: retrying with a fresh token', { code });
          continue;
        }
        // Another failure between (the gateway restarting again): a later 401 gets a fresh token too.
        if (error.code !== 'UNAUTHORIZED') tokenRetried = false;
        failures += 1;
        wait = this.#retry(error, failures, Date.now() - lostAt);
        if (wait === undefined) return;
        this.#logger.warn('connect attempt failed', { code: error.code, status: error.status, attempt: failures, nextDelayMs: wait });
        continue;
      }
      if (this.#closed) break;
      failures = 0;
      // A reconnect() during this attempt got what it asked for: no wait skipped after a later loss.
      this.#wake = undefined;
      tokenRetried = false;
      this.#stats.connections += 1;
      this.#setState('online');
      this.#settleWaiters();
      this.#updateFlow();
      const held = this.#held;
      // Not taken by an events() call right after connect() (or reconnect()) resolved: nobody
      // will take it. Let go: the record goes on, as without it.
      if (held) {
        setImmediate(() => {
          // Taken, or the client closed or halted meanwhile: then kept for the next events().
          if (this.#held !== held || this.#state !== 'online') return;
          this.#held = undefined;
          this.#logger.info('let go the held events: no events() call took them once online', { events: held.size });
          held.release(true);
        });
      }
      if (this.#needsState) void this.#fetchState(connection);
      const reason = await connection.ended;
      if (this.#closed) break;
      lostAt = Date.now();
      this.#logger.warn('connection lost', { code: reason.code, closeCode: reason.closeCode });
      // An automatic reconnect asks shouldReconnect; one that reconnect() asked for does not.
      if (!connection.forced) {
        wait = this.#retry(reason, 0, 0);
        // Also when shouldReconnect closed the client and still answered yes: not delayed.
        if (wait === undefined || this.#closed) return;
      }
      this.#setState('delayed', reason);
    }
  }

  async #restore(): Promise<void> {
    const record = await this.#writer?.read();
    if (!record) return;
    this.#sessionId = record.sessionId;
    this.#lastEventId = this.#delivered = record.lastEventId;
    // This process's state cache is empty, also when the session is resumed.
    this.#needsState = this.#options.fetchState;
    for (const serverId of record.removals) this.#removals.add(serverId);
    for (const subscription of record.subscriptions) {
      if (subscription.id === filtersSubscriptionId) {
        // The `filters` option decides: the stored filters subscription is kept only when the
        // option names the same filters; otherwise (other filters, or none) it is removed from the
        // resumed session, and the option's filters, if any, are added to it.
        const own = this.#subscriptions.get(filtersSubscriptionId);
        const serverId = subscription.serverId;
        if (own && filterKey(own.filters) === filterKey(subscription.filters)) own.serverId = serverId;
        else if (serverId !== undefined) this.#removals.add(serverId);
        continue;
      }
      this.#subscriptions.set(subscription.id, subscription);
      this.#unclaimed.add(subscription);
    }
    this.#logger.info('restored a resume record', { sessionId: record.sessionId, lastEventId: this.#lastEventId });
  }

  async #credential(): Promise<Credential> {
    const auth = this.#auth;
    try {
      const session = typeof auth === 'function' ? undefined : auth;
      // Read as it may come from plain JavaScript: an object's getToken() may hand out a string, say.
      const token = session && ((await session.getToken()) as EssToken | undefined);
      const value: unknown = session ? token?.value : await (auth as () => Promise<string>)();
      // Without the whitespace around it: a token read from a file ends with a newline.
      const trimmed = typeof value === 'string' ? value.trim() : '';
      // A configuration error, not worth retrying (AUTH_FAILED, not retryable: see below): a
      // function, or an object of the program's own, that hands out no token.
      if (!trimmed) {
        throw ownAuthError(session ? 'auth.getToken() must resolve to a token: { value: string, type?: string }' : 'auth() must resolve to a non-empty string');
      }
      // A function's token (an object's came with a token: it has a value).
      if (!session || !token) return { header: /^bearer\s/i.test(trimmed) ? trimmed : `Bearer ${trimmed}` };
      return {
        header: `${token.type ?? 'Bearer'} ${trimmed}`,
        // invalidate() gets the token as it came. An object without it just asks for a token again;
        // so does one whose invalidate() throws (the loop goes on: the next token decides).
        invalidate: () => {
          try {
            session.invalidate?.(token as never);
          } catch (error) {
            // As above; said, for the program's own object is at fault.
            this.#logger.warn('auth.invalidate() threw', { error: (error as Error | undefined)?.name });
          }
        },
      };
    } catch (error) {
      const { code, retryAfterMs } = isRecord(error) ? error : {};
      const known = typeof code === 'string';
      // What the program's own auth got wrong is said (never what it handed out); the message of an error it threw is not.
      throw new EssError('AUTH_FAILED', `Could not get a token${known ? ` (${code})` : ''}${ownAuthErrors.has(error as Error) ? `: ${(error as Error).message}` : ''}.`, {
        cause: error,
        // Not worth retrying: INVALID_CREDENTIALS, CONFIGURATION.
        retryable: !known || (code !== 'INVALID_CREDENTIALS' && code !== 'CONFIGURATION'),
        retryAfterMs: typeof retryAfterMs === 'number' ? retryAfterMs : undefined,
      });
    }
  }

  async #open(credential: Credential, WebSocket: typeof Ws.WebSocket): Promise<Connection> {
    const options: ClientOptions = {
      headers: { authorization: credential.header },
      maxPayload: this.#options.maxPayload,
      handshakeTimeout: this.#options.connectTimeoutMs,
      perMessageDeflate: false,
      // Written out, though ws 8 follows none by default: a redirect would take the token elsewhere.
      followRedirects: false,
      // ws and tls only read the list (none: tls takes an undefined ca as absent).
      ca: this.#options.ca as string | string[] | undefined,
    };
    const connection = new Connection(new WebSocket(this.#url, options));
    this.#opening = connection;
    connection.ws.on('message', (data: RawData) => {
      this.#onFrame(connection, data);
    });
    connection.ws.on('pong', () => {
      connection.alive();
    });
    connection.ws.once('close', (code: number, reason: Buffer) => {
      // Kept on the connection: an attempt it ends fails with it when it halts (below). Past the
      // set-up (#opening), the gateway's 1009 is retryable (closeError).
      connection.end((connection.error ??= closeError(code, reason.toString(), undefined, this.#opening !== connection)));
      if (this.#connection === connection) this.#connection = undefined;
    });
    try {
      await connection.opened;
      this.#connection = connection;
      this.#recent.guard();
      await this.#startSession(connection);
      // Lost meanwhile with no command in flight to fail (the new session's record being written,
      // with no subscription to add): not online on it, nor a heartbeat timer that nothing would
      // clear (it kept the process alive after close()).
      if (this.#connection !== connection) throw connection.error ?? new EssError('CONNECTION_LOST', 'The connection was lost while it was being set up.', { retryable: true });
      this.#startHeartbeat(connection);
      return connection;
    } catch (error) {
      connection.ws.terminate();
      if (this.#connection === connection) this.#connection = undefined;
      // Lost for a reason that halts once online (a frame over maxPayload, the gateway's 1008 or
      // 1009, ...): that reason, not the retryable CONNECTION_LOST of the command it cut short,
      // which was tried again for ever (a new gateway session each time, connect() never settling).
      const reason = connection.error;
      throw reason && !reason.retryable ? reason : error;
    } finally {
      this.#opening = undefined;
    }
  }

  async #startSession(connection: Connection): Promise<void> {
    const previousSessionId = this.#sessionId;
    const previousEventId = this.#lastEventId;
    const resume = previousSessionId !== undefined && previousEventId !== undefined && !this.#abandoned;
    // Set by the answer's handler below (as boolean: TypeScript cannot see the callback set it).
    let started = false as boolean;
    // Taken in as the answer is routed (#onFrame), not after this await: events a gateway sends right
    // behind a new session's answer (in the same read, or in the answer's frame) are handled after
    // it, so the reset of a new session (the held events, lastEventId) no longer drops them.
    await this.#command(
      connection,
      'startSession',
      { sessionId: resume ? previousSessionId : '', eventId: resume ? previousEventId : '' },
      undefined,
      (frame) => {
        // A resume's 200 need not name the session again; one that names another is not the session
        // asked for (the client cannot know what it holds): a new one.
        const resumed = resume && numeric(frame.status) === 200 && (!frame.sessionId || frame.sessionId === previousSessionId);
        const sessionId = resumed ? previousSessionId : frame.sessionId;
        if (typeof sessionId !== 'string' || !sessionId) {
          throw new EssError('PROTOCOL_ERROR', 'startSession was answered without a sessionId.');
        }
        connection.started = true;
        if (resumed) {
          this.#stats.resumes += 1;
          this.#logger.info('session resumed', { sessionId, lastEventId: previousEventId });
        } else {
          this.#sessionId = sessionId;
          this.#lastEventId = this.#delivered = this.#owed = undefined;
          // Events held from the old session are not handed out after the gap that reports their loss.
          void this.#held?.return();
          this.#held = undefined;
          this.#abandoned = 0;
          this.#removals.clear();
          for (const subscription of this.#subscriptions.values()) subscription.serverId = undefined;
          if (previousSessionId !== undefined) {
            this.#stats.gaps += 1;
            // Not the session ids, which the logger counts as secrets (the old one would show).
            this.#logger.warn('the session was not resumed: events may have been lost', { lastEventId: previousEventId });
            this.#emit('gap', { previousSessionId, sessionId, lastEventId: previousEventId });
          } else {
            this.#logger.info('session started', { sessionId });
          }
          this.#saveRecord();
          this.#needsState = this.#options.fetchState;
          started = true;
        }
      },
    );
    // A new session is in the resume record before it is subscribed to, and so before any of its
    // events (a gateway sends none before a subscription): a process killed at its first event
    // then restarts with a gap reported. Saved in the background, the record was not there yet,
    // and the restart started a new session as if for the first time: the events in between were
    // lost without a gap. One write per new session; a failed one is logged, as always.
    if (started) await this.#writer?.written();
    // A resumed session lacks only what was not added to it yet.
    for (const subscription of this.#subscriptions.values()) {
      if (subscription.serverId !== undefined) continue;
      const serverId = await this.#addOnServer(connection, subscription);
      // Unsubscribed while this add was in flight: removed below.
      if (!this.#subscriptions.has(subscription.id)) this.#removals.add(serverId);
    }
    // Saved first, so a removal lost with the connection stays in the record (a sent one listed
    // there until the next save is harmless: answered 404 next time). Sent together: one left
    // unanswered costs one commandTimeoutMs, however many are queued.
    this.#saveRecord();
    await Promise.all(Array.from(this.#removals, (serverId) => this.#remove(connection, serverId)));
  }

  async #addOnServer(connection: Connection, subscription: RememberedSubscription): Promise<string> {
    // Until it is answered the gateway may hold a subscription this client could not name: the
    // record says so, written before the add is sent (#marking), so that a process killed meanwhile
    // does not resume the session with it (it was saved only after a failure, which a killed
    // process never sees). Once sent, #abandoned keeps this process from resuming it too.
    if (!this.#marking++) this.#saveRecord();
    let sent = false;
    let unnamed = false;
    try {
      await this.#writer?.written();
      // Throws at once when nothing could be sent.
      const answer = this.#command(connection, 'addSubscription', { filters: subscription.filters });
      sent = unnamed = true;
      this.#abandoned += 1;
      const { subscriptionId } = await answer;
      if (typeof subscriptionId !== 'string') throw new EssError('PROTOCOL_ERROR', 'addSubscription was answered without a subscriptionId.');
      unnamed = false;
      return (subscription.serverId = subscriptionId);
    } catch (error) {
      // Refused: not added. Any other failure once sent (lost, unanswered): the gateway may have added it.
      if ((error as Partial<EssError> | undefined)?.code === 'COMMAND_FAILED') unnamed = false;
      throw error;
    } finally {
      this.#marking -= 1;
      if (sent && !unnamed) this.#abandoned -= 1;
      this.#saveRecord();
    }
  }

  /**
   * Send a queued removal. Lost, unanswered or refused with a retryable status (5xx but 501, 429,
   * 408), or cut short by close(), it stays queued, sent again when the next connection starts its
   * session (not again on this one). A refused one is logged at warn, and the connection still
   * comes online; a lost or unanswered one is thrown (that connection attempt fails: silence may
   * be a dead connection), unless `strict` (unsubscribe(), which resolves then, but throws a
   * refusal). Otherwise it is dequeued; a refusal other than 404 (gone already) is thrown when
   * `strict`, and logged at warn otherwise (sending it again would not help). One in flight is not
   * sent again: a second call (unsubscribe() while the set-up sends the queued ones) shares its
   * answer; a strict refusal dequeues it, as the subscription is kept.
   */
  async #remove(connection: Connection, serverId: string, strict?: boolean): Promise<void> {
    const removing = this.#removing;
    try {
      let answer = removing.get(serverId);
      if (!answer) removing.set(serverId, (answer = this.#command(connection, 'removeSubscription', { subscriptionId: serverId })));
      await answer;
      this.#removals.delete(serverId);
    } catch (error) {
      if (!EssError.isInstance(error)) throw error;
      const { code } = error;
      // Kept for the next connect() after close(); unsubscribe() resolves (the gateway may have
      // removed it already: kept, the client would list a subscription that is gone).
      if (code === 'CLOSED') return;
      // Lost, unanswered or refused for now: stays queued. unsubscribe() gets a refusal
      // (COMMAND_FAILED), even a retryable one: it keeps the subscription. A 501 would come again.
      const queued = error.retryable && !(code === 'COMMAND_FAILED' && (error.status === 501 || strict));
      if (queued) {
        if (strict) return;
        if (code !== 'COMMAND_FAILED') throw error;
      } else {
        this.#removals.delete(serverId);
        if (error.status === 404) return;
        if (strict) throw error;
      }
      // Queued still? A strict caller sharing this answer (unsubscribe()) may have dequeued it.
      this.#logger.warn('could not remove a subscription', { error, queued: this.#removals.has(serverId) });
    } finally {
      // Answered (the callers sharing it go on one after the other): a later removal of it is sent again.
      removing.delete(serverId);
    }
  }

  /**
   * The automatic getState of a new session: after a retryable failure (a 5xx answer; not a
   * timeout) tried again on the same connection with backoff, until it succeeds (or a getState() call
   * does) or the connection goes; the next connection tries again.
   */
  async #fetchState(connection: Connection): Promise<void> {
    for (let attempt = 0; this.#needsState && this.#connection === connection && !this.#closed; attempt += 1) {
      try {
        await this.#loadState(connection);
      } catch (error) {
        this.#logger.warn('the automatic getState failed', { error });
        // Not after a timeout: that getState would take as long again (its late answer is dropped).
        const { retryable, code } = error as Partial<EssError>;
        if (!retryable || code === 'COMMAND_TIMEOUT') return;
        // Up to maxDelayMs (as the resume window has passed), the reconnect option's or its default.
        // Unref'd: it is not cleared when the connection goes first.
        const delay = backoffDelay(this.#reconnect ?? reconnectDefaults, attempt, Infinity);
        await Promise.race([connection.ended, new Promise((resolve) => setTimeout(resolve, delay).unref())]);
      }
    }
  }

  async #loadState(connection: Connection): Promise<EssState[]> {
    const mark = this.#cache.mark();
    connection.loading += 1;
    let frame: Frame;
    try {
      frame = await this.#command(connection, 'getState', {}, this.#options.getStateTimeoutMs);
    } finally {
      connection.loading -= 1;
    }
    // Missing or null (as some serializers write an empty list): none. Anything else that is no array
    // is refused, as an addSubscription answered without its subscriptionId is, and the cache stays
    // as it was (it was read as none, and emptied the cache).
    if (frame.states != null && !Array.isArray(frame.states)) throw new EssError('PROTOCOL_ERROR', 'getState was answered with states that are no array.');
    // A state is taken as an event is, with an id (one with none, or "", was cached): not cached, not returned.
    const states = ((frame.states ?? []) as unknown[]).filter((item): item is EssState => isEvent(item) && isStateful(item));
    this.#cache.replace(states, mark);
    this.#needsState = false;
    this.#emit('state', { reason: 'snapshot', changed: this.#cache.snapshot() } satisfies EssStateChange);
    return states;
  }

  /** Send a command and wait for its answer. Throws at once (not sent) when the connection is not open. */
  #command(connection: Connection, command: string, fields: Frame, timeoutMs = this.#options.commandTimeoutMs, answered?: (frame: Frame) => void): Promise<Frame> {
    if (connection.ws.readyState !== connection.ws.OPEN) {
      throw new EssError('CONNECTION_LOST', `Cannot send "${command}": not connected.`, { retryable: true });
    }
    const commandId = connection.nextId++;
    const frame = JSON.stringify({ command, commandId, ...fields });
    // A frame over the gateway's limit makes it close the connection (1009), which every consumer
    // would lose: refused here, at once (nothing sent, the connection kept), naming the size and the
    // limit only (never what the frame holds).
    const bytes = Buffer.byteLength(frame);
    const max = this.#options.maxCommandBytes;
    if (bytes > max) throw invalid(`"${command}" is ${bytes} bytes, over maxCommandBytes (${max}): not sent.`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        connection.pending.delete(commandId);
        if (command === 'addSubscription') connection.timedOut.add(commandId);
        this.#updateFlow();
        reject(new EssError('COMMAND_TIMEOUT', `"${command}" was not answered within ${timeoutMs} ms.`, { retryable: true }));
      }, timeoutMs);
      connection.pending.set(commandId, { command, resolve, reject, timer, answered });
      connection.ws.send(frame);
      if (connection.paused) this.#updateFlow();
    });
  }

  #onFrame(connection: Connection, data: RawData): void {
    connection.alive();
    let frame: unknown;
    // With ws's default binaryType ('nodebuffer') every message is one Buffer. Buffer#toString
    // rather than a TextDecoder: JSON.parse was measured ~20% slower on a TextDecoder's strings.
    // An ASCII frame (the usual one) decodes as latin1, the same string: a plain copy, about
    // 20 ns per event less than decoding UTF-8.
    try {
      frame = JSON.parse(isAscii(data as Buffer) ? (data as Buffer).toString('latin1') : (data as Buffer).toString());
    } catch {
      // not JSON: ignored below, like any other frame that is not an object
    }
    if (!isRecord(frame)) {
      this.#logger.debug('ignored a frame: not a JSON object');
      return;
    }
    const events = frame.events;
    const commandId = numeric(frame.commandId);
    // The answer first, then the frame's events: those of a new session's answer are the new session's.
    if (commandId !== undefined) this.#onAnswer(connection, frame, commandId);
    if (Array.isArray(events)) this.#onEvents(events as unknown[]);
    else if (commandId === undefined) this.#logger.debug('ignored a frame: neither a response nor events', { keys: Object.keys(frame).slice(0, 10) });
  }

  #onAnswer(connection: Connection, frame: Frame, commandId: number): void {
    const pending = connection.pending.get(commandId);
    const status = numeric(frame.status) ?? 0;
    const ok = status >= 200 && status < 300;
    if (pending === undefined) {
      // A late answer to an addSubscription that timed out (subscribe() rejected): the gateway
      // added a subscription the client does not hold, queued for removal (or it refused the
      // add). Known again, it does not keep the session from being resumed (see #abandoned).
      const serverId = frame.subscriptionId;
      const named = typeof serverId === 'string';
      if (connection.timedOut.delete(commandId) && (named || !ok)) {
        if (named) {
          this.#removals.add(serverId);
          // Lost, or refused with a retryable status: left queued for the next connection.
          this.#remove(connection, serverId).catch(() => undefined);
        }
        this.#abandoned -= 1;
        this.#saveRecord();
      }
      this.#logger.debug('ignored a response to no pending command', { commandId });
      return;
    }
    connection.pending.delete(commandId);
    clearTimeout(pending.timer);
    if (!connection.pending.size) this.#updateFlow();
    if (ok) {
      try {
        pending.answered?.(frame);
        pending.resolve(frame);
      } catch (error) {
        pending.reject(error as EssError);
      }
      return;
    }
    const error = frame.error;
    const text = isRecord(error) && typeof error.errorText === 'string' ? error.errorText : 'no error text';
    // A server error (the gateway restarting, say) may pass: retryable, like one at upgrade.
    pending.reject(new EssError('COMMAND_FAILED', `"${pending.command}" failed with status ${status}: ${text}`, { status, retryable: retryableStatus(status) }));
  }

  #onEvents(list: readonly unknown[]): void {
    let last: EssEvent | undefined;
    let changed: EssState[] | undefined;
    let streams = this.#streams;
    let targets = streams;
    const listeners = this.#listeners.event.size > 0;
    const collectChanges = this.#listeners.state.size > 0;
    const recent = this.#recent;
    const cache = this.#cache;
    const stats = this.#stats;
    if (this.#closed) return;
    // Connecting, with no iterator (a resume's replay before connect() resolves): held for the next
    // events(), whether or not 'event' listeners get them too (an iterator made once connect()
    // resolves missed them). It pauses reading at highWaterMark whatever the overflow option:
    // nothing held is dropped.
    if (!streams.length && this.#state !== 'online') this.#streams = streams = [(this.#held = new EventStream(this.#streamOwner, this.#options.highWaterMark, 'pause'))];
    for (const item of list) {
      if (!isEvent(item)) {
        this.#logger.debug('ignored an event without an id');
        continue;
      }
      const event = item;
      // Read for each event, before the listeners: an iterator one of them makes gets the next ones.
      targets = this.#streams;
      if (!recent.accept(event.id)) {
        if (event.id !== this.#owed) {
          stats.duplicates += 1;
          continue;
        }
        // The event an 'event' listener closed the client at, which no iterator got, replayed
        // (a resume in this process): for the iterators only, the listeners had it.
        this.#owed = undefined;
      } else {
        stats.events += 1;
        if (isStateful(event) && cache.apply(event) && collectChanges) (changed ??= []).push(event);
        if (listeners) {
          this.#emit('event', event);
          // Closed by a listener: nothing more is delivered. The batch ends at the last event
          // every consumer got: this one, unless iterators (which got the one before) are open;
          // then it is owed to them (see above).
          if (this.#closed) {
            // Not one it let go of meanwhile (nor one that threw OVERFLOW: its hold is the batch's mark).
            targets = targets.filter((stream) => !stream.left);
            if (targets.length) this.#owed = event.id;
            else last = event;
            break;
          }
        }
      }
      last = event;
      for (const stream of targets) stream.push(event);
    }
    if (last === undefined) return;
    this.#lastEventId = last.id;
    if (changed !== undefined && !this.#closed) this.#emit('state', { reason: 'event', changed });
    const sessionId = this.#sessionId;
    if (this.#writer === undefined || sessionId === undefined) return;
    // After close() (by an 'event' or a 'state' listener too) the batch still ends for the
    // iterators its last event was pushed to and not let go of since: they hand it out.
    const active = this.#closed ? targets.filter((stream) => !stream.left) : this.#streams;
    const batch: Batch = { sessionId, last, seq: ++this.#batches, remaining: active.length + 1, heldBack: this.#overflowCount > 0 };
    for (const stream of active) stream.endBatch(batch);
    // Listeners took it, and so did no one when there was no consumer at all as it came;
    // iterators take it once their consumer is done with its last event (one that left meanwhile does not).
    this.#streamOwner.batchTaken(batch, listeners || !streams.length);
  }

  #saveRecord(): void {
    const sessionId = this.#sessionId;
    // Without a writer, the record is not even made.
    if (sessionId !== undefined) {
      this.#writer?.save({
        sessionId,
        lastEventId: this.#abandoned || this.#marking ? undefined : this.#delivered,
        subscriptions: Array.from(this.#subscriptions.values(), (subscription) => ({ ...subscription })),
        removals: [...this.#removals],
      } satisfies ResumeRecord);
    }
  }

  #updateFlow(): void {
    const connection = this.#connection;
    if (!connection?.started) return;
    // Never paused while a command waits for its answer: a consumer awaiting subscribe()
    // inside its for-await loop would otherwise wait for itself.
    const full = !connection.pending.size && this.#streams.some((stream) => stream.full);
    if (full === connection.paused) return;
    connection.paused = full;
    if (full) {
      connection.ws.pause();
      this.#logger.debug('paused reading: an events() consumer fell behind');
    } else {
      connection.ws.resume();
    }
  }

  #startHeartbeat(connection: Connection): void {
    const { heartbeatMs, heartbeatTimeoutMs } = this.#options;
    // 0: off (withDefaults refused a negative number).
    if (!heartbeatMs) return;
    connection.timer = setInterval(() => {
      if (connection.pong || connection.loading || connection.paused) return;
      connection.ws.ping();
      connection.pong = setTimeout(() => {
        connection.pong = undefined;
        if (connection.loading || connection.paused) return;
        connection.error = new EssError('HEARTBEAT_TIMEOUT', `No pong within ${heartbeatTimeoutMs} ms.`, {
          retryable: true,
        });
        connection.ws.terminate();
      }, heartbeatTimeoutMs);
    }, heartbeatMs);
  }
}
