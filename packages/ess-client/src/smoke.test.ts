import { expect, it } from 'vitest';
import { EssClient } from './ess-client.js';
import { everything, fetchToken, numbered, numberOf, startEssSandbox, take } from './testing/harness.js';

it('smoke', async () => {
  const sandbox = await startEssSandbox();
  const ess = new EssClient({ url: sandbox.essUrl, auth: () => fetchToken(sandbox), filters: everything });
  try {
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 1000));
    const events = await take(iterator, 1000);
    expect(events.map(numberOf)).toEqual(Array.from({ length: 1000 }, (_, n) => n));
    sandbox.dropConnections();
    sandbox.publish(numbered(1000, 1000));
    const more = await take(iterator, 1000);
    expect(more.map(numberOf)).toEqual(Array.from({ length: 1000 }, (_, n) => n + 1000));
    expect(ess.stats.resumes).toBe(1);
  } finally {
    await ess.close();
    await sandbox.close();
  }
});
