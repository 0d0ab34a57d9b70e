export { defaultStoreDirectory } from './default-directory.js';
export { defaultLockTimeoutMs, defaultStaleLockMs, FileStore } from './file-store.js';
export type { FileStoreOptions } from './file-store.js';
