// Every published package carries the repository's licence: npm puts a package's LICENSE file in
// its tarball whatever `files` lists, so the file must be in the package's own directory.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));

it('has every package that is not private ship the root LICENSE, and declare it as MIT', () => {
  const licence = readFileSync(join(root, 'LICENSE'), 'utf8');
  expect(licence).toMatch(/^MIT License\n/);
  const breaches: string[] = [];
  let published = 0;
  for (const folder of ['packages', 'apps', 'tooling']) {
    for (const name of readdirSync(join(root, folder))) {
      const dir = join(root, folder, name);
      let manifest: { private?: boolean; license?: string };
      try {
        manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof manifest;
      } catch {
        continue;
      }
      if (manifest.private === true) continue;
      published += 1;
      if (manifest.license !== 'MIT') breaches.push(`${folder}/${name}: license is ${String(manifest.license)}, not MIT`);
      let own: string | undefined;
      try {
        own = readFileSync(join(dir, 'LICENSE'), 'utf8');
      } catch {
        // missing: reported below
      }
      if (own !== licence) breaches.push(`${folder}/${name}: ${own === undefined ? 'no LICENSE file' : 'its LICENSE differs from the root one'}`);
    }
  }
  expect(breaches).toEqual([]);
  // The six published packages: a walk that found none would pass without checking anything.
  expect(published).toBe(6);
});
