import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A published entry point of a sessionkit package. */
export interface PackageEntry {
  /** Import specifier, e.g. `@sessionkit/token-store/file`. */
  specifier: string;
  /** Built file the specifier resolves to for users. */
  file: string;
}

const packages = ['logger', 'token-store', 'core-session', 'http-client', 'ess-client'] as const;

/** Every public entry of the client packages, resolved to its built file under `dist/`. */
export function packageEntries(): PackageEntry[] {
  const entries: PackageEntry[] = [];
  for (const name of packages) {
    const manifestPath = fileURLToPath(import.meta.resolve(`@sessionkit/${name}/package.json`));
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports: Record<string, unknown> };
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (typeof target !== 'object' || target === null) continue;
      const file = (target as { default?: string }).default;
      if (file === undefined) continue;
      entries.push({
        specifier: subpath === '.' ? `@sessionkit/${name}` : `@sessionkit/${name}/${subpath.slice(2)}`,
        file: join(dirname(manifestPath), file),
      });
    }
  }
  return entries;
}
