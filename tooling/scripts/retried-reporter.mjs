// A vitest reporter that names the tests that passed only on a retry (a suite's `retry` option:
// the keychain tests, when gnome-keyring-daemon ended under them), so that run-tests.mjs's summary
// says how many there were: vitest's JSON report counts them as passed and says nothing more.
// Writes a JSON array of { file, test, retries } to the path in SESSIONKIT_RETRIED_FILE.
import { writeFileSync } from 'node:fs';

export default class RetriedReporter {
  #file = process.env.SESSIONKIT_RETRIED_FILE;
  #retried = [];

  onInit() {
    if (!this.#file) throw new Error('retried-reporter.mjs: SESSIONKIT_RETRIED_FILE names no file to write.');
  }

  onTestCaseResult(testCase) {
    // `flaky`: it passed, after at least one failed try.
    if (!testCase.diagnostic()?.flaky) return;
    this.#retried.push({ file: testCase.module.moduleId, test: testCase.fullName, retries: testCase.diagnostic().retryCount });
  }

  onTestRunEnd() {
    writeFileSync(this.#file, `${JSON.stringify(this.#retried)}\n`);
  }
}
