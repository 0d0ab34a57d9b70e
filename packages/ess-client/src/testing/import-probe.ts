// Imports the package root and reports whether ws is loaded, stage by stage: after the import,
// after making an EssClient, and after connect() to the gateway given as the argument (which
// is where ws must be loaded); see trackModuleLoads for how loads are seen. Prints one JSON
// line.
// Arguments: url, token, log file
import { trackModuleLoads } from '@sessionkit/vitest-config/module-loads';

const [url, token, logArgument] = process.argv.slice(2);
if (url === undefined || token === undefined || logArgument === undefined) throw new Error('usage: import-probe url token log');
const log = logArgument;

const loaded = trackModuleLoads(log);

const { EssClient } = await import('@sessionkit/ess-client');
const afterImport = loaded('ws');
const client = new EssClient({ url, auth: () => Promise.resolve(token), fetchState: false, reconnect: false });
const afterConstruct = loaded('ws');
await client.connect();
const afterConnect = { ...loaded('ws'), state: client.connectionState };
await client.close();
process.stdout.write(`${JSON.stringify({ afterImport, afterConstruct, afterConnect })}\n`);
