/**
 * The program of the keychain helper process, run as `node --input-type=commonjs -e <source>
 * <path of @napi-rs/keyring>`. It is the only code that loads the native module, and it loads it
 * in a worker thread: a native call (opening the store included, which connects to D-Bus) is
 * synchronous and can block for as long as the keychain or a hung D-Bus peer takes, and with the
 * calls in the worker the helper's main thread stays free to notice that its parent is gone.
 *
 * The parent sends one request at a time. Each request makes an entry pinned to the Linux Secret
 * Service (no fallback to the kernel keyring; the option is ignored on other platforms), makes
 * one synchronous native call, and answers. `stage` tells loading the module, opening the store
 * and the call itself apart.
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
const { modulePath, parentPid, gone } = workerData;
const entryOptions = { linux: { store: 'secret-service' } };
let keyring;
function parentAlive() {
  if (Atomics.load(gone, 0) === 0 && process.ppid === parentPid) return true;
  process.kill(process.pid, 'SIGKILL');
  return false;
}
parentPort.on('message', (request) => {
  let stage = 'load';
  try {
    if (keyring === undefined) keyring = require(modulePath);
    stage = 'open';
    const entry = new keyring.Entry(request.service, request.account, entryOptions);
    stage = 'call';
    if (request.op === 'get') {
      parentPort.postMessage({ id: request.id, ok: true, value: entry.getPassword() });
    } else if (request.op === 'set') {
      if (!parentAlive()) return;
      entry.setPassword(request.value);
      parentPort.postMessage({ id: request.id, ok: true, value: null });
    } else if (request.op === 'delete') {
      if (!parentAlive()) return;
      parentPort.postMessage({ id: request.id, ok: true, value: entry.deleteCredential() });
    } else {
      parentPort.postMessage({ id: request.id, ok: false, stage, message: 'unknown operation' });
    }
  } catch (error) {
    parentPort.postMessage({ id: request.id, ok: false, stage, message: error instanceof Error ? error.message : String(error) });
  }
});
\`, { eval: true, workerData: { modulePath: process.argv[1], parentPid, gone } });
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
