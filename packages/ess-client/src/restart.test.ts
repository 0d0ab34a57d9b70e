import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import type { Sandbox } from '@sessionkit/sandbox';
import { FileStore } from '@sessionkit/token-store/file';
import { numbered, startEssSandbox } from './testing/harness.js';

type Line = Record<string, unknown> & { type: string };

const childPath = fileURLToPath(new URL('./testing/resume-child.ts', import.meta.url));
const handlingChildPath = fileURLToPath(new URL('./testing/handling-child.ts', import.meta.url));

interface Child {
  process: ChildProcess;
  lines: Line[];
  /** Resolves with the first line (seen or to come) that passes `test`. */
  line(test: (line: Line) => boolean): Promise<Line>;
}

function start(config: Record<string, unknown>, path = childPath): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@sessionkit/source', path, JSON.stringify(config)], {
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

it('a process killed while handling the last event of a batch gets that batch again after the restart: none lost, no gap', async () => {
  sandbox = await startEssSandbox();
  dir = await mkdtemp(join(tmpdir(), 'ess-restart-'));
  const config = { url: sandbox.essUrl, tokenUrl: sandbox.tokenUrl, dir, key: 'ess-crash-test', handleMs: 50 };
  const store = new FileStore({ dir });

  // Handling e4 takes long enough to be killed in the middle of it.
  const first = start({ ...config, slowId: 'e4', slowMs: 30_000 }, handlingChildPath);
  children.push(first);
  await first.line((line) => line.type === 'online');
  sandbox.publish(numbered(0, 2));
  await first.line((line) => line.type === 'handled' && line.id === 'e1');
  // Back in next() after e1: the batch is taken.
  for (let tries = 0; (await store.get('ess-crash-test'))?.lastEventId !== 'e1'; tries += 1) {
    if (tries > 500) throw new Error('the resume record never reached e1');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  sandbox.publish(numbered(2, 3)); // one batch: e2, e3, e4
  await first.line((line) => line.type === 'start' && line.id === 'e4');
  await new Promise((resolve) => setTimeout(resolve, 500)); // time for a write of the record, were one made
  // Killed while handling e4: it used to be recorded as soon as the loop got it, and was lost.
  expect((await store.get('ess-crash-test'))?.lastEventId).toBe('e1');
  await kill(first);
  expect(first.lines.some((line) => line.type === 'handled' && line.id === 'e4')).toBe(false);

  const second = start(config, handlingChildPath);
  children.push(second);
  const resumed = await second.line((line) => line.type === 'online');
  expect(resumed).toMatchObject({ resumes: 1, gaps: 0 });
  sandbox.publish(numbered(5, 1));
  await second.line((line) => line.type === 'handled' && line.id === 'e5');
  // At least once: the whole batch again (e2 and e3 were handled before, and are repeated).
  const handled = (child: Child): unknown[] => child.lines.filter((line) => line.type === 'handled').map((line) => line.id);
  expect(handled(first)).toEqual(['e0', 'e1', 'e2', 'e3']);
  expect(handled(second)).toEqual(['e2', 'e3', 'e4', 'e5']);
  expect(second.lines.some((line) => line.type === 'gap')).toBe(false);
}, 60_000);
