import { createHook } from 'node:async_hooks';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type SandboxOptions, startSandbox } from '@sessionkit/sandbox';
import { createSelfSignedCertificate } from './tls.js';

/**
 * Sends `request` as it is on a new connection; resolves with all that came back once the server
 * closed it, or once it has been silent for a second (then a test fails on what it got).
 */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    socket.setTimeout(1000, () => { socket.destroy(); });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', reject);
    socket.on('close', () => { resolve(received); });
  });
}

/** Resolves with `value`, or with 'still waiting' after `ms`: a bound for what should be at once. */
function within<T>(promise: Promise<T>, ms = 1000): Promise<T | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'still waiting'>((resolve) => { timer = setTimeout(resolve, ms, 'still waiting'); });
  return Promise.race([promise, bound]).finally(() => { clearTimeout(timer); });
}

/** A TCP connection to `url` that never starts a TLS handshake. */
async function silentConnection(url: string): Promise<Socket> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

/** GETs `path` over HTTPS trusting `ca`; resolves with the status. */
function httpsStatus(url: string, ca: string | undefined): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    httpsRequest(url, { ca }, (response) => {
      response.resume();
      resolve(response.statusCode);
    })
      .on('error', reject)
      .end();
  });
}

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

  it('refuses options that started a sandbox doing something else than asked: a clock that is no function, users as a string, a misspelt grant, a generator that is no boolean or object', async () => {
    for (const [options, message] of [
      [{ commands: { clock: 5 } }, 'commands.clock must be a function that returns the time in milliseconds.'],
      [{ users: 'demo' }, 'users must be an array of objects.'],
      [{ clients: { clientId: 'x' } }, 'clients must be an array of objects.'],
      [{ clients: [{ clientId: 'x', clientSecret: 's', grants: ['client_credential'] }] }, 'A client\'s grants must be an array among client_credentials, password, refresh_token, not "client_credential".'],
      [{ clients: [{ clientId: 'x', clientSecret: 's', grants: 'password' }] }, 'A client\'s grants must be an array among client_credentials, password, refresh_token, not "password".'],
      [{ ess: { generator: 'yes' } }, 'ess.generator must be true, false or an object of options.'],
    ] as const) {
      await expect(startSandbox(options as never), JSON.stringify(options)).rejects.toThrow(new TypeError(message));
    }
    // null counts as not given, as everywhere.
    const started = await startSandbox({ users: null, clients: null, ess: { generator: null } } as never);
    await started.close();
  });

  it('refuses a host or port it cannot listen on as meant, naming the option (host 42 listened on every interface)', async () => {
    /** The start's error, or the url of a sandbox that started (then closed). */
    const startError = (options: Record<string, unknown>): Promise<unknown> =>
      startSandbox({ ...options, ess: { generator: false } }).then(async (started) => {
        await started.close();
        return started.url;
      }, (error: unknown) => error);
    for (const host of [42, '', true, {}]) {
      const error = await startError({ host });
      expect(error, JSON.stringify(host)).toBeInstanceOf(TypeError);
      expect(String(error)).toContain('host must be a non-empty string');
    }
    for (const [port, type] of [['abc', TypeError], ['0x50', TypeError], [' 80', TypeError], ['', TypeError], ['65536', RangeError], [-1, RangeError], [65_536, RangeError], [1.5, RangeError], [Number.NaN, RangeError]] as const) {
      const error = await startError({ port });
      expect(error, String(port)).toBeInstanceOf(type);
      expect(String(error)).toContain('port must be an integer from 0 to 65535');
    }
    // Not given, undefined or null: the defaults, a free port on loopback; a port in a string of
    // digits (process.env.PORT), as Node's listen() takes it.
    for (const given of [{}, { host: undefined, port: undefined }, { host: null, port: null }, { port: '0' }]) {
      expect(await startError(given), JSON.stringify(given)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    }
    // The type takes it too, as documented (it took a number only).
    const fromEnvironment: SandboxOptions = { port: process.env.SESSIONKIT_TEST_NO_SUCH_PORT ?? '0' };
    expect(await startError({ ...fromEnvironment })).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('listening on every interface (0.0.0.0, ::), gives URLs a client can connect to: 127.0.0.1, a name its certificate holds', async () => {
    for (const [host, loopback] of [['0.0.0.0', '127.0.0.1'], ['::', '127.0.0.1']] as const) {
      const sandbox = await startSandbox({ host, tls: true, ess: { generator: false } });
      try {
        const { port } = new URL(sandbox.url);
        expect(sandbox.url, host).toBe(`https://${loopback}:${port}`);
        expect([sandbox.tokenUrl, sandbox.revocationUrl, sandbox.commandUrl, sandbox.essUrl], host).toEqual([
          `https://${loopback}:${port}/IDP/connect/token`,
          `https://${loopback}:${port}/IDP/connect/revocation`,
          `https://${loopback}:${port}/api/call.cgi`,
          `wss://${loopback}:${port}/api/ws/events/v1`,
        ]);
        // Connected to as given, its certificate verified for that address.
        expect(await httpsStatus(`${sandbox.url}/nowhere`, sandbox.certificate), host).toBe(404);
      } finally {
        await sandbox.close();
      }
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

  it('takes a target starting with // as a path, answers 400 to one that is no URL, and keeps serving', async () => {
    const sandbox = await startSandbox({ ess: { generator: false } });
    try {
      const port = Number(new URL(sandbox.url).port);
      const get = (target: string, headers = ''): Promise<string> => exchange(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`);
      // Not host `sandbox.invalid` and path /api/call.cgi: the path is //sandbox.invalid/api/call.cgi.
      const command = 's_entity=54cd&s_login=demo&s_pw=demo-password&s_command=COMMAND%3DStatusAccount';
      expect(await get(`//sandbox.invalid/api/call.cgi?${command}`)).toMatch(/^HTTP\/1\.1 404 /);
      expect(await get('//')).toMatch(/^HTTP\/1\.1 404 /);
      expect(await get('http://[')).toMatch(/^HTTP\/1\.1 400 /);
      // An upgrade gets its 400 and a closed socket (exchange resolves on close).
      expect(await get('http://[/api/ws/events/v1', 'Upgrade: websocket\r\nConnection: Upgrade\r\n')).toMatch(/^HTTP\/1\.1 400 /);
      expect((await fetch(`${sandbox.url}/api/call.cgi?${command}`)).status).toBe(200);
    } finally {
      await sandbox.close();
    }
  });

  it('answers a request with an upgrade it does not speak (h2c, as Java\'s HttpClient and curl --http2 send) as the HTTP/1.1 request it is, body and all', async () => {
    const sandbox = await startSandbox({ ess: { generator: false } });
    try {
      const port = Number(new URL(sandbox.url).port);
      const h2c = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';
      const post = (path: string, body: string): Promise<string> => exchange(port, `POST ${path} HTTP/1.1\r\nHost: x\r\n${h2c}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      // Each was a 404 with no body: once a WebSocket server listens, Node hands every request with an Upgrade header to it.
      const token = await post('/IDP/connect/token', 'grant_type=client_credentials&client_id=sessionkit-demo&client_secret=demo-secret');
      expect(token).toMatch(/^HTTP\/1\.1 200 /);
      expect(token).toMatch(/\r\nConnection: close\r\n/i);
      expect(token).toMatch(/"token_type":"Bearer"/);
      const command = await post('/api/call.cgi', 's_entity=54cd&s_login=demo&s_pw=demo-password&s_command=COMMAND%3DStatusAccount');
      expect(command).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\n\[RESPONSE\]\r?\nCODE = 200\r?\n/);
      expect(await exchange(port, `GET /nowhere HTTP/1.1\r\nHost: x\r\n${h2c}\r\n`)).toMatch(/^HTTP\/1\.1 404 /);
      // The server keeps serving (WebSocket upgrades stay upgrades: the events gateway's tests).
      expect((await fetch(`${sandbox.url}/api/call.cgi?s_entity=54cd&s_login=demo&s_pw=demo-password&s_command=COMMAND%3DStatusAccount`)).status).toBe(200);
    } finally {
      await sandbox.close();
    }
  });

  it('rejects with the listen error, or a key Node cannot read, and leaves nothing running: the event generator\'s timer is stopped', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => holder.close(() => { resolve(); })));
    const port = (holder.address() as { port: number }).port;
    // Repeating timers of the generator's interval (an unusual one, to be told apart), from
    // their creation until they are cleared.
    const intervalMs = 4321;
    const running = new Set<number>();
    const hook = createHook({
      init(asyncId, type, _trigger, resource) {
        if (type === 'Timeout' && (resource as { _repeat?: unknown })._repeat === intervalMs) running.add(asyncId);
      },
      destroy(asyncId) {
        running.delete(asyncId);
      },
    });
    hook.enable();
    try {
      await expect(startSandbox({ port, ess: { generator: { intervalMs } } })).rejects.toMatchObject({ code: 'EADDRINUSE' });
      await expect(startSandbox({ port, ess: { generator: { intervalMs } } })).rejects.toMatchObject({ code: 'EADDRINUSE' });
      // PEM text Node cannot read is refused when the HTTPS server is made, after the modules started.
      await expect(startSandbox({ tls: { key: 'not a key', cert: 'not a certificate' }, ess: { generator: { intervalMs } } })).rejects.toThrow();
      // Destroy hooks of cleared timers run shortly after, not within clearInterval.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(running.size).toBe(0);
    } finally {
      hook.disable();
    }
    // The check sees the timer of a sandbox that did start, until it is closed.
    hook.enable();
    try {
      const started = await startSandbox({ ess: { generator: { intervalMs } } });
      expect(running.size).toBe(1);
      await started.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(running.size).toBe(0);
    } finally {
      hook.disable();
    }
  });

  it('takes tls null as the default, a key and certificate as strings or Buffers, and refuses anything else before listening (tls {} served handshakes that all failed)', async () => {
    const plain = await startSandbox({ tls: null as never, ess: { generator: false } });
    await plain.close();
    expect(plain.url).toMatch(/^http:/);
    expect(plain.certificate).toBeUndefined();
    const { key, cert } = await createSelfSignedCertificate();
    const sandbox = await startSandbox({ tls: { key: Buffer.from(key), cert: Buffer.from(cert) } as never, ess: { generator: false } });
    try {
      expect(sandbox.certificate).toBe(cert);
      expect(await httpsStatus(`${sandbox.url}/nowhere`, sandbox.certificate)).toBe(404);
    } finally {
      await sandbox.close();
    }
    for (const tls of [{}, 'sandbox.pem', 42, { key }, { cert }, { key: '', cert }, { key, cert: 7 }]) {
      await expect(startSandbox({ tls: tls as never, ess: { generator: false } }), JSON.stringify(tls)).rejects.toThrow(new TypeError('tls must be true, false or { key, cert } in PEM.'));
    }
    // Text Node cannot read as PEM: a TypeError too (Node's own Error, PEM routines::no start line, before).
    for (const tls of [{ key: 'garbage', cert: 'garbage' }, { key, cert: 'garbage' }]) {
      await expect(startSandbox({ tls, ess: { generator: false } }), JSON.stringify(tls)).rejects.toThrow(
        new TypeError('tls key and cert must be PEM that Node can read (a key, and a certificate that matches it).'),
      );
    }
  });

  it('over TLS, closes connections that have not begun their handshake on dropConnections() and close()', async () => {
    const sandbox = await startSandbox({ tls: true, ess: { generator: false } });
    const silent: Socket[] = [];
    try {
      silent.push(await silentConnection(sandbox.url));
      // Answered on a later connection: the server has taken in the earlier one.
      expect(await httpsStatus(`${sandbox.url}/nowhere`, sandbox.certificate)).toBe(404);
      const dropped = once(silent[0]!, 'close');
      sandbox.dropConnections();
      expect(await within(dropped)).not.toBe('still waiting');

      silent.push(await silentConnection(sandbox.url));
      expect(await httpsStatus(`${sandbox.url}/nowhere`, sandbox.certificate)).toBe(404);
      const closedToo = once(silent[1]!, 'close');
      expect(await within(sandbox.close())).toBeUndefined();
      expect(await within(closedToo)).not.toBe('still waiting');
    } finally {
      for (const socket of silent) socket.destroy();
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
    // Not of the form <max>/<seconds>: the message says the form and the value, not a range of "".
    [['--auth-rate-limit', '5'], '--auth-rate-limit must be <max>/<seconds> (such as 5/60), not "5".'],
    [['--auth-rate-limit', '5/'], '--auth-rate-limit must be <max>/<seconds> (such as 5/60), not "5/".'],
    [['--auth-rate-limit', '/60'], '--auth-rate-limit must be <max>/<seconds> (such as 5/60), not "/60".'],
    [['--auth-rate-limit', '5/60/2'], '--auth-rate-limit must be <max>/<seconds> (such as 5/60), not "5/60/2".'],
    // Of the form: each number's range check.
    [['--auth-rate-limit', '5/0'], '--auth-rate-limit seconds must be a whole number from 1 to 86400, not "0".'],
    [['--auth-rate-limit', '5/ten'], '--auth-rate-limit seconds must be a whole number from 1 to 86400, not "ten".'],
    // A negative number reaches the flag's range check (parseArgs called it "ambiguous").
    [['--domains', '-1'], '--domains must be a whole number from 0 to 1000000, not "-1"'],
    [['--event-interval', '-5'], '--event-interval must be a whole number from 0 to 3600000, not "-5"'],
    [['--port', '-1'], '--port must be a whole number from 0 to 65535, not "-1"'],
    [['--token-ttl', '-1'], '--token-ttl must be a whole number from 0 to 31536000, not "-1"'],
    [['--auth-rate-limit', '-5/60'], '--auth-rate-limit max must be a whole number from 1 to 1000000, not "-5"'],
    [['--resume-window=-2'], '--resume-window must be a whole number from 1 to 86400, not "-2"'],
    // A usage error, not a failure to start (exit 1 without the usage).
    [['--host', ''], '--host must not be empty'],
  ])('rejects %j with exit code 2 and the usage', async (args, message) => {
    const child = spawnCli(args);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.stdout.resume();
    expect(await exitOf(child)).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain('Usage: sessionkit-sandbox [options]');
  });

  it.each([
    ['0.0.0.0', '127.0.0.1'],
    ['::', '127.0.0.1'],
  ])('with --host %s, says it listens on all interfaces and prints endpoints at %s, which a client can use', async (host, loopback) => {
    const running = await startCli(['--port', '0', '--host', host, '--event-interval', '0']);
    const at = loopback.replace(/[.[\]]/g, '\\$&');
    expect(running.output()).toMatch(new RegExp(`^sessionkit sandbox listening on all interfaces \\(--host ${host}\\), on this machine at http://${at}:\\d+\n  \\(from other machines, connect to this machine's address instead\\)\n`));
    expect(running.tokenUrl).toMatch(new RegExp(`^http://${at}:\\d+/IDP/connect/token$`));
    expect(running.essUrl).toMatch(new RegExp(`^ws://${at}:\\d+/api/ws/events/v1$`));
    expect(running.output()).toMatch(new RegExp(`command API    : http://${at}:\\d+/api/call\\.cgi\n`));
    const response = await fetch(running.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'sessionkit-demo', client_secret: 'demo-secret' }),
    });
    expect(response.status).toBe(200);
    expect(await running.stop()).toBe(0);
  });

  it('takes --token-ttl 0, as tokenTtlSeconds does: tokens issued already expired', async () => {
    const running = await startCli(['--port', '0', '--token-ttl', '0', '--event-interval', '0']);
    const response = await fetch(running.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'sessionkit-demo', client_secret: 'demo-secret' }),
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/"expires_in":0[,}]/);
    expect(await running.stop()).toBe(0);
  });

  it('prints its usage with --help', async () => {
    const child = spawnCli(['--help']);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
    expect(await exitOf(child)).toBe(0);
    expect(stdout).toContain('--state-file <file>');
  });

  it('stops on SIGINT while a TCP connection has not begun its TLS handshake', async () => {
    const certFile = join(dir, 'silent-cert.pem');
    const running = await startCli(['--port', '0', '--tls', '--cert-file', certFile, '--event-interval', '0']);
    const silent = await silentConnection(running.tokenUrl);
    try {
      // Answered on a later connection: the command has taken in the silent one.
      expect(await httpsStatus(new URL('/nowhere', running.tokenUrl).href, await readFile(certFile, 'utf8'))).toBe(404);
      expect(await within(running.stop('SIGINT'), 2000)).toBe(0);
    } finally {
      silent.destroy();
    }
  });

  it.each([
    ['--cert-file', ['--tls', '--cert-file']],
    ['--state-file', ['--state-file']],
  ])('exits with 1 and says why, without a stack trace, when %s cannot be written', async (_flag, args) => {
    const child = spawnCli(['--port', '0', '--event-interval', '0', ...args, join(dir, 'no-such-dir', 'file')]);
    onTestFinished(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.stdout.resume();
    // Exiting at all shows the sandbox was closed: a listening server would keep the process alive.
    expect(await exitOf(child)).toBe(1);
    expect(stderr).toMatch(/^sessionkit-sandbox could not start: .*ENOENT.*no-such-dir/);
    expect(stderr).not.toMatch(/^\s+at /m);
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
