// A child process for the cross-process tests: one Session on a FileStore, driven over stdin.
// Prints "ready"; then for each line:
//   "get <epoch ms>"  sets its clock to that time, calls getToken() and prints the outcome;
//   "invalidate"      invalidates its current token (as after a 401) and prints {"ok":true};
//   "end"             calls end() and prints the outcome;
//   "flush"           calls flush() (its last use written to the store) and prints the outcome.
// Each outcome is one JSON line, with the events the session emitted since the last one
// ("refresh-failed" with its fallback flag). Tokens appear only as fingerprints. At the end of
// stdin it exits.
// Environment: TOKEN_URL, STORE_DIR, GRANT ('password': the sandbox's user demo through the public
// client GrantValidatorClient, which gets rotating refresh tokens; else client_credentials),
// REVOCATION_URL (optional), IDLE_TTL_MS (optional: the session's idleTtlMs). Run with tsx and the @sessionkit/source condition.
import { createInterface } from 'node:readline';
import { fingerprint } from '@sessionkit/logger';
import { FileStore } from '@sessionkit/token-store/file';
import { AuthError, oauth2, Session, type Token } from '@sessionkit/core-session';

const tokenUrl = process.env.TOKEN_URL ?? '';
const revocationUrl = process.env.REVOCATION_URL;
let now = Date.now();
const session = new Session({
  authenticator: process.env.GRANT === 'password'
    ? oauth2({ tokenUrl, grant: 'password', clientId: 'GrantValidatorClient', username: 'demo', password: 'demo-password', revocationUrl })
    : oauth2({ tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret', revocationUrl }),
  store: new FileStore({ dir: process.env.STORE_DIR ?? '', lockTimeoutMs: 20_000 }),
  clock: () => now,
  idleTtlMs: process.env.IDLE_TTL_MS ? Number(process.env.IDLE_TTL_MS) : undefined,
  retry: { baseDelayMs: 1, maxDelayMs: 5 },
});

let events: string[] = [];
session.on('refresh-failed', ({ fallback }) => {
  events.push(`refresh-failed${fallback ? ' fallback' : ''}`);
});
let current: Token | undefined;

async function outcome(run: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  let result: Record<string, unknown>;
  try {
    result = { ok: true, ...(await run()) };
  } catch (error) {
    result = { ok: false, name: error instanceof Error ? error.name : 'unknown', code: AuthError.isInstance(error) ? error.code : (error as { code?: unknown }).code };
  }
  result.events = events;
  events = [];
  return result;
}

const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
for await (const line of lines) {
  const [command, at] = line.split(' ');
  let result: Record<string, unknown> | undefined;
  if (command === 'get') {
    now = Number(at);
    result = await outcome(async () => {
      current = await session.getToken();
      return { fingerprint: fingerprint(current.value) };
    });
  } else if (command === 'invalidate') {
    result = await outcome(() => {
      if (current) session.invalidate(current);
      return Promise.resolve({});
    });
  } else if (command === 'end') {
    result = await outcome(async () => {
      await session.end();
      return {};
    });
  } else if (command === 'flush') {
    result = await outcome(async () => {
      await session.flush();
      return {};
    });
  }
  if (result) process.stdout.write(`${JSON.stringify(result)}\n`);
}
