import { spawnSync } from 'node:child_process';
import type { ChildUser } from './spawn-ts.js';

/** The unprivileged user (nobody) that root runs children as, where a test needs one. */
export const unprivilegedUser = { uid: 65534, gid: 65534 } as const;
/** A second user, for files that belong to someone else. */
export const anotherUid = 65533;

export const isRoot: boolean = process.getuid?.() === 0;

let probed: string | undefined;
/** Why root cannot run a child as {@link unprivilegedUser} here ('' when it can). */
function unprivilegedProblem(): string {
  if (probed === undefined) {
    // Under `npm exec node@22` the Node binary lives in root's 0700 home, out of nobody's reach.
    const result = spawnSync(process.execPath, ['-e', ''], { ...unprivilegedUser, stdio: 'ignore' });
    probed = result.status === 0 ? '' : `uid ${unprivilegedUser.uid} cannot run ${process.execPath} (${result.error?.message ?? `exit ${String(result.status ?? result.signal)}`})`;
  }
  return probed;
}

/**
 * The user to run a child as so that file permissions apply to it (root ignores them): this
 * process's own user when it is not root, else nobody. A string instead: why that is
 * impossible here, for the test to skip with.
 */
export function unprivilegedChildUser(): ChildUser | string {
  if (!isRoot) return {};
  return unprivilegedProblem() || unprivilegedUser;
}
