/**
 * The program of the keychain helper process, run as `node --input-type=commonjs -e <source>
 * <path of @napi-rs/keyring>`. It is the only code that loads the native module. Each request
 * makes an entry pinned to the Linux Secret Service (no fallback to the kernel keyring; the
 * option is ignored on other platforms), makes one synchronous native call, and answers.
 * `stage` tells loading the module, opening the store and the call itself apart.
 */
export const keychainHelperSource = `'use strict';
const modulePath = process.argv[1];
const entryOptions = { linux: { store: 'secret-service' } };
let keyring;
function reply(message) {
  if (process.connected) process.send(message);
}
process.on('message', (request) => {
  let stage = 'load';
  try {
    if (keyring === undefined) keyring = require(modulePath);
    stage = 'open';
    const entry = new keyring.Entry(request.service, request.account, entryOptions);
    stage = 'call';
    if (request.op === 'get') {
      reply({ id: request.id, ok: true, value: entry.getPassword() });
    } else if (request.op === 'set') {
      entry.setPassword(request.value);
      reply({ id: request.id, ok: true, value: null });
    } else if (request.op === 'delete') {
      reply({ id: request.id, ok: true, value: entry.deleteCredential() });
    } else {
      reply({ id: request.id, ok: false, stage, message: 'unknown operation' });
    }
  } catch (error) {
    reply({ id: request.id, ok: false, stage, message: error instanceof Error ? error.message : String(error) });
  }
});
process.on('disconnect', () => {
  process.exit(0);
});
`;
