import { createHash } from 'node:crypto';
import { chown, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { FileStore } from './file-store.js';
import { isRoot, unprivilegedChildUser, unprivilegedUser } from './testing/other-user.js';
import { recordingLogger } from './testing/recording-logger.js';
import { spawnChild, type TsChild } from './testing/spawn-ts.js';

async function temporaryDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'token-store-processes-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function lockName(key: string): string {
  return `${createHash('sha256').update(key, 'utf8').digest('hex')}.lock`;
}

/** Children that print "ready", then start together on "go". */
async function startTogether(children: TsChild[]): Promise<void> {
  await Promise.all(children.map((child) => child.line((line) => line === 'ready')));
  for (const child of children) child.process.stdin.write('go\n');
}

function killOnFinish(child: TsChild): void {
  onTestFinished(() => {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  });
}

/** A child process holding the lock on 'key' in `dir` (its `staleLockMs`, for `holdMs`), once it has it. */
async function holdLock(dir: string, staleLockMs: string, holdMs: string): Promise<TsChild> {
  const holder = spawnChild('hold-lock', [dir, 'key', staleLockMs, holdMs]);
  killOnFinish(holder);
  await holder.line((line) => line === 'locked');
  return holder;
}

/** A directory, the path of its `key` lock, and the owner tag a holder left in it before it was killed (the lock file is left as it was). */
async function deadOwnerLock(): Promise<{ dir: string; lock: string; deadTag: string }> {
  const dir = await temporaryDirectory();
  const holder = await holdLock(dir, '30000', '60000');
  const lock = join(dir, lockName('key'));
  const deadTag = await readFile(lock, 'utf8');
  holder.process.kill('SIGKILL');
  await holder.exited;
  return { dir, lock, deadTag };
}

/** The real clock, taken before any test fakes it. */
const realNow = performance.now.bind(performance);

/**
 * Whether `holder` has released its lock: its "released" line follows the release at once, but may
 * reach this process a moment after a waiter took the lock, so it is given 200 ms. (Real time:
 * node:timers/promises, which fake timers leave alone.)
 */
function releasedBy(holder: TsChild): Promise<boolean> {
  return Promise.race([holder.line((line) => line === 'released').then(() => true), sleep(200).then(() => false)]);
}

describe('FileStore across processes', () => {
  it('8 processes x 200 withLock-guarded read-modify-write increments end at exactly 1600', async () => {
    const dir = await temporaryDirectory();
    const children = Array.from({ length: 8 }, () => spawnChild('increment', [dir, 'counter', '200', '60000', '30000']));
    children.forEach(killOnFinish);
    await startTogether(children);
    const results = await Promise.all(children.map((child) => child.exited));
    for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(children.every((child) => child.lines.includes('done'))).toBe(true);
    await expect(new FileStore({ dir }).get('counter')).resolves.toEqual({ version: 1, count: 1600 });
    // Nothing left behind: no lock, no temporary file, no corrupt file.
    expect(await readdir(dir)).toEqual([`${createHash('sha256').update('counter').digest('hex')}.json`]);
  }, 120_000);

  it('a lock holder killed with SIGKILL does not block the others past staleLockMs', async () => {
    const dir = await temporaryDirectory();
    const staleLockMs = 1_500;
    const holder = await holdLock(dir, String(staleLockMs), '60000');
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, staleLockMs, logger });
    // While the holder lives, its lock holds.
    await expect(store.withLock('key', () => Promise.resolve(), { timeoutMs: 100 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    holder.process.kill('SIGKILL');
    const killedAt = Date.now();
    await holder.exited;
    expect(await readdir(dir)).toContain(lockName('key'));
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 10_000 })).resolves.toBe('acquired');
    expect(Date.now() - killedAt).toBeLessThan(staleLockMs);
    expect(entries.some((entry) => entry.msg === 'broke a stale lock')).toBe(true);
  }, 30_000);

  it('with timeoutMs 0 or 1, withLock breaks the lock of a holder that was killed and takes it (it threw LOCK_TIMEOUT naming the dead holder)', async () => {
    const { dir, lock, deadTag } = await deadOwnerLock();
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, logger });
    for (const timeoutMs of [0, 1]) {
      // The dead holder's lock, as it left it (put back for the second round).
      await writeFile(lock, deadTag, { mode: 0o600 });
      await expect(store.withLock('key', () => Promise.resolve(`acquired with ${timeoutMs}`), { timeoutMs })).resolves.toBe(`acquired with ${timeoutMs}`);
      expect(await readdir(dir)).toEqual([]);
    }
    expect(entries.filter((entry) => entry.level === 'warn')).toMatchObject([
      { msg: 'broke a stale lock', reason: 'its owner process has exited' },
      { msg: 'broke a stale lock', reason: 'its owner process has exited' },
    ]);
  }, 30_000);

  it('with timeoutMs 0, withLock clears the guard of a breaker that died mid-break and takes the dead owner\'s lock (it waited, then threw LOCK_TIMEOUT)', async () => {
    const { dir, lock, deadTag } = await deadOwnerLock();
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, logger });
    // The store's one sweep of the directory is over before the breaker dies.
    await store.withLock('other', () => Promise.resolve());
    // A dead process's lock and a dead breaker's guard (the same dead process, as a breaker).
    await writeFile(lock, deadTag, { mode: 0o600 });
    await writeFile(`${lock}.breaker`, deadTag, { mode: 0o600 });
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 0 })).resolves.toBe('acquired');
    expect(await readdir(dir)).toEqual([]);
    expect(entries.filter((entry) => entry.level === 'warn')).toMatchObject([{ msg: 'broke a stale lock', reason: 'its owner process has exited' }]);
  }, 30_000);

  it('a frozen holder (SIGSTOP: alive, no heartbeat) is broken once its lock is older than staleLockMs', async (context) => {
    if (process.platform === 'win32') context.skip('no SIGSTOP on Windows');
    const dir = await temporaryDirectory();
    const staleLockMs = 600;
    const holder = await holdLock(dir, String(staleLockMs), '60000');
    holder.process.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const store = new FileStore({ dir, staleLockMs });
    const acquired = await store.withLock('key', () => Promise.resolve(Date.now()), { timeoutMs: 10_000 });
    // Its last heartbeat was at most staleLockMs / 3 before the stop.
    expect(acquired - stoppedAt).toBeGreaterThanOrEqual(staleLockMs - staleLockMs / 3 - 50);
    holder.process.kill('SIGKILL');
    await holder.exited;
  }, 30_000);

  it('a live holder keeps its lock past staleLockMs (the heartbeat), and releases it cleanly', async () => {
    const dir = await temporaryDirectory();
    const staleLockMs = 300;
    const holder = await holdLock(dir, String(staleLockMs), '1500');
    const store = new FileStore({ dir, staleLockMs });
    await expect(store.withLock('key', () => Promise.resolve(), { timeoutMs: 900 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    await expect(store.withLock('key', () => Promise.resolve('after release'), { timeoutMs: 10_000 })).resolves.toBe('after release');
    const result = await holder.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(holder.lines).toContain('released');
    expect(holder.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
  }, 30_000);

  it('a live holder whose threadpool is busy (a long job on each of its threads, its event loop free) keeps its lock: the heartbeat does not queue behind them', async () => {
    const dir = await temporaryDirectory();
    // A pool job three times staleLockMs: a heartbeat queued behind it lets the lock go stale while
    // the waiter still waits. staleLockMs 1 s, not less: four busy threads on CI's two cores delay
    // the holder's timers, and at 300 ms a heartbeat came late once (a false stale lock).
    const staleLockMs = 1000;
    const holder = spawnChild('hold-lock', [dir, 'key', String(staleLockMs), '100', '3000']);
    killOnFinish(holder);
    await holder.line((line) => line === 'locked');
    const store = new FileStore({ dir, staleLockMs });
    await expect(store.withLock('key', () => Promise.resolve(), { timeoutMs: 2500 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    const result = await holder.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(holder.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
  }, 30_000);

  it('a holder whose threadpool has a backlog (every file system call waits behind slow jobs) takes and releases its lock without it going stale: no second holder, no warning', async () => {
    const dir = await temporaryDirectory();
    const staleLockMs = 200;
    // 12 jobs of ~100 ms on 4 threads: each file system call of the holder waits ~300 ms, longer
    // than staleLockMs, between writing its owner tag and linking it, and again at the release.
    const holder = spawnChild('backlog-lock', [dir, 'key', String(staleLockMs), '500', '100', '12']);
    killOnFinish(holder);
    // Waiting from the moment the holder's lock file is there (its tag names the holder).
    const lock = join(dir, lockName('key'));
    const holderPid = String(holder.process.pid);
    while (!(await readFile(lock, 'utf8').catch(() => '')).includes(`"pid":${holderPid},`)) {
      // A child that ended without taking the lock fails here, with its output, not at the test's timeout.
      if (holder.process.exitCode !== null) throw new Error(`the holder exited (${holder.process.exitCode}) before taking the lock: ${holder.lines.join(' | ')}`);
      await sleep(2);
    }
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, staleLockMs, logger });
    // Its function had returned: "unlocking" comes before the release, which waits behind the jobs.
    const holderDone = (): Promise<boolean> => Promise.race([holder.line((line) => line === 'unlocking').then(() => true), sleep(200).then(() => false)]);
    const acquiredWhileHeld = await store.withLock('key', async () => !(await holderDone()), { timeoutMs: 20_000 });
    const result = await holder.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(acquiredWhileHeld).toBe(false);
    expect(entries.filter((entry) => entry.level === 'warn')).toEqual([]);
    expect(holder.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
  }, 60_000);

  it("a waiter whose threadpool has a backlog judges a live holder's lock by its age when read, not after its reads queued behind the jobs: it waits, and breaks nothing", async () => {
    const dir = await temporaryDirectory();
    const staleLockMs = 1000;
    // Held for longer than the waiter can take, however slow its calls on a busy machine: its
    // lock is only ever got by breaking it.
    const holder = await holdLock(dir, String(staleLockMs), '120000');
    // 12 jobs of ~100 ms on 4 threads: each of the waiter's file system calls waits ~300 ms, and the
    // four of reading the lock's text (open, stat, read, close) longer than staleLockMs's slack.
    // Dated when its reads were done, a lock refreshed every 333 ms looked 2 s old: it was broken.
    const waiter = spawnChild('backlog-lock', [dir, 'key', String(staleLockMs), '0', '100', '12', '3000']);
    killOnFinish(waiter);
    const waited = await waiter.exited;
    expect(waited.code, waited.stderr).toBe(0);
    expect(waiter.lines).toEqual(['timed out']);
    // Still the holder's lock (killed at the test's end).
    expect(await readFile(join(dir, lockName('key')), 'utf8')).toContain(`"pid":${holder.process.pid},`);
  }, 90_000);

  it("withLock waits out another process's lock while the caller's test uses fake timers (vi.useFakeTimers())", async () => {
    const dir = await temporaryDirectory();
    const holder = await holdLock(dir, '30000', '300');
    const store = new FileStore({ dir });
    vi.useFakeTimers();
    onTestFinished(() => {
      vi.useRealTimers();
    });
    // The fake clock never advances here: only the poll's own timer (node:timers, imported before
    // the fake timers were installed, which they leave alone) can see the holder release its lock, about 300 ms later in real time.
    // Polling on the global setTimeout would wait for the fake clock forever.
    await expect(store.withLock('key', () => Promise.resolve('acquired'))).resolves.toBe('acquired');
    vi.useRealTimers();
    const result = await holder.exited;
    expect(result.code, result.stderr).toBe(0);
  }, 10_000);

  it('a waiter with a smaller staleLockMs waits out the live lock of a holder with a larger one (a slower heartbeat), and breaks it at once once that holder is killed', async () => {
    const dir = await temporaryDirectory();
    // Refreshed every second; held for 2.5 s.
    const holder = await holdLock(dir, '3000', '2500');
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, staleLockMs: 200, logger });
    const acquiredWhileHeld = await store.withLock('key', async () => !(await releasedBy(holder)), { timeoutMs: 10_000 });
    const result = await holder.exited;
    expect(acquiredWhileHeld).toBe(false);
    expect(entries.filter((entry) => entry.level === 'warn')).toEqual([]);
    expect(holder.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
    expect(result.code, result.stderr).toBe(0);
    // However long its staleLockMs, a holder on this host that died is found at once.
    const killed = await holdLock(dir, '2147483647', '60000');
    killed.process.kill('SIGKILL');
    await killed.exited;
    const started = Date.now();
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 10_000 })).resolves.toBe('acquired');
    // At once: far from its 60 s and the timeout, with room for a busy machine.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(entries.filter((entry) => entry.msg === 'broke a stale lock')).toMatchObject([{ reason: 'its owner process has exited' }]);
  }, 30_000);

  it("with fake timers and the system time set an hour ahead, withLock still waits out another process's live lock: its age is read on the real clock", async () => {
    const dir = await temporaryDirectory();
    const holder = await holdLock(dir, '30000', '1500');
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, logger });
    vi.useFakeTimers();
    onTestFinished(() => {
      vi.useRealTimers();
    });
    // As a test does to expire a token: by the faked clock, the lock file is an hour old.
    vi.setSystemTime(Date.now() + 3_600_000);
    const acquiredWhileHeld = await store.withLock('key', async () => !(await releasedBy(holder)));
    vi.useRealTimers();
    expect(acquiredWhileHeld).toBe(false);
    expect(entries.filter((entry) => entry.level === 'warn')).toEqual([]);
    const result = await holder.exited;
    expect(result.code, result.stderr).toBe(0);
  }, 30_000);

  it('with fake timers (the clock never advancing), timeoutMs is still enforced in real time: against another process and behind a caller of this process', async () => {
    const dir = await temporaryDirectory();
    const holder = await holdLock(dir, '30000', '3000');
    const store = new FileStore({ dir });
    vi.useFakeTimers();
    onTestFinished(() => {
      vi.useRealTimers();
    });
    let started = realNow();
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 300 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    expect(realNow() - started).toBeLessThan(2_000);
    // Queued in memory behind a caller of this process that holds the lock for 3 seconds.
    const held = store.withLock('mine', () => sleep(3_000));
    started = realNow();
    await expect(store.withLock('mine', () => Promise.resolve('acquired'), { timeoutMs: 200 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    // Not when the holder lets go, with room for a busy machine.
    expect(realNow() - started).toBeLessThan(2_000);
    await held;
    vi.useRealTimers();
    expect((await holder.exited).code).toBe(0);
  }, 30_000);

  it("a holder under fake timers (the system time set an hour back) keeps its lock live for other processes: the heartbeat runs on a real timer and dates the file on the real clock", async () => {
    const dir = await temporaryDirectory();
    const { logger, entries } = recordingLogger();
    // staleLockMs 1 s (a heartbeat every 333 ms): a busy machine that delays the heartbeat by a
    // few hundred ms does not make the lock stale, where a heartbeat on the fake timers would.
    const store = new FileStore({ dir, staleLockMs: 1_000, logger });
    vi.useFakeTimers();
    onTestFinished(() => {
      vi.useRealTimers();
    });
    vi.setSystemTime(Date.now() - 3_600_000);
    const waiter = spawnChild('hold-lock', [dir, 'key', '1000', '0']);
    killOnFinish(waiter);
    await store.withLock('key', async () => {
      // Once the waiter polls (its owner tag's temporary file is there), hold for over 3 x staleLockMs.
      const deadline = realNow() + 10_000;
      while (!(await readdir(dir)).some((name) => name.endsWith('.tmp'))) {
        if (realNow() > deadline) throw new Error('the waiter never started waiting');
        await sleep(10);
      }
      await sleep(3_500);
      expect(waiter.lines).toEqual([]);
    });
    vi.useRealTimers();
    const result = await waiter.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(waiter.lines).toEqual(['locked', 'released']);
    expect(entries.filter((entry) => entry.level === 'warn')).toEqual([]);
  }, 30_000);

  it('concurrent writers never leave a file that fails to parse', async () => {
    const dir = await temporaryDirectory();
    const writers = Array.from({ length: 4 }, (_, index) => spawnChild('writer', [dir, 'shared', '60', String(index)]));
    writers.forEach(killOnFinish);
    const store = new FileStore({ dir });
    const path = store.pathFor('shared');
    await startTogether(writers);
    const state = { running: true };
    const finished = Promise.all(writers.map((writer) => writer.exited)).finally(() => {
      state.running = false;
    });
    let reads = 0;
    const failures: string[] = [];
    while (state.running) {
      // Read the raw file, not through get(): get() would report a torn file as missing.
      const text = await readFile(path, 'utf8').catch(() => undefined);
      if (text !== undefined) {
        reads += 1;
        try {
          JSON.parse(text);
        } catch {
          failures.push(`${text.length} bytes: ${text.slice(0, 40)}…${text.slice(-20)}`);
        }
      }
    }
    const results = await finished;
    for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(failures).toEqual([]);
    expect(reads).toBeGreaterThan(10);
    const last = await store.get('shared');
    expect(last).toMatchObject({ version: 1, index: 59 });
    expect(await readdir(dir)).toEqual([`${createHash('sha256').update('shared').digest('hex')}.json`]);
  }, 60_000);

  it('a get() right after a completed set() returns that record while other processes keep reading a corrupt file', async () => {
    const dir = await temporaryDirectory();
    const store = new FileStore({ dir });
    const path = store.pathFor('key');
    await store.set('key', { version: 1, round: -1 });
    const readers = Array.from({ length: 6 }, () => spawnChild('reader', [dir, 'key']));
    readers.forEach(killOnFinish);
    await Promise.all(readers.map((reader) => reader.line((line) => line === 'ready')));
    const misses: number[] = [];
    for (let round = 0; round < 300; round += 1) {
      // Something else corrupts the file (atomically: readers see only whole files).
      await writeFile(`${path}.garbage`, 'not a record');
      await rename(`${path}.garbage`, path);
      await store.set('key', { version: 1, round });
      const record = await store.get('key');
      if (record?.round !== round) misses.push(round);
    }
    for (const reader of readers) reader.process.stdin.write('stop\n');
    const results = await Promise.all(readers.map((reader) => reader.exited));
    for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(misses).toEqual([]);
    await expect(store.get('key')).resolves.toEqual({ version: 1, round: 299 });
  }, 60_000);

  it('6 processes reading a corrupt file under the lock at once: one moves it aside (the same file, whole), the others find nothing, and no file is left at the path', async () => {
    const dir = await temporaryDirectory();
    const store = new FileStore({ dir });
    const path = store.pathFor('key');
    const corrupt = '{"version":1,"accessToken":"trunc';
    await writeFile(path, corrupt, { mode: 0o600 });
    const { ino } = await stat(path);
    const readers = Array.from({ length: 6 }, () => spawnChild('locked-get', [dir, 'key']));
    readers.forEach(killOnFinish);
    await startTogether(readers);
    const results = await Promise.all(readers.map((reader) => reader.exited));
    for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0 });
    const lines = readers.flatMap((reader) => reader.lines);
    expect(lines.filter((line) => line === 'missing')).toHaveLength(6);
    expect(lines.filter((line) => line.startsWith('warn'))).toEqual(['warn a token file could not be parsed; treated as missing moved']);
    const names = await readdir(dir);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/\.json\.corrupt-\d+-[\da-f-]{36}$/);
    expect((await stat(join(dir, names[0]!))).ino).toBe(ino);
    expect(await readFile(join(dir, names[0]!), 'utf8')).toBe(corrupt);
  }, 60_000);

  it('under a umask without the owner search bit (0177) creates the missing parents of its directory 0700, so the store works', async () => {
    const base = await temporaryDirectory();
    const dir = join(base, 'config', 'sessionkit');
    const user = unprivilegedChildUser();
    if (isRoot && typeof user !== 'string') await chown(base, unprivilegedUser.uid, unprivilegedUser.gid);
    const child = spawnChild('umask-lock', [dir, 'key', '177'], process.env, typeof user === 'string' ? {} : user);
    const result = await child.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(child.lines).toEqual(['mode 600', 'again']);
    // Made 0600 by the umask, the parent would be unusable for every later call (and for others).
    expect((await stat(join(base, 'config'))).mode & 0o777).toBe(0o700);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  }, 30_000);

  it('under a umask without the owner search bit (0177), callers that make the same missing parents at once all succeed', async (context) => {
    // mkdir() makes each parent 0600 and the chmod() after it 0700: a caller that found a parent
    // made by another in between got EACCES below it (about a third of the calls here).
    const base = await temporaryDirectory();
    const user = unprivilegedChildUser();
    if (typeof user === 'string') return context.skip(user);
    if (isRoot) await chown(base, unprivilegedUser.uid, unprivilegedUser.gid);
    const child = spawnChild('nested-race', [base, '100', '177'], process.env, user);
    const result = await child.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(child.lines).toEqual(['failed 0']);
    expect((await stat(join(base, 'r99', 'parent'))).mode & 0o777).toBe(0o700);
  }, 60_000);

  it('under a umask without the owner search bit (0177), a caller whose mkdir() failed below a parent that gains its search bit before the next one exists still succeeds', async (context) => {
    // The race above, one interleaving played: stat() of the parent not made yet then fails with
    // ENOENT, which was read as a refusal (one caller in some thousands failed under load).
    const base = await temporaryDirectory();
    const user = unprivilegedChildUser();
    if (typeof user === 'string') return context.skip(user);
    if (isRoot) await chown(base, unprivilegedUser.uid, unprivilegedUser.gid);
    const child = spawnChild('search-bit-race', [base], process.env, user);
    const result = await child.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(child.lines).toEqual(['ok']);
    for (const dir of ['r', 'r/parent', 'r/parent/store']) expect((await stat(join(base, dir))).mode & 0o777, dir).toBe(0o700);
  }, 30_000);

  it('under a umask without the owner read bit (0477) lock files are still 0600, so their owner reads them back and releases them', async () => {
    const dir = await temporaryDirectory();
    // Run as a user file permissions apply to (root reads any file) where possible; as root,
    // the mode of the lock file still shows the difference.
    const user = unprivilegedChildUser();
    if (isRoot && typeof user !== 'string') await chown(dir, unprivilegedUser.uid, unprivilegedUser.gid);
    const child = spawnChild('umask-lock', [dir, 'key', '477'], process.env, typeof user === 'string' ? {} : user);
    const result = await child.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(child.lines).toEqual(['mode 600', 'again']);
    expect(await readdir(dir)).toEqual([]);
  }, 30_000);
});
