import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { defaultStoreDirectory } from './default-directory.js';
import { FileStore, type FileStoreOptions } from './file-store.js';
import { StoreError } from './store-error.js';
import { anotherUid, isRoot, unprivilegedChildUser, unprivilegedUser } from './testing/other-user.js';
import { recordingLogger } from './testing/recording-logger.js';
import { spawnChild } from './testing/spawn-ts.js';
import { describeStoreContract } from './testing/store-contract.js';

async function temporaryDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'token-store-file-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

async function rejection(promise: Promise<unknown>): Promise<StoreError> {
  const error: unknown = await promise.then(() => undefined, (reason: unknown) => reason);
  if (!StoreError.isInstance(error)) throw new Error(`expected a StoreError, got ${String(error)}`);
  return error;
}

/** The pid of a process that has certainly exited. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(result.stdout);
}

describeStoreContract('FileStore', async () => {
  const dir = await temporaryDirectory();
  return { store: new FileStore({ dir }), reopen: () => new FileStore({ dir }) };
}, { persistent: true });

describe('defaultStoreDirectory', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('uses $XDG_CONFIG_HOME/sessionkit, else ~/.config/sessionkit', () => {
    expect(defaultStoreDirectory({ XDG_CONFIG_HOME: '/xdg/config' }, 'linux', '/home/ada')).toBe('/xdg/config/sessionkit');
    expect(defaultStoreDirectory({}, 'linux', '/home/ada')).toBe('/home/ada/.config/sessionkit');
    expect(defaultStoreDirectory({ XDG_CONFIG_HOME: '' }, 'darwin', '/Users/ada')).toBe('/Users/ada/.config/sessionkit');
    // The XDG specification says relative paths are invalid and must be ignored.
    expect(defaultStoreDirectory({ XDG_CONFIG_HOME: 'relative/dir' }, 'linux', '/home/ada')).toBe('/home/ada/.config/sessionkit');
  });

  it('refuses a home directory that is empty or relative (it would name the current directory)', () => {
    for (const home of ['', 'relative/home']) {
      expect(() => defaultStoreDirectory({}, 'linux', home)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'No absolute home directory for the default store directory: set XDG_CONFIG_HOME or pass a directory.' }));
      expect(defaultStoreDirectory({ XDG_CONFIG_HOME: '/xdg/config' }, 'linux', home)).toBe('/xdg/config/sessionkit');
    }
    expect(() => defaultStoreDirectory({}, 'win32', 'ada')).toThrow('set APPDATA or pass a directory');
    vi.stubEnv('XDG_CONFIG_HOME', '');
    vi.stubEnv('HOME', '');
    expect(() => new FileStore()).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('looks the home directory up only when XDG_CONFIG_HOME is not set (a user without one can still set it)', async (context) => {
    // A uid with no entry in the user database, and no HOME: Node's homedir() throws.
    if (!isRoot) return context.skip('needs root, to run a child as a user without a home');
    const user = unprivilegedChildUser();
    if (typeof user === 'string') return context.skip(user);
    expect(spawnSync('getent', ['passwd', String(anotherUid)]).status, `uid ${String(anotherUid)} has an entry`).not.toBe(0);
    const run = async (env: NodeJS.ProcessEnv): Promise<string[]> => {
      const child = spawnChild('default-dir', [], { PATH: process.env.PATH, ...env }, { ...user, uid: anotherUid, gid: anotherUid });
      const result = await child.exited;
      expect(result.code, result.stderr).toBe(0);
      return child.lines;
    };
    expect(await run({ XDG_CONFIG_HOME: '/xdg/config' })).toEqual(['dir /xdg/config/sessionkit']);
    expect(await run({})).toEqual(['error INVALID_ARGUMENT']);
  }, 30_000);

  it('uses %APPDATA%\\sessionkit on Windows', () => {
    expect(defaultStoreDirectory({ APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' }, 'win32', 'C:\\Users\\ada')).toBe('C:\\Users\\ada\\AppData\\Roaming\\sessionkit');
    expect(defaultStoreDirectory({}, 'win32', 'C:\\Users\\ada')).toBe('C:\\Users\\ada\\AppData\\Roaming\\sessionkit');
  });

  it('is where a FileStore without dir keeps its files', async () => {
    const base = await temporaryDirectory();
    vi.stubEnv('XDG_CONFIG_HOME', base);
    const store = new FileStore();
    expect(store.dir).toBe(join(base, 'sessionkit'));
    await store.set('identity', { version: 1 });
    expect(await readdir(join(base, 'sessionkit'))).toEqual([`${sha256('identity')}.json`]);
  });
});

describe('FileStore files', () => {
  it('names each file from a SHA-256 of the key, never the key itself, and leaves no temporary files', async () => {
    const dir = await temporaryDirectory();
    const store = new FileStore({ dir });
    const key = 'https://login.example.com/token client-a user@example.com';
    for (let index = 0; index < 5; index += 1) await store.set(key, { version: 1, index });
    const names = await readdir(dir);
    expect(names).toEqual([`${sha256(key)}.json`]);
    expect(names.join(' ')).not.toContain('example');
    expect(store.pathFor(key)).toBe(join(dir, `${sha256(key)}.json`));
    expect(JSON.parse(await readFile(join(dir, names[0]!), 'utf8'))).toEqual({ version: 1, index: 4 });
  });

  it('creates the directory (and missing parents) with mode 0700 and files with mode 0600', async () => {
    const base = await temporaryDirectory();
    const dir = join(base, 'nested', 'sessionkit');
    const store = new FileStore({ dir });
    await store.set('key', { version: 1 });
    expect(await modeOf(dir)).toBe(0o700);
    expect(await modeOf(store.pathFor('key'))).toBe(0o600);
  });

  it('tightens a 0755 directory and a 0644 file on the next write', async () => {
    const dir = await temporaryDirectory();
    await chmod(dir, 0o755);
    const store = new FileStore({ dir });
    await writeFile(store.pathFor('key'), JSON.stringify({ version: 1, old: true }), { mode: 0o644 });
    await chmod(store.pathFor('key'), 0o644);
    expect(await modeOf(dir)).toBe(0o755);
    await store.set('key', { version: 1, fresh: true });
    expect(await modeOf(dir)).toBe(0o700);
    expect(await modeOf(store.pathFor('key'))).toBe(0o600);
    await expect(store.get('key')).resolves.toEqual({ version: 1, fresh: true });
  });

  it('tightens a 0644 file when reading it, and a loosened directory again on every write', async () => {
    const dir = await temporaryDirectory();
    const store = new FileStore({ dir });
    await store.set('key', { version: 1 });
    await chmod(store.pathFor('key'), 0o644);
    await expect(store.get('key')).resolves.toEqual({ version: 1 });
    expect(await modeOf(store.pathFor('key'))).toBe(0o600);
    await chmod(dir, 0o777);
    await store.set('other', { version: 1 });
    expect(await modeOf(dir)).toBe(0o700);
  });

  it('refuses a shared directory (the sticky bit, as /tmp has) with PERMISSION and leaves its mode, for writes and locks', async () => {
    const dir = await temporaryDirectory();
    await chmod(dir, 0o1777);
    const store = new FileStore({ dir });
    const message = `Refusing ${dir}: not a plain directory of its own (a planted link? a shared directory?).`;
    await expect(store.set('key', { version: 1 })).rejects.toMatchObject({ name: 'StoreError', code: 'PERMISSION', message });
    await expect(store.withLock('key', () => Promise.resolve('ran'))).rejects.toMatchObject({ code: 'PERMISSION', message });
    expect((await stat(dir)).mode & 0o7777).toBe(0o1777);
    // A directory of its own inside it is made and used.
    const inside = new FileStore({ dir: join(dir, 'sessionkit') });
    await inside.set('key', { version: 1 });
    await expect(inside.get('key')).resolves.toEqual({ version: 1 });
  });

  it('refuses a symbolic link at a token path with PERMISSION and never writes through it', async () => {
    const dir = await temporaryDirectory();
    const outside = await temporaryDirectory();
    const target = join(outside, 'target.json');
    await writeFile(target, JSON.stringify({ version: 1, planted: true }));
    const store = new FileStore({ dir });
    const path = store.pathFor('key');
    await symlink(target, path);
    expect((await rejection(store.get('key'))).code).toBe('PERMISSION');
    expect((await rejection(store.set('key', { version: 1, secret: 'do not redirect' }))).code).toBe('PERMISSION');
    expect((await rejection(store.delete('key'))).code).toBe('PERMISSION');
    expect(JSON.parse(await readFile(target, 'utf8'))).toEqual({ version: 1, planted: true });
    expect(await readlink(path)).toBe(target);
  });

  it('refuses a dangling symbolic link at a token path (it would create the target)', async () => {
    const dir = await temporaryDirectory();
    const outside = await temporaryDirectory();
    const store = new FileStore({ dir });
    await symlink(join(outside, 'created-by-redirect.json'), store.pathFor('key'));
    expect((await rejection(store.set('key', { version: 1 }))).code).toBe('PERMISSION');
    expect((await rejection(store.get('key'))).code).toBe('PERMISSION');
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses a directory at a token path with PERMISSION', async () => {
    const dir = await temporaryDirectory();
    const store = new FileStore({ dir });
    await mkdir(store.pathFor('key'));
    expect((await rejection(store.get('key'))).code).toBe('PERMISSION');
    expect((await rejection(store.set('key', { version: 1 }))).code).toBe('PERMISSION');
  });

  it('refuses a directory that is a file with PERMISSION', async () => {
    const base = await temporaryDirectory();
    const dir = join(base, 'not-a-directory');
    await writeFile(dir, 'x');
    expect((await rejection(new FileStore({ dir }).set('key', { version: 1 }))).code).toBe('PERMISSION');
  });

  it('moves a corrupt file read under its key\'s lock aside to <file>.corrupt-<time>-<uuid> (a rename: the same file, no copy left at the path), with a warning, and treats it as missing', async () => {
    const dir = await temporaryDirectory();
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, logger });
    const path = store.pathFor('key');
    await writeFile(path, '{"version": 1, "accessTo', { mode: 0o600 });
    const inode = (await stat(path)).ino;
    const before = Date.now();
    await expect(store.withLock('key', () => store.get('key'))).resolves.toBeUndefined();
    // Gone from its path: the next reader finds no file (and logs nothing), not the same corrupt file again.
    const names = await readdir(dir);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(new RegExp(`^${sha256('key')}\\.json\\.corrupt-\\d+-[\\da-f]{8}(-[\\da-f]{4}){3}-[\\da-f]{12}$`));
    const movedTo = join(dir, names[0]!);
    const time = Number(names[0]!.split('.corrupt-')[1]!.split('-')[0]);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Date.now());
    const moved = await stat(movedTo);
    expect(moved.ino).toBe(inode);
    expect(moved.nlink).toBe(1);
    expect(moved.mode & 0o777).toBe(0o600);
    expect(await readFile(movedTo, 'utf8')).toBe('{"version": 1, "accessTo');
    expect(entries.filter((entry) => entry.level === 'warn')).toEqual([expect.objectContaining({ msg: 'a token file could not be parsed; treated as missing', file: path, movedTo })]);
    await expect(store.withLock('key', () => store.get('key'))).resolves.toBeUndefined();
    await expect(store.get('key')).resolves.toBeUndefined();
    expect(entries.filter((entry) => entry.level === 'warn')).toHaveLength(1);
    await store.set('key', { version: 1, fresh: true });
    await expect(store.get('key')).resolves.toEqual({ version: 1, fresh: true });
    expect((await readdir(dir)).sort()).toEqual([`${sha256('key')}.json`, names[0]!].sort());
  });

  it('leaves a corrupt file read outside its key\'s lock in place (a writer may just have replaced it), with a warning; a read under the lock then moves it aside', async () => {
    const dir = await temporaryDirectory();
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, logger });
    const path = store.pathFor('key');
    await writeFile(path, 'not a record', { mode: 0o600 });
    await expect(store.get('key')).resolves.toBeUndefined();
    // Another key's lock does not count.
    await expect(store.withLock('other', () => store.get('key'))).resolves.toBeUndefined();
    expect(await readdir(dir)).toEqual([basename(path)]);
    const warning = { msg: 'a token file could not be parsed; treated as missing', file: path, movedTo: undefined };
    expect(entries.filter((entry) => entry.level === 'warn').map(({ msg, file, movedTo }) => ({ msg, file, movedTo }))).toEqual([warning, warning]);
    // A second store over the same directory: the lock is the lock file's, whichever instance took it.
    await expect(store.withLock('key', () => new FileStore({ dir }).get('key'))).resolves.toBeUndefined();
    const names = await readdir(dir);
    expect(names).toHaveLength(1);
    expect(names[0]).toContain('.json.corrupt-');
    expect(await readFile(join(dir, names[0]!), 'utf8')).toBe('not a record');
  });

  it('treats valid JSON that is not a record (no numeric version) as corrupt', async () => {
    const dir = await temporaryDirectory();
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, logger });
    await writeFile(store.pathFor('key'), '[1, 2, 3]');
    await expect(store.withLock('key', () => store.get('key'))).resolves.toBeUndefined();
    const names = await readdir(dir);
    expect(names).toHaveLength(1);
    expect(names[0]).toContain('.json.corrupt-');
    expect(entries.filter((entry) => entry.level === 'warn')).toHaveLength(1);
  });

  it('removes temporary files left by killed processes once they are old, and only those', async () => {
    const dir = await temporaryDirectory();
    const store = new FileStore({ dir });
    const oldData = join(dir, `.${sha256('a')}.json.0b4c6d7e-0000-4000-8000-000000000000.tmp`);
    const oldLock = join(dir, `${sha256('a')}.lock.0b4c6d7e-0000-4000-8000-000000000001.tmp`);
    const fresh = join(dir, `${sha256('b')}.lock.0b4c6d7e-0000-4000-8000-000000000002.tmp`);
    const other = join(dir, 'notes.txt');
    for (const path of [oldData, oldLock, fresh, other]) await writeFile(path, 'x');
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const path of [oldData, oldLock, other]) await utimes(path, hourAgo, hourAgo);
    await store.set('key', { version: 1 });
    expect((await readdir(dir)).sort()).toEqual([`${sha256('key')}.json`, `${sha256('b')}.lock.0b4c6d7e-0000-4000-8000-000000000002.tmp`, 'notes.txt'].sort());
  });

  it('sweeps only its own temporary files: old *.tmp files of the user in a shared dir stay', async () => {
    const dir = await temporaryDirectory();
    const store = new FileStore({ dir });
    const uuid = '0b4c6d7e-0000-4000-8000-000000000003';
    const ownAside = `${sha256('c')}.lock.stale-${uuid}`;
    const foreign = ['draft-report.tmp', '.draft.tmp', `notes.lock.stale-${uuid}`, `${sha256('d')}.json.tmp`, `report.${uuid}.tmp`, `${sha256('e')}.txt.${uuid}.tmp`,
      // Shapes the package never makes: a record name with a uuid, a hidden lock aside.
      `${sha256('f')}.json.${uuid}`, `.${sha256('g')}.lock.stale-${uuid}.tmp`, `.${sha256('h')}.lock.${uuid}.tmp`, `${sha256('i')}.json.stale-${uuid}`];
    for (const name of [ownAside, ...foreign]) await writeFile(join(dir, name), 'two hours of work');
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const name of [ownAside, ...foreign]) await utimes(join(dir, name), hourAgo, hourAgo);
    await store.set('key', { version: 1 });
    expect((await readdir(dir)).sort()).toEqual([`${sha256('key')}.json`, ...foreign].sort());
  });

  it('rejects bad options with INVALID_ARGUMENT', () => {
    expect(() => new FileStore({ staleLockMs: 99 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    expect(() => new FileStore({ lockTimeoutMs: -5 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    expect(() => new FileStore({ lockTimeoutMs: Number.POSITIVE_INFINITY })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
  });

  it("rejects an empty dir (an environment variable set but empty) with INVALID_ARGUMENT, instead of taking the current directory (and making it 0700)", async () => {
    const dir = await temporaryDirectory();
    await chmod(dir, 0o755);
    const cwd = process.cwd();
    process.chdir(dir);
    onTestFinished(() => {
      process.chdir(cwd);
    });
    expect(() => new FileStore({ dir: '' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'dir must be a non-empty string.' }) as Error);
    expect(await modeOf(dir)).toBe(0o755);
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes null options (from JavaScript) as none, and rejects a dir that is not a string with INVALID_ARGUMENT', () => {
    expect(new FileStore(null).dir).toBe(defaultStoreDirectory());
    for (const dir of [5, {}, ['a'], true]) {
      expect(() => new FileStore({ dir } as unknown as FileStoreOptions), JSON.stringify(dir)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    }
  });

  it('takes options given as a string (from JavaScript) as the dir, not as none (the default directory), and refuses other non-objects', () => {
    expect(new FileStore('/tmp/sessionkit-string-dir' as never).dir).toBe('/tmp/sessionkit-string-dir');
    for (const options of [42, true]) {
      expect(() => new FileStore(options as never), String(options)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'dir must be a non-empty string.' }) as Error);
    }
  });

  it('rejects lockTimeoutMs and staleLockMs above 2147483647 with INVALID_ARGUMENT (Node.js would fire such timers after 1 ms)', () => {
    // staleLockMs / 3 is the heartbeat interval: 7e9 would touch the lock file every millisecond.
    for (const options of [{ lockTimeoutMs: 2 ** 31 }, { staleLockMs: 2 ** 31 }, { staleLockMs: 7e9 }]) {
      expect(() => new FileStore(options), JSON.stringify(options)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('2147483647') as string }) as Error);
    }
    expect(new FileStore({ lockTimeoutMs: 2 ** 31 - 1, staleLockMs: 2 ** 31 - 1 })).toBeInstanceOf(FileStore);
  });
});

describe('FileStore on a file system that refuses writes', () => {
  it('rejects withLock() with StoreError IO when the lock cannot be written (a full disk), as set() does: not with the file system\'s own error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-refused-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const child = spawnChild('refused-writes', [dir, 'key']);
    await child.line((line) => line === 'ready');
    // A file size limit of 0 (RLIMIT_FSIZE), set from outside: every write to a file fails with
    // EFBIG, as writes to a full disk fail with ENOSPC (Node ignores the SIGXFSZ that comes with it).
    const limited = spawnSync('prlimit', ['--pid', String(child.process.pid), '--fsize=0:'], { encoding: 'utf8' });
    expect(limited.status, limited.stderr).toBe(0);
    child.process.stdin.write('go\n');
    const { code, stderr } = await child.exited;
    expect(code, stderr).toBe(0);
    expect(child.lines).toEqual([
      'ready',
      expect.stringMatching(/^withLock IO Could not create .*\.lock \(EFBIG\)\.$/) as unknown,
      expect.stringMatching(/^set IO Could not write .*\.json \(EFBIG\)\.$/) as unknown,
    ]);
  });
});

describe('FileStore and file owners', () => {
  it('get() refuses a token file owned by another user with PERMISSION (planted in a loose directory), and leaves it alone', async (context) => {
    if (!isRoot) context.skip('needs root, to give a token file to another user (chown)');
    const dir = await temporaryDirectory();
    await chmod(dir, 0o777);
    const store = new FileStore({ dir });
    const path = store.pathFor('key');
    const planted = JSON.stringify({ version: 1, accessToken: 'PLANTED-TOKEN' });
    await writeFile(path, planted, { mode: 0o644 });
    await chown(path, anotherUid, anotherUid);
    const error = await rejection(store.get('key'));
    expect(error.code).toBe('PERMISSION');
    expect(error.message).toContain(`${path} is owned by user ${anotherUid}, not 0`);
    expect(error.message).not.toContain('PLANTED');
    expect(await readFile(path, 'utf8')).toBe(planted);
    expect(await modeOf(path)).toBe(0o644);
    expect(await readdir(dir)).toEqual([basename(path)]);
  });

  it('get() gives a token file of this user that it cannot read (mode 0200) mode 0600 and reads it, never moving it aside', async (context) => {
    // Root reads any file: the reader must be a user that file permissions apply to.
    const user = unprivilegedChildUser();
    if (typeof user === 'string') return context.skip(user);
    const dir = await temporaryDirectory();
    const store = new FileStore({ dir });
    const path = store.pathFor('key');
    await store.set('key', { version: 1, accessToken: 'own' });
    await chmod(path, 0o200);
    if (isRoot) {
      await chown(dir, unprivilegedUser.uid, unprivilegedUser.gid);
      await chown(path, unprivilegedUser.uid, unprivilegedUser.gid);
    }
    const child = spawnChild('get-record', [dir, 'key'], process.env, user);
    const result = await child.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(child.lines).toEqual(['record {"version":1,"accessToken":"own"}']);
    expect(await modeOf(path)).toBe(0o600);
    expect(await readdir(dir)).toEqual([basename(path)]);
  });

  it("get() refuses another user's token file that it cannot read with PERMISSION, never moving it aside", async (context) => {
    if (!isRoot) context.skip('needs root, to give a token file to another user and read it as a third');
    const user = unprivilegedChildUser();
    if (typeof user === 'string') return context.skip(user);
    const dir = await temporaryDirectory();
    await chown(dir, unprivilegedUser.uid, unprivilegedUser.gid);
    await chmod(dir, 0o777);
    const path = new FileStore({ dir }).pathFor('key');
    await writeFile(path, JSON.stringify({ version: 1, accessToken: 'PLANTED-TOKEN' }), { mode: 0o600 });
    await chown(path, anotherUid, anotherUid);
    const child = spawnChild('get-record', [dir, 'key'], process.env, user);
    const result = await child.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(child.lines).toEqual([`error PERMISSION ${path} is owned by user ${anotherUid}, not ${unprivilegedUser.uid}: use a directory (and files) you own.`]);
    expect(await readdir(dir)).toEqual([basename(path)]);
    expect(await modeOf(path)).toBe(0o600);
  });
});

describe('FileStore locks (in one process)', () => {
  it('holds an owner-tagged 0600 lock file while fn runs and removes it after', async () => {
    const dir = await temporaryDirectory();
    const store = new FileStore({ dir });
    const lockPath = join(dir, `${sha256('key')}.lock`);
    const seen = await store.withLock('key', async () => {
      const info = await lstat(lockPath);
      return { mode: info.mode & 0o777, owner: JSON.parse(await readFile(lockPath, 'utf8')) as Record<string, unknown>, names: await readdir(dir) };
    });
    expect(seen.mode).toBe(0o600);
    expect(seen.owner).toMatchObject({ pid: process.pid, host: hostname() });
    expect(seen.owner.nonce).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(Date.now() - (seen.owner.time as number))).toBeLessThan(10_000);
    expect(seen.names).toEqual([`${sha256('key')}.lock`]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('excludes callers across two store instances over the same directory', async () => {
    const dir = await temporaryDirectory();
    const stores = [new FileStore({ dir }), new FileStore({ dir })];
    await stores[0]!.set('key', { version: 1, count: 0 });
    await Promise.all(Array.from({ length: 10 }, (_, index) => {
      const store = stores[index % 2]!;
      return store.withLock('key', async () => {
        const record = await store.get('key');
        await store.set('key', { version: 1, count: (record!.count as number) + 1 });
      });
    }));
    await expect(stores[1]!.get('key')).resolves.toEqual({ version: 1, count: 10 });
  });

  it('refuses an fn that is not a function with INVALID_ARGUMENT before it touches the disk (no directory, no lock file)', async () => {
    const base = await temporaryDirectory();
    const dir = join(base, 'sessionkit');
    const error = await rejection(new FileStore({ dir }).withLock('key', 'not a function' as unknown as () => Promise<void>));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe('fn must be a function.');
    expect(await readdir(base)).toEqual([]);
  });

  it('refuses a symbolic link at the lock path with PERMISSION, without running fn', async () => {
    const dir = await temporaryDirectory();
    const outside = await temporaryDirectory();
    await symlink(join(outside, 'elsewhere.lock'), join(dir, `${sha256('key')}.lock`));
    let ran = false;
    const error = await rejection(new FileStore({ dir }).withLock('key', () => {
      ran = true;
      return Promise.resolve();
    }, { timeoutMs: 1_000 }));
    expect(error.code).toBe('PERMISSION');
    expect(ran).toBe(false);
    expect(await readdir(outside)).toEqual([]);
  });

  it('breaks at once a lock whose owner process on this host has exited, with a warning', async () => {
    const dir = await temporaryDirectory();
    const lockPath = join(dir, `${sha256('key')}.lock`);
    await writeFile(lockPath, JSON.stringify({ pid: deadPid(), host: hostname(), nonce: 'dead-owner', time: Date.now() }), { mode: 0o600 });
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, staleLockMs: 60_000, logger });
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 2_000 })).resolves.toBe('acquired');
    const warning = entries.find((entry) => entry.msg === 'broke a stale lock');
    expect(warning).toMatchObject({ level: 'warn', reason: 'its owner process has exited' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('breaks a dead owner\'s lock at once even when a breaker died mid-break and left its <lock>.breaker guard', async () => {
    const dir = await temporaryDirectory();
    const lockPath = join(dir, `${sha256('key')}.lock`);
    await writeFile(lockPath, JSON.stringify({ pid: deadPid(), host: hostname(), nonce: 'dead-owner', time: Date.now() }), { mode: 0o600 });
    // The guard a breaker holds while it breaks a lock carries its owner tag; this breaker was killed.
    await writeFile(`${lockPath}.breaker`, JSON.stringify({ pid: deadPid(), host: hostname(), nonce: 'dead-breaker', time: Date.now() }), { mode: 0o600 });
    const store = new FileStore({ dir, staleLockMs: 60_000 });
    const started = Date.now();
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 3_000 })).resolves.toBe('acquired');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await readdir(dir)).toEqual([]);
  });

  it('is not blocked by a <lock>.break directory, the guard of earlier builds', async () => {
    const dir = await temporaryDirectory();
    const lockPath = join(dir, `${sha256('key')}.lock`);
    await writeFile(lockPath, JSON.stringify({ pid: deadPid(), host: hostname(), nonce: 'dead-owner', time: Date.now() }), { mode: 0o600 });
    await mkdir(`${lockPath}.break`, { mode: 0o700 });
    const store = new FileStore({ dir, staleLockMs: 60_000 });
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 2_000 })).resolves.toBe('acquired');
  });

  it('leaves a live breaker\'s <lock>.breaker guard alone: other breakers wait (until it is older than staleLockMs)', async () => {
    const dir = await temporaryDirectory();
    const lockPath = join(dir, `${sha256('key')}.lock`);
    const guard = `${lockPath}.breaker`;
    await writeFile(lockPath, JSON.stringify({ pid: deadPid(), host: hostname(), nonce: 'dead-owner', time: Date.now() }), { mode: 0o600 });
    const breaker = JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'live-breaker', time: Date.now(), staleLockMs: 1_000 });
    await writeFile(guard, breaker, { mode: 0o600 });
    const store = new FileStore({ dir, staleLockMs: 1_000 });
    expect((await rejection(store.withLock('key', () => Promise.resolve(), { timeoutMs: 300 }))).code).toBe('LOCK_TIMEOUT');
    expect(await readFile(guard, 'utf8')).toBe(breaker);
    // Frozen for longer than staleLockMs: the guard is stale like any lock.
    const old = new Date(Date.now() - 5_000);
    await utimes(guard, old, old);
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 2_000 })).resolves.toBe('acquired');
  });

  it('breaks a lock from another host once it is older than staleLockMs', async () => {
    const dir = await temporaryDirectory();
    const lockPath = join(dir, `${sha256('key')}.lock`);
    await writeFile(lockPath, JSON.stringify({ pid: 1, host: 'another-host.example', nonce: 'old', time: Date.now() - 60_000 }), { mode: 0o600 });
    const old = new Date(Date.now() - 60_000);
    await utimes(lockPath, old, old);
    const store = new FileStore({ dir, staleLockMs: 5_000 });
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 2_000 })).resolves.toBe('acquired');
  });

  it('breaks a lock dated ahead by more than staleLockMs (written before the clock was set back, or planted): it would never go stale', async () => {
    const dir = await temporaryDirectory();
    const lockPath = join(dir, `${sha256('key')}.lock`);
    const ahead = Date.now() + 3_600_000;
    await writeFile(lockPath, JSON.stringify({ pid: 1, host: 'another-host.example', nonce: 'ahead', time: ahead, staleLockMs: 1_000 }), { mode: 0o600 });
    await utimes(lockPath, new Date(ahead), new Date(ahead));
    const { logger, entries } = recordingLogger();
    const store = new FileStore({ dir, staleLockMs: 1_000, logger });
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 2_000 })).resolves.toBe('acquired');
    expect(JSON.stringify(entries)).toMatch(/dated \d+ ms ahead/);
    // Ahead by less than staleLockMs (clocks that agree, to within it): live, waited for.
    const near = Date.now() + 500;
    await writeFile(lockPath, JSON.stringify({ pid: 1, host: 'another-host.example', nonce: 'near', time: near, staleLockMs: 1_000 }), { mode: 0o600 });
    await utimes(lockPath, new Date(near), new Date(near));
    expect((await rejection(store.withLock('key', () => Promise.resolve(), { timeoutMs: 300 }))).code).toBe('LOCK_TIMEOUT');
  });

  it('waits for a live lock from another host and breaks it only when it has gone stale', async () => {
    const dir = await temporaryDirectory();
    const lockPath = join(dir, `${sha256('key')}.lock`);
    await writeFile(lockPath, JSON.stringify({ pid: 1, host: 'another-host.example', nonce: 'fresh', time: Date.now(), staleLockMs: 400 }), { mode: 0o600 });
    const written = (await stat(lockPath)).mtimeMs;
    const store = new FileStore({ dir, staleLockMs: 400 });
    let acquiredAt = 0;
    await store.withLock('key', () => {
      acquiredAt = Date.now();
      return Promise.resolve();
    }, { timeoutMs: 5_000 });
    expect(acquiredAt - written).toBeGreaterThanOrEqual(400);
  });

  it("judges a lock's age by the longer of the waiter's staleLockMs and its owner's (the waiter's own for a tag without a valid one), and a dead owner on this host at once whatever its tag says", async () => {
    const dir = await temporaryDirectory();
    const lockPath = join(dir, `${sha256('key')}.lock`);
    const store = new FileStore({ dir, staleLockMs: 5_000 });
    /** A lock from another host (its age alone can make it stale), last refreshed `ageMs` ago. */
    const remoteLock = async (ageMs: number, staleLockMs?: number): Promise<string> => {
      const owner = JSON.stringify({ pid: 1, host: 'another-host.example', nonce: 'remote', time: Date.now() - ageMs, staleLockMs });
      await writeFile(lockPath, owner, { mode: 0o600 });
      const refreshed = new Date(Date.now() - ageMs);
      await utimes(lockPath, refreshed, refreshed);
      return owner;
    };
    // Older than the waiter's 5 s, younger than the owner's 60 s (it refreshes every 20 s): live.
    let owner = await remoteLock(10_000, 60_000);
    expect((await rejection(store.withLock('key', () => Promise.resolve(), { timeoutMs: 300 }))).code).toBe('LOCK_TIMEOUT');
    expect(await readFile(lockPath, 'utf8')).toBe(owner);
    // An earlier version's tag, without staleLockMs: judged by the waiter's own 5 s, as that version judges.
    owner = await remoteLock(3_000);
    expect((await rejection(store.withLock('key', () => Promise.resolve(), { timeoutMs: 300 }))).code).toBe('LOCK_TIMEOUT');
    expect(await readFile(lockPath, 'utf8')).toBe(owner);
    await remoteLock(6_000);
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 2_000 })).resolves.toBe('acquired');
    // Past the longest staleLockMs an option takes (2147483647): the waiter's own too, not forever.
    await remoteLock(6_000, 1e15);
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 2_000 })).resolves.toBe('acquired');
    // On this host, an owner that has exited is found at once, however long its staleLockMs.
    await writeFile(lockPath, JSON.stringify({ pid: deadPid(), host: hostname(), nonce: 'dead-owner', time: Date.now(), staleLockMs: 2_147_483_647 }), { mode: 0o600 });
    const started = Date.now();
    await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 10_000 })).resolves.toBe('acquired');
    // At once: far from the timeout, with room for a busy machine.
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("judges a lock whose tag has no staleLockMs (a lock of an earlier version, or of a container whose pid cannot be checked) or one that is not a number by the waiter's own staleLockMs", async () => {
    const dir = join(await temporaryDirectory(), 'store');
    const store = new FileStore({ dir, staleLockMs: 1_000 });
    await store.set('key', { version: 1 });
    const lockPath = join(dir, `${sha256('key')}.lock`);
    // Neither counts as 30 s (the default) nor as 2000000000 ms (~23 days, a string that <= takes as a number).
    for (const [nonce, ageMs, staleLockMs] of [['earlier-version', 5_000, undefined], ['string', 40_000, '2000000000']] as const) {
      await writeFile(lockPath, JSON.stringify({ pid: 1, host: 'another-host.example', nonce, time: Date.now() - ageMs, staleLockMs }), { mode: 0o600 });
      const refreshed = new Date(Date.now() - ageMs);
      await utimes(lockPath, refreshed, refreshed);
      await expect(store.withLock('key', () => Promise.resolve('acquired'), { timeoutMs: 2_000 }), nonce).resolves.toBe('acquired');
    }
  });

  it('times out with LOCK_TIMEOUT naming the holder, and leaves a live lock alone', async () => {
    const dir = await temporaryDirectory();
    const lockPath = join(dir, `${sha256('key')}.lock`);
    const owner = JSON.stringify({ pid: 4242, host: 'another-host.example', nonce: 'live', time: Date.now() });
    await writeFile(lockPath, owner, { mode: 0o600 });
    const store = new FileStore({ dir, lockTimeoutMs: 200 });
    const started = Date.now();
    const error = await rejection(store.withLock('key', () => Promise.resolve()));
    expect(error.code).toBe('LOCK_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(error.message).toContain('process 4242 on another-host.example');
    expect(await readFile(lockPath, 'utf8')).toBe(owner);
  });

  it('times out with LOCK_TIMEOUT, not a RangeError, for a live lock whose owner tag has a time that is not a date', async () => {
    const dir = await temporaryDirectory();
    const lockPath = join(dir, `${sha256('key')}.lock`);
    // A corrupt or foreign tag: taken as no owner tag, and judged by its file's age alone.
    await writeFile(lockPath, JSON.stringify({ pid: 4242, host: 'another-host.example', nonce: 'odd', time: 1e300 }), { mode: 0o600 });
    const store = new FileStore({ dir, lockTimeoutMs: 200 });
    const error = await rejection(store.withLock('key', () => Promise.resolve()));
    expect(error).toMatchObject({ name: 'StoreError', code: 'LOCK_TIMEOUT' });
    expect(error.message).toContain('held by another caller');
  });
});
