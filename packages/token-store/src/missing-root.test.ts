// A store directory whose root is missing (a drive or share on Windows that is not there: `Z:\`,
// whose parent is itself) fails with a StoreError. Played on this platform with a mock of
// ./node-builtins.js whose mkdir answers ENOENT for every path, as Windows does for a missing
// drive's root; before, mkdir of the root was tried for ever (the call never settled).
import { join } from 'node:path';
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
        // A loop fails fast, with its calls, rather than filling the heap.
        if (made.length > 20) throw new Error(`mkdir called ${made.length} times: ${made.slice(0, 8).join(', ')}, ...`);
        throw Object.assign(new Error(`ENOENT: no such file or directory, mkdir '${path}'`), { code: 'ENOENT' });
      },
    },
  };
});

describe('a store directory on a missing root', () => {
  it('fails with a StoreError once the root is reached, not by making parents for ever', async () => {
    const store = new FileStore({ dir: '/sessionkit-missing-root/a/b' });
    // The directory and each parent up to the root (`/` here, `C:\` on Windows), once each.
    const expected = [store.dir];
    for (let path = store.dir; path !== join(path, '..'); ) expected.push((path = join(path, '..')));
    await expect(store.set('key', { version: 1 })).rejects.toMatchObject({ name: 'StoreError', code: 'IO', message: expect.stringContaining(`Could not create ${store.dir} (ENOENT)`) as unknown });
    expect(made).toEqual(expected);
    expect(expected).toHaveLength(4);
  }, 5000);
});
