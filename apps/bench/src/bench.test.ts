import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Row } from './harness.js';
import { suiteNames } from './suites/index.js';
import type { BenchmarkSuite, Measurement } from './types.js';

const main = fileURLToPath(new URL('main.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');

describe('the list of suites', () => {
  it('names every module in suites/ once, each by the name its suite has', async () => {
    const files = (await readdir(new URL('suites/', import.meta.url))).filter((file) => file.endsWith('.ts') && file !== 'index.ts');
    expect([...suiteNames].sort()).toEqual(files.map((file) => file.slice(0, -3)).sort());
    for (const name of suiteNames) {
      const { suite } = (await import(`./suites/${name}.ts`)) as { suite: BenchmarkSuite };
      expect(suite.name).toBe(name);
    }
  });
});

describe('pnpm bench --quick (smoke test: every benchmark runs and produces numbers; targets are not checked)', () => {
  it('runs every suite and writes results/quick.json with a finite median for every row', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', tsx, '--conditions=@sessionkit/source', main, '--quick'],
        { timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
        (error, out, err) => {
          resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout: out, stderr: err });
        },
      );
    });
    expect(stderr).not.toContain('failed:');
    expect(code).toBe(0);
    expect(stdout).toContain('results in');

    const results = JSON.parse(await readFile(new URL('../results/quick.json', import.meta.url), 'utf8')) as {
      quick: boolean;
      rows: Row[];
      measurements: Measurement[];
    };
    expect(results.quick).toBe(true);
    for (const name of suiteNames) expect(stdout).toContain(`▶ ${name}`);
    expect(results.rows.length).toBeGreaterThanOrEqual(suiteNames.length);
    for (const row of results.rows) {
      const name = `${row.benchmark} / ${row.contender}`;
      // A peer that cannot run here is reported with a note instead of numbers.
      if (row.rounds === 0) expect(row.notes, name).not.toBe('');
      else expect(Number.isFinite(row.median), name).toBe(true);
    }
  }, 300_000);
});
