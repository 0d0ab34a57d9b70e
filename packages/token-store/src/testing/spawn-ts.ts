import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A child process running one of the TypeScript scripts in ./children with tsx. */
export interface TsChild {
  readonly process: ChildProcessWithoutNullStreams;
  /** Every complete stdout line so far. */
  readonly lines: string[];
  /** Resolves with the first stdout line (past or future) that `test` accepts; rejects if the child exits first. */
  line(test: (line: string) => boolean): Promise<string>;
  /** Resolves when the child has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Who a child runs as (root only can pick another user); the default is this process's user. */
export interface ChildUser {
  uid?: number | undefined;
  gid?: number | undefined;
  /** The Node binary to run, when this process's is out of the user's reach. @default process.execPath */
  execPath?: string | undefined;
}

/** Starts `children/<name>.ts` with `args`, resolving workspace packages to their sources. */
export function spawnChild(name: string, args: string[], env: NodeJS.ProcessEnv = process.env, user: ChildUser = {}): TsChild {
  const script = fileURLToPath(new URL(`./children/${name}.ts`, import.meta.url));
  const { execPath = process.execPath, uid, gid } = user;
  const child = spawn(execPath, ['--import', tsxLoader, '--conditions=@sessionkit/source', script, ...args], { env, stdio: 'pipe', uid, gid });
  const lines: string[] = [];
  const waiters: { test: (line: string) => boolean; resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline !== -1) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
      newline = buffered.indexOf('\n');
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      for (const waiter of waiters.splice(0)) waiter.reject(new Error(`child ${name} exited (${signal ?? code ?? '?'}) before the expected line; stderr: ${stderr}`));
      resolve({ code, signal, stderr });
    });
  });
  return {
    process: child,
    lines,
    exited,
    line(test) {
      const found = lines.find(test);
      if (found !== undefined) return Promise.resolve(found);
      if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error(`child ${name} has exited; stderr: ${stderr}`));
      return new Promise<string>((resolve, reject) => {
        waiters.push({ test, resolve, reject });
      });
    },
  };
}
