import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type Sandbox, startSandbox } from '@sessionkit/sandbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The token-store package's test helper for a private redis-server (not published).
import { type RedisServer, redisSkipReason, startRedisServer } from '../../../packages/token-store/src/testing/redis-server.js';
// core-session's test helper for a real OAuth 2.0 server, oidc-provider (not published).
import { BASIC_CLIENT, startOidcServer } from '../../../packages/core-session/src/testing/oidc-server.js';
import { DEMO_AUTH_CODE, type DemoSummary, SANDBOX_DEFAULTS } from './demo.js';

const main = fileURLToPath(new URL('main.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');
/** Node's arguments that run the demo from its sources with `args`. */
const demoArgs = (args: readonly string[]): string[] => ['--import', tsx, '--conditions=@sessionkit/source', main, ...args];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the demo as a user would, in its own process (in `cwd`, else this one's); `code` is -1
 * when it had to be killed after `timeoutMs`.
 */
function runDemo(args: readonly string[], env: Record<string, string> = {}, { timeoutMs = 60_000, cwd }: { timeoutMs?: number; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      demoArgs(args),
      { env: { ...process.env, SESSIONKIT_LOG_LEVEL: '', SESSIONKIT_REDIS_URL: '', ...env }, timeout: timeoutMs, ...(cwd === undefined ? {} : { cwd }) },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : error.killed ? -1 : 1, stdout, stderr });
      },
    );
  });
}

/**
 * Runs the demo with its standard output read up to the first chunk and then closed, as
 * `pnpm demo | head -1` does: its next write there fails with EPIPE.
 */
function runDemoClosingStdout(args: readonly string[], { timeoutMs = 60_000 }: { timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, demoArgs(args), {
      env: { ...process.env, SESSIONKIT_LOG_LEVEL: '', SESSIONKIT_REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.once('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      child.stdout.destroy();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** The demo running in its own process, for tests that signal it mid-run. */
interface StartedDemo {
  child: ReturnType<typeof spawn>;
  /** Standard output and error so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves once `text` shows on standard output or error (rejects after `timeoutMs`). */
  shows(text: string, timeoutMs?: number): Promise<void>;
  /** How it ended: `code` null when a signal ended it (`signal`). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function startDemo(args: readonly string[], env: Record<string, string> = {}): StartedDemo {
  const child = spawn(process.execPath, demoArgs(args), {
    env: { ...process.env, SESSIONKIT_LOG_LEVEL: '', SESSIONKIT_REDIS_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Killed if a test forgets it, or it hangs: the test then fails on its exit code.
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  const shows = async (text: string, timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(stdout + stderr).includes(text)) {
      if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) throw new Error(`the demo did not show ${JSON.stringify(text)}:\n${stdout}${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, output: () => ({ stdout, stderr }), shows, exited };
}

/** The FileStore lock files (`<sha256(key)>.lock`) in `dir`. */
async function lockFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.lock'));
}

/** A loopback port where nothing listens. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Every string value in the JSON files of the demo's store directory: the tokens it holds. */
async function storedStrings(dir: string): Promise<string[]> {
  const values: string[] = [];
  const collect = (value: unknown): void => {
    if (typeof value === 'string') values.push(value);
    else if (value !== null && typeof value === 'object') for (const item of Object.values(value)) collect(item);
  };
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.json')) continue;
    collect(JSON.parse(await readFile(join(dir, name), 'utf8')));
  }
  return values.filter((value) => value.length >= 20);
}

describe('the demo, end to end against the embedded sandbox', () => {
  let storeDir: string;

  beforeAll(async () => {
    storeDir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-test-'));
  });

  afterAll(async () => {
    await rm(storeDir, { recursive: true, force: true });
  });

  it('authenticates once, runs every step, and loses or repeats no event across the dropped connection', async () => {
    const run = await runDemo(['--json', '--store-dir', storeDir]);
    expect(run.stderr).toContain('▶ Session');
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as DemoSummary;
    expect(summary.ok).toBe(true);
    expect(summary.token).toEqual({ reusedStoredToken: false, tokenRequests: 1, countedBy: 'sandbox' });
    expect(summary.commands).toMatchObject({ sessionLogin: true, domainsListed: 3000, pages: 6 });
    expect(summary.events).toMatchObject({ published: 1200, received: 1200, duplicates: 0, missing: 0, outOfOrder: 0, gaps: 0 });
    expect((summary.events as { resumes: number }).resumes).toBeGreaterThanOrEqual(1);
  });

  it('reuses the stored token on the second run: 0 token requests, by the sandbox counter', async () => {
    const run = await runDemo(['--json', '--store-dir', storeDir]);
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as DemoSummary;
    expect(summary.token).toEqual({ reusedStoredToken: true, tokenRequests: 0, countedBy: 'sandbox' });
    expect(run.stderr).toContain('reused the stored token: 0 token requests');
  });

  it('says on standard error that a real system\'s variables are not read without --url, and runs against the sandbox', async () => {
    const run = await runDemo(['--json', '--listen-seconds', '0', '--store-dir', storeDir], { SESSIONKIT_TOKEN_URL: 'https://idp.example.com/token', SESSIONKIT_CLIENT_SECRET: 'Unread-Secret-31' });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('Note: without --url the demo runs against its embedded sandbox; SESSIONKIT_TOKEN_URL, SESSIONKIT_CLIENT_SECRET are not read.');
    expect((JSON.parse(run.stdout) as DemoSummary).mode).toBe('sandbox');
    expect(run.stdout + run.stderr).not.toContain('Unread-Secret-31');
  });

  it('prints a readable summary table without --json', async () => {
    const run = await runDemo(['--store-dir', storeDir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/token requests\s+0/);
    expect(run.stdout).toMatch(/result\s+ok/);
    expect(run.stdout).toContain('"AUTH":"[REDACTED]"');
  });

  it('prints no secret of any kind at --log-level trace', async () => {
    const traceDir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-trace-'));
    try {
      const run = await runDemo(['--log-level', 'trace', '--store-dir', traceDir]);
      expect(run.code).toBe(0);
      const output = run.stdout + run.stderr;
      expect(output).toMatch(/TRACE|DEBUG/);
      const stored = await storedStrings(traceDir);
      // The stored access and refresh tokens (and the sandbox's token hashes).
      expect(stored.length).toBeGreaterThanOrEqual(2);
      const secrets = [SANDBOX_DEFAULTS.clientSecret, SANDBOX_DEFAULTS.ispapiPassword, DEMO_AUTH_CODE, ...stored];
      for (const secret of secrets) expect(output).not.toContain(secret);
      // Access and refresh tokens are 43 base64url characters; ISPAPI session ids 32 hex digits.
      expect(output).not.toMatch(/(?<![\w-])[\w-]{43}(?![\w-])/);
      expect(output).not.toMatch(/(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])/);
    } finally {
      await rm(traceDir, { recursive: true, force: true });
    }
  });

  it('takes its log level from SESSIONKIT_LOG_LEVEL (in any case) when --log-level is not given, and --log-level wins', async () => {
    const fromEnv = await runDemo(['--json', '--store-dir', storeDir], { SESSIONKIT_LOG_LEVEL: 'Debug' });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stderr).toMatch(/ DEBUG /);
    expect(fromEnv.stderr).not.toMatch(/ TRACE /);
    // The logs go to stderr: stdout is still the JSON summary alone.
    expect((JSON.parse(fromEnv.stdout) as DemoSummary).ok).toBe(true);
    for (const secret of [SANDBOX_DEFAULTS.clientSecret, SANDBOX_DEFAULTS.ispapiPassword, DEMO_AUTH_CODE, ...(await storedStrings(storeDir))]) {
      expect(fromEnv.stdout + fromEnv.stderr).not.toContain(secret);
    }
    const overridden = await runDemo(['--json', '--log-level', 'warn', '--store-dir', storeDir], { SESSIONKIT_LOG_LEVEL: 'debug' });
    expect(overridden.code).toBe(0);
    expect(overridden.stderr).not.toMatch(/ (DEBUG|INFO) /);
  });

  it('refuses an unknown SESSIONKIT_LOG_LEVEL with exit code 2, by its name, without repeating its value or starting anything', async () => {
    const value = 'Loud-Log-Level-Secret-9931';
    const run = await runDemo(['--store-dir', storeDir], { SESSIONKIT_LOG_LEVEL: value });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('The environment variable SESSIONKIT_LOG_LEVEL must be trace, debug, info, warn, error or silent');
    expect(run.stdout + run.stderr).not.toContain(value);
    expect(run.stdout).not.toContain('▶');
    // --help still answers, whatever the environment holds.
    const help = await runDemo(['--help'], { SESSIONKIT_LOG_LEVEL: value, SESSIONKIT_REDIS_URL: 'localhost:6379' });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('SESSIONKIT_LOG_LEVEL');
  });

  it('refuses a --store-dir that is a file, or under one, with exit code 2 before starting anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-file-'));
    try {
      const file = join(dir, 'not-a-directory');
      await writeFile(file, 'a file\n');
      for (const [storeDirArg, message] of [
        [file, `--store-dir must be a directory, and ${file} is a file.`],
        [join(file, 'sub'), `--store-dir must be a directory, and ${join(file, 'sub')} is under a file.`],
      ] as const) {
        const run = await runDemo(['--json', '--store-dir', storeDirArg]);
        expect(run.code).toBe(2);
        expect(run.stderr).toContain(message);
        expect(run.stderr).not.toContain('The demo failed');
        expect(run.stderr).not.toContain('▶');
        expect(run.stdout).toBe('');
      }
      expect(await readFile(file, 'utf8')).toBe('a file\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.runIf(existsSync('/proc/self'))('refuses a --store-dir that cannot be created, such as one in /proc, with exit code 2 instead of hanging', async () => {
    // Node 20's mkdir with `recursive` never returns for these (it spins on ENOENT).
    for (const storeDirArg of ['/proc/sessionkit-demo-test', '/proc/sessionkit-demo-test/a/b']) {
      const run = await runDemo(['--json', `--store-dir=${storeDirArg}`], {}, { timeoutMs: 10_000 });
      expect(run.code, storeDirArg).toBe(2);
      expect(run.stderr).toContain(`--store-dir ${storeDirArg} cannot be created: `);
      expect(run.stderr).not.toContain('▶');
      expect(run.stdout).toBe('');
    }
  });

  it('creates a new --store-dir with its missing parents, each private to the user (mode 0700)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-nested-'));
    try {
      const nested = join(dir, 'a', 'b', 'store');
      const run = await runDemo(['--json', '--store-dir', nested]);
      expect(run.code).toBe(0);
      expect((JSON.parse(run.stdout) as DemoSummary).storeDir).toBe(nested);
      for (const path of [join(dir, 'a'), join(dir, 'a', 'b'), nested]) expect(((await stat(path)).mode & 0o777).toString(8), path).toBe('700');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes a leading ~/ in --store-dir=~/dir (which the shell does not expand after "=") for the home directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-home-'));
    try {
      const home = join(dir, 'home');
      const cwd = join(dir, 'cwd');
      await mkdir(home);
      await mkdir(cwd);
      const run = await runDemo(['--json', '--store-dir=~/store'], { HOME: home, USERPROFILE: home, INIT_CWD: cwd }, { cwd });
      expect(run.code).toBe(0);
      expect((JSON.parse(run.stdout) as DemoSummary).storeDir).toBe(join(home, 'store'));
      expect(await readdir(home)).toEqual(['store']);
      // No directory named "~" where it ran.
      expect(await readdir(cwd)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits at once on a second Ctrl-C while the first one waits for the run to stop (here for another process\'s store lock), and leaves that lock alone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-twice-'));
    try {
      // A live lock of this process's on the demo's key: the demo's session waits for it (up to 10 s).
      const lockPath = join(dir, `${createHash('sha256').update('sessionkit-demo-sandbox').digest('hex')}.lock`);
      const owner = JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'the-test-holds-it', time: Date.now() });
      await writeFile(lockPath, owner, { mode: 0o600 });
      const demo = startDemo(['--store-dir', dir]);
      await demo.shows('▶ Session');
      await new Promise((resolve) => setTimeout(resolve, 500));
      demo.child.kill('SIGINT');
      await demo.shows('Interrupted (SIGINT)');
      // Still stopping: the session waits for the lock, which is not the demo's to break.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(demo.child.exitCode).toBeNull();
      const second = Date.now();
      demo.child.kill('SIGINT');
      const { code, signal, stdout, stderr } = await demo.exited;
      expect({ code, signal }).toEqual({ code: 130, signal: null });
      expect(Date.now() - second).toBeLessThan(2_000);
      expect(stdout + stderr).not.toContain(SANDBOX_DEFAULTS.clientSecret);
      expect(await readFile(lockPath, 'utf8')).toBe(owner);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops writing quietly when the reader of its output goes away (EPIPE, as with | head -1), and still finishes and cleans up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-epipe-'));
    try {
      const run = await runDemoClosingStdout(['--store-dir', dir]);
      expect(run.stdout).toContain('\n');
      expect(run.stderr).not.toMatch(/EPIPE|Error|at /);
      expect(run.code).toBe(0);
      // The run went on, and closed what it opened: its token and the sandbox's state were kept.
      const next = await runDemo(['--json', '--store-dir', dir]);
      expect(next.code).toBe(0);
      expect((JSON.parse(next.stdout) as DemoSummary).token).toEqual({ reusedStoredToken: true, tokenRequests: 0, countedBy: 'sandbox' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.runIf(existsSync('/dev/full'))('exits 1 when its standard output cannot be written (a full disk), and says so once', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const child = spawn(process.execPath, demoArgs(['--help']), { stdio: ['ignore', full, 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect({ code, stderr }).toEqual({ code: 1, stderr: '\nThe demo stopped writing to standard output: ENOSPC\n' });
    } finally {
      closeSync(full);
    }
  });

  it('explains its options with --help and rejects bad ones', async () => {
    const help = await runDemo(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--system <live|ote>');
    // `pnpm demo -- --help` passes the `--` on to the demo.
    const dashed = await runDemo(['--', '--help']);
    expect(dashed.code).toBe(0);
    expect(dashed.stdout).toContain('--system <live|ote>');
    const bad = await runDemo(['--system', 'moon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--system must be live or ote');
  });
});

const redisSkip = await redisSkipReason();

describe(`the demo with --store redis:// (fleet mode), against a real redis-server${redisSkip === undefined ? '' : ` SKIPPED: ${redisSkip}`}`, () => {
  const password = 'Redis-Pass-For-The-Demo-0815';
  let server: RedisServer;
  let raw: Redis;
  let storeDir: string;

  beforeAll(async () => {
    if (redisSkip !== undefined) return;
    server = await startRedisServer({ args: ['--requirepass', password] });
    raw = new Redis({ port: server.port, host: '127.0.0.1', password, lazyConnect: true });
    await raw.connect();
    storeDir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-redis-'));
  });

  afterAll(async () => {
    if (redisSkip !== undefined) return;
    raw.disconnect();
    await server.dispose();
    await rm(storeDir, { recursive: true, force: true });
  });

  const withPassword = (): string => `redis://:${password}@127.0.0.1:${server.port}`;

  it.skipIf(redisSkip !== undefined)('keeps the token in Redis: 1 token request, then 0 on the next run, and no file token', async () => {
    // A URL with a password goes in the environment: --store refuses one.
    const first = await runDemo(['--json', '--log-level', 'trace', '--store-dir', storeDir], { SESSIONKIT_REDIS_URL: withPassword() });
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout) as DemoSummary;
    expect(summary.ok).toBe(true);
    expect(summary.store).toEqual({ kind: 'redis', location: `redis://127.0.0.1:${server.port}` });
    expect(summary.token).toEqual({ reusedStoredToken: false, tokenRequests: 1, countedBy: 'sandbox' });
    // The record is in Redis, under the store's default prefix, as JSON with the token.
    const stored = await raw.get('sessionkit:record:sessionkit-demo-sandbox');
    expect(stored).not.toBeNull();
    const record = JSON.parse(stored ?? '{}') as { token?: { value?: unknown } };
    expect(typeof record.token?.value).toBe('string');
    const accessToken = String(record.token?.value);
    expect(accessToken.length).toBeGreaterThan(20);
    // Only the sandbox's own state is in the directory: the token lives in Redis alone.
    expect((await readdir(storeDir)).filter((name) => name !== 'sandbox-idp-state.json')).toEqual([]);
    // Neither the Redis password nor the token shows up at trace level.
    const output = first.stdout + first.stderr;
    expect(output).toMatch(/TRACE|DEBUG/);
    expect(output).not.toContain(password);
    expect(output).not.toContain(accessToken);

    // A second run (another machine of the fleet).
    const second = await runDemo(['--json', '--store-dir', storeDir], { SESSIONKIT_REDIS_URL: withPassword() });
    expect(second.code).toBe(0);
    const again = JSON.parse(second.stdout) as DemoSummary;
    expect(again.store.kind).toBe('redis');
    expect(again.token).toEqual({ reusedStoredToken: true, tokenRequests: 0, countedBy: 'sandbox' });
    expect(second.stderr).toContain('reused the stored token: 0 token requests');
    expect(second.stdout + second.stderr).not.toContain(password);
  });

  it.skipIf(redisSkip !== undefined)('fails with exit code 1 and a StoreError message, without the password, when Redis refuses the password', async () => {
    const run = await runDemo(['--store-dir', storeDir], { SESSIONKIT_REDIS_URL: `redis://:wrong-${password}@127.0.0.1:${server.port}` });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('The demo failed');
    expect(run.stderr).toMatch(/Redis/);
    expect(run.stdout + run.stderr).not.toContain(password);
  });

  it.skipIf(redisSkip !== undefined)('shows the database given as ?db=2 in the progress line, the summary table and the JSON, where it keeps the token', async () => {
    const url = `${withPassword()}/?db=2`;
    const endpoint = `redis://127.0.0.1:${server.port}/2`;
    const json = await runDemo(['--json', '--store-dir', storeDir], { SESSIONKIT_REDIS_URL: url });
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as DemoSummary).store).toEqual({ kind: 'redis', location: endpoint });
    expect(json.stderr).toContain(`Redis at ${endpoint}: every process using it shares this token`);
    const table = await runDemo(['--store-dir', storeDir], { SESSIONKIT_REDIS_URL: url });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`token store +RedisStore ${endpoint.replaceAll('.', '\\.')}\n`));
    expect(json.stdout + json.stderr + table.stdout + table.stderr).not.toContain(password);
    // The token is in database 2, where the location says.
    const db2 = new Redis({ port: server.port, host: '127.0.0.1', password, db: 2, lazyConnect: true });
    try {
      await db2.connect();
      expect(await db2.get('sessionkit:record:sessionkit-demo-sandbox')).not.toBeNull();
    } finally {
      db2.disconnect();
    }
  });

  it('rejects a --store that is not a Redis URL with exit code 2', async () => {
    const run = await runDemo(['--store', 'memcached://127.0.0.1:11211']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--store must start with redis:// or rediss://');
  });
});

describe('the demo against a real system (--url), here a separately started sandbox that the demo does not control', () => {
  let sandbox: Sandbox;
  let dir: string;
  let caFile: string;
  /** The credentials, in the environment only: the demo takes none on its command line. */
  let credentials: Record<string, string>;

  beforeAll(async () => {
    // Events flow on the gateway's own schedule, as on a real system.
    sandbox = await startSandbox({ tls: true, ess: { generator: { intervalMs: 50, batchSize: 5 } } });
    dir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-real-'));
    caFile = join(dir, 'ca.pem');
    await writeFile(caFile, sandbox.certificate ?? '');
    credentials = {
      // The system's certificate is trusted the way a user trusts a private CA: not by the demo.
      NODE_EXTRA_CA_CERTS: caFile,
      SESSIONKIT_CLIENT_ID: SANDBOX_DEFAULTS.clientId,
      SESSIONKIT_CLIENT_SECRET: SANDBOX_DEFAULTS.clientSecret,
      SESSIONKIT_ISPAPI_LOGIN: SANDBOX_DEFAULTS.ispapiLogin,
      SESSIONKIT_ISPAPI_PASSWORD: SANDBOX_DEFAULTS.ispapiPassword,
    };
  });

  afterAll(async () => {
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to start without credentials in the environment (exit code 2, naming the variable), without first calling them found', async () => {
    const before = sandbox.stats.idp.requests;
    const run = await runDemo(['--url', sandbox.url, '--store-dir', join(dir, 'none')], { NODE_EXTRA_CA_CERTS: caFile, SESSIONKIT_CLIENT_ID: '', SESSIONKIT_CLIENT_SECRET: '' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('SESSIONKIT_CLIENT_ID');
    expect(run.stdout).toContain('▶ Using the system at');
    expect(run.stdout).not.toContain('✔');
    expect(sandbox.stats.idp.requests).toBe(before);
  });

  it('authenticates with the credentials from the environment, then reuses the token: counted by the demo and by the server alike', async () => {
    const storeDir = join(dir, 'store');
    const args = ['--url', sandbox.url, '--json', '--log-level', 'trace', '--listen-seconds', '1', '--store-dir', storeDir];
    const tokensBefore = sandbox.stats.idp.requests;
    const commandsBefore = sandbox.stats.commands.requests;
    const first = await runDemo(args, credentials);
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout) as DemoSummary;
    expect(summary.mode).toBe('real system');
    expect(summary.ok).toBe(true);
    expect(summary.token).toEqual({ reusedStoredToken: false, tokenRequests: 1, countedBy: 'demo' });
    expect(sandbox.stats.idp.requests - tokensBefore).toBe(1);
    expect(summary.commands).toMatchObject({ sessionLogin: true, domainsListed: 3000, pages: 6 });
    // No write reaches a real system, so there is no auth code whose redaction could be shown.
    expect(summary.commands).not.toHaveProperty('redactedExample');
    expect(first.stderr).toContain('ModifyDomain in the session: not sent to a real system');
    expect(sandbox.stats.commands.requests - commandsBefore).toBe((summary.commands as { requests: number }).requests);
    expect(sandbox.stats.commands.byEntity['1234']).toBeGreaterThan(0);
    expect((summary.events as { received: number }).received).toBeGreaterThan(0);
    expect(summary.events).toMatchObject({ duplicates: 0, gaps: 0 });
    // The demo published nothing to a real system: no count to compare with, null rather than a misleading 0.
    expect(summary.events).toMatchObject({ published: null, missing: null, outOfOrder: null });
    expect(first.stderr).not.toMatch(/published|missing/);
    const output = first.stdout + first.stderr;
    for (const secret of [SANDBOX_DEFAULTS.clientSecret, SANDBOX_DEFAULTS.ispapiPassword, ...(await storedStrings(storeDir))]) {
      expect(output).not.toContain(secret);
    }

    const second = await runDemo(args, credentials);
    expect(second.code).toBe(0);
    expect((JSON.parse(second.stdout) as DemoSummary).token).toEqual({ reusedStoredToken: true, tokenRequests: 0, countedBy: 'demo' });
    expect(sandbox.stats.idp.requests - tokensBefore).toBe(1);
  });

  it('takes its tokens from another identity provider (oidc-provider) given by SESSIONKIT_TOKEN_URL: 1 token request, then the stored token reused', async () => {
    const idp = await startOidcServer();
    try {
      const storeDir = join(dir, 'oidc-provider');
      const args = ['--url', sandbox.url, '--json', '--store-dir', storeDir];
      const env = {
        ...credentials,
        SESSIONKIT_TOKEN_URL: idp.tokenUrl,
        SESSIONKIT_CLIENT_ID: BASIC_CLIENT.clientId,
        SESSIONKIT_CLIENT_SECRET: BASIC_CLIENT.clientSecret,
        SESSIONKIT_SCOPE: 'api',
      };
      const sandboxTokens = sandbox.stats.idp.requests;
      const first = await runDemo(args, env);
      expect(first.code).toBe(0);
      const summary = JSON.parse(first.stdout) as DemoSummary;
      expect(summary).toMatchObject({ ok: true, token: { reusedStoredToken: false, tokenRequests: 1 }, commands: { sessionLogin: true, domainsListed: 3000 } });
      // The events gateway takes only the sandbox's tokens: without SESSIONKIT_ESS_URL that step is skipped.
      expect(summary.events).toHaveProperty('skipped');
      expect(idp.granted).toEqual({ client_credentials: 1 });
      expect(sandbox.stats.idp.requests).toBe(sandboxTokens);
      for (const secret of [BASIC_CLIENT.clientSecret, ...(await storedStrings(storeDir))]) expect(first.stdout + first.stderr).not.toContain(secret);

      const second = await runDemo(args, env);
      expect(second.code).toBe(0);
      expect((JSON.parse(second.stdout) as DemoSummary).token).toMatchObject({ reusedStoredToken: true, tokenRequests: 0 });
      expect(idp.granted).toEqual({ client_credentials: 1 });
    } finally {
      await idp.close();
    }
  });

  it("counts the event ids a real gateway repeats as dropped duplicates, which do not fail the run", async () => {
    // While the demo listens, the gateway sends some ids twice; the client drops the repeats.
    let serial = 0;
    const repeating = setInterval(() => {
      serial += 1;
      const event = { id: `repeated-${String(serial)}`, type: '6eb95dd6-7ccc-4bce-99f8-af0d0b582d77', source: 'cameras/repeated' };
      sandbox.publish([event, { ...event }]);
    }, 50);
    try {
      const run = await runDemo(['--url', sandbox.url, '--json', '--listen-seconds', '1', '--store-dir', join(dir, 'store')], credentials);
      expect(run.code).toBe(0);
      const summary = JSON.parse(run.stdout) as DemoSummary;
      expect((summary.events as { duplicates: number }).duplicates).toBeGreaterThan(0);
      expect(summary.ok).toBe(true);
    } finally {
      clearInterval(repeating);
    }
  });

  it('runs the command step on the live system with --system live, and sums it up without --json', async () => {
    const before = sandbox.stats.commands.byEntity['54cd'] ?? 0;
    const run = await runDemo(['--url', sandbox.url, '--system', 'live', '--listen-seconds', '0', '--store-dir', join(dir, 'store')], credentials);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('CommandClient on the live system');
    expect(run.stdout).toMatch(/command requests\s+\d+ \(3000 domains in 6 pages\)/);
    expect((sandbox.stats.commands.byEntity['54cd'] ?? 0) - before).toBeGreaterThan(0);
    // A real gateway publishes on its own schedule: nothing was published by the demo to compare with.
    expect(run.stdout).toMatch(/events received\s+\d+, 0 duplicates dropped\n/);
    expect(run.stdout).not.toMatch(/published|missing/);
    expect(run.stdout).toMatch(/result\s+ok/);
  });

  it('refuses half the ISPAPI credentials (exit code 2, naming the one missing) rather than skip the command step', async () => {
    for (const [missing, kept] of [['SESSIONKIT_ISPAPI_PASSWORD', 'SESSIONKIT_ISPAPI_LOGIN'], ['SESSIONKIT_ISPAPI_LOGIN', 'SESSIONKIT_ISPAPI_PASSWORD']] as const) {
      const run = await runDemo(['--url', sandbox.url, '--listen-seconds', '0', '--store-dir', join(dir, 'half')], { ...credentials, [missing]: '' });
      expect(run.code, missing).toBe(2);
      expect(run.stderr).toContain(`${missing} is not set`);
      expect(run.stderr).toContain(kept);
      expect(run.stdout + run.stderr).not.toContain(SANDBOX_DEFAULTS.ispapiPassword);
    }
  });

  it('fails the session step when the system\'s certificate is not trusted (exit code 1, the JSON document on standard output)', async () => {
    const { NODE_EXTRA_CA_CERTS: _trusted, ...untrusted } = credentials;
    const run = await runDemo(['--url', sandbox.url, '--json', '--listen-seconds', '0', '--store-dir', join(dir, 'untrusted')], untrusted);
    expect(run.code).toBe(1);
    const summary = JSON.parse(run.stdout) as DemoSummary;
    expect(summary.ok).toBe(false);
    expect(summary.error).toMatchObject({ step: 'session', message: expect.stringContaining('certificate') as unknown });
    expect(run.stdout + run.stderr).not.toContain(SANDBOX_DEFAULTS.clientSecret);
  });

  it('refuses an endpoint variable holding a password with exit code 2, before any request, and never prints it', async () => {
    const before = sandbox.stats.idp.requests;
    const secret = 'Url-Password-For-The-Demo-4242';
    const tokenUrl = new URL('/IDP/connect/token', sandbox.url);
    tokenUrl.username = 'sessionkit-demo';
    tokenUrl.password = secret;
    const run = await runDemo(['--url', sandbox.url, '--store-dir', join(dir, 'refused')], { ...credentials, SESSIONKIT_TOKEN_URL: tokenUrl.href });
    expect(run.stdout + run.stderr).not.toContain(secret);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('The environment variable SESSIONKIT_TOKEN_URL must not hold a user name or password');
    expect(sandbox.stats.idp.requests).toBe(before);
  });

  it('gives up on an events gateway it cannot reach, with exit code 1 and the reason, instead of retrying for ever', async () => {
    const essUrl = `wss://127.0.0.1:${await closedPort()}/api/ws/events/v1`;
    const env = { ...credentials, SESSIONKIT_ESS_URL: essUrl, SESSIONKIT_ISPAPI_LOGIN: '', SESSIONKIT_ISPAPI_PASSWORD: ' ' };
    const run = await runDemo(['--url', sandbox.url, '--listen-seconds', '0', '--store-dir', join(dir, 'store')], env);
    expect(run.code).toBe(1);
    // Blank variables count as unset: the command step is skipped, not run with an empty login.
    expect(run.stdout).toContain('skipped: set SESSIONKIT_ISPAPI_LOGIN and SESSIONKIT_ISPAPI_PASSWORD');
    expect(run.stdout).toContain(`events gateway ${essUrl}`);
    // The failed step, in the progress and in the summary table, which still comes.
    expect(run.stdout).toMatch(/✗ Gave up after \d+ retries: .*ECONNREFUSED/);
    expect(run.stdout).toMatch(/command requests\s+skipped\n/);
    expect(run.stdout).toMatch(/events received\s+not completed\n/);
    expect(run.stdout).toMatch(/result\s+FAILED in the events step/);
    expect(run.stderr).toMatch(/The demo failed: Gave up after \d+ retries: .*ECONNREFUSED/);
  });

  it('counts every token request of the run: a stored token the server revoked is not "reused" when the events step had to replace it', async () => {
    const storeDir = join(dir, 'revoked');
    const args = ['--url', sandbox.url, '--json', '--listen-seconds', '0', '--store-dir', storeDir];
    expect((await runDemo(args, credentials)).code).toBe(0);
    // The server forgets the stored access and refresh tokens (only these: the other tests' stay valid).
    const stored = await storedStrings(storeDir);
    expect(stored.filter((token) => sandbox.idp.revoke(token)).length).toBeGreaterThanOrEqual(1);
    const before = sandbox.stats.idp.requests;
    const run = await runDemo(args, credentials);
    expect(run.code).toBe(0);
    const served = sandbox.stats.idp.requests - before;
    expect(served).toBeGreaterThanOrEqual(1);
    // The session started with the stored token; the gateway refused it, and the session got another.
    expect(run.stderr).toContain('reused the stored token: 0 token requests');
    expect(run.stderr).toContain('the session requested a token');
    expect((JSON.parse(run.stdout) as DemoSummary).token).toEqual({ reusedStoredToken: false, tokenRequests: served, countedBy: 'demo' });
  });

  it('succeeds for an account without domains: an empty list is a valid answer', async () => {
    const empty = await startSandbox({ tls: true, commands: { domainCount: 0 }, ess: { generator: false } });
    try {
      const emptyCa = join(dir, 'empty-ca.pem');
      await writeFile(emptyCa, empty.certificate ?? '');
      const run = await runDemo(['--url', empty.url, '--listen-seconds', '0', '--store-dir', join(dir, 'empty')], { ...credentials, NODE_EXTRA_CA_CERTS: emptyCa });
      expect(run.stdout).toContain('QueryDomainList: 0 domains');
      expect(run.stdout).not.toContain('✗');
      expect(run.stdout).toMatch(/result\s+ok/);
      expect(run.code).toBe(0);
    } finally {
      await empty.close();
    }
  });

  it('says why a run failed when a check fails, here a session login the server refuses', async () => {
    const fault = sandbox.commands.injectFault({ type: 'respond', body: '[RESPONSE]\ncode=530\ndescription=Authentication failed\nEOF\n' }, { command: 'StartSession' });
    try {
      const run = await runDemo(['--url', sandbox.url, '--listen-seconds', '0', '--store-dir', join(dir, 'store')], credentials);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('✗ StartSession failed: 530 Authentication failed');
      expect(run.stdout).toMatch(/result\s+FAILED in the commands step/);
      expect(run.stderr).toContain('The demo failed: StartSession failed: 530 Authentication failed');
    } finally {
      fault.clear();
    }
  });

  it('fails the commands step when StatusAccount fails (HTTP 500 on every attempt), instead of printing it and going on', async () => {
    const fault = sandbox.commands.injectFault({ type: 'status', status: 500 }, { times: 3, command: 'StatusAccount' });
    try {
      const run = await runDemo(['--url', sandbox.url, '--json', '--listen-seconds', '0', '--store-dir', join(dir, 'store')], credentials);
      expect(run.code).toBe(1);
      const summary = JSON.parse(run.stdout) as DemoSummary;
      expect(summary).toMatchObject({ ok: false, error: { step: 'commands' }, commands: { skipped: 'not completed: the commands step failed' } });
      expect(summary.error?.message).toMatch(/^StatusAccount failed: 421 /);
      expect(run.stderr).toMatch(/✗ StatusAccount failed: 421 /);
      expect(run.stderr).not.toContain('QueryDomainList:');
    } finally {
      fault.clear();
    }
  });

  it('reports the outcome of EndSession, and fails the commands step when it failed', async () => {
    const fault = sandbox.commands.injectFault({ type: 'status', status: 500 }, { times: 5, command: 'EndSession' });
    try {
      const run = await runDemo(['--url', sandbox.url, '--listen-seconds', '0', '--store-dir', join(dir, 'store')], credentials);
      expect(run.stdout).toMatch(/StartSession: 200; ModifyDomain in the session: not sent to a real system; EndSession: 421\n/);
      expect(run.stdout).not.toContain('EndSession done');
      expect(run.stdout).toMatch(/✗ EndSession failed: 421 /);
      expect(run.stdout).toMatch(/result\s+FAILED in the commands step/);
      expect(run.code).toBe(1);
    } finally {
      fault.clear();
    }
    // And when it succeeds, the line says so.
    const ok = await runDemo(['--url', sandbox.url, '--listen-seconds', '0', '--store-dir', join(dir, 'store')], credentials);
    expect(ok.stdout).toContain('EndSession: 200\n');
    expect(ok.code).toBe(0);
  });

  it('gives up on a command the API does not answer after its 30 s timeout and one retry, not the client\'s default 300 s (and two retries)', { timeout: 80_000 }, async () => {
    // The first attempt is answered only after 45 s; the retry gets an HTTP 500. A third attempt
    // (the client's default two retries) would succeed, and so would the first without a timeout.
    const slow = sandbox.commands.injectFault({ type: 'slow', delayMs: 45_000 }, { times: 1, command: 'StatusAccount' });
    const failed = sandbox.commands.injectFault({ type: 'status', status: 500 }, { times: 1, command: 'StatusAccount' });
    try {
      const started = Date.now();
      const run = await runDemo(['--url', sandbox.url, '--json', '--listen-seconds', '0', '--store-dir', join(dir, 'store')], credentials, { timeoutMs: 70_000 });
      const elapsed = Date.now() - started;
      expect(run.code).toBe(1);
      const summary = JSON.parse(run.stdout) as DemoSummary;
      expect(summary.error?.step).toBe('commands');
      expect(summary.error?.message).toMatch(/^StatusAccount failed: 421 /);
      expect(elapsed).toBeGreaterThanOrEqual(29_000);
      expect(elapsed).toBeLessThan(45_000);
    } finally {
      slow.clear();
      failed.clear();
    }
  });

  it('prints the JSON summary with --json when a step fails: ok false, the step and its error, and no secret', async () => {
    const wrong = 'Wrong-Ispapi-Password-5150';
    const run = await runDemo(['--url', sandbox.url, '--json', '--listen-seconds', '0', '--store-dir', join(dir, 'store')], { ...credentials, SESSIONKIT_ISPAPI_PASSWORD: wrong });
    expect(run.code).toBe(1);
    const summary = JSON.parse(run.stdout) as DemoSummary;
    expect(summary).toMatchObject({
      mode: 'real system',
      ok: false,
      // The first command is refused, and checked: the step ends there.
      error: { step: 'commands', message: 'StatusAccount failed: 530 Authentication failed' },
      commands: { skipped: 'not completed: the commands step failed' },
      events: { skipped: 'not completed: the commands step failed' },
    });
    // The steps before it still report what they did.
    expect(summary.token.countedBy).toBe('demo');
    expect(run.stderr).toContain('✗ StatusAccount failed: 530 Authentication failed');
    expect(run.stdout + run.stderr).not.toContain(wrong);
  });

  it('refuses a SESSIONKIT_COMMAND_URL with the password in its query with exit code 2, before any request, naming the variable', async () => {
    const before = sandbox.stats.idp.requests;
    const secret = 'Query-Password-For-The-Demo-6262';
    const commandUrl = `${sandbox.url}/api/call.cgi?s_login=demo&s_pw=${secret}`;
    const run = await runDemo(['--url', sandbox.url, '--store-dir', join(dir, 'refused')], { ...credentials, SESSIONKIT_COMMAND_URL: commandUrl });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('The environment variable SESSIONKIT_COMMAND_URL must not hold a secret query field such as s_pw');
    expect(run.stdout + run.stderr).not.toContain(secret);
    expect(run.stdout).not.toContain('▶');
    expect(sandbox.stats.idp.requests).toBe(before);
  });

  it('stops cleanly on Ctrl-C (SIGINT) while its session holds the FileStore lock for a token request: exit code 130, no lock left, no secret printed', async () => {
    // A token endpoint that takes the request and never answers: the session holds its lock meanwhile.
    const sockets: Socket[] = [];
    let requested: () => void = () => undefined;
    const request = new Promise<void>((resolve) => (requested = resolve));
    const silent = createServer((socket) => {
      sockets.push(socket);
      socket.once('data', requested);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const storeDir = join(dir, 'interrupted-token');
    try {
      const tokenUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/IDP/connect/token`;
      const demo = startDemo(['--url', sandbox.url, '--listen-seconds', '0', '--store-dir', storeDir], { ...credentials, SESSIONKIT_TOKEN_URL: tokenUrl });
      await request;
      expect(await lockFiles(storeDir)).toHaveLength(1);
      const interrupted = Date.now();
      demo.child.kill('SIGINT');
      const { code, signal, stdout, stderr } = await demo.exited;
      expect({ code, signal }).toEqual({ code: 130, signal: null });
      // The token request was ended, not waited for (its own timeout is 10 s).
      expect(Date.now() - interrupted).toBeLessThan(5_000);
      expect(await lockFiles(storeDir)).toEqual([]);
      expect(stderr).toContain('Interrupted (SIGINT)');
      expect(stdout).toMatch(/result\s+interrupted in the session step/);
      expect(stderr).toContain('The demo was interrupted by SIGINT in the session step');
      for (const secret of [SANDBOX_DEFAULTS.clientSecret, SANDBOX_DEFAULTS.ispapiPassword]) expect(stdout + stderr).not.toContain(secret);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('gets a SIGTERM sent to `pnpm demo` itself: the package script runs the demo in its own place (exec), not under a shell that leaves it running', async () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const child = spawn('pnpm', ['-s', 'demo', '--', '--url', sandbox.url, '--listen-seconds', '60', '--store-dir', join(dir, 'pnpm-demo')], {
      cwd: root,
      env: { ...process.env, SESSIONKIT_LOG_LEVEL: '', SESSIONKIT_REDIS_URL: '', ...credentials },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const closed = new Promise<void>((resolve) => child.on('close', () => { resolve(); }));
    try {
      while (!output.includes('listening for 60 s')) {
        if (child.exitCode !== null) throw new Error(`pnpm demo ended first:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      child.kill('SIGTERM');
      await closed;
      // The demo's own handling: it used to go on under the orphaned shell and end with "result ok".
      expect(output).toContain('Interrupted (SIGTERM)');
      expect(output).not.toMatch(/result\s+ok/);
    } finally {
      clearTimeout(timer);
    }
  }, 90_000);

  it('stops cleanly on SIGTERM while the events step listens: exit code 143 at once, the JSON summary says so, and the next run reuses the token', async () => {
    const storeDir = join(dir, 'interrupted-events');
    const demo = startDemo(['--url', sandbox.url, '--json', '--listen-seconds', '60', '--store-dir', storeDir], credentials);
    await demo.shows('listening for 60 s');
    const interrupted = Date.now();
    demo.child.kill('SIGTERM');
    const { code, signal, stdout, stderr } = await demo.exited;
    expect({ code, signal }).toEqual({ code: 143, signal: null });
    expect(Date.now() - interrupted).toBeLessThan(5_000);
    const summary = JSON.parse(stdout) as DemoSummary;
    expect(summary).toMatchObject({ ok: false, error: { step: 'events', message: 'interrupted by SIGTERM', interrupted: true }, events: { skipped: 'not completed: the events step was interrupted' } });
    // The steps before it report what they did.
    expect(summary.commands).toMatchObject({ sessionLogin: true, domainsListed: 3000 });
    expect(stderr).toContain('Interrupted (SIGTERM)');
    expect(stderr).toContain('✗ interrupted by SIGTERM');
    expect(await lockFiles(storeDir)).toEqual([]);
    const output = stdout + stderr;
    for (const secret of [SANDBOX_DEFAULTS.clientSecret, SANDBOX_DEFAULTS.ispapiPassword, ...(await storedStrings(storeDir))]) expect(output).not.toContain(secret);
    const next = await runDemo(['--url', sandbox.url, '--json', '--listen-seconds', '0', '--store-dir', storeDir], credentials);
    expect(next.code).toBe(0);
    expect((JSON.parse(next.stdout) as DemoSummary).token).toEqual({ reusedStoredToken: true, tokenRequests: 0, countedBy: 'demo' });
    expect(next.stderr).not.toMatch(/stale lock|broke/);
  });

  it('puts a relative --store-dir under INIT_CWD, where `pnpm demo` was run, not under the demo\'s own directory', async () => {
    const initCwd = join(dir, 'where-pnpm-ran');
    const demoCwd = join(dir, 'demo-cwd');
    await mkdir(initCwd);
    await mkdir(demoCwd);
    const run = await runDemo(['--url', sandbox.url, '--json', '--listen-seconds', '0', '--store-dir', 'mystore'], { ...credentials, INIT_CWD: initCwd }, { cwd: demoCwd });
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as DemoSummary).storeDir).toBe(join(initCwd, 'mystore'));
    expect(run.stderr).toContain(`store directory: ${join(initCwd, 'mystore')}`);
    expect((await stat(join(initCwd, 'mystore'))).isDirectory()).toBe(true);
    expect(await readdir(demoCwd)).toEqual([]);
  });
});
