import { afterEach, describe, expect, it } from 'vitest';
import { oauth2, Session } from '@sessionkit/core-session';
import type { Sandbox } from '@sessionkit/sandbox';
import { EssClient } from '@sessionkit/ess-client';
import { everything, next, numbered, numberOf, startEssSandbox, until } from './testing/harness.js';

const total = 20_000;
const drops = 200;
const perDrop = total / drops;

type Seen = { kind: 'event'; n: number } | { kind: 'gap' };

let sandbox: Sandbox | undefined;
let ess: EssClient | undefined;

afterEach(async () => {
  await ess?.close();
  await sandbox?.close();
  ess = undefined;
  sandbox = undefined;
});

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function online(client: EssClient): Promise<void> {
  if (client.connectionState === 'online') return;
  await next(client, 'connection', (change) => change.state === 'online');
}

/**
 * Run the chaos: publish `total` events in `drops` bursts; after each burst wait until the
 * client is online, let a random part of the burst through, and drop every connection.
 * `outageMs` keeps the client away (upgrades refused) for that long after each drop.
 * Returns what the consumer saw: events from the iterator, gaps in their place.
 */
async function chaos(gateway: Sandbox, client: EssClient, outageMs: number): Promise<{ seen: Seen[]; iterated: number[] }> {
  const seen: Seen[] = [];
  client.on('event', (event) => seen.push({ kind: 'event', n: numberOf(event) }));
  client.on('gap', () => seen.push({ kind: 'gap' }));
  await client.connect();
  const iterated: number[] = [];
  const consumer = (async () => {
    for await (const event of client.events()) {
      iterated.push(numberOf(event));
      if (iterated.at(-1) === total + 99) return;
    }
  })();

  for (let drop = 0; drop < drops; drop += 1) {
    const burst = numbered(drop * perDrop, perDrop);
    // Half of each burst is published while the client may still be away, half once it is back.
    gateway.publish(burst.slice(0, perDrop / 2));
    await online(client);
    gateway.publish(burst.slice(perDrop / 2));
    // A resume needs an event id: wait for the session's first event.
    if (client.lastEventId === undefined) await until(() => client.lastEventId !== undefined, 10_000, 'a first event');
    await pause(Math.random() * 3);
    if (outageMs > 0) gateway.events.refuseUpgrades({ retryAfterSeconds: 0 });
    const noticed = next(client, 'connection', (change) => change.state === 'delayed');
    gateway.dropConnections();
    await noticed;
    if (outageMs > 0) {
      await pause(outageMs);
      gateway.events.acceptUpgrades();
    }
  }
  await online(client);
  // A tail published once the client is back, so the run ends on a known event.
  gateway.publish(numbered(total, 100));
  await consumer;
  return { seen, iterated };
}

function session(gateway: Sandbox): Session {
  return new Session({
    authenticator: oauth2({ tokenUrl: gateway.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
  });
}

describe('chaos', () => {
  it(`delivers ${total} events exactly once and in order through ${drops} abrupt drops inside the resume window`, async () => {
    sandbox = await startEssSandbox();
    ess = new EssClient({
      url: sandbox.essUrl,
      auth: session(sandbox),
      filters: everything,
      fetchState: false,
      reconnect: { initialDelayMs: 5, windowMaxDelayMs: 20 },
    });
    const { seen, iterated } = await chaos(sandbox, ess, 0);
    const expected = Array.from({ length: total + 100 }, (_, n) => n);
    expect(seen.filter((item) => item.kind === 'gap')).toHaveLength(0);
    expect(iterated).toEqual(expected);
    expect(seen.map((item) => (item.kind === 'event' ? item.n : -1))).toEqual(expected);
    expect(ess.stats.resumes).toBe(drops);
    expect(sandbox.stats.events.sessionsNew).toBe(1);
    expect(sandbox.stats.events.sessionsResumed).toBe(drops);
  }, 60_000);

  it(`reports every loss with a gap when ${drops} outages outlast the resume window`, async () => {
    sandbox = await startEssSandbox({ resumeWindowMs: 15 });
    ess = new EssClient({
      url: sandbox.essUrl,
      auth: session(sandbox),
      filters: everything,
      fetchState: false,
      reconnect: { initialDelayMs: 5, windowMaxDelayMs: 20, maxDelayMs: 20, resumeWindowMs: 15 },
    });
    const { seen, iterated } = await chaos(sandbox, ess, 30);

    let previous = -1;
    let gapSincePrevious = false;
    let silentLosses = 0;
    let lost = 0;
    for (const item of seen) {
      if (item.kind === 'gap') {
        gapSincePrevious = true;
        continue;
      }
      expect(item.n).toBeGreaterThan(previous); // in order, never twice
      if (item.n !== previous + 1) {
        lost += item.n - previous - 1;
        if (!gapSincePrevious) silentLosses += 1;
      }
      previous = item.n;
      gapSincePrevious = false;
    }
    expect(silentLosses).toBe(0);
    expect(lost).toBeGreaterThan(0);
    expect(previous).toBe(total + 99);
    expect(ess.stats.gaps).toBe(drops);
    expect(ess.stats.resumes).toBe(0);
    expect(iterated).toEqual(seen.flatMap((item) => (item.kind === 'event' ? [item.n] : [])));
  }, 60_000);
});
