// Prints "ready"; on "go" (stdin) takes the lock for `key` and prints "locked"; on "release"
// releases it and prints "released", then stays alive (its pid still running) until "exit" or a
// signal. Warnings from the store are printed as "warn <message>".
// Arguments: dir key staleLockMs
import { createInterface } from 'node:readline';
import { FileStore } from '@sessionkit/token-store/file';
import { warningPrinter } from './child-io.js';

const [dir, key, staleLockMs] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: hold-on-command dir key staleLockMs');
const logger = warningPrinter();
const store = new FileStore({ dir, staleLockMs: Number(staleLockMs), logger });
const commands: string[] = [];
const waiting: ((line: string) => void)[] = [];
const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  const waiter = waiting.shift();
  if (waiter) waiter(line);
  else commands.push(line);
});
const next = (): Promise<string> => {
  const line = commands.shift();
  return line === undefined ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve(line);
};
process.stdout.write('ready\n');
if ((await next()) !== 'go') throw new Error('expected go');
await store.withLock(key, async () => {
  process.stdout.write('locked\n');
  if ((await next()) !== 'release') throw new Error('expected release');
});
process.stdout.write('released\n');
await next();
input.close();
