const marker = Symbol.for('@sessionkit/ess-client.error');

/** What went wrong in an {@link EssClient}. */
export type EssErrorCode =
  /** The gateway answered 401 at upgrade to a fresh token (one asked for after a 401, or after Node refused a token as a header). */
  | 'UNAUTHORIZED'
  /** The `auth` option (a Session or a function) failed to give a token. */
  | 'AUTH_FAILED'
  /** The upgrade was answered with another HTTP status (500, 503, ...). */
  | 'HANDSHAKE_FAILED'
  /** The TCP/TLS connection or the WebSocket handshake failed or timed out. */
  | 'CONNECTION_FAILED'
  /** An open connection closed without being asked to (network loss, server restart, ...). */
  | 'CONNECTION_LOST'
  /** No pong came back within `heartbeatTimeoutMs`: the connection was half-open. */
  | 'HEARTBEAT_TIMEOUT'
  /** No response within `commandTimeoutMs` (or `getStateTimeoutMs`). */
  | 'COMMAND_TIMEOUT'
  /** The gateway answered a command with a status outside 200-299 (retryable for 5xx, 429 and 408). */
  | 'COMMAND_FAILED'
  /** A command was refused before sending because its arguments are invalid; nothing was sent. */
  | 'INVALID_COMMAND'
  /**
   * The gateway closed for a protocol violation (close codes 1002, 1003, 1007, 1008), or with 1009:
   * a frame the client sent was too large for the gateway (retryable once online: see `maxCommandBytes`).
   */
  | 'PROTOCOL_ERROR'
  /** A frame from the gateway exceeded the client's `maxPayload` option (the client closes with 1009). */
  | 'FRAME_TOO_LARGE'
  /** Reconnecting stopped: `maxRetries` was reached. The last failure is the `cause`. */
  | 'RETRIES_EXHAUSTED'
  /** An `events()` iterator's buffer overflowed with `overflow: 'error'`. */
  | 'OVERFLOW'
  /** The client was closed. */
  | 'CLOSED';

/** Options of {@link EssError}. */
export interface EssErrorOptions {
  cause?: unknown;
  /** HTTP status at upgrade, or a command response's status. */
  status?: number | undefined;
  /** WebSocket close code. */
  closeCode?: number | undefined;
  /** Whether reconnecting may help. @default false */
  retryable?: boolean | undefined;
  /** A server's `Retry-After`, in milliseconds. */
  retryAfterMs?: number | undefined;
}

/** The one error type of `@sessionkit/ess-client`. */
export class EssError extends Error {
  override readonly name = 'EssError' as const;
  // Declared only (set by the constructor, in this order): no field definitions in the bundle.
  declare readonly code: EssErrorCode;
  /** HTTP status at upgrade, or a command response's status. */
  declare readonly status: number | undefined;
  /** WebSocket close code, when the error comes from a close. */
  declare readonly closeCode: number | undefined;
  /** Whether reconnecting may help; the default `shouldReconnect` follows it. */
  declare readonly retryable: boolean;
  /** A server's `Retry-After`, in milliseconds. */
  declare readonly retryAfterMs: number | undefined;

  constructor(code: EssErrorCode, message: string, options: EssErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.closeCode = options.closeCode;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    Object.defineProperty(this, marker, { value: true });
  }

  /** True for an EssError from any copy of this package. */
  static isInstance(value: unknown): value is EssError {
    // Only an EssError has the marker (a primitive's prototype has none).
    return (value as Partial<Record<symbol, unknown>> | null | undefined)?.[marker] === true;
  }
}

/**
 * The error an unrequested close with `code` stands for. A 1009 with a `cause` (ws's error) is the
 * client's own `maxPayload` exceeded; without, the gateway's close: it found a frame sent too large.
 * That one is retryable once `online` (past the set-up of the connection): it comes after a call's
 * command (a `subscribe()`, which rejects) over a gateway limit lower than `maxCommandBytes`, which
 * the next connection does not send again, and halting would stop every consumer. During the
 * set-up (a `filters` subscription too large) it would come again at every attempt: it halts.
 * Another code with a `cause` is ws's refusal of a malformed frame from the gateway (still retryable).
 */
export function closeError(code: number, reason: string, cause?: unknown, online?: boolean): EssError {
  const closed = `Connection closed with code ${code}${reason && ` (${reason})`}`;
  const options = { closeCode: code, cause };
  if (code === 1002 || code === 1003 || code === 1007 || code === 1008 || (code === 1009 && !cause)) {
    return new EssError('PROTOCOL_ERROR', `${closed}: the gateway rejected what was sent.`, { ...options, retryable: online && code === 1009 });
  }
  if (code === 1009) return new EssError('FRAME_TOO_LARGE', `${closed}: a frame exceeded maxPayload.`, options);
  return new EssError('CONNECTION_LOST', `${closed}${cause ? ': the gateway sent a malformed frame' : ''}.`, { ...options, retryable: true });
}
