// Prints "ready", then reads `key` with FileStore.get over and over until a line "stop" arrives
// on stdin, then prints "done". Any error ends the child with a non-zero exit code.
// Arguments: dir key
import { createInterface } from 'node:readline';
import { FileStore } from '@sessionkit/token-store/file';

const [dir, key] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: reader dir key');
const store = new FileStore({ dir });
const state = { stopped: false };
const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line === 'stop') state.stopped = true;
});
process.stdout.write('ready\n');
while (!state.stopped) await store.get(key);
input.close();
process.stdout.write('done\n');
