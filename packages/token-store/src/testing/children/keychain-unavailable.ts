// Makes a KeychainStore and tries a get; prints the outcome as one JSON line.
// Arguments: lockDir
import { StoreError } from '@sessionkit/token-store';
import { KeychainStore } from '@sessionkit/token-store/keychain';

const [lockDir] = process.argv.slice(2);
const store = new KeychainStore({ lockDir, timeoutMs: 5_000 });
try {
  const record = await store.get('some identity');
  process.stdout.write(`${JSON.stringify({ ok: true, record })}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify(StoreError.isInstance(error) ? { ok: false, name: error.name, code: error.code, message: error.message } : { ok: false, other: String(error) })}\n`);
}
