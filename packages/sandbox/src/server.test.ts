import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startSandbox } from '@sessionkit/sandbox';

describe('startSandbox', () => {
  it('listens on a free loopback port and answers 404 for unknown paths', async () => {
    const sandbox = await startSandbox();
    try {
      expect(sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const response = await fetch(`${sandbox.url}/nowhere`);
      expect(response.status).toBe(404);
    } finally {
      await sandbox.close();
    }
  });

  it('serves HTTPS with a self-signed certificate that a client can trust explicitly', async () => {
    const sandbox = await startSandbox({ tls: true });
    try {
      expect(sandbox.url).toMatch(/^https:/);
      expect(sandbox.essUrl).toMatch(/^wss:/);
      expect(sandbox.certificate).toContain('BEGIN CERTIFICATE');
      const { request } = await import('node:https');
      const status = await new Promise<number | undefined>((resolve, reject) => {
        request(`${sandbox.url}/nowhere`, { ca: sandbox.certificate }, (response) => {
          response.resume();
          resolve(response.statusCode);
        })
          .on('error', reject)
          .end();
      });
      expect(status).toBe(404);
    } finally {
      await sandbox.close();
    }
  });
});

/** The `sessionkit-sandbox` command, run from source in a child process. */
describe('sessionkit-sandbox (the command)', () => {
  const cli = fileURLToPath(new URL('cli.ts', import.meta.url));
  const tsx = import.meta.resolve('tsx');
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sessionkit-sandbox-cli-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  interface Running {
    child: ChildProcessWithoutNullStreams;
    /** Everything printed so far. */
    output: () => string;
    tokenUrl: string;
    essUrl: string;
    /** Sends `signal` and resolves with the exit code once the process has exited. */
    stop: (signal?: NodeJS.Signals) => Promise<number | null>;
  }

  function spawnCli(args: readonly string[]): ChildProcessWithoutNullStreams {
    return spawn(process.execPath, ['--import', tsx, '--conditions=@sessionkit/source', cli, ...args], { stdio: 'pipe' });
  }

  function exitOf(child: ChildProcessWithoutNullStreams): Promise<number | null> {
    if (child.exitCode !== null) return Promise.resolve(child.exitCode);
    return new Promise((resolve) => child.once('exit', (code) => { resolve(code); }));
  }

  /** Starts the command and resolves once it has printed its endpoints. */
  function startCli(args: readonly string[]): Promise<Running> {
    const child = spawnCli(args);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    onTestFinished(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    return new Promise((resolve, reject) => {
      const onData = (): void => {
        const token = /token endpoint : (\S+)/.exec(output);
        const ess = /events gateway : (\S+)/.exec(output);
        if (token?.[1] === undefined || ess?.[1] === undefined) return;
        child.stdout.off('data', onData);
        child.off('exit', onExit);
        resolve({
          child,
          output: () => output,
          tokenUrl: token[1],
          essUrl: ess[1],
          stop: (signal = 'SIGTERM') => {
            const exited = exitOf(child);
            child.kill(signal);
            return exited;
          },
        });
      };
      const onExit = (code: number | null): void => { reject(new Error(`sessionkit-sandbox exited (${String(code)}) before it listened: ${output}`)); };
      child.stdout.on('data', onData);
      child.once('exit', onExit);
    });
  }

  /** POSTs a form over HTTPS trusting `ca`; resolves with the status and the JSON body. */
  function post(url: string, form: Record<string, string>, ca: string): Promise<{ status: number | undefined; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method: 'POST', ca, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => { text += chunk; });
        response.on('end', () => { resolve({ status: response.statusCode, body: JSON.parse(text) as Record<string, unknown> }); });
      });
      req.on('error', reject);
      req.end(new URLSearchParams(form).toString());
    });
  }

  function whoami(tokenUrl: string, accessToken: string, ca: string): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      httpsRequest(new URL('/api/rest/v1/whoami', tokenUrl), { ca, headers: { authorization: `Bearer ${accessToken}` } }, (response) => {
        response.resume();
        resolve(response.statusCode);
      })
        .on('error', reject)
        .end();
    });
  }

  it('serves HTTPS with the flags given, writes its certificate, keeps tokens across a restart and prints its counters when stopped', async () => {
    const certFile = join(dir, 'cert.pem');
    const stateFile = join(dir, 'state.json');
    const args = ['--port', '0', '--tls', '--cert-file', certFile, '--state-file', stateFile, '--token-ttl', '120', '--event-interval', '0'];
    const first = await startCli(args);
    expect(first.tokenUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/IDP\/connect\/token$/);
    expect(first.essUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/api\/ws\/events\/v1$/);
    const ca = await readFile(certFile, 'utf8');
    expect(ca).toContain('BEGIN CERTIFICATE');
    const issued = await post(first.tokenUrl, { grant_type: 'client_credentials', client_id: 'sessionkit-demo', client_secret: 'demo-secret' }, ca);
    expect(issued.status).toBe(200);
    expect(issued.body.expires_in).toBe(120);
    const accessToken = String(issued.body.access_token);
    expect(await whoami(first.tokenUrl, accessToken, ca)).toBe(200);
    expect(await first.stop('SIGINT')).toBe(0);
    expect(first.output()).toContain('SIGINT: stopping after 1 token requests (1 tokens issued, 0 refused, 0 rate-limited)');

    // Started again with the same state file: the token issued before still verifies.
    const second = await startCli(args);
    const ca2 = await readFile(certFile, 'utf8');
    expect(ca2).not.toBe(ca);
    expect(await whoami(second.tokenUrl, accessToken, ca2)).toBe(200);
    expect(await whoami(second.tokenUrl, 'not-a-token', ca2)).toBe(401);
    expect(await second.stop()).toBe(0);
    expect(second.output()).toContain('SIGTERM: stopping after 0 token requests');
  });

  it('answers 429 past --auth-rate-limit', async () => {
    const certFile = join(dir, 'limit-cert.pem');
    const running = await startCli(['--port', '0', '--tls', '--cert-file', certFile, '--auth-rate-limit', '2/60', '--event-interval', '0']);
    const ca = await readFile(certFile, 'utf8');
    const form = { grant_type: 'client_credentials', client_id: 'sessionkit-demo', client_secret: 'demo-secret' };
    const statuses = [];
    for (let attempt = 0; attempt < 3; attempt += 1) statuses.push((await post(running.tokenUrl, form, ca)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(await running.stop()).toBe(0);
    expect(running.output()).toContain('1 rate-limited');
  });

  it.each([
    [['--port', 'eighty'], '--port must be a whole number from 0 to 65535'],
    [['--bogus'], "Unknown option '--bogus'"],
    [['--cert-file', 'x.pem'], '--cert-file needs --tls'],
    [['--auth-rate-limit', '5'], '--auth-rate-limit seconds must be a whole number'],
  ])('rejects %j with exit code 2 and the usage', async (args, message) => {
    const child = spawnCli(args);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.stdout.resume();
    expect(await exitOf(child)).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain('Usage: sessionkit-sandbox [options]');
  });

  it('prints its usage with --help', async () => {
    const child = spawnCli(['--help']);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
    expect(await exitOf(child)).toBe(0);
    expect(stdout).toContain('--state-file <file>');
  });

  it('exits with 1 and says why when the port is taken', async () => {
    const taken = await startSandbox();
    try {
      const child = spawnCli(['--port', new URL(taken.url).port]);
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
      expect(await exitOf(child)).toBe(1);
      expect(stderr).toContain('could not start');
      expect(stderr).toContain('EADDRINUSE');
    } finally {
      await taken.close();
    }
  });
});
