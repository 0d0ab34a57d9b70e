// Prints "ready", waits for "go" on stdin, then reads `key` once with FileStore.get inside
// withLock(key) and prints "record <json>" or "missing". Warnings from the store are printed as
// "warn <message>" followed by " moved" when the store moved a file aside.
// Arguments: dir key
import { createInterface } from 'node:readline';
import { createLogger } from '@sessionkit/logger';
import { FileStore } from '@sessionkit/token-store/file';

const [dir, key] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: locked-get dir key');
const logger = createLogger({
  level: 'warn',
  format: 'json',
  write: (line) => {
    const entry = JSON.parse(line) as { msg: string; movedTo?: string };
    process.stdout.write(`warn ${entry.msg}${entry.movedTo === undefined ? '' : ' moved'}\n`);
  },
});
const store = new FileStore({ dir, logger, lockTimeoutMs: 30_000 });
const input = createInterface({ input: process.stdin });
const go = new Promise<void>((resolve) => {
  input.on('line', (line) => {
    if (line === 'go') resolve();
  });
});
process.stdout.write('ready\n');
await go;
input.close();
const record = await store.withLock(key, () => store.get(key));
process.stdout.write(record === undefined ? 'missing\n' : `record ${JSON.stringify(record)}\n`);
