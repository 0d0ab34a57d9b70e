// Imports the package root and reports which of undici and ky are loaded, stage by stage:
// after the import, after making a CommandClient, after its first request (to a local server
// given as the argument), after createApiClient(), and, as a control that the checks can see
// them, after importing both directly (see trackModuleLoads for how loads are seen). Prints one
// JSON line.
// Arguments: url, log file
import { trackModuleLoads } from '@sessionkit/vitest-config/module-loads';

const [url, logArgument] = process.argv.slice(2);
if (url === undefined || logArgument === undefined) throw new Error('usage: import-probe url log');
const log = logArgument;

const loaded = trackModuleLoads(log);

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
