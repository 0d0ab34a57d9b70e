// A child process for the fleet tests: one Session on a RedisStore, driven over stdin.
// Prints "ready"; then, for each line "get <epoch ms>", sets its clock to that time, calls
// getToken() and prints the outcome as one JSON line; prints "locked" whenever the session
// enters the store's lock. At the end of stdin it closes the store and exits.
// Environment: TOKEN_URL, REDIS_URL, REDIS_PREFIX, LEASE_MS. Run with tsx and the
// @sessionkit/source condition.
import { createInterface } from 'node:readline';
import { fingerprint } from '@sessionkit/logger';
import type { LockOptions, StoredRecord, TokenStore } from '@sessionkit/token-store';
import { RedisStore } from '@sessionkit/token-store/redis';
import { AuthError, oauth2, Session } from '@sessionkit/core-session';

const redis = new RedisStore({
  url: process.env.REDIS_URL ?? '',
  prefix: process.env.REDIS_PREFIX,
  lockLeaseMs: Number(process.env.LEASE_MS ?? '10000'),
  lockTimeoutMs: 20_000,
});

/** The RedisStore, telling the test when the session holds the lock. */
const store: TokenStore = {
  get: (key: string) => redis.get(key),
  set: (key: string, value: StoredRecord) => redis.set(key, value),
  delete: (key: string) => redis.delete(key),
  withLock: <T>(key: string, fn: () => Promise<T>, options?: LockOptions) =>
    redis.withLock(key, () => {
      process.stdout.write('locked\n');
      return fn();
    }, options),
};

let now = Date.now();
const session = new Session({
  authenticator: oauth2({ tokenUrl: process.env.TOKEN_URL ?? '', grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
  store,
  clock: () => now,
  retry: { baseDelayMs: 1, maxDelayMs: 5 },
});

async function getToken(): Promise<Record<string, unknown>> {
  try {
    const token = await session.getToken();
    return { ok: true, fingerprint: fingerprint(token.value) };
  } catch (error) {
    if (AuthError.isInstance(error)) return { ok: false, name: error.name, code: error.code, retryAfterMs: error.retryAfterMs };
    return { ok: false, name: error instanceof Error ? error.name : 'unknown', code: (error as { code?: unknown }).code };
  }
}

const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
for await (const line of lines) {
  const [command, at] = line.split(' ');
  if (command !== 'get') continue;
  now = Number(at);
  process.stdout.write(`${JSON.stringify(await getToken())}\n`);
}
await redis.close();
