#!/usr/bin/env node
// sessionkit demo: every package, against an embedded sandbox by default (see --help).
import { constants } from 'node:os';
import type { DemoStep, DemoSummary } from './demo.js';
import { HELP, parseOptions, prepareStoreDir, readEnv, REAL_SYSTEM_VARIABLES, UsageError } from './options.js';
import { createReporter, formatSummary } from './reporter.js';

/** The rows of the summary table; `steps` in their order (demo.ts's `STEPS`). */
function summaryRows(summary: DemoSummary, steps: readonly DemoStep[]): [string, string][] {
  const { token, commands, events, error } = summary;
  // A step skipped because it, or a step before it, failed.
  const skipped = (step: DemoStep): string => (error !== undefined && steps.indexOf(step) >= steps.indexOf(error.step) ? 'not completed' : 'skipped');
  return [
    ['mode', summary.mode],
    ['token store', `${summary.store.kind === 'file' ? 'FileStore' : 'RedisStore'} ${summary.store.location}`],
    ['token requests', `${token.tokenRequests} (${token.countedBy === 'sandbox' ? 'sandbox counter' : 'counted by the demo'})`],
    ['stored token reused', token.reusedStoredToken ? 'yes' : 'no'],
    ['command requests', 'skipped' in commands ? skipped('commands') : `${commands.requests} (${commands.domainsListed} domains in ${commands.pages} pages)`],
    [
      'events received',
      'skipped' in events
        ? skipped('events')
        : summary.mode === 'sandbox'
          ? `${events.received} of ${events.published} published, ${events.duplicates} duplicates, ${events.missing} missing`
          : // A real gateway publishes on its own schedule: nothing to compare with.
            `${events.received}, ${events.duplicates} duplicates dropped`,
    ],
    ['resumes / gaps', 'skipped' in events ? skipped('events') : `${events.resumes} / ${events.gaps}`],
    ['time', `${(summary.durationMs / 1000).toFixed(2)} s`],
    ['result', summary.ok ? 'ok' : `${error?.interrupted ? 'interrupted' : 'FAILED'} in the ${error?.step ?? '?'} step`],
  ];
}

/**
 * A reader that goes away (`pnpm demo | head -1`) closes the pipe: the next write fails with EPIPE,
 * which would end the process with a stack trace, before its cleanup. The demo stops writing to
 * that stream instead and finishes the run (closing what it opened), with the run's exit code.
 * Standard output that fails otherwise (a full disk: ENOSPC) lost what the run reports: exit code
 * 1 then, unless the run failed already.
 */
const closedStreams = new Set<NodeJS.WriteStream>();
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    // Said once: writes made before the first error was seen fail too.
    if (closedStreams.has(stream)) return;
    closedStreams.add(stream);
    if (error.code === 'EPIPE' || stream !== process.stdout) return;
    // Before the run's code is set, or after it was set to 0 (the last writes).
    if (process.exitCode === undefined || process.exitCode === 0) process.exitCode = 1;
    if (!closedStreams.has(process.stderr)) process.stderr.write(`\nThe demo stopped writing to standard output: ${error.code ?? error.message}\n`);
  });
}

async function main(): Promise<number> {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
    if (options.help) {
      console.log(HELP);
      return 0;
    }
    // Before anything starts: a --store-dir that cannot be a directory is a usage error.
    await prepareStoreDir(options.storeDir);
    // A run meant for a real system that forgot --url would pass without testing it: said (by name).
    const unread = options.url === undefined ? REAL_SYSTEM_VARIABLES.filter((name) => readEnv(process.env, name) !== undefined) : [];
    if (unread.length > 0) console.error(`Note: without --url the demo runs against its embedded sandbox; ${unread.join(', ')} ${unread.length === 1 ? 'is' : 'are'} not read.`);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${HELP}`);
    return 2;
  }
  const progress = (text: string): void => {
    const stream = options.json ? process.stderr : process.stdout;
    if (!closedStreams.has(stream)) stream.write(text);
  };
  // Ctrl-C (SIGINT) or SIGTERM would end the process where it stands, leaving what it opened: a
  // FileStore lock file held for a token request, above all, which the next run must then recover.
  // The first one stops the run instead, which ends its step and closes everything as after a
  // failure; the exit code is the conventional 128 + the signal's number. A second one exits at
  // once, for a run that does not stop (a lock another process holds is waited for, up to 10 s).
  const interrupt = new AbortController();
  let interruptedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interruptedBy !== undefined) process.exit(128 + constants.signals[signal]);
    interruptedBy = signal;
    if (!closedStreams.has(process.stderr)) process.stderr.write(`\nInterrupted (${signal}): stopping the run and closing what it opened; ${signal === 'SIGINT' ? 'Ctrl-C' : signal} again exits at once.\n`);
    interrupt.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // Loaded only now: --help and a bad option answer without loading every package.
    const [{ AuthError }, { demoLogger, runDemo, STEPS }] = await Promise.all([import('@sessionkit/core-session'), import('./demo.js')]);
    try {
      // A failed step is in the summary too: with --json, stdout holds one JSON document then as well.
      const summary = await runDemo(options, createReporter(progress), demoLogger(options.logLevel), interrupt.signal);
      if (options.json) console.log(JSON.stringify(summary, null, 2));
      else console.log(`\nSummary\n${formatSummary(summaryRows(summary, STEPS))}`);
      if (summary.error?.interrupted) console.error(`\nThe demo was interrupted by ${interruptedBy ?? 'a signal'} in the ${summary.error.step} step; it closed what it had opened.`);
      else if (summary.error !== undefined) console.error(`\nThe demo failed: ${summary.error.message}`);
      // A signal that came while the run was closing, after its steps, counts too.
      if (interruptedBy !== undefined) return 128 + constants.signals[interruptedBy];
      return summary.ok ? 0 : 1;
    } catch (error) {
      if (AuthError.isInstance(error) && error.code === 'CONFIGURATION') {
        console.error(`\n${error.message}`);
        return 2;
      }
      console.error('\nThe demo failed:', error instanceof Error ? error.message : error);
      return 1;
    }
  } finally {
    // Once the run has closed what it opened, a signal may end the process as usual.
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// 0 keeps the 1 of an output already lost (see the error listener above).
process.exitCode = (await main()) || process.exitCode;
