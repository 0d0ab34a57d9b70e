import { describe, expect, it } from 'vitest';
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
