// For tests that run a script of theirs in a child process (a Node flag of its own, such as
// --expose-gc, or a process to itself): runs it from sources, as the tests do, and resolves with
// its exit code and all it wrote once it exits.
import { spawn } from 'node:child_process';
import { onTestFinished } from 'vitest';

/**
 * @param {string} script the path of a TypeScript file
 * @param {{ env?: Record<string, string>, nodeFlags?: string[], killAfterMs?: number }} [options]
 */
export function runChild(script, { env = {}, nodeFlags = [], killAfterMs = 10_000 } = {}) {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', '--conditions=@sessionkit/source', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Stopped when it runs too long (its exit code is then null) or the test ends first.
  const killer = setTimeout(() => child.kill(), killAfterMs);
  onTestFinished(() => {
    clearTimeout(killer);
    child.kill();
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => {
    child.once('close', (exitCode) => {
      clearTimeout(killer);
      resolve({ exitCode, stdout, stderr });
    });
  });
}
