/**
 * The gnome-keyring daemon that tooling/scripts/with-secret-service.sh runs the tests with, as it
 * writes it to the file named by SESSIONKIT_SECRET_SERVICE_STATE: `up <generation> <pid>` while
 * daemon number `generation` serves, `down <generation>` while the next one starts after it ended,
 * `gave-up <generation>` when no further one will serve.
 *
 * gnome-keyring-daemon (42.1 here) can abort when several clients make short-lived connections at
 * once ("gkd_secret_service_get_pkcs11_session: assertion 'client' failed", then a GLib-ERROR in
 * g_variant_new), and the native module behind KeychainStore opens one per call: four processes
 * making 400 calls each, in rounds, ended it in the fifth round (after 6,400 to 8,000 calls) on a
 * machine like CI's, where one process making 12,000 calls one at a time did not; and CI lost it
 * under a keychain test twice. The script then starts a new daemon on the same keyring, and
 * {@link retryWhenTheSecretServiceEnds} runs again, once, a test under which that happened. No
 * other failure is retried.
 */
import { readFileSync } from 'node:fs';
import type { TestContext, TestOptions } from 'vitest';
import { running } from './processes.js';

interface SecretServiceState {
  status: string;
  generation: number;
  pid: number | undefined;
}

function readState(): SecretServiceState | undefined {
  const file = process.env.SESSIONKIT_SECRET_SERVICE_STATE;
  if (file === undefined || file === '') return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const [status = '', generation = '', pid] = text.trim().split(' ');
  return { status, generation: Number(generation), pid: pid === undefined ? undefined : Number(pid) };
}

let servingAtStart: number | undefined;

/**
 * Waits (at most `timeoutMs`) until a daemon serves, and remembers which, for the test about to
 * run. Does nothing outside with-secret-service.sh.
 */
export async function noteServingSecretService(timeoutMs = 30_000): Promise<void> {
  servingAtStart = undefined;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = readState();
    if (state === undefined || state.status === 'gave-up' || state.status === 'failed') return;
    if (state.status === 'up') {
      servingAtStart = state.generation;
      return;
    }
    if (Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Whether the daemon that served when the test started has ended since. */
export function endedSinceTheTestStarted(): boolean {
  if (servingAtStart === undefined) return false;
  const state = readState();
  if (state === undefined) return false;
  if (state.status !== 'up' || state.generation !== servingAtStart) return true;
  return state.pid !== undefined && !running(state.pid);
}

/** What {@link markFailureUnderAnEndedSecretService} adds to the errors of such a test. */
const endedUnderTheTest = ' [gnome-keyring-daemon ended under this test: see with-secret-service.sh in the log]';

/**
 * An `onTestFailed` handler: when the daemon that served at the test's start has ended, says so in
 * the test's errors, which {@link retryWhenTheSecretServiceEnds} looks for. (Vitest 4.1 drops a
 * retry condition that is a function before the tests run, so the condition is a RegExp over the
 * error's message.)
 */
export function markFailureUnderAnEndedSecretService(context: TestContext): void {
  if (!endedSinceTheTestStarted()) return;
  for (const error of context.task.result?.errors ?? []) error.message += endedUnderTheTest;
}

/**
 * Runs before each test: waits for a serving daemon, notes it, and marks the test's failure when it
 * ends under the test. Use as `beforeEach(secretServiceBeforeEach)`.
 */
export async function secretServiceBeforeEach(context: TestContext): Promise<void> {
  await noteServingSecretService();
  context.onTestFailed(markFailureUnderAnEndedSecretService);
}

/**
 * A suite's `retry`: once, and only a test whose errors say that the gnome-keyring daemon ended
 * under it (see {@link secretServiceBeforeEach}). with-secret-service.sh prints each such end, with
 * the daemon's log.
 */
export const retryWhenTheSecretServiceEnds: NonNullable<TestOptions['retry']> = {
  count: 1,
  condition: /\[gnome-keyring-daemon ended under this test: see with-secret-service\.sh in the log\]$/,
};
