// Token herd across processes: 8 processes of one program start together while the token they
// share on disk has just expired. How many requests reach the token endpoint?
// - sessionkit: each process builds a Session on one FileStore directory and calls getToken().
//   The store's cross-process lock and the re-read under it make one process acquire and the
//   other seven use what it stored (target: exactly 1 request).
// - a plain cached-token file: what a program does without a coordinating library: read the JSON
//   file, and if the token is missing or expired, POST to the token endpoint and write the file.
//
// Each round primes both contenders with a real token the sandbox issued with `expires_in: 1`,
// starts the 8 child processes of one contender, waits until every one is ready (imports done,
// objects built) and that second has passed, then releases them together over IPC. The sandbox
// runs in this process, so its request counter is exact. This file is also the child program
// (`node token-herd-processes.js --token-herd-child`).
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Session } from '@sessionkit/core-session';
import type { Sandbox } from '@sessionkit/sandbox';
import type { BenchmarkSuite, Measurement } from '../types.js';

const CHILD_FLAG = '--token-herd-child';
const PROCESSES = 8;
const CLIENT_ID = 'sessionkit-demo';
const CLIENT_SECRET = 'demo-secret';
const PRIMED_TOKEN_TTL_SECONDS = 1;

type Contender = 'sessionkit' | 'plain-file';

/** What the parent tells a child (in its environment) about its job. */
interface ChildJob {
  contender: Contender;
  tokenUrl: string;
  /** The FileStore directory (sessionkit) or the cached-token file (plain-file). */
  path: string;
}

interface ToChild {
  type: 'go';
}
type FromChild = { type: 'ready' } | { type: 'done'; token: string } | { type: 'failed'; message: string };

interface CachedToken {
  accessToken: string;
  expiresAt: number;
}

// Packages are imported when needed, so that a child loads only what its contender uses.
async function sessionFor(job: ChildJob): Promise<Session> {
  const [{ oauth2, Session }, { FileStore }] = await Promise.all([import('@sessionkit/core-session'), import('@sessionkit/token-store/file')]);
  return new Session({
    authenticator: oauth2({ tokenUrl: job.tokenUrl, grant: 'client_credentials', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }),
    store: new FileStore({ dir: job.path }),
  });
}

/** The plain way: a token cached in a JSON file, fetched again when missing or expired. */
async function plainFileToken(job: ChildJob): Promise<string> {
  try {
    const cached = JSON.parse(await readFile(job.path, 'utf8')) as Partial<CachedToken>;
    if (typeof cached.accessToken === 'string' && typeof cached.expiresAt === 'number' && cached.expiresAt > Date.now()) return cached.accessToken;
  } catch {
    // Missing or unreadable: fetch a new one.
  }
  const sentAt = Date.now();
  const response = await fetch(job.tokenUrl, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  if (!response.ok) throw new Error(`the token endpoint answered HTTP ${response.status}`);
  const body = (await response.json()) as { access_token: string; expires_in: number };
  const cached: CachedToken = { accessToken: body.access_token, expiresAt: sentAt + body.expires_in * 1000 };
  await writeFile(job.path, JSON.stringify(cached), { mode: 0o600 });
  return cached.accessToken;
}

/** The child program: get ready, wait for "go", get one token, report it, exit. */
async function runChild(): Promise<void> {
  const send = (message: FromChild): void => {
    process.send?.(message);
  };
  const job = JSON.parse(process.env.TOKEN_HERD_JOB ?? '{}') as ChildJob;
  const session = job.contender === 'sessionkit' ? await sessionFor(job) : undefined;
  // Load Node's fetch (undici) and ky before "ready" in both contenders, so that the herd
  // measures talking to the token endpoint and the store, not eight processes loading modules.
  await (await fetch('data:,')).text();
  if (session !== undefined) await import('ky');
  process.once('message', () => {
    // The one message a child gets is "go".
    const token = session === undefined ? plainFileToken(job) : session.getToken().then((held) => held.value);
    token.then(
      (value) => { send({ type: 'done', token: value }); },
      (error: unknown) => { send({ type: 'failed', message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }); },
    ).finally(() => {
      process.disconnect();
    });
  });
  send({ type: 'ready' });
}

const thisFile = fileURLToPath(import.meta.url);
if (process.argv[1] === thisFile && process.argv[2] === CHILD_FLAG) await runChild();

interface RoundResult {
  requests: number;
  ms: number;
  failures: string[];
}

interface Child {
  process: ChildProcess;
  ready: Promise<void>;
  result: Promise<{ token?: string; failure?: string }>;
}

function startChild(job: ChildJob): Child {
  // The parent's exec arguments carry the TypeScript loader when the bench runs from source.
  const child = fork(thisFile, [CHILD_FLAG], { env: { ...process.env, TOKEN_HERD_JOB: JSON.stringify(job) }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => { resolve(`exited (${signal ?? String(code)}): ${stderr.trim()}`); }));
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (message: FromChild) => {
      if (message.type === 'ready') resolve();
    });
    void exited.then((why) => { reject(new Error(`a child process ${why}`)); });
  });
  const result = new Promise<{ token?: string; failure?: string }>((resolve) => {
    child.on('message', (message: FromChild) => {
      if (message.type === 'done') resolve({ token: message.token });
      if (message.type === 'failed') resolve({ failure: message.message });
    });
    void exited.then((why) => { resolve({ failure: `the child ${why}` }); });
  });
  return { process: child, ready, result };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Leaves both contenders holding a token that expires one second after it was issued. */
async function prime(sandbox: Sandbox, storeDir: string, cacheFile: string): Promise<number> {
  sandbox.idp.setTokenTtlSeconds(PRIMED_TOKEN_TTL_SECONDS);
  try {
    await (await sessionFor({ contender: 'sessionkit', tokenUrl: sandbox.tokenUrl, path: storeDir })).start();
    await plainFileToken({ contender: 'plain-file', tokenUrl: sandbox.tokenUrl, path: cacheFile });
  } finally {
    sandbox.idp.setTokenTtlSeconds(3600);
  }
  return Date.now();
}

async function runRound(sandbox: Sandbox, job: ChildJob, primedAt: number): Promise<RoundResult> {
  const children = Array.from({ length: PROCESSES }, () => startChild(job));
  try {
    await Promise.all(children.map((child) => child.ready));
    // Both sides of the primed token's lifetime are over: the client's and the sandbox's.
    await delay(Math.max(0, primedAt + PRIMED_TOKEN_TTL_SECONDS * 1000 + 100 - Date.now()));
    const before = sandbox.stats.idp.requests;
    const started = process.hrtime.bigint();
    for (const child of children) child.process.send({ type: 'go' } satisfies ToChild);
    const results = await Promise.all(children.map((child) => child.result));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const failures: string[] = [];
    for (const { token, failure } of results) {
      if (failure !== undefined) failures.push(failure);
      else if (token === undefined || sandbox.idp.verifyAccessToken(token) === undefined) failures.push('a process ended with a token the sandbox does not accept');
    }
    return { requests: sandbox.stats.idp.requests - before, ms, failures };
  } finally {
    for (const child of children) if (child.process.exitCode === null) child.process.kill();
  }
}

export const suite: BenchmarkSuite = {
  name: 'token-herd-processes',
  async run(context) {
    const rounds = context.quick ? 1 : 5;
    const { startSandbox } = await import('@sessionkit/sandbox');
    const sandbox = await startSandbox();
    const work = await mkdtemp(join(tmpdir(), 'sessionkit-bench-herd-'));
    try {
      context.log(`  sandbox: startSandbox() in this process, http on loopback; ${PROCESSES} processes, ${rounds} round(s)`);
      const contenders: { contender: Contender; name: string; notes: string }[] = [
        {
          contender: 'sessionkit',
          name: 'sessionkit Session + FileStore (one directory)',
          notes: 'each process: new Session({ authenticator: oauth2(...), store: new FileStore({ dir }) }).getToken()',
        },
        {
          contender: 'plain-file',
          name: 'plain cached-token file (read, fetch if expired, write)',
          notes: 'each process reads one JSON file and POSTs client_credentials with fetch() when the token is missing or expired, then rewrites the file',
        },
      ];
      const results = new Map<Contender, RoundResult[]>(contenders.map(({ contender }) => [contender, []]));
      for (let round = 0; round < rounds; round += 1) {
        const order = round % 2 === 0 ? contenders : [...contenders].reverse();
        for (const { contender, name } of order) {
          const storeDir = join(work, `store-${round}`);
          const cacheFile = join(work, `token-${round}.json`);
          const primedAt = await prime(sandbox, storeDir, cacheFile);
          const path = contender === 'sessionkit' ? storeDir : cacheFile;
          const result = await runRound(sandbox, { contender, tokenUrl: sandbox.tokenUrl, path }, primedAt);
          results.get(contender)?.push(result);
          context.log(
            `  round ${round + 1}: ${name}: ${result.requests} token request(s), ${result.ms.toFixed(1)} ms` +
              (result.failures.length > 0 ? `, ${result.failures.length} failed process(es) (${result.failures[0] ?? ''})` : ''),
          );
        }
      }

      const countBenchmark = `token herd across ${PROCESSES} processes, expired token on disk (http loopback)`;
      const timeBenchmark = `token herd across ${PROCESSES} processes wall time, expired token on disk (http loopback)`;
      const measurements: Measurement[] = [];
      for (const { contender, name, notes } of contenders) {
        const rows = results.get(contender) ?? [];
        const failures = rows.flatMap((row) => row.failures);
        const failureNote = failures.length > 0 ? `; ${failures.length} of ${PROCESSES * rows.length} processes failed (first: ${failures[0] ?? ''})` : '';
        const ours = contender === 'sessionkit';
        measurements.push({
          benchmark: countBenchmark,
          contender: name,
          unit: 'token requests',
          higherIsBetter: false,
          rounds: rows.map((row) => row.requests),
          ...(ours ? { target: { op: '<=' as const, value: 1 } } : {}),
          notes: `${notes}${failureNote}`,
        });
        measurements.push({
          benchmark: timeBenchmark,
          contender: name,
          unit: 'ms',
          higherIsBetter: false,
          rounds: rows.map((row) => Math.round(row.ms * 100) / 100),
          baseline: ours,
          notes: ours ? 'from releasing the ready processes to the last one holding a token the sandbox accepts' : '',
        });
      }
      return measurements;
    } finally {
      await sandbox.close();
      await rm(work, { recursive: true, force: true });
    }
  },
};
