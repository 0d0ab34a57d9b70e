// Runs one suite in this process, by name. `pnpm bench` starts one such process per suite (see
// main.ts) and gets the measurements as a message; run by hand, it prints them as JSON:
//   node apps/bench/dist/run-suite.js <suite> [--quick]
//   node --import tsx --conditions=@sessionkit/source apps/bench/src/run-suite.ts <suite> [--quick]
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import type { BenchmarkSuite, Measurement } from './types.js';

/** What a suite's process sends the harness: its measurements, or why it failed. */
export type SuiteOutcome = { measurements: Measurement[] } | { error: string };

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || !/^[a-z-]+$/.test(name)) {
  console.error('usage: run-suite <suite name, such as ess-client> [--quick]');
  process.exit(2);
}

// The suite's own module only (the same extension as this file: .js built, .ts under tsx), so that
// the process loads nothing another suite needs.
let outcome: SuiteOutcome;
try {
  const url = new URL(`./suites/${name}${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  const { suite } = (await import(url.href)) as { suite: BenchmarkSuite };
  outcome = { measurements: await suite.run({ quick: rest.includes('--quick'), log: (line) => { console.log(line); } }) };
} catch (error) {
  outcome = { error: inspect(error) };
}

const send = process.send?.bind(process);
if (send === undefined) {
  if ('error' in outcome) console.error(outcome.error);
  else console.log(JSON.stringify(outcome.measurements, null, 2));
  process.exit('error' in outcome ? 1 : 0);
} else {
  // Ended once the message is out: a handle a suite left open must not keep its process, and the
  // whole run, waiting.
  send(outcome, () => process.exit(0));
}
