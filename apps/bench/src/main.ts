// `pnpm bench [--quick] [--only name,name]`: runs every suite, each in a fresh Node process of its
// own (run-suite.ts) that starts the sandbox it needs, so that no suite measures in a heap, a JIT
// state or among timers and connections an earlier one left behind. It prints one table per
// benchmark (median, min, max, ratio to the baseline, target) and writes results/latest.json and
// results/latest.md (results/quick.* for --quick runs, results/partial.* for --only runs, so that a
// run of some suites never replaces the baseline).
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatMarkdown, formatTable, summarise } from './harness.js';
import type { SuiteOutcome } from './run-suite.js';
import { suiteNames } from './suites/index.js';
import type { Measurement } from './types.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(`pnpm bench [--quick] [--only ${suiteNames.join(',')}]`);
  process.exit(0);
}

const only = values.only?.split(',').map((name) => name.trim());
const unknown = only?.filter((name) => !(suiteNames as readonly string[]).includes(name)) ?? [];
if (unknown.length > 0) {
  console.error(`Unknown suite(s): ${unknown.join(', ')}. Known: ${suiteNames.join(', ')}`);
  process.exit(2);
}

/**
 * Runs the suite `name` in a process of its own (with this process's Node options: tsx and the
 * source condition under the tests) and resolves with its measurements; rejects when it fails or
 * ends without sending them.
 */
function runInProcess(name: string): Promise<Measurement[]> {
  const script = fileURLToPath(new URL(`run-suite${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
  const child = fork(script, [name, ...(values.quick ? ['--quick'] : [])], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let outcome: SuiteOutcome | undefined;
    child.on('message', (message: SuiteOutcome) => {
      outcome = message;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (outcome !== undefined && 'measurements' in outcome) resolve(outcome.measurements);
      else reject(new Error(outcome?.error ?? `its process ended (${signal ?? `exit code ${String(code)}`}) without sending results`));
    });
  });
}

const started = Date.now();
const measurements: Measurement[] = [];
const failures: string[] = [];
for (const suiteName of suiteNames) {
  if (only !== undefined && !only.includes(suiteName)) continue;
  console.log(`\n▶ ${suiteName}${values.quick ? ' (quick)' : ''}`);
  try {
    measurements.push(...(await runInProcess(suiteName)));
  } catch (error) {
    failures.push(suiteName);
    console.error(`  ✖ ${suiteName} failed:`, error instanceof Error ? error.message : error);
  }
}

const rows = summarise(measurements);
console.log(formatTable(rows));

const resultsDir = new URL('../results/', import.meta.url);
mkdirSync(resultsDir, { recursive: true });
// Only a full run of every suite replaces the committed baseline (latest.*).
const name = values.quick ? 'quick' : only === undefined ? 'latest' : 'partial';
const meta = {
  date: new Date().toISOString(),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  quick: values.quick,
  durationMs: Date.now() - started,
};
writeFileSync(new URL(`${name}.json`, resultsDir), `${JSON.stringify({ ...meta, rows, measurements }, null, 2)}\n`);
writeFileSync(
  new URL(`${name}.md`, resultsDir),
  `${formatMarkdown(rows, `sessionkit benchmarks (${meta.date.slice(0, 10)}, Node ${meta.node}, ${meta.platform}${values.quick ? ', quick' : ''})`)}\n`,
);
const missed = rows.filter((row) => row.verdict === 'missed').length;
console.log(`\n${rows.length} results in ${((Date.now() - started) / 1000).toFixed(1)} s; targets missed: ${missed}; suites failed: ${failures.length}`);
process.exit(failures.length === 0 ? 0 : 1);
