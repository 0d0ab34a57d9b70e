import { describe, expect, it, vi } from 'vitest';
import { MemoryStore } from './memory-store.js';
import { spawnChild } from './testing/spawn-ts.js';
import { describeStoreContract } from './testing/store-contract.js';

describeStoreContract('MemoryStore', () => ({ store: new MemoryStore() }));

describe('MemoryStore', () => {
  it('keeps records per instance', async () => {
    const first = new MemoryStore();
    const second = new MemoryStore();
    await first.set('key', { version: 1 });
    await expect(second.get('key')).resolves.toBeUndefined();
  });

  it('bounds a lock wait without timeoutMs by lockTimeoutMs, 10 s by default, ending in LOCK_TIMEOUT', async () => {
    vi.useFakeTimers();
    try {
      const store = new MemoryStore();
      let release = (): void => undefined;
      const holder = store.withLock('key', () => new Promise<void>((resolve) => (release = resolve)));
      let outcome: unknown;
      const waiter = store.withLock('key', () => Promise.resolve('ran')).then((value) => (outcome = value), (error: unknown) => (outcome = error));
      await vi.advanceTimersByTimeAsync(9_999);
      expect(outcome).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      await waiter;
      expect(outcome).toMatchObject({ name: 'StoreError', code: 'LOCK_TIMEOUT' });
      release();
      await holder;
    } finally {
      vi.useRealTimers();
    }
    const quick = new MemoryStore({ lockTimeoutMs: 50 });
    // Not re-entrant: a nested withLock for the same key times out instead of waiting forever.
    await expect(quick.withLock('key', () => quick.withLock('key', () => Promise.resolve()))).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    expect(() => new MemoryStore({ lockTimeoutMs: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new MemoryStore(null)).not.toThrow();
    for (const options of [5, 'fast']) {
      expect(() => new MemoryStore(options as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'MemoryStore options must be an object.' }));
    }
  });

  it('keeps the process alive while a caller waits for a lock, so a deadlock ends in LOCK_TIMEOUT, not a silent exit', async () => {
    const child = spawnChild('memory-deadlock', []);
    const { code } = await child.exited;
    expect(child.lines).toEqual(['LOCK_TIMEOUT']);
    expect(code).toBe(0);
  });

  it('is exported from the package root and from /memory', async () => {
    const root = await import('@sessionkit/token-store');
    const memory = await import('@sessionkit/token-store/memory');
    expect(root.MemoryStore).toBe(MemoryStore);
    expect(memory.MemoryStore).toBe(MemoryStore);
  });
});
