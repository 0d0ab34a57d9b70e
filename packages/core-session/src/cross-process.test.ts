import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from '@sessionkit/logger';
import { startSandbox, type Sandbox } from '@sessionkit/sandbox';
import { FileStore } from '@sessionkit/token-store/file';
import { oauth2, Session } from '@sessionkit/core-session';
import { manualClock, runSessionChildren } from './testing/helpers.js';

let sandbox: Sandbox;
let dir: string;

beforeEach(async () => {
  sandbox = await startSandbox();
  dir = await mkdtemp(join(tmpdir(), 'sessionkit-core-session-'));
});

afterEach(async () => {
  await sandbox.close();
  await rm(dir, { recursive: true, force: true });
});

function fileSession(clock?: () => number): Session {
  return new Session({
    authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
    store: new FileStore({ dir }),
    clock,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
  });
}

describe('Session across processes (FileStore)', () => {
  it('8 processes started together on an empty store make exactly 1 token request; with a valid stored token, 0', async () => {
    const first = await runSessionChildren(8, { TOKEN_URL: sandbox.tokenUrl, STORE_DIR: dir });
    expect(first.every((result) => result.ok)).toBe(true);
    expect(new Set(first.map((result) => result.fingerprint)).size).toBe(1);
    expect(sandbox.stats.idp.requests).toBe(1);

    const second = await runSessionChildren(8, { TOKEN_URL: sandbox.tokenUrl, STORE_DIR: dir });
    expect(second.map((result) => result.fingerprint)).toEqual(first.map((result) => result.fingerprint));
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('a 429 Retry-After: 2 is honoured by every process sharing the store until it has passed', async () => {
    const clock = manualClock();
    const parent = fileSession(clock);
    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: 2 });
    await expect(parent.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 2000 });
    expect(sandbox.stats.idp.requests).toBe(1);

    // Other processes stay away too: at the same moment, and just before the 2 s have passed.
    const children = await runSessionChildren([{ CLOCK_AT_MS: String(clock()) }, { CLOCK_AT_MS: String(clock() + 1999) }], {
      TOKEN_URL: sandbox.tokenUrl,
      STORE_DIR: dir,
    });
    expect(children).toEqual([
      { ok: false, code: 'RATE_LIMITED', retryAfterMs: 2000 },
      { ok: false, code: 'RATE_LIMITED', retryAfterMs: 1 },
    ]);
    expect(sandbox.stats.idp.requests).toBe(1);
    clock.advance(1999);
    await expect(parent.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 1 });
    expect(sandbox.stats.idp.requests).toBe(1);

    clock.advance(1);
    const token = await parent.getToken();
    expect(sandbox.stats.idp.requests).toBe(2);
    const [after] = await runSessionChildren(1, { TOKEN_URL: sandbox.tokenUrl, STORE_DIR: dir, CLOCK_AT_MS: String(clock()) });
    expect(after).toEqual({ ok: true, fingerprint: fingerprint(token.value) });
    expect(sandbox.stats.idp.requests).toBe(2);
  });

  it('while throttled, a token that has not expired yet keeps being served, here and in other processes', async () => {
    const clock = manualClock();
    const parent = fileSession(clock);
    const token = await parent.getToken();
    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: 30 });
    // Inside the forced margin: callers would block for a new token, but the endpoint says 429.
    const nearExpiry = 3_600_000 - 5000;
    clock.advance(nearExpiry);
    expect((await parent.getToken()).value).toBe(token.value);
    expect(sandbox.stats.idp.requests).toBe(2);

    const children = await runSessionChildren(2, { TOKEN_URL: sandbox.tokenUrl, STORE_DIR: dir, CLOCK_AT_MS: String(clock() + 1000) });
    expect(children).toEqual([
      { ok: true, fingerprint: fingerprint(token.value) },
      { ok: true, fingerprint: fingerprint(token.value) },
    ]);
    expect(sandbox.stats.idp.requests).toBe(2);
  });

  it('treats a corrupt token file as missing: moved aside, a new token acquired and stored', async () => {
    const first = fileSession();
    const token = await first.getToken();
    const store = new FileStore({ dir });
    await writeFile(store.pathFor(first.key), '{"version":1,"token":{"value":"trunc');
    const second = fileSession();
    const fresh = await second.getToken();
    expect(fresh.value).not.toBe(token.value);
    expect(sandbox.stats.idp.requests).toBe(2);
    expect((await readdir(dir)).some((name) => name.includes('.corrupt-'))).toBe(true);
    expect(await store.get(first.key)).toMatchObject({ version: 1, token: { value: fresh.value } });
  });
});
