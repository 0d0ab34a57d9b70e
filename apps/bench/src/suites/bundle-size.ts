import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { packageEntries } from '../package-entries.js';
import type { BenchmarkSuite, Measurement } from '../types.js';

const BENCHMARK = 'bundle size, min+gzip, own code';

/** Budgets from the benchmark plan, in bytes. */
const budgets: Record<string, number> = {
  '@sessionkit/logger': 2048,
  '@sessionkit/token-store': 2048,
  '@sessionkit/token-store/file': 4096,
  '@sessionkit/core-session': 6144,
  '@sessionkit/http-client': 8192,
  '@sessionkit/ess-client': 8192,
};

/** Bundle one entry with every package import left external, minify, gzip, and count bytes. */
async function ownCodeSize(file: string): Promise<number> {
  const result = await build({
    entryPoints: [file],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    packages: 'external',
    write: false,
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error(`esbuild produced nothing for ${file}`);
  return gzipSync(output.contents, { level: 9 }).byteLength;
}

function kyEntry(): string {
  return fileURLToPath(import.meta.resolve('ky'));
}

export const suite: BenchmarkSuite = {
  name: 'bundle-size',
  async run(context) {
    const measurements: Measurement[] = [];
    for (const entry of packageEntries()) {
      const bytes = await ownCodeSize(entry.file);
      context.log(`  ${entry.specifier}: ${bytes} bytes`);
      const budget = budgets[entry.specifier];
      measurements.push({
        benchmark: BENCHMARK,
        contender: entry.specifier,
        unit: 'bytes',
        higherIsBetter: false,
        rounds: [bytes],
        target: budget === undefined ? undefined : { op: '<=', value: budget },
      });
    }
    measurements.push({
      benchmark: BENCHMARK,
      contender: 'ky (reference)',
      unit: 'bytes',
      higherIsBetter: false,
      rounds: [await ownCodeSize(kyEntry())],
      notes: 'ky itself, bundled the same way, for scale',
    });
    return measurements;
  },
};
