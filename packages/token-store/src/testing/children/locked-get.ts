// Prints "ready", waits for "go" on stdin, then reads `key` once with FileStore.get inside
// withLock(key) and prints "record <json>" or "missing". Warnings from the store are printed as
// "warn <message>" followed by " moved" when the store moved a file aside.
// Arguments: dir key
import { FileStore } from '@sessionkit/token-store/file';
import { readyThenGo, warningPrinter } from './child-io.js';

const [dir, key] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: locked-get dir key');
const logger = warningPrinter((entry) => (entry.movedTo === undefined ? '' : ' moved'));
const store = new FileStore({ dir, logger, lockTimeoutMs: 30_000 });
await readyThenGo();
const record = await store.withLock(key, () => store.get(key));
process.stdout.write(record === undefined ? 'missing\n' : `record ${JSON.stringify(record)}\n`);
