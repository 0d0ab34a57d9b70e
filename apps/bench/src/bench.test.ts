import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Row } from './harness.js';
import { suites } from './suites/index.js';
import type { Measurement } from './types.js';

const main = fileURLToPath(new URL('main.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');

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
    for (const suite of suites) expect(stdout).toContain(`▶ ${suite.name}`);
    expect(results.rows.length).toBeGreaterThanOrEqual(suites.length);
    for (const row of results.rows) {
      const name = `${row.benchmark} / ${row.contender}`;
      // A peer that cannot run here is reported with a note instead of numbers.
      if (row.rounds === 0) expect(row.notes, name).not.toBe('');
      else expect(Number.isFinite(row.median), name).toBe(true);
    }
  }, 300_000);
});
