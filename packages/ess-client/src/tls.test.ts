import { request } from 'node:https';
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
