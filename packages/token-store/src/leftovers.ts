import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@sessionkit/logger';

/** Temporary files this old are leftovers of a killed process: live ones are refreshed within milliseconds. */
const leftoverAgeMs = 10 * 60_000;
const swept = new Set<string>();

/**
 * Once per directory and process, removes temporary files left by processes killed mid-write
 * or mid-wait (`*.tmp`, `*.lock.stale-*`) that are older than ten minutes. A live writer's
 * temporary file exists for milliseconds and a waiting locker rewrites its own on every poll,
 * so neither is ever that old. Failures are ignored: this is housekeeping.
 */
export async function sweepLeftovers(dir: string, logger: Logger): Promise<void> {
  if (swept.has(dir)) return;
  swept.add(dir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    if (!name.endsWith('.tmp') && !name.includes('.lock.stale-')) continue;
    const path = join(dir, name);
    try {
      const info = await lstat(path);
      if (info.isFile() && now - info.mtimeMs > leftoverAgeMs) {
        await unlink(path);
        logger.debug('removed a leftover temporary file', { file: path });
      }
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}
