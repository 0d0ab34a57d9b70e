import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { FileStore } from './file-store.js';
import type * as NodeBuiltins from './node-builtins.js';

/**
 * What to do right after the package has read a path, once: the test's way in between a
 * breaker (or the sweep) reading a guard and acting on what it read, where the races are.
 */
const afterRead = vi.hoisted(() => new Map<string, () => Promise<void>>());

vi.mock('./node-builtins.js', async (importOriginal) => {
  const builtins = await importOriginal<typeof NodeBuiltins>();
  // The package reads lock files and guards only as `readFile(path, { encoding: 'utf8', … })`.
  const readFile = async (path: string, options: { encoding: 'utf8'; flag?: number }): Promise<string> => {
    const text = await builtins.readFile(path, options);
    const hook = afterRead.get(path);
    afterRead.delete(path);
    await hook?.();
    return text;
  };
  return { ...builtins, readFile };
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

/** An owner tag as lock files and guards hold it. */
function ownerTag(pid: number, nonce: string): string {
  return JSON.stringify({ pid, host: hostname(), nonce, time: Date.now() });
}

/**
 * Breaker B reads the guard G0 of a breaker that died and judges it stale; before B removes it,
 * another breaker removes G0 and a third, C, links its fresh guard G1. `swap` does that part.
 */
function swapGuardAfterRead(guard: string, fresh: string): void {
  afterRead.set(guard, async () => {
    await rm(guard);
    await writeFile(guard, fresh, { mode: 0o600 });
  });
}

describe('the <lock>.breaker guard', () => {
  it("a breaker that judged a dead breaker's guard stale leaves a fresh guard linked meanwhile by another breaker (so two cannot break at once)", async () => {
    const dir = await temporaryDirectory();
    const store = new FileStore({ dir, staleLockMs: 60_000 });
    // The leftover sweep runs on a directory's first use: done now, so the breaker meets the guard below.
    await store.withLock('warm-up', () => Promise.resolve());
    const lockPath = lockPathFor(dir, 'key');
    const guard = `${lockPath}.breaker`;
    const deadLock = ownerTag(deadPid(), 'dead-owner');
    await writeFile(lockPath, deadLock, { mode: 0o600 });
    await writeFile(guard, ownerTag(deadPid(), 'dead-breaker'), { mode: 0o600 });
    // C: a live breaker (this process), at its work.
    const fresh = ownerTag(process.pid, 'live-breaker');
    swapGuardAfterRead(guard, fresh);
    // C's guard is live, so this breaker must wait for it; had it removed it, it would break the lock and get in.
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 500 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    expect(afterRead.has(guard)).toBe(false);
    expect(await readFile(guard, 'utf8')).toBe(fresh);
    expect(await readFile(lockPath, 'utf8')).toBe(deadLock);
    // Nothing left aside.
    expect((await readdir(dir)).sort()).toEqual([basename(lockPath), basename(guard)].sort());
  });

  it("the leftover sweep leaves a fresh guard linked after it judged a dead breaker's guard stale", async () => {
    const dir = await temporaryDirectory();
    const guard = `${lockPathFor(dir, 'key')}.breaker`;
    await writeFile(guard, ownerTag(deadPid(), 'dead-breaker'), { mode: 0o600 });
    const fresh = ownerTag(process.pid, 'live-breaker');
    swapGuardAfterRead(guard, fresh);
    // The first write in this directory sweeps it.
    await new FileStore({ dir }).set('other', { version: 1 });
    expect(afterRead.has(guard)).toBe(false);
    expect(await readFile(guard, 'utf8')).toBe(fresh);
    // Nothing left aside: the guard and the record.
    expect(await readdir(dir)).toHaveLength(2);
  });

  it('the leftover sweep removes the guard of a breaker that died, and one not refreshed for staleLockMs, and leaves a live one', async () => {
    const dir = await temporaryDirectory();
    const dead = `${lockPathFor(dir, 'a')}.breaker`;
    const frozen = `${lockPathFor(dir, 'b')}.breaker`;
    const live = `${lockPathFor(dir, 'c')}.breaker`;
    const elsewhere = `${lockPathFor(dir, 'd')}.breaker`;
    await writeFile(dead, ownerTag(deadPid(), 'dead-breaker'), { mode: 0o600 });
    // Alive (this process), but untouched for longer than staleLockMs: judged stale, as breakers judge it.
    await writeFile(frozen, ownerTag(process.pid, 'frozen-breaker'), { mode: 0o600 });
    const old = new Date(Date.now() - 5_000);
    await utimes(frozen, old, old);
    await writeFile(live, ownerTag(process.pid, 'live-breaker'), { mode: 0o600 });
    // Another host's breaker cannot be checked for life: only its age counts, and it is fresh.
    await writeFile(elsewhere, JSON.stringify({ pid: 1, host: 'another-host.example', nonce: 'remote-breaker', time: Date.now() }), { mode: 0o600 });
    const store = new FileStore({ dir, staleLockMs: 1_000 });
    await store.set('key', { version: 1 });
    expect((await readdir(dir)).sort()).toEqual([live, elsewhere, store.pathFor('key')].map((path) => basename(path)).sort());
  });
});
