import { request } from 'node:https';
import { connect, createServer } from 'node:net';
import { startSandbox } from '@sessionkit/sandbox';
import { expect, it } from 'vitest';
import { EssClient } from '@sessionkit/ess-client';
import { everything } from './testing/harness.js';

/** A token from the sandbox's token endpoint over HTTPS, trusting `ca`. */
function fetchTokenOverTls(tokenUrl: string, ca: string): Promise<string> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'sessionkit-demo', client_secret: 'demo-secret' }).toString();
  return new Promise((resolve, reject) => {
    const outgoing = request(tokenUrl, { method: 'POST', ca, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          resolve((JSON.parse(Buffer.concat(chunks).toString()) as { access_token: string }).access_token);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

it('connects over wss:// trusting the ca option, and halts on the self-signed certificate without it', async () => {
  const sandbox = await startSandbox({ tls: true, ess: { generator: false } });
  const clients: EssClient[] = [];
  try {
    const ca = sandbox.certificate ?? '';
    expect(sandbox.essUrl.startsWith('wss://')).toBe(true);
    const token = await fetchTokenOverTls(sandbox.tokenUrl, ca);
    const options = { url: sandbox.essUrl, auth: () => Promise.resolve(token), filters: everything, reconnect: false };

    const trusting = new EssClient({ ...options, ca: [ca] });
    clients.push(trusting);
    await trusting.connect();
    expect(trusting.connectionState).toBe('online');
    expect(trusting.sessionId).toBeTypeOf('string');

    const untrusting = new EssClient(options);
    clients.push(untrusting);
    await expect(untrusting.connect()).rejects.toMatchObject({ name: 'EssError', code: 'CONNECTION_FAILED' });
    expect(untrusting.connectionState).toBe('halted');
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await sandbox.close();
  }
});

it('halts at the first attempt, not retrying, when the certificate is not trusted (no ca); a refused connection stays retryable', async () => {
  const sandbox = await startSandbox({ tls: true, ess: { generator: false } });
  // Counts the TCP connections (attempts) and passes them on to the gateway.
  const target = new URL(sandbox.essUrl);
  let attempts = 0;
  const proxy = createServer((socket) => {
    attempts += 1;
    const upstream = connect(Number(target.port), target.hostname);
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as { port: number };
  const token = 'secret-token-not-shown';
  const states: string[] = [];
  // Default reconnect settings: maxRetries Infinity, shouldReconnect follows retryable.
  const client = new EssClient({ url: `wss://127.0.0.1:${port}${target.pathname}`, auth: () => Promise.resolve(token), filters: everything });
  client.on('connection', ({ state }) => states.push(state));
  try {
    const outcome = await Promise.race([
      client.connect().then(() => 'resolved', (error: unknown) => error),
      new Promise((resolve) => {
        setTimeout(() => {
          resolve('still pending after 5 s');
        }, 5000);
      }),
    ]);
    expect(outcome).toMatchObject({
      name: 'EssError',
      code: 'CONNECTION_FAILED',
      retryable: false,
      cause: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
      message: expect.stringMatching(/certificate not trusted or not valid: pass the ca option/) as unknown,
    });
    expect((outcome as Error).message).not.toContain(token);
    expect(client.connectionState).toBe('halted');
    expect(states).toEqual(['connecting', 'halted']);
    // Wait a while longer: no reconnect follows the halt.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(attempts).toBe(1);
  } finally {
    await client.close();
    await new Promise((resolve) => proxy.close(resolve));
    await sandbox.close();
  }
  // A network error is retryable as before: nothing listens on the proxy's port now.
  const refused = new EssClient({ url: `wss://127.0.0.1:${port}/`, auth: () => Promise.resolve(token), reconnect: false });
  await expect(refused.connect()).rejects.toMatchObject({ code: 'CONNECTION_FAILED', retryable: true, cause: { code: 'ECONNREFUSED' } });
  await refused.close();
});

it('halts at the first attempt with a message that the port does not speak TLS, not that its certificate is not trusted, for a wss:// URL to a ws:// gateway', async () => {
  // A plain ws:// gateway (an HTTP server) on loopback, asked for with wss://.
  const sandbox = await startSandbox({ ess: { generator: false } });
  expect(sandbox.essUrl.startsWith('ws://')).toBe(true);
  const token = 'secret-token-not-shown';
  const states: string[] = [];
  const client = new EssClient({ url: sandbox.essUrl.replace('ws://', 'wss://'), auth: () => Promise.resolve(token), filters: everything });
  client.on('connection', ({ state }) => states.push(state));
  try {
    const error = await Promise.race([
      client.connect().then(() => 'resolved', (caught: unknown) => caught),
      new Promise((resolve) => {
        setTimeout(() => {
          resolve('still pending after 5 s');
        }, 5000);
      }),
    ]);
    // OpenSSL reads the HTTP answer as a TLS record of a wrong version (or, in some versions, of a
    // wrong length). Through ws's request that is the write's EPROTO, the reason in its message (Node
    // 20 to 24); a TLS socket's own error would have ERR_SSL_WRONG_VERSION_NUMBER as its code.
    expect(error).toMatchObject({ name: 'EssError', code: 'CONNECTION_FAILED', retryable: false });
    expect(`${(error as { cause: { code: string } }).cause.code} ${(error as Error).message}`).toMatch(/^(EPROTO .*(wrong version number|packet length too long)|ERR_SSL_(WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG) )/);
    // It was retried for ever (EPROTO is no certificate or TLS code): connect() never settled.
    expect((error as Error).message).toMatch(/; no TLS on that port \(a ws:\/\/ server\?\): check the URL's scheme and port$/);
    expect((error as Error).message).not.toMatch(/certificate|token/);
    expect(client.connectionState).toBe('halted');
    expect(states).toEqual(['connecting', 'halted']);
    expect(sandbox.stats.events.connectionsTotal).toBe(0);
  } finally {
    await client.close();
    await sandbox.close();
  }
});
