#!/usr/bin/env node
// The project's test command (`pnpm test`): build, typecheck, lint and package checks through
// turbo, then every vitest project, inside a real Secret Service session for the keychain tests.
// `--tests-only` skips the turbo steps (CI uses it to rerun the suite under Node 22 and 24).
// Writes .test-results/<label>.json (vitest's JSON report), <label>.retried.json (the tests that
// passed only on a retry) and <label>.summary.json, and ends with the line
// `N passed, N failed, N skipped`, after a line naming each test that passed on a retry.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Arguments after `--` go to vitest, e.g. `pnpm test -- --project @sessionkit/logger`.
const separator = process.argv.indexOf('--');
const vitestArgs = separator === -1 ? [] : process.argv.slice(separator + 1);
const { values } = parseArgs({
  args: separator === -1 ? process.argv.slice(2) : process.argv.slice(2, separator),
  options: {
    'tests-only': { type: 'boolean', default: false },
    label: { type: 'string', default: `node${process.versions.node.split('.')[0]}` },
  },
});

function run(command, args, options = {}) {
  console.log(`\n$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

if (!values['tests-only']) {
  const turbo = join(root, 'node_modules', '.bin', 'turbo');
  const status = run(turbo, ['run', 'build', 'typecheck', 'lint', 'check:package', '--output-logs=errors-only']);
  if (status !== 0) {
    console.error('\nbuild, typecheck, lint or package checks failed: see above.');
    mkdirSync(join(root, '.test-results'), { recursive: true });
    writeFileSync(join(root, '.test-results', `${values.label}.summary.json`), `${JSON.stringify({ label: values.label, node: process.version, passed: 0, failed: 1, skipped: 0, failures: [{ file: '(turbo)', test: 'build, typecheck, lint or package checks', reason: 'see the log above' }] })}\n`);
    console.log('0 passed, 1 failed');
    process.exit(status);
  }
}

const resultsDir = join(root, '.test-results');
mkdirSync(resultsDir, { recursive: true });
const reportFile = join(resultsDir, `${values.label}.json`);
const retriedFile = join(resultsDir, `${values.label}.retried.json`);
// An earlier run's reports must not be read as this run's (when vitest writes none).
rmSync(reportFile, { force: true });
rmSync(retriedFile, { force: true });
process.env.SESSIONKIT_RETRIED_FILE = retriedFile;
const vitest = [
  process.execPath,
  join(root, 'node_modules', 'vitest', 'vitest.mjs'),
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${reportFile}`,
  `--reporter=${join(root, 'tooling', 'scripts', 'retried-reporter.mjs')}`,
  ...vitestArgs,
];
// Debian packages the tests use (redis-server for the fleet store); installed when missing.
const ensureRedis = join(root, 'tooling', 'scripts', 'ensure-redis.sh');
if (existsSync(ensureRedis) && process.platform === 'linux') run('bash', [ensureRedis]);

const withSecretService = join(root, 'tooling', 'scripts', 'with-secret-service.sh');
console.log(`\nRunning the test suite under Node ${process.version}`);
const status = existsSync(withSecretService) && process.platform === 'linux'
  ? run('bash', [withSecretService, ...vitest])
  : run(vitest[0], vitest.slice(1));

const relative = (file) => (file.startsWith(root) ? file.slice(root.length + 1) : file);
// Without a report (vitest did not start, or stopped before writing it): one failure, named.
let summary = { passed: 0, failed: 1, skipped: 0, failures: [{ file: '(vitest)', test: `exited with status ${status} and wrote no report`, reason: 'see the log above' }] };
if (existsSync(reportFile)) {
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  // What failed, named, so that the last lines of a long log say which test it was and why.
  const firstLine = (text) => String(text ?? '').split('\n').find((line) => line.trim() !== '')?.trim().slice(0, 300) ?? '';
  const failures = [];
  let failedSuites = 0;
  for (const file of report.testResults) {
    const where = relative(file.name);
    // A suite that failed to load counts as a failure even though it ran no test.
    if (file.status === 'failed' && file.assertionResults.length === 0) {
      failedSuites += 1;
      failures.push({ file: where, test: '(the file did not load)', reason: firstLine(file.message) });
    }
    for (const test of file.assertionResults) {
      if (test.status === 'failed') failures.push({ file: where, test: test.fullName, reason: firstLine(test.failureMessages?.[0]) });
    }
  }
  summary = {
    passed: report.numPassedTests,
    failed: report.numFailedTests + failedSuites,
    skipped: report.numPendingTests + report.numTodoTests,
    failures,
    // Counted in `passed` too, as vitest counts them.
    retried: existsSync(retriedFile) ? JSON.parse(readFileSync(retriedFile, 'utf8')).map((test) => ({ ...test, file: relative(test.file) })) : [],
  };
}
if (status !== 0 && summary.failed === 0) {
  // Every test in the report passed, yet vitest failed: an error outside the tests (unhandled).
  summary.failed = 1;
  summary.failures.push({ file: '(vitest)', test: `exited with status ${status} without a failed test`, reason: 'an error outside the tests: see the log above' });
}
writeFileSync(join(resultsDir, `${values.label}.summary.json`), `${JSON.stringify({ label: values.label, node: process.version, ...summary })}\n`);
for (const failure of summary.failures) console.log(`FAILED ${failure.file} > ${failure.test}\n  ${failure.reason}`);
for (const { file, test, retries } of summary.retried ?? []) console.log(`PASSED AFTER ${retries} ${retries === 1 ? 'RETRY' : 'RETRIES'} ${file} > ${test}`);
if (summary.retried?.length) console.log(`(${summary.retried.length} of the passed tests passed only on a retry)`);
console.log(`\n${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
process.exit(status === 0 && summary.failed === 0 ? 0 : 1);
