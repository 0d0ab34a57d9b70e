// A child process for the cross-process tests: builds a Session on a shared FileStore, prints
// "ready", waits for "go" on stdin (so that every child starts together), calls getToken() once
// and prints the outcome as one JSON line. Run with tsx and the @sessionkit/source condition.
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fingerprint } from '@sessionkit/logger';
import { FileStore } from '@sessionkit/token-store/file';
import { AuthError, oauth2, Session } from '@sessionkit/core-session';

const tokenUrl = process.env.TOKEN_URL ?? '';
const dir = process.env.STORE_DIR ?? '';
// A fixed clock (CLOCK_AT_MS) lets a test put children at an exact moment of its manual clock,
// however long the child took to start.
const fixedTime = process.env.CLOCK_AT_MS === undefined ? undefined : Number(process.env.CLOCK_AT_MS);

// The sandbox's client by default; another server's client, and the password grant, from the environment.
const { CLIENT_ID: clientId = 'sessionkit-demo', CLIENT_SECRET: clientSecret = 'demo-secret', GRANT_USERNAME: username, GRANT_PASSWORD: password } = process.env;

const session = new Session({
  authenticator: oauth2({ tokenUrl, grant: username === undefined ? 'client_credentials' : 'password', clientId, clientSecret, username, password }),
  store: new FileStore({ dir, lockTimeoutMs: 20_000 }),
  clock: fixedTime === undefined ? Date.now : () => fixedTime,
  retry: { baseDelayMs: 1, maxDelayMs: 5 },
});

const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
await once(lines, 'line');
lines.close();

let result: Record<string, unknown>;
try {
  const token = await session.getToken();
  result = { ok: true, fingerprint: fingerprint(token.value) };
} catch (error) {
  result = AuthError.isInstance(error)
    ? { ok: false, code: error.code, retryAfterMs: error.retryAfterMs }
    : { ok: false, code: error instanceof Error ? error.name : 'unknown' };
}
process.stdout.write(`${JSON.stringify(result)}\n`);
