// Test helpers; not part of the published package (src/**/testing/** is excluded from files).
import type { AddressInfo } from 'node:net';
import { MemoryStore } from '@sessionkit/token-store';
import type { StoredRecord } from '@sessionkit/token-store';

/** A clock tests move by hand, starting at the real time so that other processes agree with it. */
export interface ManualClock {
  (): number;
  advance(ms: number): void;
}

export function manualClock(start: number = Date.now()): ManualClock {
  let now = start;
  const clock = (): number => now;
  clock.advance = (ms: number): void => {
    now += ms;
  };
  return clock;
}

/** A MemoryStore that counts its writes. */
export class CountingStore extends MemoryStore {
  writes = 0;
  readonly written: StoredRecord[] = [];

  override async set(key: string, value: StoredRecord): Promise<void> {
    this.writes += 1;
    this.written.push(value);
    await super.set(key, value);
  }
}

/**
 * Let every pending promise callback run. In-memory stores and in-process authenticators use no
 * timers or I/O, so work they started (a background refresh, say) has ended when this resolves.
 */
export function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** What `promise` rejects with; a fulfilment fails the test. */
export function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** Poll `check` until it is true, at most `timeoutMs`; for effects that have nothing to await. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The outcome a session-child process prints. */
export interface ChildResult {
  ok: boolean;
  fingerprint?: string;
  code?: string;
  retryAfterMs?: number;
}

/**
 * Start one session-child process per environment (or `count` with the same one), wait until
 * every one is ready, release them together, and collect their results in order.
 */
export async function runSessionChildren(
  count: number | readonly Record<string, string>[],
  sharedEnv: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<ChildResult[]> {
  const envs = typeof count === 'number' ? Array.from({ length: count }, () => sharedEnv) : count.map((env) => ({ ...sharedEnv, ...env }));
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const script = fileURLToPath(new URL('./session-child.ts', import.meta.url));
  const children = envs.map((env) =>
    spawn(process.execPath, ['--import', 'tsx', '--conditions=@sessionkit/source', script], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  const outputs = children.map((child) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.startsWith('ready\n')) resolve();
      });
      child.once('exit', (code) => { reject(new Error(`child exited (${code}) before it was ready: ${stderr}`)); });
    });
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<ChildResult>((resolve, reject) => {
      child.once('exit', (code) => {
        const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
        if (code !== 0 || line === undefined) reject(new Error(`child exited with ${code}: ${stderr}`));
        else resolve(JSON.parse(line) as ChildResult);
      });
    });
    return { ready, exited };
  });
  const timer = setTimeout(() => {
    for (const child of children) child.kill();
  }, timeoutMs);
  try {
    await Promise.all(outputs.map((output) => output.ready));
    for (const child of children) child.stdin.write('go\n');
    return await Promise.all(outputs.map((output) => output.exited));
  } finally {
    clearTimeout(timer);
  }
}

/** The outcome of one command of a file-session-child process. */
export interface StepResult {
  ok: boolean;
  fingerprint?: string;
  name?: string;
  code?: string;
  /** Events the session emitted since the previous command, such as 'refresh-failed fallback'. */
  events: string[];
}

/** A process with one Session on a FileStore, driven command by command (testing/file-session-child.ts). */
export interface FileSessionChild {
  /** Every stdout line so far. */
  readonly lines: string[];
  /** getToken() in the child, with its clock at `at`. */
  getToken(at: number): Promise<StepResult>;
  /** Sends a command ('invalidate', 'end', 'flush') and resolves with its outcome. */
  command(name: 'invalidate' | 'end' | 'flush'): Promise<StepResult>;
  /** Ends its stdin and waits for its exit code. */
  close(): Promise<number | null>;
}

/** Starts a file-session-child with `env` and resolves once it is ready. Killed when the test ends, if still running. */
export async function startFileSessionChild(env: Record<string, string>): Promise<FileSessionChild> {
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const { onTestFinished } = await import('vitest');
  const script = fileURLToPath(new URL('./file-session-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@sessionkit/source', script], { env: { ...process.env, ...env }, stdio: 'pipe' });
  const lines: string[] = [];
  const waiters: { from: number; test: (line: string) => boolean; resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let newline = buffered.indexOf('\n'); newline !== -1; newline = buffered.indexOf('\n')) {
      lines.push(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      for (const waiter of [...waiters]) {
        const found = lines.slice(waiter.from).find(waiter.test);
        if (found !== undefined) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(found);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => {
      for (const waiter of waiters.splice(0)) waiter.reject(new Error(`child exited (${String(code)}) before the expected line; stderr: ${stderr}`));
      resolve(code);
    });
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const line = (test: (line: string) => boolean, from = 0): Promise<string> => {
    const found = lines.slice(from).find(test);
    if (found !== undefined) return Promise.resolve(found);
    if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error(`child has exited; stderr: ${stderr}`));
    return new Promise((resolve, reject) => waiters.push({ from, test, resolve, reject }));
  };
  const send = async (text: string): Promise<StepResult> => {
    const from = lines.length;
    child.stdin.write(`${text}\n`);
    return JSON.parse(await line((candidate) => candidate.startsWith('{'), from)) as StepResult;
  };
  await line((candidate) => candidate === 'ready');
  return {
    lines,
    getToken: (at) => send(`get ${at}`),
    command: (name) => send(name),
    close: () => {
      child.stdin.end();
      return exited;
    },
  };
}

/** How a {@link TokenServer} endpoint answers: a status (200 from the token path is a token) and headers. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
}

/**
 * A small OAuth 2.0 server on a loopback port, for answers the sandbox's identity provider cannot
 * give (a 503 with Retry-After, a 429 from the revocation endpoint). `/token` issues `token-<n>` with
 * `refresh-<n>` (1 hour) while its answer is 200; `/revoke` answers its own. Every request is
 * recorded as `<path> <grant_type or token_type_hint>`.
 */
export interface TokenServer {
  readonly tokenUrl: string;
  readonly revocationUrl: string;
  readonly requests: string[];
  token: Answer;
  revocation: Answer;
  close(): Promise<void>;
}

export async function startTokenServer(): Promise<TokenServer> {
  const { createServer } = await import('node:http');
  let issued = 0;
  const state = { requests: [] as string[], token: { status: 200 } as Answer, revocation: { status: 200 } as Answer };
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const form = new URLSearchParams(body);
      const path = request.url ?? '';
      state.requests.push(`${path} ${form.get('grant_type') ?? form.get('token_type_hint') ?? ''}`);
      const { status, headers = {} } = path === '/token' ? state.token : state.revocation;
      if (path === '/token' && status === 200) {
        issued += 1;
        const token = { access_token: `token-${issued}`, token_type: 'Bearer', expires_in: 3600, refresh_token: `refresh-${issued}` };
        response.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(token));
      } else {
        response.writeHead(status, { ...headers, 'content-type': 'text/plain' }).end(status === 200 ? '' : 'unavailable (test)');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    tokenUrl: `http://127.0.0.1:${port}/token`,
    revocationUrl: `http://127.0.0.1:${port}/revoke`,
    close: async (): Promise<void> => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  });
}
