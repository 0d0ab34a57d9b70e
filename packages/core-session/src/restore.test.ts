import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '@sessionkit/sandbox';
import { MemoryStore, type TokenStore } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { oauth2, type RefreshFailedEvent, Session, type SessionData, type SessionOptions, type Token } from '@sessionkit/core-session';
import { manualClock, type ManualClock } from './testing/helpers.js';

let sandbox: Sandbox;
let dir: string;

beforeEach(async () => {
  sandbox = await startSandbox();
  dir = await mkdtemp(join(tmpdir(), 'sessionkit-core-session-restore-'));
});

afterEach(async () => {
  await sandbox.close();
  await rm(dir, { recursive: true, force: true });
});

/** Options of a session of the sandbox's user demo (password grant, rotating refresh tokens). */
function demo(clock: ManualClock, store: TokenStore, revoke = false): SessionOptions {
  return {
    authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'password', clientId: 'GrantValidatorClient', username: 'demo', password: 'demo-password', revocationUrl: revoke ? sandbox.revocationUrl : undefined }),
    store,
    clock,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
  };
}

/** A restored session of `data` that records its refresh-failed events. */
function restored(data: SessionData, options: SessionOptions): { session: Session; failures: RefreshFailedEvent[] } {
  const session = Session.restore(data, options);
  const failures: RefreshFailedEvent[] = [];
  session.on('refresh-failed', (event) => failures.push(event));
  return { session, failures };
}

/** Five seconds before `token` expires: inside its forced margin, callers wait for a new token. */
function nearExpiryOf(token: Token, clock: ManualClock): void {
  clock.advance(token.expiresAt! - 5_000 - clock());
}

describe('Session.restore with a store', () => {
  it.each(['at its forced margin', 'in the background'])('refreshes a restored token with its own refresh token, not the older one a stale store holds (spent by the rotation): %s', async (when) => {
    const clock = manualClock();
    const store = new FileStore({ dir });
    // The store gets the first token; the program exports it.
    const earlier = new Session(demo(clock, store));
    const first = await earlier.getToken();
    // Elsewhere (its own store) the exported session refreshes: the first refresh token is spent, and the
    // program exports the second token. The shared store still holds the first.
    const elsewhere = Session.restore(earlier.export(), demo(clock, new MemoryStore()));
    nearExpiryOf(first, clock);
    const second = await elsewhere.getToken();
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect((await store.get(elsewhere.key))?.token).toMatchObject({ value: first.value });

    const { session, failures } = restored(elsewhere.export(), demo(clock, store));
    expect(await session.getToken()).toEqual(second);
    let third: Token;
    if (when === 'in the background') {
      // Past the latest start of a background refresh (halfway through the 5-minute window), before the forced margin.
      clock.advance(second.expiresAt! - 150_000 - clock());
      const refreshed = new Promise<Token>((resolve) => session.once('token', resolve));
      expect(await session.getToken()).toEqual(second);
      third = await refreshed;
    } else {
      nearExpiryOf(second, clock);
      third = await session.getToken();
    }
    expect(sandbox.idp.verifyAccessToken(third.value)?.identity).toBe('user:demo');
    expect(failures).toEqual([]);
    expect(sandbox.stats.idp).toMatchObject({ refused: 0, byGrant: { password: 1, refresh_token: 2 } });
    expect((await store.get(session.key))?.token).toMatchObject({ value: third.value });
  });

  it('adopts a store newer than the restored token, and refreshes with its refresh token (the restored one is spent)', async () => {
    const clock = manualClock();
    const store = new FileStore({ dir });
    const owner = new Session(demo(clock, store));
    const first = await owner.getToken();
    const data = owner.export();
    // The owner refreshes after the export: the store holds the second token, the first refresh token is spent.
    nearExpiryOf(first, clock);
    const second = await owner.getToken();

    const { session, failures } = restored(data, demo(clock, store));
    // The restored token is near its end: the stored, newer one is used, without a request.
    expect(await session.getToken()).toEqual(second);
    expect(sandbox.stats.idp.requests).toBe(2);

    // And when both are near their end, the stored (newer) one's refresh token is the one presented.
    const again = restored(data, demo(clock, store));
    nearExpiryOf(second, clock);
    const third = await again.session.getToken();
    expect(third.value).not.toBe(second.value);
    expect([...failures, ...again.failures]).toEqual([]);
    expect(sandbox.stats.idp).toMatchObject({ refused: 0, byGrant: { password: 1, refresh_token: 2 } });
  });

  it("uses no record of another identity in the store: the restored token is served and refreshed with its own refresh token", async () => {
    const clock = manualClock();
    const store = new MemoryStore();
    const owner = new Session(demo(clock, new MemoryStore()));
    const first = await owner.getToken();
    // Another identity (a client of the sandbox) stores a newer token in the same store.
    clock.advance(60_000);
    const other = new Session({
      authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
      store,
      clock,
    });
    const foreign = await other.getToken();

    const { session, failures } = restored(owner.export(), demo(clock, store));
    expect(await session.getToken()).toEqual(first);
    nearExpiryOf(first, clock);
    const second = await session.getToken();
    expect(second.value).not.toBe(foreign.value);
    expect(sandbox.idp.verifyAccessToken(second.value)?.identity).toBe('user:demo');
    expect(failures).toEqual([]);
    expect(sandbox.stats.idp).toMatchObject({ refused: 0, byGrant: { password: 1, client_credentials: 1, refresh_token: 1 } });
  });

  it.each(['an empty store', 'a store holding an older token'])(
    "after a 401 on the restored token, refreshes with the restored token's refresh token, not a new login nor the older token's spent one: %s",
    async (over) => {
      const clock = manualClock();
      const store = new FileStore({ dir });
      const earlier = new Session(demo(clock, over === 'an empty store' ? new MemoryStore() : store));
      const first = await earlier.getToken();
      let data = earlier.export();
      let refreshes = 0;
      if (over !== 'an empty store') {
        // Refreshed elsewhere (its own store): the store holds the first token, whose refresh token is spent.
        const elsewhere = Session.restore(data, demo(clock, new MemoryStore()));
        nearExpiryOf(first, clock);
        await elsewhere.getToken();
        data = elsewhere.export();
        refreshes += 1;
        expect((await store.get(elsewhere.key))?.token).toMatchObject({ value: first.value });
      }
      const { session, failures } = restored(data, demo(clock, store));
      const token = await session.getToken();
      expect(token).toEqual(data.token);
      // The API answers 401 with the restored token.
      session.invalidate(token);
      const next = await session.getToken();
      refreshes += 1;
      expect([first.value, token.value]).not.toContain(next.value);
      expect(sandbox.idp.verifyAccessToken(next.value)?.identity).toBe('user:demo');
      expect(failures).toEqual([]);
      expect(sandbox.stats.idp).toMatchObject({ refused: 0, byGrant: { password: 1, refresh_token: refreshes } });
      expect((await store.get(session.key))?.token).toMatchObject({ value: next.value });
      // A session that was not restored (the store's copy) is unchanged: a 401 refreshes with the stored refresh token.
      const plain = new Session(demo(clock, store));
      plain.invalidate(await plain.getToken());
      await plain.getToken();
      expect(sandbox.stats.idp).toMatchObject({ refused: 0, byGrant: { password: 1, refresh_token: refreshes + 1 } });
    },
  );

  it('after a 401 on the restored token, a store holding a newer token still wins', async () => {
    const clock = manualClock();
    // The owner is another process: its own FileStore object on the same directory.
    const owner = new Session(demo(clock, new FileStore({ dir })));
    const first = await owner.getToken();
    const data = owner.export();
    // The owner refreshes after the export (a 401 there): the store holds the second token, the first refresh token is spent.
    clock.advance(60_000);
    owner.invalidate(first);
    const second = await owner.getToken();
    const { session, failures } = restored(data, demo(clock, new FileStore({ dir })));
    expect(await session.getToken()).toEqual(first);
    session.invalidate(first);
    expect(await session.getToken()).toEqual(second);
    expect(sandbox.stats.idp).toMatchObject({ requests: 2, refused: 0, byGrant: { password: 1, refresh_token: 1 } });
    // Both near their end: the newer token's refresh token is the one presented.
    nearExpiryOf(second, clock);
    expect((await session.getToken()).value).not.toBe(second.value);
    expect(failures).toEqual([]);
    expect(sandbox.stats.idp).toMatchObject({ refused: 0, byGrant: { password: 1, refresh_token: 2 } });
  });

  it("after end(), a restored session logs in anew: it does not present the restored token's revoked refresh token", async () => {
    const clock = manualClock();
    const owner = new Session(demo(clock, new MemoryStore()));
    await owner.getToken();
    const { session, failures } = restored(owner.export(), demo(clock, new FileStore({ dir }), true));
    const token = await session.getToken();
    await session.end();
    expect(sandbox.idp.verifyAccessToken(token.value)).toBeUndefined();
    const next = await session.getToken();
    expect(sandbox.idp.verifyAccessToken(next.value)?.identity).toBe('user:demo');
    expect(failures).toEqual([]);
    expect(sandbox.stats.idp).toMatchObject({ refused: 0, byGrant: { password: 2 } });
  });
});
