// Runs one suite by file name and prints its raw measurements:
//   node --import tsx --conditions=@sessionkit/source apps/bench/src/run-suite.ts <suite> [--quick]
import { pathToFileURL } from 'node:url';
import type { BenchmarkSuite } from './types.js';

const [name, ...rest] = process.argv.slice(2);
if (name === undefined) {
  console.error('usage: run-suite.ts <suite-file-name-without-extension> [--quick]');
  process.exit(2);
}
const url = pathToFileURL(`${import.meta.dirname}/suites/${name}.ts`).href;
const module = (await import(url)) as { suite: BenchmarkSuite };
const measurements = await module.suite.run({ quick: rest.includes('--quick'), log: (line) => { console.log(line); } });
console.log(JSON.stringify(measurements, null, 2));
