import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as SandboxModule from '@sessionkit/sandbox';
import type { Sandbox } from '@sessionkit/sandbox';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DemoSummary, demoLogger, runDemo } from './demo.js';
import { parseOptions } from './options.js';
import { createReporter } from './reporter.js';

// Only the embedded sandbox gets a command between the ISPAPI login and logout (ModifyDomain),
// and the demo starts that sandbox itself: its start is wrapped here, in this file only, to
// hold the answer to `hold.command` (a real delay on the real server) and to keep the sandbox
// for its counters.
const hold = vi.hoisted(() => ({ command: '', sandbox: undefined as Sandbox | undefined }));
vi.mock('@sessionkit/sandbox', async (importOriginal) => {
  const actual = await importOriginal<typeof SandboxModule>();
  return {
    ...actual,
    startSandbox: async (...args: Parameters<typeof actual.startSandbox>): Promise<Sandbox> => {
      const sandbox = await actual.startSandbox(...args);
      sandbox.commands.injectFault({ type: 'slow', delayMs: 60_000 }, { command: hold.command });
      hold.sandbox = sandbox;
      return sandbox;
    },
  };
});

describe('demo: an interrupt inside the ISPAPI session', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-interrupt-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Runs the demo (its own store) until `command` reaches the sandbox, which holds its answer
   * for 60 s, then interrupts it; `stopMs` is the time from the interrupt to the run's end.
   */
  async function interruptAt(command: string): Promise<{ summary: DemoSummary; sandbox: Sandbox; stopMs: number }> {
    hold.command = command;
    hold.sandbox = undefined;
    const options = parseOptions(['--store-dir', join(dir, command), '--listen-seconds', '0'], {});
    const interrupt = new AbortController();
    const run = runDemo(options, createReporter(() => undefined), demoLogger('silent'), interrupt.signal);
    try {
      // The held command reached the server (its held answer is the fault played).
      await vi.waitFor(
        () => {
          expect(hold.sandbox?.commands.stats.faults).toBe(1);
        },
        { timeout: 20_000, interval: 20 },
      );
      const sandbox = hold.sandbox!;
      expect(sandbox.commands.stats.sessions).toMatchObject({ started: 1, ended: 0, active: 1 });
      const stopped = performance.now();
      interrupt.abort(new Error('interrupted by SIGINT'));
      const summary = await run;
      return { summary, sandbox, stopMs: performance.now() - stopped };
    } finally {
      // A failed check above still stops the run, and its sandbox, before the next test.
      if (!interrupt.signal.aborted) {
        interrupt.abort(new Error('test failed'));
        await run.catch(() => undefined);
      }
    }
  }

  it('ends the session it left open (EndSession sent, none left alive) and reports the run as interrupted in the commands step', async () => {
    const { summary, sandbox, stopMs } = await interruptAt('ModifyDomain');
    expect(summary.error).toEqual({ step: 'commands', message: 'interrupted by SIGINT', interrupted: true });
    expect(summary.ok).toBe(false);
    // Ended by the demo, not left to expire on the server.
    expect(sandbox.commands.stats.byCommand.EndSession).toBe(1);
    expect(sandbox.commands.stats.sessions).toMatchObject({ started: 1, ended: 1, active: 0 });
    // The held ModifyDomain was abandoned at once, not waited for (its answer was 60 s away; the
    // EndSession after it has 5 s).
    expect(stopMs).toBeLessThan(10_000);
  });

  it('does not send EndSession again when the interrupt cut its answer short (a server slow to answer it would be again)', async () => {
    const { summary, sandbox, stopMs } = await interruptAt('EndSession');
    expect(summary.error).toEqual({ step: 'commands', message: 'interrupted by SIGINT', interrupted: true });
    // Sent once; the sandbox never ran the one it held, so the session was not ended (a real
    // server would let it expire).
    expect(sandbox.commands.stats.byCommand.EndSession).toBe(1);
    expect(sandbox.commands.stats.byCommand.ModifyDomain).toBe(1);
    expect(sandbox.commands.stats.sessions).toMatchObject({ started: 1, ended: 0 });
    expect(stopMs).toBeLessThan(10_000);
  });
});
