import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { expect, it, onTestFinished } from 'vitest';
import { fetchToken, startEssSandbox } from './testing/harness.js';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const probe = fileURLToPath(new URL('./testing/import-probe.ts', import.meta.url));

interface Loaded {
  imported: number;
  required: number;
}

it('importing the root or making a client does not load ws; connect() does', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ess-client-lazy-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const log = join(dir, 'resolved.log');
  await writeFile(log, '');
  const sandbox = await startEssSandbox();
  onTestFinished(() => sandbox.close());

  const { stdout } = await promisify(execFile)(process.execPath, ['--import', tsxLoader, '--conditions=@sessionkit/source', probe, sandbox.essUrl, await fetchToken(sandbox), log]);
  const report = JSON.parse(stdout) as Record<'afterImport' | 'afterConstruct', Loaded> & { afterConnect: Loaded & { state: string } };
  expect(report.afterImport).toEqual({ imported: 0, required: 0 });
  expect(report.afterConstruct).toEqual({ imported: 0, required: 0 });
  // Also the control: both checks see ws once it is loaded.
  expect(report.afterConnect.state).toBe('online');
  expect(report.afterConnect.imported).toBeGreaterThan(0);
  expect(report.afterConnect.required).toBeGreaterThan(0);
});
