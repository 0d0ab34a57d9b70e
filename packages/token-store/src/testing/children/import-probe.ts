// Imports the package root and /file, uses them, and reports whether @napi-rs/keyring (or its
// native binary) was loaded: by the module cache, the process's memory maps (Linux) and the
// shared objects in a diagnostic report. Then /keychain is imported and a KeychainStore made
// (still nothing may be loaded), and finally the module is loaded on purpose, as a control
// that the checks can see it. Prints one JSON line.
// Arguments: dir
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [dir] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: import-probe dir');
const require = createRequire(import.meta.url);

function keyringLoaded(): { cache: number; maps: number; sharedObjects: number } {
  const matches = (text: string): boolean => text.includes('keyring');
  const maps = existsSync('/proc/self/maps') ? readFileSync('/proc/self/maps', 'utf8').split('\n').filter(matches).length : 0;
  const report = process.report.getReport() as { sharedObjects?: string[] };
  return {
    cache: Object.keys(require.cache).filter(matches).length,
    maps,
    sharedObjects: (report.sharedObjects ?? []).filter(matches).length,
  };
}

const root = await import('@sessionkit/token-store');
const file = await import('@sessionkit/token-store/file');
const memory = new root.MemoryStore();
await memory.set('key', { version: 1 });
const store = new file.FileStore({ dir });
await store.withLock('key', async () => {
  await store.set('key', { version: 1 });
  await store.get('key');
});
const afterRootAndFile = keyringLoaded();

const keychain = await import('@sessionkit/token-store/keychain');
const keychainStore = new keychain.KeychainStore({ lockDir: dir });
await keychainStore.withLock('key', () => Promise.resolve());
const afterKeychainImport = keyringLoaded();

await import('@napi-rs/keyring');
const afterDirectLoad = keyringLoaded();

process.stdout.write(`${JSON.stringify({ afterRootAndFile, afterKeychainImport, afterDirectLoad })}\n`);
