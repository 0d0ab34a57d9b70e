import { randomUUID } from 'node:crypto';
import { describe, expect, it, onTestFinished, type TestOptions } from 'vitest';
import { StoreError } from '../store-error.js';
import type { StoredRecord, TokenStore } from '../types.js';

/** What a contract-suite factory returns. */
export interface StoreUnderTest {
  store: TokenStore;
  /** A second store over the same backing storage (persistent adapters only). */
  reopen?: (() => TokenStore) | undefined;
  /** Runs after each test. */
  cleanup?: (() => Promise<void>) | undefined;
}

/** Options of {@link describeStoreContract}. */
export interface StoreContractOptions {
  /** When set, the suite is reported as skipped, with this reason in its title. */
  skipReason?: string | undefined;
  /** The adapter keeps records outside the instance: `setup` must return `reopen`. */
  persistent?: boolean | undefined;
  /** The suite's `retry` (the keychain's: see testing/secret-service.ts). */
  retry?: TestOptions['retry'] | undefined;
}

/** A promise and the function that resolves it. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

function present<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('expected a value');
  return value;
}

/** Takes `key`'s lock in `store` and holds it until `release()`; resolves once it is held. */
async function holdLock(store: TokenStore, key: string): Promise<{ release: () => void; holder: Promise<string> }> {
  const release = deferred();
  const entered = deferred();
  const holder = store.withLock(key, async () => {
    entered.resolve();
    await release.promise;
    return 'held';
  });
  await entered.promise;
  return { release: release.resolve, holder };
}

async function expectStoreError(promise: Promise<unknown>, code: StoreError['code']): Promise<StoreError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(StoreError.isInstance(error), `expected StoreError ${code}, got ${String(error)}`).toBe(true);
  expect((error as StoreError).code).toBe(code);
  return error as StoreError;
}

/**
 * The behaviour every TokenStore adapter must share. `setup` runs once per test and returns a
 * fresh store (keys are unique per test, so stores over shared storage do not collide).
 */
export function describeStoreContract(name: string, setup: () => StoreUnderTest | Promise<StoreUnderTest>, options: StoreContractOptions = {}): void {
  const { skipReason, persistent = false, retry } = options;
  const title = skipReason === undefined ? `${name} (TokenStore contract)` : `${name} (TokenStore contract) SKIPPED: ${skipReason}`;

  describe.skipIf(skipReason !== undefined)(title, retry === undefined ? {} : { retry }, () => {
    async function open(): Promise<StoreUnderTest & { key: (label?: string) => string }> {
      const target = await setup();
      const used = new Set<string>();
      onTestFinished(async () => {
        for (const key of used) await target.store.delete(key).catch(() => undefined);
        await target.cleanup?.();
      });
      const prefix = `contract ${randomUUID()}`;
      return {
        ...target,
        key: (label = 'key') => {
          const key = `${prefix} ${label}`;
          used.add(key);
          return key;
        },
      };
    }

    it('get resolves undefined for a key never set', async () => {
      const { store, key } = await open();
      await expect(store.get(key())).resolves.toBeUndefined();
    });

    it('set then get round-trips a record with nested JSON values', async () => {
      const { store, key } = await open();
      const record: StoredRecord = {
        version: 2,
        accessToken: 'eyJhbGciOi.example.token',
        expiresAt: 1_893_456_000_000,
        scopes: ['read', 'write'],
        nested: { refresh: null, flag: true, ratio: 0.25, text: 'grüße ✓ "quoted" \\ \n' },
      };
      await store.set(key(), record);
      await expect(store.get(key())).resolves.toEqual(record);
    });

    it('set replaces the previous record', async () => {
      const { store, key } = await open();
      await store.set(key(), { version: 1, value: 'first', extra: true });
      await store.set(key(), { version: 1, value: 'second' });
      await expect(store.get(key())).resolves.toEqual({ version: 1, value: 'second' });
    });

    it('delete removes the record, and deleting a missing key succeeds', async () => {
      const { store, key } = await open();
      await store.set(key(), { version: 1 });
      await store.delete(key());
      await expect(store.get(key())).resolves.toBeUndefined();
      await expect(store.delete(key())).resolves.toBeUndefined();
      await expect(store.delete(key('never set'))).resolves.toBeUndefined();
    });

    it('keeps keys apart, including keys that differ only in case or spacing', async () => {
      const { store, key } = await open();
      const keys = [key('a'), key('A'), key('a '), key('a/b'), key('ä')];
      for (const [index, each] of keys.entries()) await store.set(each, { version: 1, index });
      for (const [index, each] of keys.entries()) await expect(store.get(each)).resolves.toEqual({ version: 1, index });
      await store.delete(present(keys[0]));
      await expect(store.get(present(keys[1]))).resolves.toEqual({ version: 1, index: 1 });
    });

    it('returns copies: changing a returned record does not change the store', async () => {
      const { store, key } = await open();
      await store.set(key(), { version: 1, list: [1], inner: { value: 'a' } });
      const first = present(await store.get(key()));
      first.version = 99;
      (first.list as number[]).push(2);
      (first.inner as { value: string }).value = 'changed';
      await expect(store.get(key())).resolves.toEqual({ version: 1, list: [1], inner: { value: 'a' } });
    });

    it('stores copies: changing a record after set does not change the store', async () => {
      const { store, key } = await open();
      const record = { version: 1, list: [1], inner: { value: 'a' } };
      await store.set(key(), record);
      record.version = 99;
      record.list.push(2);
      record.inner.value = 'changed';
      await expect(store.get(key())).resolves.toEqual({ version: 1, list: [1], inner: { value: 'a' } });
    });

    it('rejects invalid keys with INVALID_ARGUMENT, as rejected promises', async () => {
      const { store } = await open();
      for (const bad of ['', undefined, 42, null] as unknown as string[]) {
        await expectStoreError(store.get(bad), 'INVALID_ARGUMENT');
        await expectStoreError(store.set(bad, { version: 1 }), 'INVALID_ARGUMENT');
        await expectStoreError(store.delete(bad), 'INVALID_ARGUMENT');
        await expectStoreError(store.withLock(bad, () => Promise.resolve()), 'INVALID_ARGUMENT');
      }
    });

    it('rejects keys with a lone surrogate with INVALID_ARGUMENT (in UTF-8 they would share a name with other keys), and keeps surrogate pairs', async () => {
      const { store, key } = await open();
      // Encoded as UTF-8, each of these three would become 'user-\uFFFD'.
      for (const bad of [`${key()} user-\uD800`, `${key()} user-\uDC00`, `${key()} \uDC00\uD800`]) {
        await expectStoreError(store.get(bad), 'INVALID_ARGUMENT');
        await expectStoreError(store.set(bad, { version: 1 }), 'INVALID_ARGUMENT');
        await expectStoreError(store.delete(bad), 'INVALID_ARGUMENT');
        await expectStoreError(store.withLock(bad, () => Promise.resolve()), 'INVALID_ARGUMENT');
      }
      const pair = key('user-\uD83D\uDE00');
      const replacement = key('user-\uFFFD');
      await store.set(pair, { version: 1, owner: 'pair' });
      await store.set(replacement, { version: 1, owner: 'replacement' });
      await expect(store.get(pair)).resolves.toEqual({ version: 1, owner: 'pair' });
      await expect(store.get(replacement)).resolves.toEqual({ version: 1, owner: 'replacement' });
    });

    it('rejects keys containing NUL with INVALID_ARGUMENT (the keychain cuts a name at NUL, so "a<NUL>x" and "a<NUL>y" would share the item "a")', async () => {
      const { store, key } = await open();
      for (const bad of [`${key()}\0x`, `${key()}\0y`]) {
        await expectStoreError(store.get(bad), 'INVALID_ARGUMENT');
        await expectStoreError(store.set(bad, { version: 1 }), 'INVALID_ARGUMENT');
        await expectStoreError(store.delete(bad), 'INVALID_ARGUMENT');
        await expectStoreError(store.withLock(bad, () => Promise.resolve()), 'INVALID_ARGUMENT');
      }
      await expect(store.get(key())).resolves.toBeUndefined();
    });

    it('rejects invalid records with INVALID_ARGUMENT and keeps the previous record', async () => {
      const { store, key } = await open();
      await store.set(key(), { version: 1, kept: true });
      const circular: Record<string, unknown> = { version: 1 };
      circular.self = circular;
      const bad: unknown[] = [
        null,
        'text',
        [1, 2],
        {},
        { version: '1' },
        { version: 1, big: 10n },
        circular,
        { version: 1, toJSON: () => [1] },
      ];
      for (const value of bad) await expectStoreError(store.set(key(), value as StoredRecord), 'INVALID_ARGUMENT');
      await expect(store.get(key())).resolves.toEqual({ version: 1, kept: true });
    });

    it('withLock resolves with what fn resolves', async () => {
      const { store, key } = await open();
      await expect(store.withLock(key(), () => Promise.resolve({ answer: 42 }))).resolves.toEqual({ answer: 42 });
    });

    it('withLock lets one caller at a time run for a key (read-modify-write stays exact)', async () => {
      const { store, key } = await open();
      await store.set(key(), { version: 1, count: 0 });
      let active = 0;
      let maxActive = 0;
      const callers = 12;
      await Promise.all(
        Array.from({ length: callers }, () =>
          store.withLock(key(), async () => {
            active += 1;
            maxActive = Math.max(maxActive, active);
            const record = present(await store.get(key()));
            await new Promise((resolve) => setImmediate(resolve));
            await store.set(key(), { version: 1, count: (record.count as number) + 1 });
            active -= 1;
          }, { timeoutMs: 20_000 }),
        ),
      );
      expect(maxActive).toBe(1);
      await expect(store.get(key())).resolves.toEqual({ version: 1, count: callers });
    });

    it('withLock releases the lock when fn rejects, and passes the rejection on', async () => {
      const { store, key } = await open();
      const failure = new Error('fn failed');
      await expect(store.withLock(key(), () => Promise.reject(failure))).rejects.toBe(failure);
      await expect(store.withLock(key(), () => Promise.resolve('again'), { timeoutMs: 2_000 })).resolves.toBe('again');
    });

    it('withLock releases the lock when fn throws synchronously', async () => {
      const { store, key } = await open();
      const failure = new Error('thrown');
      const fn = (): Promise<string> => {
        throw failure;
      };
      await expect(store.withLock(key(), fn)).rejects.toBe(failure);
      await expect(store.withLock(key(), () => Promise.resolve('again'), { timeoutMs: 2_000 })).resolves.toBe('again');
    });

    it('withLock gives up after timeoutMs with LOCK_TIMEOUT, without running fn', async () => {
      const { store, key } = await open();
      const { release, holder } = await holdLock(store, key());
      let ran = false;
      const started = Date.now();
      const error = await expectStoreError(store.withLock(key(), () => {
        ran = true;
        return Promise.resolve();
      }, { timeoutMs: 150 }), 'LOCK_TIMEOUT');
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect(error.name).toBe('StoreError');
      expect(ran).toBe(false);
      release();
      await expect(holder).resolves.toBe('held');
      await expect(store.withLock(key(), () => Promise.resolve('free'), { timeoutMs: 2_000 })).resolves.toBe('free');
    });

    it('withLock on one key does not block another key', async () => {
      const { store, key } = await open();
      const { release, holder } = await holdLock(store, key('a'));
      await expect(store.withLock(key('b'), () => Promise.resolve('b'), { timeoutMs: 2_000 })).resolves.toBe('b');
      release();
      await holder;
    });

    it('withLock rejects an fn that is not a function with INVALID_ARGUMENT at once, without taking or waiting for the lock', async () => {
      const { store, key } = await open();
      const bad = ['not a function', undefined, null, {}, Promise.resolve()] as unknown as (() => Promise<unknown>)[];
      // With the lock free: a StoreError, not the TypeError of calling it.
      for (const fn of bad) await expectStoreError(store.withLock(key(), fn), 'INVALID_ARGUMENT');
      // With the lock held: refused at once, where a check made only once the lock was had would time out.
      const { release, holder } = await holdLock(store, key());
      for (const fn of bad) await expectStoreError(store.withLock(key(), fn, { timeoutMs: 200 }), 'INVALID_ARGUMENT');
      release();
      await expect(holder).resolves.toBe('held');
      await expect(store.withLock(key(), () => Promise.resolve('free'), { timeoutMs: 2_000 })).resolves.toBe('free');
    });

    it('withLock rejects a negative or non-finite timeoutMs with INVALID_ARGUMENT', async () => {
      const { store, key } = await open();
      await expectStoreError(store.withLock(key(), () => Promise.resolve(), { timeoutMs: -1 }), 'INVALID_ARGUMENT');
      await expectStoreError(store.withLock(key(), () => Promise.resolve(), { timeoutMs: Number.NaN }), 'INVALID_ARGUMENT');
    });

    it('withLock rejects a timeoutMs above 2147483647 with INVALID_ARGUMENT (Node.js would fire such a timer after 1 ms), and takes 2147483647', async () => {
      const { store, key } = await open();
      let ran = false;
      const error = await expectStoreError(store.withLock(key(), () => {
        ran = true;
        return Promise.resolve();
      }, { timeoutMs: 2 ** 31 }), 'INVALID_ARGUMENT');
      expect(error.message).toContain('2147483647');
      expect(ran).toBe(false);
      await expect(store.withLock(key(), () => Promise.resolve('ok'), { timeoutMs: 2 ** 31 - 1 })).resolves.toBe('ok');
    });

    if (persistent) {
      it('a second store over the same storage sees the records', async () => {
        const { store, reopen, key } = await open();
        if (reopen === undefined) throw new Error('a persistent adapter must return reopen from setup');
        await store.set(key(), { version: 1, shared: 'yes' });
        const other = reopen();
        await expect(other.get(key())).resolves.toEqual({ version: 1, shared: 'yes' });
        await other.delete(key());
        await expect(store.get(key())).resolves.toBeUndefined();
      });
    }
  });
}
