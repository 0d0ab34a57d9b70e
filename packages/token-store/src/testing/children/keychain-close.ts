// Uses a KeychainStore once (so its helper process runs), then awaits close() with nothing else
// keeping the process alive; prints "closed" when close() resolved. An unsettled top-level await
// would end the process with exit code 13 instead.
// Arguments: lockDir service
import { KeychainStore } from '@sessionkit/token-store/keychain';

const [lockDir, service] = process.argv.slice(2);
const store = new KeychainStore({ lockDir, service, timeoutMs: 5_000 });
// With no Secret Service this rejects, but the helper process has started all the same.
const outcome = await store.set('identity', { version: 1 }).then(() => 'stored', (error: unknown) => (error as { code?: string }).code);
await store.delete('identity').catch(() => undefined);
process.stdout.write(`used: ${String(outcome)}\n`);
await store.close();
process.stdout.write('closed\n');
