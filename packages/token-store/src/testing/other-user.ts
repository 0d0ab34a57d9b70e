import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { ChildUser } from './spawn-ts.js';

/** The unprivileged user (nobody) that root runs children as, where a test needs one. */
export const unprivilegedUser = { uid: 65534, gid: 65534 } as const;
/** A second user, for files that belong to someone else. */
export const anotherUid = 65533;

export const isRoot: boolean = process.getuid?.() === 0;

/** Why {@link unprivilegedUser} cannot run the Node binary at `path` ('' when it can). */
function cannotRun(path: string): string {
  const result = spawnSync(path, ['-e', ''], { ...unprivilegedUser, stdio: 'ignore' });
  return result.status === 0 ? '' : `uid ${unprivilegedUser.uid} cannot run ${path} (${result.error?.message ?? `exit ${String(result.status ?? result.signal)}`})`;
}

let probed: string | undefined;

/**
 * How root runs a child as {@link unprivilegedUser}: with this Node binary, or, where nobody cannot
 * reach it (under `npm exec node@22` it lives in root's 0700 home), with a link to it (a copy
 * across file systems, or when others may not run it) in a directory of its own under the temporary directory, removed when the
 * current test finishes. A string when neither works: why.
 */
function unprivilegedRunner(): ChildUser | string {
  probed ??= cannotRun(process.execPath);
  if (probed === '') return unprivilegedUser;
  const dir = mkdtempSync(join(tmpdir(), 'sessionkit-node-'));
  onTestFinished(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  chmodSync(dir, 0o755);
  const execPath = join(dir, 'node');
  // A link shares the binary's mode: only when others may already run it (a chmod of the link
  // would change the binary itself); otherwise, or across file systems, a copy made runnable.
  try {
    if ((statSync(process.execPath).mode & 0o005) !== 0o005) throw new Error('not runnable by others');
    linkSync(process.execPath, execPath);
  } catch {
    copyFileSync(process.execPath, execPath);
    chmodSync(execPath, 0o755);
  }
  const problem = cannotRun(execPath);
  return problem === '' ? { ...unprivilegedUser, execPath } : `${probed}; ${problem}`;
}

/**
 * The user to run a child as so that file permissions apply to it (root ignores them): this
 * process's own user when it is not root, else nobody (with a Node binary nobody can run). A
 * string instead: why that is impossible here, for the test to skip with. Call it inside a test.
 */
export function unprivilegedChildUser(): ChildUser | string {
  if (!isRoot) return {};
  return unprivilegedRunner();
}
