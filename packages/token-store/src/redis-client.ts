import { timers } from './clock.js';
import { StoreError } from './store-error.js';

/** An argument of a Redis command. */
export type RedisArgument = string | number;

/**
 * What RedisStore needs of a Redis client. An `ioredis` `Redis` instance (v5 or v6) fits; so
 * does any object with a `call(command, ...args)` method that sends one command and resolves
 * with its reply. When the client also has ioredis's `status` and events, the store checks
 * the connection before each command and fails fast while it is down.
 */
export interface RedisClientLike {
  /** Sends one command, such as `call('SET', key, value, 'PX', 1000)`, and resolves with the reply. */
  call(command: string, ...args: RedisArgument[]): Promise<unknown>;
  /** ioredis's connection state: `wait`, `connecting`, `connect`, `ready`, `reconnecting`, `close` or `end`. */
  readonly status?: string | undefined;
  /** Starts connecting a client created with `lazyConnect`. */
  connect?(): Promise<unknown>;
  once?(event: string, listener: (...args: unknown[]) => void): unknown;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
  off?(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Closes the connection gracefully. */
  quit?(): Promise<unknown>;
  /** Closes the connection at once; with `true`, ioredis connects again (its `retryStrategy`). */
  disconnect?(reconnect?: boolean): void;
}

type Listen = (event: string, listener: (...args: unknown[]) => void) => unknown;

const permissionReplies = /^(NOAUTH|WRONGPASS|NOPERM)\b/;
const unavailableReplies = /^(READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|MISCONF)\b/;

/** The error's message, without a period of its own at the end: the store's sentences add one. */
function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\.$/, '');
}

/**
 * A copy of a client error with only its name and message: ioredis attaches the command and its
 * arguments (which may hold a token) to its errors, and a cause is often logged whole.
 */
function sanitized(error: unknown): Error {
  const copy = new Error(messageOf(error));
  copy.name = error instanceof Error ? error.name : 'Error';
  return copy;
}

/** A StoreError for a failed Redis command, by what the client or server said. */
export function redisError(error: unknown, action: string): StoreError {
  if (StoreError.isInstance(error)) return error;
  const message = messageOf(error);
  const name = error instanceof Error ? error.name : '';
  const cause = sanitized(error);
  if (name === 'ReplyError' || permissionReplies.test(message) || unavailableReplies.test(message)) {
    if (permissionReplies.test(message)) {
      return new StoreError('PERMISSION', `Redis refused to ${action}: ${message}. Check the user name and password in the Redis URL (or the client's options) and the user's ACL.`, { cause });
    }
    if (unavailableReplies.test(message)) {
      return new StoreError('UNAVAILABLE', `Redis cannot ${action} right now: ${message}.`, { cause });
    }
    return new StoreError('IO', `Redis could not ${action}: ${message}.`, { cause });
  }
  if (/timed? ?out/i.test(message)) {
    return new StoreError('TIMEOUT', `Redis did not answer in time to ${action}: ${message}.`, { cause });
  }
  // ioredis's word for a command cut off by a dropped connection (and, with a client of the
  // caller's that retries, not sent after that many reconnects): it names an option the store's own
  // client sets to 0 itself.
  if (/max retries per request/i.test(message)) {
    return new StoreError('UNAVAILABLE', `The connection to Redis was lost as the store tried to ${action}; the client is reconnecting in the background: try again, and check that the Redis server is running and reachable.`, { cause });
  }
  return new StoreError('UNAVAILABLE', `Redis is unreachable, could not ${action}: ${message}. Check that the Redis server is running and reachable.`, { cause });
}

function unreachable(status: string, lastError: unknown, action: string): StoreError {
  // A refused AUTH closes the connection: say what the server said, not just "unreachable".
  if (permissionReplies.test(messageOf(lastError))) return redisError(lastError, action);
  const detail = lastError === undefined ? '' : ` (last error: ${messageOf(lastError)})`;
  return new StoreError(
    'UNAVAILABLE',
    `Redis is unreachable: the connection is ${status}${detail}. Check that the Redis server is running and reachable; the client keeps reconnecting in the background.`,
    lastError === undefined ? {} : { cause: sanitized(lastError) },
  );
}

/**
 * Sends commands through a client with a bound on every call, failing fast instead of queueing
 * while the connection is down.
 */
export class RedisConnection {
  readonly client: RedisClientLike;
  readonly #timeoutMs: number;
  /** The latest connection error, kept for messages (only for clients this store listens to). */
  lastError: unknown;
  /** Why every call fails, for good (a database the server refused): set by the store. */
  refusal: StoreError | undefined;
  /** The wait for the connection being made, while one is (see `#whenReady`). */
  #connecting: Promise<{ failure: unknown } | undefined> | undefined;

  constructor(client: RedisClientLike, timeoutMs: number) {
    this.client = client;
    this.#timeoutMs = timeoutMs;
  }

  /** Runs one command; rejects with a StoreError (`UNAVAILABLE`, `TIMEOUT`, `PERMISSION`, `IO`). */
  async command(action: string, command: string, ...args: RedisArgument[]): Promise<unknown> {
    this.#throwRefusal();
    await this.#whenReady(action).catch((error: unknown) => {
      // The connection closed because of the refusal, while this call waited for it.
      this.#throwRefusal();
      throw error;
    });
    // The refusal comes before 'ready' (ioredis sends SELECT while connecting).
    this.#throwRefusal();
    let sent: Promise<unknown> | undefined;
    let timer: NodeJS.Timeout | undefined;
    // A real timer (see clock.ts): on the global one, which fake timers replace, a command to a
    // frozen server waited for ever in a test with vi.useFakeTimers().
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = timers.setTimeout(() => {
        reject(new StoreError('TIMEOUT', `Redis did not answer within ${this.#timeoutMs} ms, could not ${action}. The server may be overloaded or frozen; raise commandTimeoutMs if it is just slow.`));
      }, this.#timeoutMs);
    });
    try {
      sent = this.client.call(command, ...args);
      return await Promise.race([sent, timedOut]);
    } catch (error) {
      // A late rejection of the command itself must not go unhandled.
      sent?.catch(() => undefined);
      throw redisError(error, action);
    } finally {
      timers.clearTimeout(timer);
    }
  }

  #throwRefusal(): void {
    if (this.refusal) throw this.refusal;
  }

  /**
   * Resolves when the client can take a command now. Waits (within the timeout) while a
   * connection is being made; fails at once while the client is reconnecting or closed.
   */
  async #whenReady(action: string): Promise<void> {
    const { client } = this;
    const status = client.status;
    if (status === undefined || status === 'ready') return;
    if (status === 'end') {
      throw new StoreError('UNAVAILABLE', `The Redis connection has been closed (quit or disconnect), could not ${action}. Create a new client.`);
    }
    if (status === 'reconnecting' || status === 'close') throw unreachable(status, this.lastError, action);
    if (client.once === undefined || client.off === undefined) return;
    // One wait per connection attempt, shared by every call made meanwhile: listeners per call
    // would pass the client's listener limit (MaxListenersExceededWarning) at 10 calls.
    const connecting = this.#connecting ?? this.#awaitConnection(client.once.bind(client), client.off.bind(client), status);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = timers.setTimeout(() => {
        reject(new StoreError('TIMEOUT', `Could not connect to Redis within ${this.#timeoutMs} ms, could not ${action}. Check the address and the network.`));
      }, this.#timeoutMs);
    });
    try {
      const closed = await Promise.race([connecting, timedOut]);
      if (closed) throw unreachable('closed', closed.failure ?? this.lastError, action);
    } finally {
      timers.clearTimeout(timer);
    }
  }

  /**
   * Waits for the connection being made, as `#connecting` until it settles: resolves undefined
   * once it is ready, or with the last error seen once it closes instead. Never rejects.
   */
  #awaitConnection(once: Listen, off: Listen, status: string): Promise<{ failure: unknown } | undefined> {
    const waiting = new Promise<{ failure: unknown } | undefined>((resolve) => {
      let failure: unknown;
      const settle = (outcome: { failure: unknown } | undefined): void => {
        if (this.#connecting === waiting) this.#connecting = undefined;
        off('ready', onReady);
        off('error', onError);
        off('close', onClose);
        off('end', onClose);
        resolve(outcome);
      };
      const onReady = (): void => {
        settle(undefined);
      };
      const onError = (error: unknown): void => {
        failure = error;
      };
      const onClose = (): void => {
        settle({ failure });
      };
      once('ready', onReady);
      once('error', onError);
      once('close', onClose);
      once('end', onClose);
    });
    this.#connecting = waiting;
    if (status === 'wait') this.client.connect?.().catch(() => undefined);
    return waiting;
  }
}
