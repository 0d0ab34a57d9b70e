/**
 * A child process for api-client.test.ts, run with --expose-gc: one REST request to BASE_URL, whose
 * body trickles, with the caller's signal aborted after 300 ms, while the body is read, and a
 * garbage collection every 20 ms (an abort that only a collected object passed on is lost then).
 * Prints the outcome as one JSON line.
 */
import { createApiClient } from '@sessionkit/http-client';

const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined) throw new Error('run with --expose-gc');
const collecting = setInterval(collect, 20);
// The timer holds the controller, as a caller's own code would.
const controller = new AbortController();
setTimeout(() => { controller.abort(new Error('caller gave up')); }, 300);
const api = createApiClient({ baseUrl: process.env.BASE_URL ?? '', session: { authorization: () => Promise.resolve('Bearer child-token'), invalidate: () => undefined }, retry: 0 });
const started = performance.now();
try {
  const text = await api.get('trickle', { signal: controller.signal }).text();
  process.stdout.write(`${JSON.stringify({ ok: true, length: text.length, ms: performance.now() - started })}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ ok: false, message: (error as Error).message, ms: performance.now() - started })}\n`);
}
clearInterval(collecting);
