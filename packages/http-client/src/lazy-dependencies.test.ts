import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { expect, it, onTestFinished } from 'vitest';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const probe = fileURLToPath(new URL('./testing/import-probe.ts', import.meta.url));
const none = { imported: 0, required: 0 };

interface Loaded {
  imported: number;
  required: number;
}
type Stage = Record<'undici' | 'ky', Loaded>;

it('importing the root loads neither undici nor ky: the first request loads undici, createApiClient() ky', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'http-client-lazy-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const log = join(dir, 'resolved.log');
  await writeFile(log, '');
  const server = createServer((request, response) => {
    request.resume();
    response.end('[RESPONSE]\r\ncode = 210\r\ndescription = Domain name available\r\nEOF\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    server.close();
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');

  const { stdout } = await promisify(execFile)(process.execPath, ['--import', tsxLoader, '--conditions=@sessionkit/source', probe, `http://127.0.0.1:${address.port}/api/call.cgi`, log]);
  const report = JSON.parse(stdout) as Record<'afterImport' | 'afterConstruct' | 'afterApiClient' | 'afterDirectImport', Stage> & { afterRequest: Stage & { code: number } };
  expect(report.afterImport).toEqual({ undici: none, ky: none });
  expect(report.afterConstruct).toEqual({ undici: none, ky: none });
  // Loaded by require() (synchronous), so the hook does not see it.
  expect(report.afterRequest).toMatchObject({ code: 210, undici: { imported: 0 }, ky: none });
  expect(report.afterRequest.undici.required).toBeGreaterThan(0);
  expect(report.afterApiClient.ky.required).toBeGreaterThan(0);
  // Control: the resolve hook does see an ES module import of either.
  expect(report.afterDirectImport.undici.imported).toBeGreaterThan(0);
  expect(report.afterDirectImport.ky.imported).toBeGreaterThan(0);
});
