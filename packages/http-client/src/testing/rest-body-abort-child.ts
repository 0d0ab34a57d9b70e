/**
 * A child process for api-client.test.ts, run with --expose-gc: REST requests whose answers'
 * bodies trickle (a byte every 50 ms), each aborted by the caller 200 ms after its headers came,
 * while a garbage collection runs every 20 ms (an abort passed on only through objects nothing
 * holds is lost then). The paths: a plain GET; a POST with a body replayed after a 401; a GET
 * retried by ky after a 503; one retried after ky's timeout; and a GET that drops the client's
 * beforeRequest hook. Prints, per path, what reading the body ended with and whether the server
 * saw the connection let go; then exits.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Options } from 'ky';
import { createApiClient } from '@sessionkit/http-client';

const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined) throw new Error('run with --expose-gc');
const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

// The first request of /replay is refused (401), that of /retry fails (503), that of /timeout gets
// no answer; the others trickle.
const seen = new Map<string, number>();
// The answer that trickles, per path.
const trickling = new Map<string, ServerResponse>();
const server = createServer((request, response) => {
  request.resume();
  const path = request.url ?? '';
  const count = (seen.get(path) ?? 0) + 1;
  seen.set(path, count);
  if (count === 1 && path === '/timeout') return;
  if (count === 1 && (path === '/replay' || path === '/retry')) {
    response.writeHead(path === '/replay' ? 401 : 503).end();
    return;
  }
  trickling.set(path, response);
  response.writeHead(200, { 'content-type': 'application/json' });
  const timer = setInterval(() => response.write(' '), 50);
  response.once('close', () => {
    clearInterval(timer);
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const collecting = setInterval(collect, 20);
const api = createApiClient({
  baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
  session: { authorization: () => Promise.resolve('Bearer child-token'), invalidate: () => undefined },
  retry: { limit: 1, backoffLimit: 50 },
});
const paths = [
  ['plain', {}],
  ['replay', { method: 'post', json: { a: 1 } }],
  ['retry', {}],
  ['timeout', { timeout: 300, retry: { limit: 1, retryOnTimeout: true } }],
  // (Not in ky's types, but ky takes it: see the client's documentation.)
  ['unhooked', { hooks: { beforeRequest: undefined } } as unknown as Options],
] as const;
for (const [path, options] of paths) {
  const controller = new AbortController();
  let response: Response;
  try {
    response = await api(path, { ...options, signal: controller.signal });
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ path, ended: `the request failed: ${(error as Error).message}` })}\n`);
    continue;
  }
  // The timer holds the controller, as a caller's own code would.
  setTimeout(() => {
    controller.abort(new Error('caller gave up'));
  }, 200);
  // Not ky's text() shortcut (`api(...).text()`): it holds ky's request while it reads, and so
  // the signal too. Given up after 3 s: the abort was lost.
  const ended = await Promise.race([response.text().then(() => 'read to the end', (error: unknown) => (error as Error).message), sleep(3000).then(() => 'still reading after 3 s')]);
  // The server sees the connection close soon after the abort.
  const answer = trickling.get(`/${path}`);
  for (let waited = 0; waited < 1000 && answer?.closed === false; waited += 10) await sleep(10);
  process.stdout.write(`${JSON.stringify({ path, ended, letGo: answer?.closed === true })}\n`);
}
clearInterval(collecting);
process.exit(0);
