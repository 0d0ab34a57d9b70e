// Imports the package root and reports which of undici and ky are loaded, stage by stage:
// after the import, after making a CommandClient, after its first request (to a local server
// given as the argument), after createApiClient(), and, as a control that the checks can see
// them, after importing both directly. Two checks, so that neither way of loading goes unseen:
// a resolve hook records every ES module import (a static `import ... from 'undici'` would show
// here), and require.cache holds every module loaded by require() (undici's CommonJS files, and
// ky when required as an ES module). Prints one JSON line.
// Arguments: url, log file
import { readFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const [url, logArgument] = process.argv.slice(2);
if (url === undefined || logArgument === undefined) throw new Error('usage: import-probe url log');
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

function loaded(name: string): { imported: number; required: number } {
  const pattern = `/node_modules/${name}/`;
  return {
    imported: readFileSync(log, 'utf8').split('\n').filter((line) => line.includes(pattern)).length,
    required: Object.keys(require.cache).filter((file) => file.includes(pattern)).length,
  };
}
const report = (): Record<'undici' | 'ky', { imported: number; required: number }> => ({ undici: loaded('undici'), ky: loaded('ky') });

const { CommandClient, createApiClient } = await import('@sessionkit/http-client');
const afterImport = report();
const client = new CommandClient({ url, credentials: { login: 'demo', password: 'demo-password' }, retry: false, highPerformance: true });
const afterConstruct = report();
const response = await client.request({ COMMAND: 'CheckDomain', DOMAIN: 'example.com' });
await client.close();
const afterRequest = { ...report(), code: response.code };
createApiClient({ baseUrl: url, session: { authorization: () => Promise.resolve('Bearer x'), invalidate: () => undefined } });
const afterApiClient = report();
await import('undici');
await import('ky');
const afterDirectImport = report();
process.stdout.write(`${JSON.stringify({ afterImport, afterConstruct, afterRequest, afterApiClient, afterDirectImport })}\n`);
