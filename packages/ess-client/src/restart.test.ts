import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import type { Sandbox } from '@sessionkit/sandbox';
import { numbered, startEssSandbox } from './testing/harness.js';

type Line = Record<string, unknown> & { type: string };

const childPath = fileURLToPath(new URL('./testing/resume-child.ts', import.meta.url));

interface Child {
  process: ChildProcess;
  lines: Line[];
  /** Resolves with the first line (seen or to come) that passes `test`. */
  line(test: (line: Line) => boolean): Promise<Line>;
}

function start(config: Record<string, unknown>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@sessionkit/source', childPath, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Line[] = [];
  const waiters: { test: (line: Line) => boolean; resolve: (line: Line) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as Line;
    lines.push(line);
    for (const waiter of waiters.splice(0)) {
      if (waiter.test(line)) waiter.resolve(line);
      else waiters.push(waiter);
    }
  });
  return {
    process: child,
    lines,
    line: (test) => {
      const seen = lines.find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ test, resolve });
        child.once('exit', (code) => {
          reject(new Error(`the child exited (${code}) before the expected line`));
        });
      });
    },
  };
}

async function kill(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.process.kill('SIGKILL');
  await exited;
}

let sandbox: Sandbox | undefined;
let dir: string | undefined;
const children: Child[] = [];

afterEach(async () => {
  await Promise.all(children.splice(0).map(kill));
  await sandbox?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

it('a restarted process resumes from the FileStore record: no event lost, none repeated', async () => {
  sandbox = await startEssSandbox();
  dir = await mkdtemp(join(tmpdir(), 'ess-restart-'));
  const config = { url: sandbox.essUrl, tokenUrl: sandbox.tokenUrl, dir, key: 'ess-restart-test' };

  const first = start({ ...config, consume: 300 });
  children.push(first);
  const online = await first.line((line) => line.type === 'online');
  expect(online).toMatchObject({ resumes: 0, gaps: 0 });
  for (let batch = 0; batch < 6; batch += 1) sandbox.publish(numbered(batch * 100, 100));
  // The first process takes 300 events; 300 more sit unconsumed in its buffer when it dies.
  const persisted = await first.line((line) => line.type === 'persisted' || line.type === 'error');
  expect(persisted).toEqual({ type: 'persisted', lastEventId: 'e299', sessionId: online.sessionId });
  await kill(first);
  sandbox.publish(numbered(600, 100));

  const second = start({ ...config, consume: 400 });
  children.push(second);
  const resumed = await second.line((line) => line.type === 'online');
  expect(resumed).toMatchObject({ sessionId: online.sessionId, resumes: 1, gaps: 0 });
  await second.line((line) => line.type === 'persisted' || line.type === 'error');
  const taken = (child: Child): number[] => child.lines.filter((line) => line.type === 'event').map((line) => line.n as number);
  expect(taken(first)).toEqual(Array.from({ length: 300 }, (_, n) => n));
  expect(taken(second)).toEqual(Array.from({ length: 400 }, (_, n) => n + 300));
  expect(second.lines.some((line) => line.type === 'gap')).toBe(false);
  expect(sandbox.stats.events).toMatchObject({ sessionsNew: 1, sessionsResumed: 1 });
}, 60_000);
