// Starts a KeychainStore set (with a long timeoutMs) and prints "sent"; the test gives it a bus
// that holds all traffic, so the set hangs, and then kills this process with a signal.
// Arguments: lockDir service key
import { KeychainStore } from '@sessionkit/token-store/keychain';

const [lockDir, service, key] = process.argv.slice(2);
if (lockDir === undefined || service === undefined || key === undefined) throw new Error('usage: keychain-hung-set lockDir service key');
const store = new KeychainStore({ lockDir, service, timeoutMs: 600_000 });
store.set(key, { version: 1, accessToken: 'old-token-of-the-killed-process' }).then(
  () => process.stdout.write('stored\n'),
  (error: unknown) => process.stdout.write(`failed ${String((error as { code?: string }).code)}\n`),
);
process.stdout.write('sent\n');
