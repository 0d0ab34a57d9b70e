import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { FileStore } from './file-store.js';
import type * as NodeBuiltins from './node-builtins.js';
import { isRoot } from './testing/other-user.js';
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
    fs: {
      ...builtins.fs,
      lstat: async (path: string, options?: { bigint?: boolean }): Promise<unknown> => {
        if (options?.bigint) await run(`before inode ${path}`);
        const found = await builtins.fs.lstat(path, options);
        if (options?.bigint) await run(`after inode ${path}`);
        return found;
      },
      rename: async (from: string, to: string): Promise<void> => {
        await builtins.fs.rename(from, to);
        await run(`after rename ${from}`);
      },
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
    expect(names).toEqual([expect.stringMatching(new RegExp(`^${createHash('sha256').update('key').digest('hex')}\\.json\\.corrupt-\\d+-[\\da-f-]{36}$`)) as string]);
    expect((await stat(join(dir, names[0]!))).ino).toBe(ino);
    expect(warnings()).toEqual([{ msg: 'a token file could not be parsed; treated as missing', movedTo: join(dir, names[0]!) }]);
  });

  it('a record renamed over the corrupt file whose put-back link fails otherwise than EEXIST (too many links) is renamed back, not deleted', async ({ skip }) => {
    const { dir, store, path, warnings } = await corruptStore();
    const record = { version: 1, accessToken: 'the writer\'s' };
    // The writer's record, with as many hard links as the file system allows (65,000 on ext4), in a
    // directory of its own on the same file system: get()'s link that would put it back then fails
    // with EMLINK, a real failure of link() that is not EEXIST, while a rename still works.
    const links = await temporaryDirectory();
    const written = join(links, 'record');
    await writeFile(written, JSON.stringify(record), { mode: 0o600 });
    const { ino } = await stat(written);
    let full = false;
    for (let count = 1; count < 70_000 && !full; count += 1) {
      try {
        linkSync(written, join(links, String(count)));
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'EMLINK') throw error;
        full = true;
      }
    }
    if (!full) skip(`the file system of ${tmpdir()} allows 70,000 links to a file: no EMLINK to fail the put-back with`);
    // The check still finds the corrupt file; the writer's rename lands right after it.
    hooks.set(`after inode ${path}`, async () => {
      await rename(written, path);
    });
    await expect(store.withLock('key', () => store.get('key'))).resolves.toBeUndefined();
    await expectWriterKept({ dir, store, path, warnings }, record, ino);
  }, 30_000);

  it('a record renamed over the corrupt file that can be neither linked nor renamed back stays aside, whole, and the warning names where', async ({ skip }) => {
    const { dir, store, path, warnings } = await corruptStore();
    const record = { version: 1, accessToken: 'the writer\'s' };
    let inode = 0;
    // A directory nothing can be added to or removed from: read-only by its mode, or for root (whom
    // modes do not stop) immutable (chattr +i, ext4 and the like).
    const freeze = async (): Promise<() => Promise<void>> => {
      if (!isRoot) {
        await chmod(dir, 0o500);
        return () => chmod(dir, 0o700);
      }
      execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
      return () => {
        execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
        return Promise.resolve();
      };
    };
    if (isRoot) {
      try {
        await (await freeze())();
      } catch {
        skip('root, and chattr +i does not work here: no way to make the store directory refuse changes');
      }
    }
    let thaw: (() => Promise<void>) | undefined;
    onTestFinished(() => thaw?.());
    hooks.set(`after inode ${path}`, async () => {
      inode = await writeAtomically(path, record);
      // get() has moved the writer's record aside: from now on neither the link nor the rename that would put it back can work.
      hooks.set(`after rename ${path}`, async () => {
        thaw = await freeze();
      });
    });
    const found = await store.withLock('key', async () => {
      const result = await store.get('key');
      // Before the lock is released: its lock file is in the directory too.
      await thaw?.();
      thaw = undefined;
      return result;
    });
    expect(found).toBeUndefined();
    const names = await readdir(dir);
    expect(names).toEqual([expect.stringMatching(/\.json\.corrupt-\d+-[\da-f-]{36}$/) as string]);
    const aside = join(dir, names[0]!);
    expect((await stat(aside)).ino).toBe(inode);
    expect(await contentOf(aside)).toBe(JSON.stringify(record));
    expect(warnings()).toEqual([{ msg: 'a token file could not be parsed; treated as missing', movedTo: aside }]);
  });

  it('two corrupt files moved aside in the same millisecond keep apart: neither replaces the other', async () => {
    const { dir, store, path, warnings } = await corruptStore();
    const first = await contentOf(path);
    const second = '{"version":1,"refreshTo';
    // One millisecond for the whole test: both moves are named from the same time.
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now);
    onTestFinished(() => {
      vi.restoreAllMocks();
    });
    await store.withLock('key', async () => {
      await expect(store.get('key')).resolves.toBeUndefined();
      await writeFile(path, second, { mode: 0o600 });
      await expect(store.get('key')).resolves.toBeUndefined();
    });
    const names = await readdir(dir);
    expect(names).toHaveLength(2);
    for (const name of names) expect(name).toContain(`.json.corrupt-${now}-`);
    expect((await Promise.all(names.map((name) => contentOf(join(dir, name))))).sort()).toEqual([first, second].sort());
    expect(warnings().map((warning) => (warning as { movedTo: unknown }).movedTo)).toEqual(expect.arrayContaining(names.map((name) => join(dir, name))));
  });
});
