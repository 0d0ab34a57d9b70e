/**
 * Where tokens live: the `TokenStore` interface, `StoreError`, and the in-process `MemoryStore`.
 * The file, keychain and Redis adapters are at `/file`, `/keychain` and `/redis`.
 * @module
 */
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { StoreError } from './store-error.js';
export type { StoreErrorCode, StoreErrorOptions } from './store-error.js';
export type { LockOptions, StoredRecord, TokenStore } from './types.js';
// Types only: importing them loads neither the file nor the keychain adapter.
export type { FileStoreOptions } from './file-store.js';
export type { KeychainStoreOptions } from './keychain-store.js';
