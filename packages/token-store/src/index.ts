export { MemoryStore } from './memory-store.js';
export { StoreError } from './store-error.js';
export type { StoreErrorCode, StoreErrorOptions } from './store-error.js';
export type { LockOptions, StoredRecord, TokenStore } from './types.js';
