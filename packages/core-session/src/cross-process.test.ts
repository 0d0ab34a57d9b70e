import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from '@sessionkit/logger';
import { startSandbox, type Sandbox } from '@sessionkit/sandbox';
import { FileStore } from '@sessionkit/token-store/file';
import { oauth2, type RefreshFailedEvent, Session, type Token } from '@sessionkit/core-session';
import { manualClock, runSessionChildren, startFileSessionChild, startTokenServer } from './testing/helpers.js';

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

function fileSession(clock?: () => number, idleTtlMs?: number): Session {
  return new Session({
    authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
    store: new FileStore({ dir }),
    clock,
    idleTtlMs,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
  });
}

/** A session of the sandbox's user demo (password grant, rotating refresh tokens) on a FileStore in `dir`. */
function passwordSession(options: { clock?: () => number; store?: FileStore; fetch?: typeof fetch; revoke?: boolean } = {}): Session {
  return new Session({
    authenticator: oauth2({
      tokenUrl: sandbox.tokenUrl,
      grant: 'password',
      clientId: 'GrantValidatorClient',
      username: 'demo',
      password: 'demo-password',
      revocationUrl: options.revoke ? sandbox.revocationUrl : undefined,
      fetch: options.fetch,
    }),
    store: options.store ?? new FileStore({ dir }),
    clock: options.clock,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
  });
}

/** The token a session stored under `key`, read from its file (compared, never printed). */
async function storedToken(key: string): Promise<Token | undefined> {
  return (await new FileStore({ dir }).get(key))?.token as Token | undefined;
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

  it('a 503 with Retry-After: 2 is waited out by every process sharing the store, as a 429 is', async () => {
    // The sandbox's error fault sends no Retry-After: a small real server does.
    const server = await startTokenServer();
    try {
      const clock = manualClock();
      const parent = new Session({
        authenticator: oauth2({ tokenUrl: server.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
        store: new FileStore({ dir }),
        clock,
        retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 5 },
      });
      server.token = { status: 503, headers: { 'retry-after': '2' } };
      await expect(parent.getToken()).rejects.toMatchObject({ code: 'SERVER', status: 503, retryAfterMs: 2000 });
      expect(server.requests).toHaveLength(1);

      // Other processes stay away, at the same moment and just before the 2 s have passed, though the endpoint would answer now.
      server.token = { status: 200 };
      const children = await runSessionChildren([{ CLOCK_AT_MS: String(clock()) }, { CLOCK_AT_MS: String(clock() + 1999) }], { TOKEN_URL: server.tokenUrl, STORE_DIR: dir });
      expect(children).toEqual([
        { ok: false, code: 'RATE_LIMITED', retryAfterMs: 2000 },
        { ok: false, code: 'RATE_LIMITED', retryAfterMs: 1 },
      ]);
      expect(server.requests).toHaveLength(1);

      const [after] = await runSessionChildren(1, { TOKEN_URL: server.tokenUrl, STORE_DIR: dir, CLOCK_AT_MS: String(clock() + 2000) });
      expect(after).toEqual({ ok: true, fingerprint: fingerprint('token-1') });
      expect(server.requests).toEqual(['/token client_credentials', '/token client_credentials']);
    } finally {
      await server.close();
    }
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

  it("refreshes with the stored token's refresh token when this process's token was stamped later by a clock running ahead: no spent refresh token, no second request", async () => {
    // This process's clock runs 10 minutes ahead of the other process's.
    const clock = manualClock(Date.now() + 600_000);
    const here = passwordSession({ clock });
    const failures: RefreshFailedEvent[] = [];
    here.on('refresh-failed', (event) => failures.push(event));
    const first = await here.getToken();
    const other = await startFileSessionChild({ TOKEN_URL: sandbox.tokenUrl, STORE_DIR: dir, GRANT: 'password' });
    expect(await other.getToken(Date.now())).toEqual({ ok: true, fingerprint: fingerprint(first.value), events: [] });
    // A 401 there: the other process refreshes with the stored refresh token (rotated: spent now) and
    // stores the successor, whose obtainedAt its clock stamps 10 minutes before this one's.
    await other.command('invalidate');
    const second = await other.getToken(Date.now());
    expect(second).toMatchObject({ ok: true, events: [] });
    expect(second.fingerprint).not.toBe(fingerprint(first.value));
    expect((await storedToken(here.key))!.obtainedAt).toBeLessThan(first.obtainedAt);
    expect(sandbox.stats.idp).toMatchObject({ requests: 2, refused: 0, byGrant: { password: 1, refresh_token: 1 } });

    // Here the first token reaches its forced margin: a blocking refresh, holding the first token
    // (later by obtainedAt) while the store holds its successor.
    clock.advance(3_600_000 - 5_000);
    const third = await here.getToken();
    expect(fingerprint(third.value)).not.toBe(second.fingerprint);
    expect(failures).toEqual([]);
    expect(sandbox.stats.idp).toMatchObject({ requests: 3, refused: 0, byGrant: { password: 1, refresh_token: 2 } });
    expect((await storedToken(here.key))?.value).toBe(third.value);
    expect(await other.close()).toBe(0);
  });

  it("end() revokes while it still holds the store's lock: a process waiting for the lock gets a new login, not a refresh of the grant that end() closes", async () => {
    const lockFile = join(dir, `${createHash('sha256').update(passwordSession().key).digest('hex')}.lock`);
    const lockHeldHere = async (): Promise<boolean> => {
      const text = await readFile(lockFile, 'utf8').catch(() => '{}');
      return (JSON.parse(text) as { pid?: number }).pid === process.pid;
    };
    let otherDone = false;
    // end()'s revocation requests are held back until the other process has its token, unless this
    // process holds the lock then; so, should end() revoke after releasing the lock, the other
    // process's refresh surely comes first, as it can on a busy machine.
    const revocationFetch: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url.startsWith(sandbox.revocationUrl)) while (!otherDone && !(await lockHeldHere())) await sleep(5);
      return fetch(input, init);
    };
    const other = await startFileSessionChild({ TOKEN_URL: sandbox.tokenUrl, STORE_DIR: dir, GRANT: 'password' });
    let entered!: () => void;
    const inCleanup = new Promise<void>((resolve) => (entered = resolve));
    // end() deletes the record holding the lock: it waits there until the other process waits for that lock.
    const store = new (class extends FileStore {
      override async delete(key: string): Promise<void> {
        entered();
        const waiting = new RegExp(`^${createHash('sha256').update(key).digest('hex')}\\.lock\\.[0-9a-f-]{36}\\.tmp$`);
        while (!(await readdir(dir)).some((name) => waiting.test(name))) await sleep(5);
        await super.delete(key);
      }
    })({ dir });
    const here = passwordSession({ store, fetch: revocationFetch, revoke: true });
    const token = await here.getToken();
    // The other process holds the same token, with its refresh token, and needs a new one once it
    // is 5 s from expiry by its clock.
    expect(await other.getToken(Date.now())).toEqual({ ok: true, fingerprint: fingerprint(token.value), events: [] });
    const ending = here.end();
    await inCleanup;
    const result = other.getToken(token.expiresAt! - 5_000).finally(() => {
      otherDone = true;
    });
    await ending;
    const after = await result;
    expect(after.ok).toBe(true);
    expect(after.fingerprint).not.toBe(fingerprint(token.value));
    // Its refresh token revoked, the other process falls back to a new login.
    expect(after.events).toEqual(['refresh-failed fallback']);
    expect(sandbox.stats.idp).toMatchObject({ requests: 3, refused: 1, byGrant: { password: 2, refresh_token: 1 } });
    expect(sandbox.idp.verifyAccessToken(token.value)).toBeUndefined();
    const stored = await storedToken(here.key);
    expect(fingerprint(stored!.value)).toBe(after.fingerprint);
    expect(sandbox.idp.verifyAccessToken(stored!.value)).toBeDefined();
    expect(await other.close()).toBe(0);
  });

  it("touch() in a process whose own last use is idle records the use when another process kept the token alive through the store; a token idle in the store too is not revived", async () => {
    const clock = manualClock();
    const start = clock();
    // A 60 s idle time: idled out 60 s after the last use (callers wait for a new token 6 s before).
    const here = fileSession(clock, 60_000);
    const token = await here.getToken();
    const other = await startFileSessionChild({ TOKEN_URL: sandbox.tokenUrl, STORE_DIR: dir, IDLE_TTL_MS: '60000' });
    expect(await other.getToken(start)).toEqual({ ok: true, fingerprint: fingerprint(token.value), events: [] });
    // The other process keeps the token alive: its use at +50 s is in the store.
    expect(await other.getToken(start + 50_000)).toMatchObject({ ok: true, fingerprint: fingerprint(token.value) });
    await other.command('flush');
    const lastUse = async (): Promise<unknown> => (await new FileStore({ dir }).get(here.key))?.lastUsedAt;
    expect(await lastUse()).toBe(start + 50_000);

    // At +100 s this process, last used at +0 s, idles it out by its own uses; the store's (+50 s) keeps it alive.
    clock.advance(100_000);
    here.touch();
    await here.flush();
    expect(await lastUse()).toBe(start + 100_000);
    // At +150 s the use here keeps it alive for the other process (its own last use, +50 s, is idle) and here.
    expect(await other.getToken(start + 150_000)).toMatchObject({ ok: true, fingerprint: fingerprint(token.value) });
    clock.advance(50_000);
    expect(await here.getToken()).toBe(token);
    await here.flush();
    await other.command('flush');
    expect(sandbox.stats.idp.requests).toBe(1);

    // Idle everywhere at +300 s (the last use, +150 s, is in the store): touch() does not revive it.
    clock.advance(150_000);
    here.touch();
    await here.flush();
    expect(await lastUse()).toBe(start + 150_000);
    const fresh = await here.getToken();
    expect(fresh.value).not.toBe(token.value);
    expect(sandbox.stats.idp.requests).toBe(2);
    expect(await other.close()).toBe(0);
  });
  it('touch() on a token idle here checks the store at most once a second, also once the store holds another token (it may hold this one again)', async () => {
    const clock = manualClock();
    let reads = 0;
    class CountingStore extends FileStore {
      override get(key: string): ReturnType<FileStore['get']> {
        reads += 1;
        return super.get(key);
      }
    }
    const session = new Session({
      authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
      store: new CountingStore({ dir }),
      clock,
      idleTtlMs: 60_000,
    });
    await session.getToken();
    // Idle here and in the store (no other process used it).
    clock.advance(100_000);
    const burst = async (): Promise<number> => {
      reads = 0;
      for (let call = 0; call < 200; call += 1) {
        session.touch();
        await session.flush();
      }
      return reads;
    };
    expect(await burst()).toBe(1);
    clock.advance(1_000);
    expect(await burst()).toBe(1);
    // Another process replaces the token in the store. An authenticator that hands out the same
    // value again could bring it back, so the store is still read, once a second.
    const other = await startFileSessionChild({ TOKEN_URL: sandbox.tokenUrl, STORE_DIR: dir, IDLE_TTL_MS: '60000' });
    expect(await other.getToken(clock())).toMatchObject({ ok: true });
    clock.advance(1_000);
    expect(await burst()).toBe(1);
    clock.advance(5_000);
    expect(await burst()).toBe(1);
    expect(sandbox.stats.idp.requests).toBe(2);
    expect(await other.close()).toBe(0);
  });
});
