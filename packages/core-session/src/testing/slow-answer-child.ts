/**
 * A child process for oauth2.test.ts, run with --expose-gc: one oauth2() authentication against
 * TOKEN_URL with TIMEOUT_MS, with a garbage collection every 20 ms while it waits (a signal that
 * only a collected object held could lose its abort then). Prints the outcome, and whether the
 * endpoint saw the connection go meanwhile, as one JSON line.
 */
import { oauth2 } from '@sessionkit/core-session';
import { silentLogger } from '@sessionkit/logger';

const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined) throw new Error('run with --expose-gc');
const collecting = setInterval(collect, 20);
const started = performance.now();
const authenticator = oauth2({ tokenUrl: process.env.TOKEN_URL ?? '', grant: 'client_credentials', clientId: 'client-t', clientSecret: 'child-secret', allowInsecure: true, timeoutMs: Number(process.env.TIMEOUT_MS) });
let outcome: Record<string, unknown>;
try {
  await authenticator.authenticate({ signal: new AbortController().signal, now: Date.now, logger: silentLogger, attempt: 1 });
  outcome = { ok: true, ms: performance.now() - started };
} catch (error) {
  outcome = { ok: false, code: (error as { code?: unknown }).code, message: (error as Error).message, ms: performance.now() - started };
}
// Whether the endpoint saw the connection go, asked while this process still runs (GCs still
// going): its exit would close the connection anyway.
const connection = await (await fetch(`${process.env.TOKEN_URL ?? ''}?closed`)).text();
clearInterval(collecting);
process.stdout.write(`${JSON.stringify({ ...outcome, connection })}\n`);
