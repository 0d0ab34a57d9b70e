import { describe, expect, it } from 'vitest';
import { MemoryStore } from './memory-store.js';
import { describeStoreContract } from './testing/store-contract.js';

describeStoreContract('MemoryStore', () => ({ store: new MemoryStore() }));

describe('MemoryStore', () => {
  it('keeps records per instance', async () => {
    const first = new MemoryStore();
    const second = new MemoryStore();
    await first.set('key', { version: 1 });
    await expect(second.get('key')).resolves.toBeUndefined();
  });

  it('is exported from the package root and from /memory', async () => {
    const root = await import('@sessionkit/token-store');
    const memory = await import('@sessionkit/token-store/memory');
    expect(root.MemoryStore).toBe(MemoryStore);
    expect(memory.MemoryStore).toBe(MemoryStore);
  });
});
