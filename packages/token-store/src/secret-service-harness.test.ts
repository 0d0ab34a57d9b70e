import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished, type TestContext, vi } from 'vitest';
import { endedSinceTheTestStarted, markFailureUnderAnEndedSecretService, noteServingSecretService, retryWhenTheSecretServiceEnds } from './testing/secret-service.js';

// The Secret Service the keychain tests run with (tooling/scripts/with-secret-service.sh): a
// gnome-keyring-daemon that ends under the command is started again on the same keyring, and a
// test under which that happened is retried once (testing/secret-service.ts). These tests run the
// script again, nested, with a bus and a daemon of its own, so they never touch the outer one.
const script = fileURLToPath(new URL('../../../tooling/scripts/with-secret-service.sh', import.meta.url));
const secretService = process.env.SESSIONKIT_SECRET_SERVICE === '1';
const skipped = secretService ? '' : ' SKIPPED: no Secret Service tools (run the tests through tooling/scripts/with-secret-service.sh)';

function runScript(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, 'bash', '-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

// A shell loop that waits (10 s at most) until the state file says `up <generation> `.
const waitUntilUp = (generation: number | string): string => `for _ in $(seq 1 200); do case "$(cat "$SESSIONKIT_SECRET_SERVICE_STATE")" in "up ${generation} "*) break ;; esac; sleep 0.05; done`;

describe.skipIf(!secretService)(`with-secret-service.sh${skipped}`, () => {
  it('starts gnome-keyring-daemon again on the same keyring when it ends under the command (the items stored before are still there), says so in the state file, and prints how it ended', async () => {
    const { code, stdout, stderr } = await runScript(`
      set -u
      echo "first=$(cat "$SESSIONKIT_SECRET_SERVICE_STATE")"
      printf kept | secret-tool store --label=probe sessionkit-harness kept || exit 10
      kill -KILL "$(cut -d" " -f3 "$SESSIONKIT_SECRET_SERVICE_STATE")"
      ${waitUntilUp(2)}
      echo "second=$(cat "$SESSIONKIT_SECRET_SERVICE_STATE")"
      echo "found=$(secret-tool lookup sessionkit-harness kept)"
      exit 7
    `);
    expect(code).toBe(7);
    const first = /^first=up 1 (\d+)$/m.exec(stdout);
    const second = /^second=up 2 (\d+)$/m.exec(stdout);
    expect(first, stdout).not.toBeNull();
    expect(second, stdout).not.toBeNull();
    expect(second?.[1]).not.toBe(first?.[1]);
    expect(stdout).toContain('found=kept\n');
    expect(stderr).toContain(`gnome-keyring-daemon 1 (pid ${first?.[1] ?? ''}) ended with exit status 137 (above 128 is 128 + a signal number), started again; its log:`);
  }, 60_000);

  it('after the fifth daemon ends, starts no other and says it gave up', async () => {
    const { code, stdout, stderr } = await runScript(`
      set -u
      for generation in 1 2 3 4 5; do
        ${waitUntilUp('$generation')}
        kill -KILL "$(cut -d" " -f3 "$SESSIONKIT_SECRET_SERVICE_STATE")"
      done
      for _ in $(seq 1 200); do case "$(cat "$SESSIONKIT_SECRET_SERVICE_STATE")" in gave-up*) break ;; esac; sleep 0.05; done
      echo "last=$(cat "$SESSIONKIT_SECRET_SERVICE_STATE")"
    `);
    expect(code).toBe(0);
    expect(stdout).toContain('last=gave-up 5\n');
    expect(stderr).toMatch(/gnome-keyring-daemon 4 \(pid \d+\) ended with exit status 137 \(above 128 is 128 \+ a signal number\), started again/);
    expect(stderr).toMatch(/gnome-keyring-daemon 5 \(pid \d+\) ended with exit status 137 \(above 128 is 128 \+ a signal number\), not started again: 5 have ended/);
  }, 60_000);
});

describe('the retry of a keychain test under which gnome-keyring-daemon ended', () => {
  async function stateFile(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'token-store-secret-service-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'state');
    vi.stubEnv('SESSIONKIT_SECRET_SERVICE_STATE', file);
    onTestFinished(() => {
      vi.unstubAllEnvs();
    });
    return file;
  }

  it('is asked for only when the daemon serving at the start of the test no longer serves: another serves, one is starting, none will, or its process is gone', async () => {
    const file = await stateFile();
    const live = process.pid;
    await writeFile(file, `up 1 ${live}\n`);
    await noteServingSecretService(0);
    expect(endedSinceTheTestStarted()).toBe(false);
    for (const later of ['down 1', `up 2 ${live}`, 'gave-up 1']) {
      await writeFile(file, `${later}\n`);
      expect(endedSinceTheTestStarted(), later).toBe(true);
    }
    // The pid of a process that has ended: the daemon, before the supervisor writes what came next.
    const child = spawn('true');
    const ended = child.pid;
    await new Promise((resolve) => child.once('exit', resolve));
    await writeFile(file, `up 1 ${String(ended)}\n`);
    expect(endedSinceTheTestStarted()).toBe(true);
  });

  it('waits for a daemon that is starting, and is never asked for outside with-secret-service.sh or when none serves', async () => {
    const file = await stateFile();
    await writeFile(file, 'down 1\n');
    const noted = noteServingSecretService(5_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await writeFile(file, `up 2 ${process.pid}\n`);
    await noted;
    expect(endedSinceTheTestStarted()).toBe(false);
    await writeFile(file, 'down 2\n');
    expect(endedSinceTheTestStarted()).toBe(true);

    await writeFile(file, 'gave-up 5\n');
    await noteServingSecretService(0);
    expect(endedSinceTheTestStarted()).toBe(false);

    vi.stubEnv('SESSIONKIT_SECRET_SERVICE_STATE', '');
    await noteServingSecretService(0);
    expect(endedSinceTheTestStarted()).toBe(false);
  });

  it("marks a failed test's errors only when the daemon ended under it, and the suite's retry condition matches only the marked ones", async () => {
    const file = await stateFile();
    await writeFile(file, `up 1 ${process.pid}\n`);
    await noteServingSecretService(0);
    const failed = (): { context: TestContext; messages: () => string[] } => {
      const errors = [{ message: 'expected 1 to be 2' }, { message: 'A keychain get failed' }];
      return { context: { task: { result: { errors } } } as unknown as TestContext, messages: () => errors.map((error) => error.message) };
    };
    const condition = typeof retryWhenTheSecretServiceEnds === 'object' ? retryWhenTheSecretServiceEnds.condition : undefined;
    if (!(condition instanceof RegExp)) throw new Error('the retry condition must be a RegExp: vitest 4.1 drops a function before the tests run');

    const unmarked = failed();
    markFailureUnderAnEndedSecretService(unmarked.context);
    expect(unmarked.messages()).toEqual(['expected 1 to be 2', 'A keychain get failed']);
    expect(unmarked.messages().some((message) => condition.test(message))).toBe(false);

    await writeFile(file, 'down 1\n');
    const marked = failed();
    markFailureUnderAnEndedSecretService(marked.context);
    for (const message of marked.messages()) expect(condition.test(message), message).toBe(true);
    expect(marked.messages()[0]).toMatch(/^expected 1 to be 2 \[gnome-keyring-daemon ended under this test/);
  });
});
