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
// hold the answer to `held` (a real delay on the real server) and to read the sandbox's counters.
const sandboxes: Sandbox[] = [];
let held = 'ModifyDomain';
vi.mock('@sessionkit/sandbox', async (importOriginal) => {
  const actual = await importOriginal<typeof SandboxModule>();
  return {
    ...actual,
    startSandbox: async (...args: Parameters<typeof actual.startSandbox>): Promise<Sandbox> => {
      const sandbox = await actual.startSandbox(...args);
      sandbox.commands.injectFault({ type: 'slow', delayMs: 60_000 }, { command: held });
      sandboxes.push(sandbox);
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

  /** Runs the demo until the held command reaches the sandbox, then interrupts it. */
  async function interruptAtHeld(command: string): Promise<{ summary: DemoSummary; sandbox: Sandbox; progress: string; elapsedMs: number }> {
    held = command;
    sandboxes.length = 0;
    const options = parseOptions(['--store-dir', join(dir, 'store'), '--listen-seconds', '0'], {});
    const progress: string[] = [];
    const interrupt = new AbortController();
    const started = Date.now();
    const run = runDemo(options, createReporter((text) => progress.push(text)), demoLogger('silent'), interrupt.signal);
    // The held command reached the server (its held answer is the fault played).
    await vi.waitFor(
      () => {
        expect(sandboxes[0]?.commands.stats.faults).toBe(1);
      },
      { timeout: 25_000, interval: 20 },
    );
    const sandbox = sandboxes[0]!;
    expect(sandbox.commands.stats.sessions).toMatchObject({ started: 1, ended: 0, active: 1 });
    interrupt.abort(new Error('interrupted by SIGINT'));
    const summary = await run;
    return { summary, sandbox, progress: progress.join(''), elapsedMs: Date.now() - started };
  }

  it('ends the session it left open (EndSession sent, none left alive) and reports the run as interrupted in the commands step', async () => {
    const { summary, sandbox, progress, elapsedMs } = await interruptAtHeld('ModifyDomain');
    expect(summary.error).toEqual({ step: 'commands', message: 'interrupted by SIGINT', interrupted: true });
    expect(summary.ok).toBe(false);
    // Ended by the demo, not left to expire on the server.
    expect(sandbox.commands.stats.byCommand.EndSession).toBe(1);
    expect(sandbox.commands.stats.sessions).toMatchObject({ started: 1, ended: 1, active: 0 });
    // The held ModifyDomain was abandoned, not waited for.
    expect(elapsedMs).toBeLessThan(50_000);
    expect(progress).not.toContain('EndSession:');
  });

  it('does not send EndSession again when the interrupt cut its answer short (a server slow to answer it would be again)', async () => {
    const { summary, sandbox, elapsedMs } = await interruptAtHeld('EndSession');
    expect(summary.error).toEqual({ step: 'commands', message: 'interrupted by SIGINT', interrupted: true });
    // Sent once; the sandbox never ran the one it held, so the session was not ended (a real
    // server would let it expire).
    expect(sandbox.commands.stats.byCommand.EndSession).toBe(1);
    expect(sandbox.commands.stats.byCommand.ModifyDomain).toBe(1);
    expect(sandbox.commands.stats.sessions).toMatchObject({ started: 1, ended: 0 });
    expect(elapsedMs).toBeLessThan(50_000);
  });
});
