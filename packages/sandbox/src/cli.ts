import { parseArgs } from 'node:util';
import { startSandbox } from './server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    tls: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(`sessionkit-sandbox: a local OAuth 2.0 token endpoint, ISPAPI command API and events gateway

Usage: sessionkit-sandbox [--port 8080] [--host 127.0.0.1] [--tls]`);
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`--port must be a whole number from 0 to 65535, not "${values.port}"`);
  process.exit(2);
}

const sandbox = await startSandbox({ port, host: values.host, tls: values.tls });
console.log(`sessionkit sandbox listening on ${sandbox.url}
  token endpoint : ${sandbox.tokenUrl}
  command API    : ${sandbox.commandUrl}
  events gateway : ${sandbox.essUrl}`);
if (sandbox.certificate !== undefined) console.log(`\nself-signed certificate (trust it explicitly):\n${sandbox.certificate}`);

const stop = (): void => {
  void sandbox.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
