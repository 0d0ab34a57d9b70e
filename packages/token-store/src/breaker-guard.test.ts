import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { renameSync } from 'node:fs';
import { link, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { FileStore } from './file-store.js';
import type * as NodeBuiltins from './node-builtins.js';
import { recordingLogger } from './testing/recording-logger.js';
import { spawnChild } from './testing/spawn-ts.js';

/**
 * What to do right after the package has read (`readFile`), linked to (`link`, by its target) or
 * removed (`unlink`, or `rename` away, by its source) a path, once. A mock of ./node-builtins.js,
 * used only to force an interleaving of the package's real file operations on real files with
 * another process's steps, played here as plain fs calls at the moment the races happen; the
 * package's own code runs unchanged.
 */
const after = vi.hoisted(() => new Map<string, () => Promise<void>>());
/** The same, synchronous, right after the package has dated a lock (`lstatSync`, after reading it). */
const afterStat = vi.hoisted(() => new Map<string, () => void>());

vi.mock('./node-builtins.js', async (importOriginal) => {
  const builtins = await importOriginal<typeof NodeBuiltins>();
  const run = async (key: string): Promise<void> => {
    const hook = after.get(key);
    after.delete(key);
    await hook?.();
  };
  return {
    ...builtins,
    fsSync: {
      ...builtins.fsSync,
      lstatSync: (path: string) => {
        const info = builtins.fsSync.lstatSync(path);
        const hook = afterStat.get(path);
        afterStat.delete(path);
        hook?.();
        return info;
      },
    },
    fs: {
      ...builtins.fs,
      // The package reads lock files and guards only as `fs.readFile(path, { flag })`.
      readFile: async (path: string, options: { flag?: number }): Promise<Buffer> => {
        const data = await builtins.fs.readFile(path, options);
        await run(`read ${path}`);
        return data;
      },
      link: async (existing: string, path: string): Promise<void> => {
        await builtins.fs.link(existing, path);
        await run(`link ${path}`);
      },
      unlink: async (path: string): Promise<void> => {
        await builtins.fs.unlink(path);
        await run(`remove ${path}`);
      },
      rename: async (from: string, to: string): Promise<void> => {
        await builtins.fs.rename(from, to);
        await run(`remove ${from}`);
      },
    },
  };
});

async function temporaryDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'token-store-guard-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function lockPathFor(dir: string, key: string): string {
  return join(dir, `${createHash('sha256').update(key, 'utf8').digest('hex')}.lock`);
}

/** The pid of a process that has certainly exited. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(result.stdout);
}

/** The pid of a live process (another breaker at its work), killed when the test ends. */
function livePid(): number {
  const child: ChildProcess = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  if (child.pid === undefined) throw new Error('could not start a child process');
  return child.pid;
}

/** An owner tag as lock files and guards hold it. */
function ownerTag(pid: number, nonce: string, staleLockMs?: number): string {
  return JSON.stringify({ pid, host: hostname(), nonce, time: Date.now(), staleLockMs });
}

/**
 * The race around a dead breaker's guard G0: the package reads G0 and judges it stale; before it
 * removes it, another breaker removes G0 and breaker B (a live process) links its guard GB. The
 * package then removes whatever is at the guard path, and B, done breaking, leaves: its own
 * guard is no longer there.
 */
function replaceJudgedGuard(guard: string): void {
  const fresh = ownerTag(livePid(), 'breaker-b');
  after.set(`read ${guard}`, async () => {
    await rm(guard);
    await writeFile(guard, fresh, { mode: 0o600 });
    after.set(`remove ${guard}`, async () => {
      // B leaves: the guard path is empty (B's guard was removed, or moved aside, by the package).
      await expect(rm(guard)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });
}

/**
 * A FileStore (staleLockMs 60 s, a recording logger) on a new directory, already swept (the
 * leftover sweep runs on a directory's first use: done now, so the breaker meets what a test puts
 * there), with a dead owner's lock for `key`.
 */
async function deadOwnersLock() {
  const dir = await temporaryDirectory();
  const { logger, entries } = recordingLogger();
  const store = new FileStore({ dir, staleLockMs: 60_000, logger });
  await store.withLock('warm-up', () => Promise.resolve());
  const lockPath = lockPathFor(dir, 'key');
  await writeFile(lockPath, ownerTag(deadPid(), 'dead-owner'), { mode: 0o600 });
  return { dir, entries, store, lockPath, guard: `${lockPath}.breaker` };
}

describe('the <lock>.breaker guard', () => {
  // A hook a test's package code never reached must not fire in the next test.
  afterEach(() => {
    after.clear();
    afterStat.clear();
  });

  it("a breaker clears a dead breaker's guard and breaks a dead owner's lock promptly, never reviving the guard of a breaker that has left", async () => {
    const { dir, entries, store, guard } = await deadOwnersLock();
    await writeFile(guard, ownerTag(deadPid(), 'dead-breaker'), { mode: 0o600 });
    replaceJudgedGuard(guard);
    const started = Date.now();
    // Had B's guard been put back, it would look live (B's process runs) for staleLockMs (60 s): LOCK_TIMEOUT.
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 10_000 })).resolves.toBe('acquired');
    // Promptly: far from the 60 s and the timeout, with room for a busy machine.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(after.size).toBe(0);
    expect(entries.filter((entry) => entry.msg === 'broke a stale lock')).toHaveLength(1);
    // No lock, no guard, nothing left aside.
    expect(await readdir(dir)).toEqual([]);
  });

  it('the leftover sweep clears a stale guard without reviving the guard of a breaker that has left, so a dead owner\'s lock is then broken promptly', async () => {
    const dir = await temporaryDirectory();
    const lockPath = lockPathFor(dir, 'key');
    const guard = `${lockPath}.breaker`;
    await writeFile(guard, ownerTag(deadPid(), 'dead-breaker'), { mode: 0o600 });
    replaceJudgedGuard(guard);
    const store = new FileStore({ dir, staleLockMs: 60_000 });
    // The first write in this directory sweeps it.
    await store.set('other', { version: 1 });
    expect(after.size).toBe(0);
    expect(await readdir(dir)).toEqual([basename(store.pathFor('other'))]);
    await writeFile(lockPath, ownerTag(deadPid(), 'dead-owner'), { mode: 0o600 });
    const started = Date.now();
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 10_000 })).resolves.toBe('acquired');
    // Promptly: far from the 60 s and the timeout, with room for a busy machine.
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('the leftover sweep removes the guard of a breaker that died, and one not refreshed for staleLockMs, and leaves a live one', async () => {
    const dir = await temporaryDirectory();
    const dead = `${lockPathFor(dir, 'a')}.breaker`;
    const frozen = `${lockPathFor(dir, 'b')}.breaker`;
    const live = `${lockPathFor(dir, 'c')}.breaker`;
    const elsewhere = `${lockPathFor(dir, 'd')}.breaker`;
    const patient = `${lockPathFor(dir, 'e')}.breaker`;
    const breaker = livePid();
    await writeFile(dead, ownerTag(deadPid(), 'dead-breaker'), { mode: 0o600 });
    // Alive, but untouched for longer than staleLockMs (its own and the sweeper's): judged stale, as breakers judge it.
    await writeFile(frozen, ownerTag(breaker, 'frozen-breaker', 1_000), { mode: 0o600 });
    const old = new Date(Date.now() - 5_000);
    await utimes(frozen, old, old);
    // Alive, untouched as long, but its breaker's staleLockMs is 60 s: not stale yet.
    await writeFile(patient, ownerTag(breaker, 'patient-breaker', 60_000), { mode: 0o600 });
    await utimes(patient, old, old);
    // Alive, and fresh.
    await writeFile(live, ownerTag(breaker, 'live-breaker'), { mode: 0o600 });
    // Another host's breaker cannot be checked for life: only its age counts, and it is fresh.
    await writeFile(elsewhere, JSON.stringify({ pid: 1, host: 'another-host.example', nonce: 'remote-breaker', time: Date.now() }), { mode: 0o600 });
    const store = new FileStore({ dir, staleLockMs: 1_000 });
    await store.set('key', { version: 1 });
    expect((await readdir(dir)).sort()).toEqual([live, elsewhere, patient, store.pathFor('key')].map((path) => basename(path)).sort());
  });

  it("a breaker stalled past staleLockMs, whose guard was cleared and replaced by a successor's, leaves the successor's guard", async () => {
    const { dir, store, guard } = await deadOwnersLock();
    const successor = ownerTag(livePid(), 'successor');
    // Right after this breaker takes the guard it stalls; meanwhile its guard is judged stale and
    // cleared, and a successor (a live process) takes its turn.
    after.set(`link ${guard}`, async () => {
      await rm(guard);
      await writeFile(guard, successor, { mode: 0o600 });
    });
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 2_000 })).resolves.toBe('acquired');
    expect(after.size).toBe(0);
    // Had the breaker removed it, a third breaker could get in beside the successor.
    expect(await readFile(guard, 'utf8')).toBe(successor);
    expect(await readdir(dir)).toEqual([basename(guard)]);
  });
});

describe('the put-back of a lock that changed hands while being broken', () => {
  afterEach(() => {
    after.clear();
    afterStat.clear();
  });

  it('a holder that released a lock a breaker had moved aside leaves it stale at once, so its put-back does not keep others waiting for staleLockMs', async () => {
    const { dir, entries, store, lockPath, guard } = await deadOwnersLock();
    // Another process, D, that takes the lock and releases it on command, and stays alive after.
    const holder = spawnChild('hold-on-command', [dir, 'key', '60000']);
    onTestFinished(() => {
      holder.process.kill('SIGKILL');
    });
    await holder.line((line) => line === 'ready');
    // This process breaks the dead owner's lock. Once it holds the guard and has judged the lock
    // stale again, the lock changes hands: the dead owner's lock goes (as a frozen owner that woke
    // up would release it) and D takes the lock. This breaker then moves D's lock aside, and while
    // it is aside D releases: D finds no lock of its own to remove. Seeing that what it moved is not
    // the lock it judged stale, the breaker puts D's lock back.
    after.set(`link ${guard}`, () => {
      after.set(`read ${lockPath}`, async () => {
        await rm(lockPath);
        holder.process.stdin.write('go\n');
        await holder.line((line) => line === 'locked');
        after.set(`remove ${lockPath}`, async () => {
          holder.process.stdin.write('release\n');
          await holder.line((line) => line === 'released');
        });
      });
      return Promise.resolve();
    });
    // D's process runs: its put-back lock would look live until not refreshed for staleLockMs (60 s).
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 10_000 })).resolves.toBe('acquired');
    expect(after.size).toBe(0);
    expect(holder.lines).toContain('warn the lock was broken while held');
    expect(entries.filter((entry) => entry.msg === 'broke a stale lock')).toHaveLength(1);
    holder.process.stdin.write('exit\n');
    expect((await holder.exited).code).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  }, 30_000);

  it('a holder whose lock a breaker moves aside between its release\'s own check and its unlink leaves it stale at once too', async () => {
    const dir = await temporaryDirectory();
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, staleLockMs: 60_000, logger });
    const lockPath = lockPathFor(dir, 'key');
    // Where a breaker (whose last check was of an earlier, stale lock) has the lock it moved.
    const aside = `${lockPath}.stale-breaker`;
    await store.withLock('key', () => {
      // At release, right after this holder has read its own lock back (and dated it), and before its unlink.
      afterStat.set(lockPath, () => {
        renameSync(lockPath, aside);
      });
      return Promise.resolve();
    });
    expect(afterStat.size).toBe(0);
    expect(entries.filter((entry) => entry.level === 'warn').map((entry) => entry.msg)).toEqual(['could not release the lock; dated it stale']);
    // The breaker sees that it moved a lock other than the one it judged stale, and puts it back.
    await link(aside, lockPath);
    await rm(aside);
    expect((await stat(lockPath)).mtimeMs).toBe(0);
    // The released lock names this (live) process: left fresh, it would keep every waiter out for
    // staleLockMs (60 s), here until LOCK_TIMEOUT.
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 5_000 })).resolves.toBe('acquired');
    expect(entries.filter((entry) => entry.msg === 'broke a stale lock')).toHaveLength(1);
    expect(await readdir(dir)).toEqual([]);
  });

  it('a holder whose unlink at release removed a lock another process took while its own was aside leaves its own undated: put back, it still keeps others out', async () => {
    const dir = await temporaryDirectory();
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, staleLockMs: 60_000, logger });
    const lockPath = lockPathFor(dir, 'key');
    const aside = `${lockPath}.stale-breaker`;
    // Process T, alive, whose lock is at the path once this holder's is aside.
    const third = ownerTag(livePid(), 'third');
    await store.withLock('key', () => {
      // At release, right after this holder has read its own lock back: a breaker moves it aside and
      // T takes the empty path; this holder's unlink then removes T's lock.
      after.set(`read ${lockPath}`, async () => {
        await rename(lockPath, aside);
        await writeFile(lockPath, third, { mode: 0o600 });
      });
      return Promise.resolve();
    });
    expect(after.size).toBe(0);
    expect(entries.filter((entry) => entry.level === 'warn')).toEqual([]);
    // The breaker puts this holder's lock back, at the path T's lock no longer holds.
    await link(aside, lockPath);
    await rm(aside);
    // T still runs: the lock put back is all that keeps others out, so it must not look stale.
    expect((await stat(lockPath)).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 500 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    expect(entries.filter((entry) => entry.msg === 'broke a stale lock')).toEqual([]);
  });

  it("the put-back never replaces the lock of a process that took it while it was aside: it fails, with a warning that two holders are possible", async () => {
    const { dir, entries, store, lockPath, guard } = await deadOwnersLock();
    const [first, second] = [0, 1].map(() => spawnChild('hold-on-command', [dir, 'key', '60000']));
    for (const child of [first!, second!]) {
      onTestFinished(() => {
        child.process.kill('SIGKILL');
      });
      await child.line((line) => line === 'ready');
    }
    let secondTag = '';
    // As above, the lock changes hands after the breaker's last check (the first holder takes it);
    // while the breaker has it aside, the second holder takes the empty path.
    after.set(`link ${guard}`, () => {
      after.set(`read ${lockPath}`, async () => {
        await rm(lockPath);
        first!.process.stdin.write('go\n');
        await first!.line((line) => line === 'locked');
        after.set(`remove ${lockPath}`, async () => {
          second!.process.stdin.write('go\n');
          await second!.line((line) => line === 'locked');
          secondTag = await readFile(lockPath, 'utf8');
        });
      });
      return Promise.resolve();
    });
    const waiting = store.withLock('key', () => readFile(lockPath, 'utf8'), { timeoutMs: 20_000 });
    await vi.waitFor(() => {
      expect(entries.map((entry) => entry.msg)).toContain('a stale lock changed hands while being broken; two holders are possible');
    }, { timeout: 20_000, interval: 20 });
    // The second holder's lock is still the one at the path: the put-back (a link) did not replace it.
    expect(await readFile(lockPath, 'utf8')).toBe(secondTag);
    second!.process.stdin.write('release\n');
    await second!.line((line) => line === 'released');
    expect(JSON.parse(await waiting)).toMatchObject({ pid: process.pid });
    // The first holder's lock file was only ever aside: it finds none of its own to remove.
    first!.process.stdin.write('release\n');
    await first!.line((line) => line === 'released');
    expect(first!.lines).toContain('warn the lock was broken while held');
    expect(second!.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
    for (const child of [first!, second!]) child.process.stdin.write('exit\n');
    await Promise.all([first!.exited, second!.exited]);
    expect(await readdir(dir)).toEqual([]);
  }, 60_000);
});
