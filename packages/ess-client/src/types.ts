import type { EssError } from './ess-error.js';

/**
 * One pushed event, as the gateway sends it. Fields other than these pass through untouched;
 * `time` keeps the original string (up to 7 fractional digits).
 */
export interface EssEvent {
  /** Opaque id (not an offset: ids cannot be compared). */
  readonly id: string;
  /** ISO 8601 time, as sent. */
  readonly time: string;
  /** Event-type id. */
  readonly type: string;
  /** `{resourceType}/{id}`, such as `cameras/25d08c6a-...`. */
  readonly source: string;
  /** Present on stateful events: the state group this event sets. */
  readonly stategroupid?: string | undefined;
  readonly datatype?: string | undefined;
  readonly data?: unknown;
  readonly [field: string]: unknown;
}

/** A stateful event: the current state of a source in one state group. */
export interface EssState extends EssEvent {
  readonly stategroupid: string;
}

/** A subscription filter. Lists default to `["*"]`; each holds ids or `"*"` (the protocol's; the sandbox also takes patterns such as `abc-*`, a gateway may not). */
export interface EssFilter {
  /** @default 'include' */
  modifier?: 'include' | 'exclude' | undefined;
  /** Such as `cameras`, `outputs`, `inputEvents`, `hardware`, `userDefinedEvents`. @default ['*'] */
  resourceTypes?: readonly string[] | undefined;
  /** @default ['*'] */
  sourceIds?: readonly string[] | undefined;
  /** Event-type ids. @default ['*'] */
  eventTypes?: readonly string[] | undefined;
}

/** Connection states, named as in the vendor's own client. */
export type ConnectionState = 'connecting' | 'online' | 'offline' | 'delayed' | 'halted';

/** Payload of the `connection` event. */
export interface EssConnectionChange {
  readonly state: ConnectionState;
  readonly previous: ConnectionState;
  /** Why the connection was lost or the client halted. */
  readonly error?: EssError | undefined;
}

/**
 * Payload of the `gap` event: the session was not resumed (the gateway refused, or the client
 * gave it up after an unanswered `subscribe()`), so events may have been lost.
 */
export interface EssGap {
  /** The session that could not be resumed. */
  readonly previousSessionId: string;
  /** The new session (subscriptions and state are being restored on it). */
  readonly sessionId: string;
  /** The last event received before the gap, when there was one. */
  readonly lastEventId: string | undefined;
}

/** Payload of the `state` event. */
export interface EssStateChange {
  /** `event`: stateful events changed entries; `snapshot`: a getState response replaced the cache. */
  readonly reason: 'event' | 'snapshot';
  /** The entries that changed. */
  readonly changed: readonly EssState[];
}

/** Listener signatures of {@link EssClient.on}. */
export interface EssClientEvents {
  event: (event: EssEvent) => void;
  gap: (gap: EssGap) => void;
  state: (change: EssStateChange) => void;
  connection: (change: EssConnectionChange) => void;
}
