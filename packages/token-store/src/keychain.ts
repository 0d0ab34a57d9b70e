export { defaultKeychainTimeoutMs, KeychainStore } from './keychain-store.js';
export type { KeychainStoreOptions } from './keychain-store.js';
