// Imports the package root and reports whether ws is loaded, stage by stage: after the import,
// after making an EssClient, and after connect() to the gateway given as the argument (which
// is where ws must be loaded). Two checks, so that neither way of loading goes unseen: a
// resolve hook records every ES module import (a static `import ... from 'ws'` would show
// here), and require.cache holds ws's CommonJS files however they were loaded. Prints one
// JSON line.
// Arguments: url, token, log file
import { readFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const [url, token, logArgument] = process.argv.slice(2);
if (url === undefined || token === undefined || logArgument === undefined) throw new Error('usage: import-probe url token log');
const log = logArgument;

const hooks = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(log, result.url + '\\n');
  return result;
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`, import.meta.url, { data: { log } });
const require = createRequire(import.meta.url);

function loaded(): { imported: number; required: number } {
  const pattern = '/node_modules/ws/';
  return {
    imported: readFileSync(log, 'utf8').split('\n').filter((line) => line.includes(pattern)).length,
    required: Object.keys(require.cache).filter((file) => file.includes(pattern)).length,
  };
}

const { EssClient } = await import('@sessionkit/ess-client');
const afterImport = loaded();
const client = new EssClient({ url, auth: () => Promise.resolve(token), fetchState: false, reconnect: false });
const afterConstruct = loaded();
await client.connect();
const afterConnect = { ...loaded(), state: client.connectionState };
await client.close();
process.stdout.write(`${JSON.stringify({ afterImport, afterConstruct, afterConnect })}\n`);
