// The reporter behind the test command's "passed only on a retry" lines (tooling/scripts/
// retried-reporter.mjs), run by the workspace's own vitest on a fixture file of its own.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const reporter = join(root, 'tooling', 'scripts', 'retried-reporter.mjs');
const fixture = mkdtempSync(join(tmpdir(), 'sessionkit-retried-'));
// Globals, so that the fixture imports nothing from outside its directory.
writeFileSync(
  join(fixture, 'fixture.test.js'),
  `let tries = 0;
describe('outer', () => {
  it('passes on the third try', { retry: 3 }, () => { tries += 1; expect(tries).toBe(3); });
  it('passes at once', { retry: 2 }, () => {});
  it('fails every try', { retry: 1 }, () => { expect(1).toBe(2); });
  it('fails once, without a retry', () => { expect(1).toBe(2); });
});
`,
);

function vitest(env: Record<string, string | undefined>) {
  const child = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--root', fixture, '--globals', `--reporter=${reporter}`], {
    cwd: fixture,
    env: { ...process.env, SESSIONKIT_RETRIED_FILE: undefined, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: child.status, output: `${child.stdout}${child.stderr}` };
}

afterAll(() => {
  rmSync(fixture, { recursive: true, force: true });
});

describe('retried-reporter.mjs', () => {
  it('names exactly the tests that passed after a failed try, with their number of retries', () => {
    const out = join(fixture, 'retried.json');
    const { status } = vitest({ SESSIONKIT_RETRIED_FILE: out });
    // The fixture has failing tests: the run fails, and the reporter still writes its file.
    expect(status).toBe(1);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual([{ file: join(fixture, 'fixture.test.js'), test: 'outer > passes on the third try', retries: 2 }]);
  });

  it('refuses to run without a file to write', () => {
    const { status, output } = vitest({});
    expect(status).toBe(1);
    expect(output).toContain('SESSIONKIT_RETRIED_FILE names no file to write');
  });
});
