/** How often a `set` is made in all when the item it found keeps vanishing under it. */
export const vanishedAttempts = 3;

/**
 * The program of the keychain helper process, run as `node --input-type=commonjs -e <source>
 * <path of @napi-rs/keyring> <source of vanishedItem> <vanishedAttempts>` (see keychain-helper.ts).
 * It is the only code that loads the native module, and it loads it in a worker thread: a native
 * call (opening the store included, which connects to D-Bus) is synchronous and can block for as
 * long as the keychain or a hung D-Bus peer takes, and with the calls in the worker the helper's
 * main thread stays free to notice that its parent is gone.
 *
 * Once the worker has loaded the native module (or failed to: each request then answers with
 * stage `load`), the helper sends `{ ready: true }`; the parent sends no request before that, so
 * that a call's timeout never counts the helper's start-up.
 *
 * The parent sends one request at a time. Each request makes an entry pinned to the Linux Secret
 * Service (no fallback to the kernel keyring; the option is ignored on other platforms), makes
 * the native call, and answers once. `stage` tells loading the module, opening the store, the
 * call itself and an item that kept vanishing apart.
 *
 * An item another process deletes between the native call's lookup and its use of it counts as
 * missing, within the same request (so a retry keeps the request's turn in the parent's queue,
 * ahead of the calls made after it): a `delete` is done; a `get` looks again once (a newer item
 * may be there by now) and then answers null, which the item was at that moment; a `set` looks
 * again (it then creates the item), up to `vanishedAttempts` times in all, then answers with
 * stage `vanished`.
 *
 * A parent killed by a signal runs no 'exit' handler and so cannot kill its helper. The helper
 * then ends itself: on the IPC channel's 'disconnect', or when a watch finds its parent process
 * changed (re-parented), with SIGKILL (process.exit() would wait for a worker stuck in a native
 * call). And the worker checks that the parent is still there right before each write (set,
 * delete), after opening the store, which may itself have blocked: a helper whose parent is gone
 * starts no write. A write already under way when the parent died may still complete.
 */
export const keychainHelperSource = `'use strict';
const { Worker } = require('node:worker_threads');
const parentPid = process.ppid;
const gone = new Int32Array(new SharedArrayBuffer(4));
function end() {
  Atomics.store(gone, 0, 1);
  process.kill(process.pid, 'SIGKILL');
}
function parentGone() {
  return !process.connected || process.ppid !== parentPid;
}
const worker = new Worker(\`'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { modulePath, parentPid, gone, attempts } = workerData;
const vanished = new RegExp(workerData.vanished);
const entryOptions = { linux: { store: 'secret-service' } };
const messageOf = (error) => (error instanceof Error ? error.message : String(error));
let keyring;
let loadError;
try {
  keyring = require(modulePath);
} catch (error) {
  loadError = messageOf(error);
}
parentPort.postMessage({ ready: true });
function parentAlive() {
  if (Atomics.load(gone, 0) === 0 && process.ppid === parentPid) return true;
  process.kill(process.pid, 'SIGKILL');
  return false;
}
parentPort.on('message', (request) => {
  const { id, op } = request;
  const answer = (value) => parentPort.postMessage({ id, ok: true, value });
  const fail = (stage, message) => parentPort.postMessage({ id, ok: false, stage, message });
  if (loadError !== undefined) return fail('load', loadError);
  for (let attempt = 1; ; attempt++) {
    let stage = 'open';
    try {
      const entry = new keyring.Entry(request.service, request.account, entryOptions);
      stage = 'call';
      if (op === 'get') return answer(entry.getPassword());
      if (op === 'set') {
        if (!parentAlive()) return;
        entry.setPassword(request.value);
        return answer(null);
      }
      if (op === 'delete') {
        if (!parentAlive()) return;
        return answer(entry.deleteCredential());
      }
      return fail(stage, 'unknown operation');
    } catch (error) {
      const message = messageOf(error);
      if (stage !== 'call' || !vanished.test(message)) return fail(stage, message);
      if (op === 'delete') return answer(false);
      if (op === 'get' && attempt >= 2) return answer(null);
      if (attempt >= attempts) return fail('vanished', message);
    }
  }
});
\`, { eval: true, workerData: { modulePath: process.argv[1], parentPid, gone, vanished: process.argv[2], attempts: Number(process.argv[3]) } });
worker.on('message', (message) => {
  if (process.connected) process.send(message);
});
worker.on('error', (error) => {
  process.stderr.write('keychain helper worker failed: ' + (error instanceof Error ? error.message : String(error)) + '\\n');
  process.exit(1);
});
worker.on('exit', () => {
  process.exit(1);
});
process.on('message', (request) => {
  if (parentGone()) end();
  else worker.postMessage(request);
});
process.on('disconnect', end);
setInterval(() => {
  if (parentGone()) end();
}, 500).unref();
`;
