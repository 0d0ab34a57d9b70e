import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { spawnChild } from './testing/spawn-ts.js';

interface Loaded {
  cache: number;
  maps: number;
  sharedObjects: number;
}

it('importing the root, /file and /keychain never loads @napi-rs/keyring (only using a KeychainStore does, in its helper)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'token-store-lazy-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const child = spawnChild('import-probe', [dir]);
  const result = await child.exited;
  expect(result.code, result.stderr).toBe(0);
  const report = JSON.parse(child.lines[0] ?? '{}') as Record<'afterRootAndFile' | 'afterKeychainImport' | 'afterDirectLoad', Loaded>;
  expect(report.afterRootAndFile).toEqual({ cache: 0, maps: 0, sharedObjects: 0 });
  expect(report.afterKeychainImport).toEqual({ cache: 0, maps: 0, sharedObjects: 0 });
  // Control: the same checks do see the module once it is loaded.
  expect(report.afterDirectLoad.cache).toBeGreaterThan(0);
  expect(report.afterDirectLoad.sharedObjects).toBeGreaterThan(0);
  if (process.platform === 'linux') expect(report.afterDirectLoad.maps).toBeGreaterThan(0);
});
