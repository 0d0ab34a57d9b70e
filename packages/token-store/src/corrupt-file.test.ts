import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { FileStore } from './file-store.js';
import type * as NodeBuiltins from './node-builtins.js';
import { recordingLogger } from './testing/recording-logger.js';

/**
 * What to do right before or right after the package checks a token file's inode (`lstat` with
 * `{ bigint: true }`, which only `get` uses on a corrupt file), or right after it renames a path
 * away (by its source), once. A mock of ./node-builtins.js, used only to force an interleaving of
 * the package's real file operations on real files with another process's unlocked `set()`,
 * played here as plain fs calls (a temporary file renamed over the path) at the moment the race
 * happens; the package's own code runs unchanged.
 */
const hooks = vi.hoisted(() => new Map<string, () => Promise<void>>());

vi.mock('./node-builtins.js', async (importOriginal) => {
  const builtins = await importOriginal<typeof NodeBuiltins>();
  const run = async (key: string): Promise<void> => {
    const hook = hooks.get(key);
    hooks.delete(key);
    await hook?.();
  };
  return {
    ...builtins,
    lstat: async (path: string, options?: { bigint?: boolean }): Promise<unknown> => {
      if (options?.bigint) await run(`before inode ${path}`);
      const found = await builtins.lstat(path, options);
      if (options?.bigint) await run(`after inode ${path}`);
      return found;
    },
    rename: async (from: string, to: string): Promise<void> => {
      await builtins.rename(from, to);
      await run(`after rename ${from}`);
    },
  };
});

async function temporaryDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'token-store-corrupt-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Another process's unlocked set(): the record written to a temporary file and renamed over `path`. Resolves with its inode. */
async function writeAtomically(path: string, record: object): Promise<number> {
  const temporary = `${path}.other-writer.tmp`;
  await writeFile(temporary, JSON.stringify(record), { mode: 0o600 });
  const { ino } = await stat(temporary);
  await rename(temporary, path);
  return ino;
}

/** What the path holds now, or 'missing'. */
async function contentOf(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => 'missing');
}

describe('FileStore.get on a corrupt file, racing an unlocked writer', () => {
  // A hook a test's package code never reached must not fire in the next test.
  afterEach(() => {
    hooks.clear();
  });

  async function corruptStore(): Promise<{ dir: string; store: FileStore; path: string; warnings: () => unknown[] }> {
    const dir = await temporaryDirectory();
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, logger });
    const path = store.pathFor('key');
    await writeFile(path, '{"version":1,"accessTo', { mode: 0o600 });
    const warnings = (): unknown[] => entries.filter((entry) => entry.level === 'warn').map(({ msg, movedTo }) => ({ msg, movedTo }));
    return { dir, store, path, warnings };
  }

  /** The writer's `record` (its file, `inode`) is at the path, alone in the directory, and nothing was moved aside. */
  async function expectWriterKept({ dir, store, path, warnings }: Awaited<ReturnType<typeof corruptStore>>, record: object, inode: number): Promise<void> {
    expect(await contentOf(path)).toBe(JSON.stringify(record));
    expect((await stat(path)).ino).toBe(inode);
    expect(await readdir(dir)).toEqual([basename(path)]);
    expect(warnings()).toEqual([{ msg: 'a token file could not be parsed; treated as missing', movedTo: undefined }]);
    await expect(store.get('key')).resolves.toEqual(record);
  }

  it('a record renamed over the corrupt file after it was read is left where it is: never missing from its path, even for an instant', async () => {
    const { dir, store, path, warnings } = await corruptStore();
    const record = { version: 1, accessToken: 'the writer\'s' };
    let inode = 0;
    const seenDuringGet: string[] = [];
    hooks.set(`before inode ${path}`, async () => {
      inode = await writeAtomically(path, record);
      // From here on, whatever get() renames away from the path, a reader must still find the record there.
      hooks.set(`after rename ${path}`, async () => {
        seenDuringGet.push(await contentOf(path));
      });
    });
    await expect(store.withLock('key', () => store.get('key'))).resolves.toBeUndefined();
    expect(seenDuringGet).toEqual([]);
    await expectWriterKept({ dir, store, path, warnings }, record, inode);
  });

  it('a record renamed over the corrupt file between the inode check and the move is put back at once, and nothing is left aside', async () => {
    const { dir, store, path, warnings } = await corruptStore();
    const record = { version: 1, accessToken: 'the writer\'s' };
    let inode = 0;
    // The check still finds the corrupt file; the writer's rename lands right after it.
    hooks.set(`after inode ${path}`, async () => {
      inode = await writeAtomically(path, record);
    });
    await expect(store.withLock('key', () => store.get('key'))).resolves.toBeUndefined();
    await expectWriterKept({ dir, store, path, warnings }, record, inode);
  });

  it('a newer record written while the moved one was aside stays: the put-back never replaces it', async () => {
    const { dir, store, path } = await corruptStore();
    const older = { version: 1, accessToken: 'first writer\'s' };
    const newer = { version: 1, accessToken: 'second writer\'s' };
    let inode = 0;
    hooks.set(`after inode ${path}`, async () => {
      await writeAtomically(path, older);
      // The first writer's record is now aside (under get()'s rename); a second writer renames its own over the empty path.
      hooks.set(`after rename ${path}`, async () => {
        inode = await writeAtomically(path, newer);
      });
    });
    await expect(store.withLock('key', () => store.get('key'))).resolves.toBeUndefined();
    expect(await contentOf(path)).toBe(JSON.stringify(newer));
    expect((await stat(path)).ino).toBe(inode);
    // The older record, superseded as any set() supersedes it, is not left under a .corrupt- name either.
    expect(await readdir(dir)).toEqual([basename(path)]);
  });

  it('moves the corrupt file itself when nothing replaced it (the checks see its inode before and after the rename)', async () => {
    const { dir, store, path, warnings } = await corruptStore();
    const { ino } = await stat(path);
    await expect(store.withLock('key', () => store.get('key'))).resolves.toBeUndefined();
    const names = await readdir(dir);
    expect(names).toEqual([expect.stringMatching(new RegExp(`^${createHash('sha256').update('key').digest('hex')}\\.json\\.corrupt-\\d+$`)) as string]);
    expect((await stat(join(dir, names[0]!))).ino).toBe(ino);
    expect(warnings()).toEqual([{ msg: 'a token file could not be parsed; treated as missing', movedTo: join(dir, names[0]!) }]);
  });
});
