// A store directory whose root is missing (a drive or share on Windows that is not there: `Z:\`,
// whose parent is itself) fails with a StoreError. Played on this platform with a mock of
// ./node-builtins.js whose mkdir answers ENOENT for every path, as Windows does for a missing
// drive's root; before, the parents were made from the root again and again, for ever.
import { describe, expect, it, vi } from 'vitest';
import { FileStore } from './file-store.js';
import type * as NodeBuiltins from './node-builtins.js';

const made = vi.hoisted(() => [] as string[]);

vi.mock('./node-builtins.js', async (importOriginal) => {
  const builtins = await importOriginal<typeof NodeBuiltins>();
  return {
    ...builtins,
    fs: {
      ...builtins.fs,
      mkdir: async (path: string): Promise<void> => {
        made.push(path);
        await Promise.resolve();
        throw Object.assign(new Error(`ENOENT: no such file or directory, mkdir '${path}'`), { code: 'ENOENT' });
      },
    },
  };
});

describe('a store directory on a missing root', () => {
  it('fails with a StoreError once the root is reached, not by making parents for ever', async () => {
    const store = new FileStore({ dir: '/sessionkit-missing-root/a/b' });
    await expect(store.set('key', { version: 1 })).rejects.toMatchObject({ name: 'StoreError', code: 'IO', message: expect.stringContaining('Could not create /sessionkit-missing-root/a/b (ENOENT)') as unknown });
    // From the directory up to the root, each once.
    expect(made).toEqual(['/sessionkit-missing-root/a/b', '/sessionkit-missing-root/a', '/sessionkit-missing-root', '/']);
  }, 5000);
});
