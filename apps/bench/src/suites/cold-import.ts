import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { packageEntries } from '../package-entries.js';
import type { BenchmarkSuite, Measurement } from '../types.js';

const PROBE = `
const started = performance.now();
await import(process.argv[1]);
process.stdout.write(String(performance.now() - started));
`;

/** Milliseconds for a fresh Node process to import `file` (its dependencies included). */
function importMs(file: string): number {
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE, pathToFileURL(file).href], { encoding: 'utf8' });
  return Number(output);
}

export const suite: BenchmarkSuite = {
  name: 'cold-import',
  run(context) {
    const rounds = context.quick ? 3 : 15;
    const measurements: Measurement[] = [];
    for (const entry of packageEntries()) {
      importMs(entry.file); // warm the file system cache
      const samples = Array.from({ length: rounds }, () => importMs(entry.file));
      context.log(`  ${entry.specifier}: ${samples.map((ms) => ms.toFixed(1)).join(', ')} ms`);
      measurements.push({
        benchmark: 'cold import (fresh process, dependencies included)',
        contender: entry.specifier,
        unit: 'ms',
        higherIsBetter: false,
        rounds: samples,
        target: { op: '<=', value: 50 },
      });
    }
    return Promise.resolve(measurements);
  },
};
