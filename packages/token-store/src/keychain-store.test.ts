import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { KeychainStore, type KeychainStoreOptions } from './keychain-store.js';
import { StoreError } from './store-error.js';
import { type BusProxy, startBusProxy } from './testing/bus-proxy.js';
import { childrenOf, running } from './testing/processes.js';
import { retryWhenTheSecretServiceEnds, secretServiceBeforeEach } from './testing/secret-service.js';
import { spawnChild } from './testing/spawn-ts.js';
import { deferred, describeStoreContract } from './testing/store-contract.js';

// tooling/scripts/with-secret-service.sh sets SESSIONKIT_SECRET_SERVICE=1 inside a dbus-run-session
// with an unlocked gnome-keyring, or SESSIONKIT_SECRET_SERVICE_UNAVAILABLE to the reason it could not.
const secretService = process.env.SESSIONKIT_SECRET_SERVICE === '1';
const skipReason = secretService
  ? undefined
  : `no Secret Service: ${process.env.SESSIONKIT_SECRET_SERVICE_UNAVAILABLE ?? 'SESSIONKIT_SECRET_SERVICE is not 1 (run the tests through tooling/scripts/with-secret-service.sh)'}`;

// A test under which gnome-keyring-daemon ended (it can crash under many connections: see
// testing/secret-service.ts) runs again, once, on the daemon with-secret-service.sh starts again.
beforeEach(async (context) => {
  if (secretService) await secretServiceBeforeEach(context);
});

async function temporaryDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'token-store-keychain-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function rejection(promise: Promise<unknown>): Promise<StoreError> {
  const error: unknown = await promise.then(() => undefined, (reason: unknown) => reason);
  if (!StoreError.isInstance(error)) throw new Error(`expected a StoreError, got ${String(error)}`);
  return error;
}

function keychainStore(options: ConstructorParameters<typeof KeychainStore>[0]): KeychainStore {
  const store = new KeychainStore(options);
  onTestFinished(() => store.close());
  return store;
}

/**
 * Until the test ends (or `restore` is called), keychain helper processes start through `script`
 * (a shell script given the helper's arguments) instead of the Node.js binary itself.
 */
async function helperStartsThrough(script: string): Promise<() => void> {
  const path = join(await temporaryDirectory(), 'helper-node');
  await writeFile(path, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  const execPath = process.execPath;
  process.execPath = path;
  const restore = (): void => {
    process.execPath = execPath;
  };
  onTestFinished(restore);
  return restore;
}

/** Until the test ends, helper processes started from now on reach the bus through a proxy (in `dir`) that holds every byte until released. */
async function heldBusForThisTest(dir: string): Promise<BusProxy> {
  const proxy = await startBusProxy(join(dir, 'bus'), process.env.DBUS_SESSION_BUS_ADDRESS ?? '', { held: true });
  onTestFinished(() => proxy.close());
  vi.stubEnv('DBUS_SESSION_BUS_ADDRESS', proxy.address);
  onTestFinished(() => {
    vi.unstubAllEnvs();
  });
  return proxy;
}

describeStoreContract('KeychainStore (gnome-keyring over D-Bus)', async () => {
  const lockDir = await temporaryDirectory();
  const service = `sessionkit-test-${randomUUID()}`;
  const store = keychainStore({ service, lockDir });
  return { store, reopen: () => keychainStore({ service, lockDir }) };
}, { skipReason, persistent: true, retry: retryWhenTheSecretServiceEnds });

describe.skipIf(!secretService)(`KeychainStore in the Secret Service${secretService ? '' : ` SKIPPED: ${skipReason ?? ''}`}`, { retry: retryWhenTheSecretServiceEnds }, () => {
  it('files records in the Secret Service itself, where secret-tool finds them', async () => {
    const service = `sessionkit-test-${randomUUID()}`;
    const store = keychainStore({ service, lockDir: await temporaryDirectory() });
    await store.set('identity', { version: 1, accessToken: 'token-value' });
    onTestFinished(() => store.delete('identity'));
    const found = execFileSync('secret-tool', ['search', '--all', 'service', service], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(found).toContain('identity');
    const secret = execFileSync('secret-tool', ['lookup', 'service', service, 'username', 'identity'], { encoding: 'utf8' });
    expect(JSON.parse(secret)).toEqual({ version: 1, accessToken: 'token-value' });
  });

  it('treats an item that is not a record as missing, with a warning', async () => {
    const service = `sessionkit-test-${randomUUID()}`;
    execFileSync('secret-tool', ['store', '--label=bad', 'service', service, 'username', 'identity'], { input: 'not json' });
    const warnings: string[] = [];
    const { createLogger } = await import('@sessionkit/logger');
    const logger = createLogger({ level: 'warn', format: 'json', write: (line) => warnings.push(line) });
    const store = keychainStore({ service, lockDir: await temporaryDirectory(), logger });
    onTestFinished(() => store.delete('identity'));
    await expect(store.get('identity')).resolves.toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('could not be parsed');
    expect(warnings[0]).not.toContain('not json');
  });

  it('a process killed by a signal while its set hangs on the bus: its helper process ends itself, and that set never lands over a newer one', async () => {
    const dir = await temporaryDirectory();
    // A bus that holds every byte: the killed process's set hangs in its helper (in the native call).
    const proxy = await startBusProxy(join(dir, 'bus'), process.env.DBUS_SESSION_BUS_ADDRESS ?? '', { held: true });
    onTestFinished(() => proxy.close());
    const service = `sessionkit-test-${randomUUID()}`;
    const child = spawnChild('keychain-hung-set', [dir, service, 'identity'], { ...process.env, DBUS_SESSION_BUS_ADDRESS: proxy.address });
    onTestFinished(() => {
      child.process.kill('SIGKILL');
    });
    await child.line((line) => line === 'sent');
    await vi.waitFor(() => {
      expect(proxy.connections).toBeGreaterThan(0);
    }, { timeout: 10_000 });
    // Its keychain helper (tsx's esbuild service is a child too).
    const helpers = childrenOf(child.process.pid ?? 0).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--input-type=commonjs'));
    expect(helpers).toHaveLength(1);
    onTestFinished(() => {
      for (const pid of helpers.filter(running)) process.kill(pid, 'SIGKILL');
    });
    // No 'exit' event in the killed process: nothing there can kill the helper.
    child.process.kill('SIGTERM');
    expect((await child.exited).signal).toBe('SIGTERM');
    await vi.waitFor(() => {
      expect(helpers.filter(running)).toEqual([]);
    }, { timeout: 5_000 });
    // Its set, held, is dropped with its connection: never delivered for a process that is gone.
    await vi.waitFor(() => {
      expect(proxy.closed).toBe(proxy.connections);
    }, { timeout: 5_000 });
    // Another process stores a newer token; then the bus answers again.
    const store = keychainStore({ service, lockDir: dir });
    onTestFinished(() => store.delete('identity'));
    await store.set('identity', { version: 1, accessToken: 'new-token-of-a-later-process' });
    proxy.release();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await expect(store.get('identity')).resolves.toEqual({ version: 1, accessToken: 'new-token-of-a-later-process' });
  }, 30_000);

  it("a burst of fast calls all succeed: each call's timeoutMs runs from when the helper gets it, not from when it was queued", async () => {
    const service = `sessionkit-test-${randomUUID()}`;
    const timeoutMs = 1_000;
    const store = keychainStore({ service, lockDir: await temporaryDirectory(), timeoutMs });
    onTestFinished(() => store.delete('burst'));
    await store.set('burst', { version: 1 });
    // Enough calls that the burst takes about 2.5 timeoutMs, whatever one call takes here.
    let started = Date.now();
    for (let index = 0; index < 10; index++) await store.get('burst');
    const oneCallMs = Math.max(1, (Date.now() - started) / 10);
    const count = Math.min(1_000, Math.max(100, Math.ceil((2.5 * timeoutMs) / oneCallMs)));
    started = Date.now();
    const outcomes = await Promise.allSettled(Array.from({ length: count }, (_, index) => (index % 10 === 0 ? store.set('burst', { version: 1, index }) : store.get('burst'))));
    const elapsed = Date.now() - started;
    const failures = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [(outcome.reason as Error).message] : []));
    expect(failures.slice(0, 3), `${failures.length} of ${count} calls failed`).toEqual([]);
    // The burst took longer than one call's timeoutMs: timed from the queue, its last calls would have timed out.
    expect(elapsed).toBeGreaterThan(timeoutMs);
  }, 60_000);

  it("timeoutMs does not count the helper's start-up: with a helper that takes 2.5 s to start, a store's first call succeeds with timeoutMs 1000", async () => {
    const restore = await helperStartsThrough(`sleep 2.5; exec '${process.execPath}' "$@"`);
    const store = keychainStore({ service: `sessionkit-test-${randomUUID()}`, lockDir: await temporaryDirectory(), timeoutMs: 1_000 });
    const started = Date.now();
    const first = store.get('identity');
    restore();
    await expect(first).resolves.toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);
  }, 30_000);

  it('a helper that exits while starting fails the calls waiting for it together (one start, not one per call); the next call starts a new helper', async () => {
    const starts = join(await temporaryDirectory(), 'starts');
    const restore = await helperStartsThrough(`echo start >> '${starts}'; echo 'no keychain here' >&2; exit 3`);
    const store = keychainStore({ service: `sessionkit-test-${randomUUID()}`, lockDir: await temporaryDirectory() });
    const calls = await Promise.all([store.get('identity'), store.set('identity', { version: 1 }), store.get('other')].map((call) => rejection(call)));
    for (const error of calls) {
      expect(error).toMatchObject({ code: 'IO', message: 'A keychain call was not made: the keychain helper process exited while starting (code 3): no keychain here.' });
    }
    expect((await readFile(starts, 'utf8')).trim().split('\n')).toHaveLength(1);
    restore();
    await expect(store.get('identity')).resolves.toBeUndefined();
  }, 30_000);

  it('close() while a call is under way: it rejects with UNAVAILABLE saying it may not have completed; a call queued behind it, never made, says so', async () => {
    const dir = await temporaryDirectory();
    const proxy = await heldBusForThisTest(dir);
    const store = keychainStore({ service: `sessionkit-test-${randomUUID()}`, lockDir: dir });
    const underWay = rejection(store.set('identity', { version: 1 }));
    const queued = rejection(store.get('identity'));
    // The helper was ready and sent the set, which is now held on its way to the bus.
    await vi.waitFor(() => {
      expect(proxy.connections).toBeGreaterThan(0);
    }, { timeout: 10_000 });
    await store.close();
    expect(await underWay).toMatchObject({ code: 'UNAVAILABLE', message: 'A keychain set may not have completed: the store was closed while it was under way.' });
    expect(await queued).toMatchObject({ code: 'UNAVAILABLE', message: 'A keychain get was not made: the store was closed first.' });
  }, 30_000);

  it('a call that times out fails alone: the calls queued behind it, which the stopped helper never got, go on in a new helper', async () => {
    const dir = await temporaryDirectory();
    const proxy = await heldBusForThisTest(dir);
    const service = `sessionkit-test-${randomUUID()}`;
    const store = keychainStore({ service, lockDir: dir, timeoutMs: 2_000 });
    onTestFinished(() => store.delete('identity'));
    const hung = rejection(store.get('identity'));
    const queued = Promise.allSettled([store.set('identity', { version: 1, accessToken: 'queued write' }), store.get('identity')]);
    const error = await hung;
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toContain('did not answer a get within 2000 ms');
    // The stopped helper's get, held, is dropped with its connection, never delivered for it.
    await vi.waitFor(() => {
      expect(proxy.closed).toBe(1);
    }, { timeout: 5_000 });
    // The bus answers again: the helper that replaces the stopped one serves the queued calls.
    proxy.release();
    const [write, read] = await queued;
    expect(write).toEqual({ status: 'fulfilled', value: undefined });
    expect(read).toEqual({ status: 'fulfilled', value: { version: 1, accessToken: 'queued write' } });
  }, 30_000);

  /**
   * A store whose helper talks to the Secret Service through a proxy, which can hold the helper's
   * traffic from a given call on, and another store (another helper process) on the bus itself.
   */
  async function proxiedStores(): Promise<{ store: KeychainStore; other: KeychainStore; proxy: BusProxy }> {
    const dir = await temporaryDirectory();
    const proxy = await startBusProxy(join(dir, 'bus'), process.env.DBUS_SESSION_BUS_ADDRESS ?? '');
    onTestFinished(() => proxy.close());
    const service = `sessionkit-test-${randomUUID()}`;
    const other = keychainStore({ service, lockDir: dir });
    onTestFinished(() => other.delete('identity'));
    // A helper process takes the environment it is started with: each store starts its own now.
    await other.get('identity');
    vi.stubEnv('DBUS_SESSION_BUS_ADDRESS', proxy.address);
    const store = keychainStore({ service, lockDir: dir });
    try {
      await store.get('identity');
    } finally {
      vi.unstubAllEnvs();
    }
    return { store, other, proxy };
  }

  /** Runs `calls` in the order given, without waiting in between; resolves with the order they settled in and their outcomes. */
  async function inTurn(calls: Record<string, Promise<unknown>>): Promise<{ order: string[]; outcomes: Record<string, unknown> }> {
    const order: string[] = [];
    const outcomes: Record<string, unknown> = {};
    await Promise.all(Object.entries(calls).map(([name, call]) => call.then(
      (value) => {
        outcomes[name] = value;
      },
      (error: unknown) => {
        outcomes[name] = StoreError.isInstance(error) ? `${error.code}: ${error.message}` : String(error);
      },
    ).finally(() => order.push(name))));
    return { order, outcomes };
  }

  it('a set whose item another process deletes under it creates the item again, in its own turn: set then delete issued back to back leave no item', async () => {
    const { store, other, proxy } = await proxiedStores();
    await store.set('identity', { version: 1, accessToken: 'first' });
    // The set finds the item, and is held just before it writes to it; meanwhile another process deletes the item.
    const callsBefore = proxy.calls.length;
    const held = proxy.holdAt('SetSecret');
    const calls = { set: store.set('identity', { version: 1, accessToken: 'second' }), delete: store.delete('identity') };
    await held;
    await other.delete('identity');
    proxy.release();
    const { order, outcomes } = await inTurn(calls);
    expect(outcomes).toEqual({ set: undefined, delete: undefined });
    expect(order).toEqual(['set', 'delete']);
    // The token deleted last stays deleted (served delete-then-set, it would be back).
    await expect(other.get('identity')).resolves.toBeUndefined();
    // Its write to the vanished item failed, and it created the item again.
    expect(proxy.calls.slice(callsBefore).filter((call) => call === 'SetSecret' || call === 'CreateItem')).toEqual(['SetSecret', 'CreateItem']);
  }, 30_000);

  it('a get whose item another process deletes under it resolves undefined, in its own turn: get then set issued back to back read nothing, then store', async () => {
    const { store, other, proxy } = await proxiedStores();
    await store.set('identity', { version: 1, accessToken: 'first' });
    const held = proxy.holdAt('GetSecret');
    const calls = { get: store.get('identity'), set: store.set('identity', { version: 1, accessToken: 'second' }) };
    await held;
    await other.delete('identity');
    proxy.release();
    const { order, outcomes } = await inTurn(calls);
    expect(outcomes).toEqual({ get: undefined, set: undefined });
    expect(order).toEqual(['get', 'set']);
    await expect(other.get('identity')).resolves.toEqual({ version: 1, accessToken: 'second' });
  }, 30_000);

  it('a delete whose item another process deletes under it succeeds (never UNAVAILABLE)', async () => {
    const { store, other, proxy } = await proxiedStores();
    await store.set('identity', { version: 1, accessToken: 'first' });
    const held = proxy.holdAt('Delete');
    const deleted = store.delete('identity');
    await held;
    await other.delete('identity');
    proxy.release();
    await expect(deleted).resolves.toBeUndefined();
    await expect(other.get('identity')).resolves.toBeUndefined();
  }, 30_000);
});

describe('KeychainStore without a Secret Service', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('rejects with UNAVAILABLE naming the fix when there is no session bus (child process, no DBUS_SESSION_BUS_ADDRESS)', async () => {
    const lockDir = await temporaryDirectory();
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: lockDir };
    delete env.DBUS_SESSION_BUS_ADDRESS;
    const child = spawnChild('keychain-unavailable', [lockDir], env);
    const result = await child.exited;
    expect(result.code, result.stderr).toBe(0);
    const outcome = JSON.parse(child.lines[0] ?? '{}') as { ok: boolean; name?: string; code?: string; message?: string };
    expect(outcome).toMatchObject({ ok: false, name: 'StoreError', code: 'UNAVAILABLE' });
    expect(outcome.message).toContain('DBUS_SESSION_BUS_ADDRESS');
    expect(outcome.message).toContain('gnome-keyring');
    expect(outcome.message).toContain('dbus-run-session');
    expect(outcome.message).toContain('never falls back to the kernel keyring');
  });

  it('rejects with UNAVAILABLE when the session bus address leads nowhere (the native store refuses, no fallback)', async () => {
    const lockDir = await temporaryDirectory();
    vi.stubEnv('DBUS_SESSION_BUS_ADDRESS', `unix:path=${join(lockDir, 'no-such-bus')}`);
    const store = keychainStore({ lockDir, service: `sessionkit-test-${randomUUID()}` });
    for (const attempt of [store.get('key'), store.set('key', { version: 1 }), store.delete('key')]) {
      const error = await rejection(attempt);
      expect(error.code).toBe('UNAVAILABLE');
      expect(error.message).toContain('no-such-bus');
      expect(error.message).toContain('gnome-keyring');
    }
  });

  it('rejects with TIMEOUT when the keychain does not answer, and ends the stuck call', async () => {
    const lockDir = await temporaryDirectory();
    const socketPath = join(lockDir, 'silent-bus');
    const connections: Socket[] = [];
    // A "bus" that accepts connections and never says a word: the native call blocks.
    const server = createServer((socket) => {
      connections.push(socket);
      socket.on('error', () => undefined);
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    onTestFinished(() => new Promise<void>((resolve) => {
      for (const socket of connections) socket.destroy();
      server.close(() => {
        resolve();
      });
    }));
    vi.stubEnv('DBUS_SESSION_BUS_ADDRESS', `unix:path=${socketPath}`);
    // Long enough for the helper process (and its worker thread) to start and reach the bus on a busy machine.
    const store = keychainStore({ lockDir, timeoutMs: 1_500 });
    const started = Date.now();
    const error = await rejection(store.get('key'));
    expect(error.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_490);
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(connections.length).toBeGreaterThan(0);
    // The helper that made the stuck call was killed, which closes its connection.
    await vi.waitFor(() => {
      expect(connections.every((socket) => socket.closed)).toBe(true);
    }, { timeout: 5_000 });
  });

  it('names the package to install when @napi-rs/keyring cannot be resolved (child process, no NODE_PATH)', async () => {
    const elsewhere = await temporaryDirectory();
    // Package managers' bin shims put their store on NODE_PATH, where the module would be found.
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_PATH;
    const child = spawnChild('resolve-keyring', [elsewhere], env);
    const result = await child.exited;
    expect(result.code, result.stderr).toBe(0);
    const outcome = JSON.parse(child.lines[0] ?? '{}') as { first: { code?: string; message?: string }; remembered: boolean; fromPackage: string };
    expect(outcome.first.code).toBe('UNAVAILABLE');
    expect(outcome.first.message).toContain('npm install @napi-rs/keyring');
    expect(outcome.remembered).toBe(true);
    expect(outcome.fromPackage).toMatch(/@napi-rs[\\/]keyring[\\/]index\.js$/);
  });

  it("a helper that does not get ready within its own bound (the larger of 10 s and timeoutMs): the calls waiting for it reject with TIMEOUT saying so, none of them made; the next call starts a new helper", async () => {
    const lockDir = await temporaryDirectory();
    vi.stubEnv('DBUS_SESSION_BUS_ADDRESS', `unix:path=${join(lockDir, 'no-such-bus')}`);
    const restore = await helperStartsThrough('exec sleep 60');
    const store = keychainStore({ lockDir, service: `sessionkit-test-${randomUUID()}`, timeoutMs: 1_000 });
    const started = Date.now();
    const errors = await Promise.all([rejection(store.get('key')), rejection(store.set('key', { version: 1 })), rejection(store.delete('key'))]);
    const elapsed = Date.now() - started;
    restore();
    expect(elapsed).toBeGreaterThanOrEqual(9_990);
    expect(elapsed).toBeLessThan(20_000);
    expect(errors.map((error) => [error.code, error.message])).toEqual(['get', 'set', 'delete'].map((op) => [
      'TIMEOUT',
      `The keychain helper process did not start within 10000 ms (starting Node.js, a worker thread and @napi-rs/keyring): the machine may be overloaded. The ${op} was not made; the next call starts a new helper.`,
    ]));
    // The helper that never got ready was stopped.
    await vi.waitFor(() => {
      expect(childrenOf(process.pid).filter((pid) => running(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'))).toEqual([]);
    }, { timeout: 5_000 });
    // A new helper, which starts, answers (here: no Secret Service at that address).
    const error = await rejection(store.get('key'));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toContain('no-such-bus');
  }, 30_000);

  it('close() resolves when nothing else keeps the process alive (child process; the helper process is unref\'d)', async () => {
    const lockDir = await temporaryDirectory();
    // A Secret Service when there is one; otherwise a bus address that leads nowhere, which
    // still starts the helper process (it answers UNAVAILABLE).
    const env: NodeJS.ProcessEnv = secretService ? process.env : { ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(lockDir, 'no-such-bus')}` };
    const child = spawnChild('keychain-close', [lockDir, `sessionkit-test-${randomUUID()}`], env);
    const result = await child.exited;
    expect(child.lines[0]).toMatch(/^used: /);
    expect(child.lines[1], result.stderr).toBe('closed');
    expect(result.code, result.stderr).toBe(0);
  });

  it('rejects bad options with INVALID_ARGUMENT', () => {
    expect(() => new KeychainStore({ service: '' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    expect(() => new KeychainStore({ timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    // A string (FileStore takes one as its dir) would have been ignored: the locks went to the default directory.
    for (const options of ['/some/dir', 5]) {
      expect(() => new KeychainStore(options as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'KeychainStore options must be an object, such as { lockDir }.' }) as Error);
    }
  });

  it('rejects a service with NUL or a lone surrogate with INVALID_ARGUMENT (the Secret Service cuts it at NUL and turns a lone surrogate into U+FFFD: another service\'s items)', () => {
    for (const service of ['svc\0one', 'svc\0', 'svc\uD800', 'svc\uDC00', '\uDC00\uD800']) {
      expect(() => new KeychainStore({ service }), JSON.stringify(service)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    }
    expect(new KeychainStore({ service: 'svc \uD83D\uDE00 \uFFFD' }).service).toBe('svc \uD83D\uDE00 \uFFFD');
  });

  it('rejects an empty lockDir (an environment variable set but empty) with INVALID_ARGUMENT, instead of locking in the current directory', () => {
    expect(() => new KeychainStore({ lockDir: '' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'KeychainStore lockDir must be a non-empty string.' }) as Error);
  });

  it('takes null options (from JavaScript) as none, and rejects a lockDir that is not a string with INVALID_ARGUMENT', () => {
    expect(new KeychainStore(null).service).toBe('sessionkit');
    for (const lockDir of [5, {}, ['a'], true]) {
      expect(() => new KeychainStore({ lockDir } as unknown as KeychainStoreOptions), JSON.stringify(lockDir)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    }
  });

  it('rejects timeoutMs, lockTimeoutMs and staleLockMs above 2147483647 with INVALID_ARGUMENT (Node.js would fire such timers after 1 ms)', () => {
    for (const options of [{ timeoutMs: 2 ** 31 }, { lockTimeoutMs: 2 ** 31 }, { staleLockMs: 2 ** 31 }]) {
      expect(() => new KeychainStore(options), JSON.stringify(options)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    }
    expect(new KeychainStore({ timeoutMs: 2 ** 31 - 1, lockTimeoutMs: 2 ** 31 - 1, staleLockMs: 2 ** 31 - 1 })).toBeInstanceOf(KeychainStore);
  });

  it('locks through the same lock files as FileStore, without touching the keychain', async () => {
    const lockDir = await temporaryDirectory();
    vi.stubEnv('DBUS_SESSION_BUS_ADDRESS', '');
    vi.stubEnv('XDG_RUNTIME_DIR', lockDir);
    const { FileStore } = await import('./file-store.js');
    const fileStore = new FileStore({ dir: lockDir });
    const store = keychainStore({ lockDir });
    const entered = deferred();
    const release = deferred();
    const holder = fileStore.withLock('identity', async () => {
      entered.resolve();
      await release.promise;
    });
    await entered.promise;
    expect((await rejection(store.withLock('identity', () => Promise.resolve(), { timeoutMs: 100 }))).code).toBe('LOCK_TIMEOUT');
    release.resolve();
    await holder;
    await expect(store.withLock('identity', () => Promise.resolve('mine'))).resolves.toBe('mine');
  });
});
