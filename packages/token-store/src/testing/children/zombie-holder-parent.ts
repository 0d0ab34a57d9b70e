// Starts a hold-lock child (dir key staleLockMs, held for good), prints "holder <pid>" once it holds
// the lock, then blocks its own event loop for busyMs, as a busy parent does: a holder killed
// meanwhile is not reaped (its SIGCHLD waits for the loop), so it stays a zombie until then.
// Arguments: dir key staleLockMs busyMs
import { spawnChild } from '../spawn-ts.js';

const [dir, key, staleLockMs, busyMs] = process.argv.slice(2);
if (dir === undefined || key === undefined || staleLockMs === undefined) throw new Error('usage: zombie-holder-parent dir key staleLockMs busyMs');
const holder = spawnChild('hold-lock', [dir, key, staleLockMs, '600000']);
await holder.line((line) => line === 'locked');
// Pipes are written synchronously on Linux: the line is out before the loop blocks.
process.stdout.write(`holder ${String(holder.process.pid)}\n`);
const end = Date.now() + Number(busyMs);
while (Date.now() < end) {
  // Busy: no event is handled, so the killed holder is not reaped.
}
holder.process.kill('SIGKILL');
