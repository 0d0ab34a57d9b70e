export { EssClient } from './ess-client.js';
export type { EssClientOptions, EssClientStats, EssSession, EssToken, ReconnectOptions } from './ess-client.js';
export { EssError } from './ess-error.js';
export type { EssErrorCode, EssErrorOptions } from './ess-error.js';
export type { OverflowPolicy } from './event-stream.js';
export type { DedupeMode } from './recent-ids.js';
export type {
  ConnectionState,
  EssClientEvents,
  EssConnectionChange,
  EssEvent,
  EssFilter,
  EssGap,
  EssState,
  EssStateChange,
} from './types.js';
