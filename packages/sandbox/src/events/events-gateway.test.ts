import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { type Sandbox, startSandbox } from '@sessionkit/sandbox';
import { eventTypes, stateGroups } from './event-generator.js';

type Frame = Record<string, unknown>;

/** A bare protocol client: records every frame, answers commands by id. */
class RawClient {
  readonly frames: Frame[] = [];
  readonly events: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #nextId = 1;
  #waiters: { test: () => boolean; resolve: () => void }[] = [];

  constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
      });
    });
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as Frame;
      this.frames.push(frame);
      if (Array.isArray(frame.events)) this.events.push(...(frame.events as Frame[]));
      this.#waiters = this.#waiters.filter((waiter) => {
        if (!waiter.test()) return true;
        waiter.resolve();
        return false;
      });
    });
  }

  static async open(url: string, headers: Record<string, string>, origin?: string): Promise<RawClient> {
    const ws = new WebSocket(url, origin === undefined ? { headers } : { headers, origin });
    const client = new RawClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => {
        resolve();
      });
      ws.once('error', reject);
    });
    return client;
  }

  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  async command(command: string, fields: Frame = {}): Promise<Frame> {
    const commandId = this.#nextId++;
    this.ws.send(JSON.stringify({ command, commandId, ...fields }));
    await this.until(() => this.frames.some((frame) => frame.commandId === commandId));
    return this.frames.find((frame) => frame.commandId === commandId)!;
  }

  untilEvents(count: number): Promise<void> {
    return this.until(() => this.events.length >= count);
  }
}

function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (request, response) => {
      resolve(response.statusCode ?? 0);
      request.destroy();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', (error) => {
      reject(error);
    });
  });
}

const includeAll = [{ modifier: 'include', resourceTypes: ['*'], sourceIds: ['*'], eventTypes: ['*'] }];
const camera = 'cameras/25d08c6a-cc08-4498-8772-242111f9840c';
const output = 'outputs/9b1c3a55-1d2e-4f11-8f00-0a7f3c2d9e10';

function motion(n: number, source = camera): Frame {
  return { id: `e${n}`, type: n % 2 === 0 ? eventTypes.motionStarted : eventTypes.motionStopped, source, stategroupid: stateGroups.motion, data: { n } };
}

describe('events gateway', () => {
  let sandbox: Sandbox;
  let auth: Record<string, string>;

  beforeEach(async () => {
    sandbox = await startSandbox({ ess: { generator: false, resumeWindowMs: 500 } });
    const response = await fetch(sandbox.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=sessionkit-demo&client_secret=demo-secret',
    });
    const body = (await response.json()) as { access_token: string };
    auth = { Authorization: `Bearer ${body.access_token}` };
  });

  afterEach(async () => {
    await sandbox.close();
  });

  it('checks the bearer token at upgrade, on both URL forms', async () => {
    expect(await upgradeStatus(sandbox.essUrl, auth)).toBe(101);
    expect(await upgradeStatus(`${sandbox.essUrl}/`, auth)).toBe(101);
    expect(await upgradeStatus(sandbox.essUrl)).toBe(401);
    expect(await upgradeStatus(sandbox.essUrl, { Authorization: 'Bearer not-a-token' })).toBe(401);
    sandbox.idp.expireAll();
    expect(await upgradeStatus(sandbox.essUrl, auth)).toBe(401);
    expect(sandbox.stats.events.unauthorized).toBe(3);
    const plain = await fetch(sandbox.essUrl.replace(/^ws/, 'http'));
    expect(plain.status).toBe(426);
  });

  it('lets a client without headers (a browser, with Origin) authenticate by command', async () => {
    const token = auth.Authorization!;
    const browser = await RawClient.open(sandbox.essUrl, {}, 'http://localhost');
    expect(await browser.command('authenticate', { token })).toMatchObject({ status: 200 });
    expect(await browser.command('startSession', { sessionId: '', eventId: '' })).toMatchObject({ status: 201 });
    browser.ws.close();

    const early = await RawClient.open(sandbox.essUrl, {}, 'http://localhost');
    early.ws.send(JSON.stringify({ command: 'startSession', commandId: 1, sessionId: '', eventId: '' }));
    expect((await early.closed).code).toBe(1008);

    const wrong = await RawClient.open(sandbox.essUrl, {}, 'http://localhost');
    expect(await wrong.command('authenticate', { token: 'Bearer nope' })).toMatchObject({ status: 401, error: { errorText: expect.any(String) as string } });
    expect((await wrong.closed).code).toBe(1008);
  });

  it('fails the next commands with failCommands(): any but authenticate without a name, authenticate too when named', async () => {
    const token = auth.Authorization!;
    sandbox.events.failCommands({ status: 503 });
    const browser = await RawClient.open(sandbox.essUrl, {}, 'http://localhost');
    expect(await browser.command('authenticate', { token })).toMatchObject({ status: 200 });
    expect(await browser.command('startSession', { sessionId: '', eventId: '' })).toMatchObject({ status: 503 });
    expect(await browser.command('startSession', { sessionId: '', eventId: '' })).toMatchObject({ status: 201 });
    browser.ws.close();

    sandbox.events.failCommands({ command: 'authenticate', status: 500 });
    const named = await RawClient.open(sandbox.essUrl, {}, 'http://localhost');
    expect(await named.command('authenticate', { token })).toMatchObject({ status: 500, error: { errorText: expect.stringContaining('failCommands') as unknown } });
    expect(await named.command('authenticate', { token })).toMatchObject({ status: 200 });
    expect(await named.command('startSession', { sessionId: '', eventId: '' })).toMatchObject({ status: 201 });
    expect(sandbox.stats.events.failed).toBe(2);
    named.ws.close();
  });

  it('refuses authenticate on a connection already authenticated (by header or command) with 409, keeping the connection', async () => {
    const token = auth.Authorization!;
    const other = `Bearer ${sandbox.idp.issueToken().access_token}`;
    const refused = { status: 409, error: { errorText: expect.stringContaining('cannot be replaced') as unknown } };

    // Authenticated by the upgrade header: neither a valid token nor an invalid one is taken.
    const headed = await RawClient.open(sandbox.essUrl, auth);
    const again = await headed.command('authenticate', { token: other });
    expect(again).toMatchObject(refused);
    expect(JSON.stringify(again)).not.toContain(other.slice(7));
    expect(await headed.command('authenticate', { token: 'Bearer not-a-token' })).toMatchObject(refused);
    expect(await headed.command('startSession', { sessionId: '', eventId: '' })).toMatchObject({ status: 201 });

    // Authenticated by an earlier authenticate command.
    const browser = await RawClient.open(sandbox.essUrl, {}, 'http://localhost');
    expect(await browser.command('authenticate', { token })).toMatchObject({ status: 200 });
    expect(await browser.command('authenticate', { token: other })).toMatchObject(refused);
    expect(await browser.command('startSession', { sessionId: '', eventId: '' })).toMatchObject({ status: 201 });

    expect(headed.ws.readyState).toBe(WebSocket.OPEN);
    expect(browser.ws.readyState).toBe(WebSocket.OPEN);
    expect(sandbox.stats.events.malformed).toBe(0);
    headed.ws.close();
    browser.ws.close();
  });

  it('closes the connection on a malformed command and answers unknown ones with an error', async () => {
    const client = await RawClient.open(sandbox.essUrl, auth);
    expect(await client.command('getState')).toMatchObject({ status: 400 });
    expect(await client.command('fly')).toMatchObject({ status: 400 });
    await client.command('startSession', { sessionId: '', eventId: '' });
    client.ws.send('{"command":"addSubscription","commandId":99,"filters":[{"modifier":"sometimes"}]}');
    expect((await client.closed).code).toBe(1008);

    const notJson = await RawClient.open(sandbox.essUrl, auth);
    notJson.ws.send('startSession please');
    expect((await notJson.closed).code).toBe(1008);

    const reused = await RawClient.open(sandbox.essUrl, auth);
    await reused.command('startSession', { sessionId: '', eventId: '' });
    reused.ws.send(JSON.stringify({ command: 'getState', commandId: 1 }));
    expect((await reused.closed).code).toBe(1008);
    expect(sandbox.stats.events.malformed).toBe(3);
  });

  it('delivers events by include and exclude filters, case-insensitively, with wildcards', async () => {
    const client = await RawClient.open(sandbox.essUrl, auth);
    const started = await client.command('startSession', { sessionId: '', eventId: '' });
    expect(started).toMatchObject({ status: 201, sessionId: expect.any(String) as string });
    const added = await client.command('addSubscription', {
      filters: [
        { modifier: 'Include', resourceTypes: ['cameras', 'outputs'], sourceIds: ['*'], eventTypes: ['*'] },
        { modifier: 'EXCLUDE', resourceTypes: ['cameras'], sourceIds: ['25d08c6a-*'], eventTypes: [eventTypes.motionStopped] },
      ],
    });
    expect(added).toMatchObject({ status: 200, subscriptionId: expect.any(String) as string });
    sandbox.publish([
      motion(0),
      motion(1),
      { id: 'o1', type: eventTypes.outputActivated, source: output, stategroupid: stateGroups.output },
      { id: 'i1', type: eventTypes.communicationError, source: 'inputEvents/abc' },
    ]);
    await client.untilEvents(2);
    expect(client.events.map((event) => event.id)).toEqual(['e0', 'o1']);
    expect(client.events[0]).toMatchObject({ type: eventTypes.motionStarted, source: camera, data: { n: 0 } });
    expect(client.events[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);

    expect(await client.command('removeSubscription', { subscriptionId: added.subscriptionId })).toMatchObject({ status: 200 });
    expect(await client.command('removeSubscription', { subscriptionId: added.subscriptionId })).toMatchObject({ status: 404 });
    await client.command('addSubscription', { filters: [{ modifier: 'include', resourceTypes: ['inputEvents'], sourceIds: ['*'], eventTypes: ['*'] }] });
    sandbox.publish([motion(2), { id: 'i2', type: eventTypes.communicationError, source: 'inputEvents/abc' }]);
    await client.untilEvents(3);
    expect(client.events.map((event) => event.id)).toEqual(['e0', 'o1', 'i2']);
    expect(sandbox.stats.events.eventsSent).toBe(3);
    client.ws.close();
  });

  it('publishes one event or an array, through sandbox.publish and sandbox.events.publish alike', async () => {
    const client = await RawClient.open(sandbox.essUrl, auth);
    await client.command('startSession', { sessionId: '', eventId: '' });
    await client.command('addSubscription', { filters: includeAll });
    sandbox.publish(motion(0));
    sandbox.events.publish(motion(1));
    sandbox.events.publish([motion(2), motion(3)]);
    await client.untilEvents(4);
    expect(client.events.map((event) => event.id)).toEqual(['e0', 'e1', 'e2', 'e3']);
    expect(() => { sandbox.events.publish('e4' as unknown as Record<string, unknown>); }).toThrow(new TypeError('A published event must be an object.'));
    client.ws.close();
  });

  it('resumes a session inside the window, replaying after eventId, and starts a new one otherwise', async () => {
    const first = await RawClient.open(sandbox.essUrl, auth);
    const { sessionId } = await first.command('startSession', { sessionId: '', eventId: '' });
    await first.command('addSubscription', { filters: includeAll });
    sandbox.publish([motion(0), motion(1), motion(2)]);
    await first.untilEvents(3);
    sandbox.dropConnections();
    await first.closed;
    sandbox.publish([motion(3), motion(4)]);

    const second = await RawClient.open(sandbox.essUrl, auth);
    const resumed = await second.command('startSession', { sessionId, eventId: 'e1' });
    expect(resumed).toEqual({ commandId: 1, status: 200, sessionId });
    await second.untilEvents(3);
    expect(second.events.map((event) => event.id)).toEqual(['e2', 'e3', 'e4']);

    second.ws.terminate();
    await second.closed;
    const unknown = await RawClient.open(sandbox.essUrl, auth);
    const fresh = await unknown.command('startSession', { sessionId: 'no-such-session', eventId: 'e4' });
    expect(fresh).toMatchObject({ status: 201 });
    expect(fresh.sessionId).not.toBe(sessionId);
    sandbox.events.expireSessions();
    const late = await unknown.command('startSession', { sessionId, eventId: 'e4' });
    expect(late).toMatchObject({ status: 201 });
    expect(sandbox.stats.events).toMatchObject({ sessionsNew: 3, sessionsResumed: 1 });
    unknown.ws.close();
  });

  it('forgets a session when its resume window ends', async () => {
    const first = await RawClient.open(sandbox.essUrl, auth);
    const { sessionId } = await first.command('startSession', { sessionId: '', eventId: '' });
    await first.command('addSubscription', { filters: includeAll });
    sandbox.publish([motion(0)]);
    await first.untilEvents(1);
    first.ws.terminate();
    await first.closed;
    const started = Date.now();
    while (sandbox.stats.events.sessions > 0 && Date.now() - started < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const second = await RawClient.open(sandbox.essUrl, auth);
    expect(await second.command('startSession', { sessionId, eventId: 'e0' })).toMatchObject({ status: 201 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    second.ws.close();
  });

  it('keeps a bounded replay buffer per session', async () => {
    await sandbox.close();
    sandbox = await startSandbox({ ess: { generator: false, replayBufferSize: 10 } });
    const token = sandbox.idp.issueToken().access_token;
    const headers = { Authorization: `Bearer ${token}` };
    const first = await RawClient.open(sandbox.essUrl, headers);
    const { sessionId } = await first.command('startSession', { sessionId: '', eventId: '' });
    await first.command('addSubscription', { filters: includeAll });
    sandbox.publish(Array.from({ length: 50 }, (_, n) => motion(n)));
    await first.untilEvents(50);
    first.ws.terminate();
    await first.closed;
    const second = await RawClient.open(sandbox.essUrl, headers);
    expect(await second.command('startSession', { sessionId, eventId: 'e45' })).toMatchObject({ status: 200 });
    await second.untilEvents(4);
    expect(second.events.map((event) => event.id)).toEqual(['e46', 'e47', 'e48', 'e49']);
    second.ws.terminate();
    await second.closed;
    const third = await RawClient.open(sandbox.essUrl, headers);
    expect(await third.command('startSession', { sessionId, eventId: 'e20' })).toMatchObject({ status: 201 });
    third.ws.close();
  });

  it('keeps at most replayBufferSize events for a session without a connection', async () => {
    await sandbox.close();
    sandbox = await startSandbox({ ess: { generator: false, replayBufferSize: 10 } });
    const headers = { Authorization: `Bearer ${sandbox.idp.issueToken().access_token}` };
    const resumeAfterDrop = async (published: number): Promise<{ status: unknown; ids: unknown[] }> => {
      const first = await RawClient.open(sandbox.essUrl, headers);
      const { sessionId } = await first.command('startSession', { sessionId: '', eventId: '' });
      await first.command('addSubscription', { filters: includeAll });
      sandbox.publish([motion(0), motion(1)]);
      await first.untilEvents(2);
      first.ws.terminate();
      await first.closed;
      while (sandbox.stats.events.connections > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      sandbox.publish(Array.from({ length: published }, (_, n) => motion(2 + n)));
      const second = await RawClient.open(sandbox.essUrl, headers);
      const { status } = await second.command('startSession', { sessionId, eventId: 'e1' });
      if (status === 200) await second.untilEvents(published);
      second.ws.terminate();
      await second.closed;
      return { status, ids: second.events.map((event) => event.id) };
    };
    const ids = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, n) => `e${String(from + n)}`);
    // 2 sent + 8 waiting fit in 10: all 8 are replayed.
    expect(await resumeAfterDrop(8)).toEqual({ status: 200, ids: ids(2, 9) });
    // 2 sent + 9 waiting: e0 is dropped; the resume point e1 and all 9 are still kept.
    expect(await resumeAfterDrop(9)).toEqual({ status: 200, ids: ids(2, 10) });
    // 2 sent + 10 waiting: the resume point e1 is dropped too, so the resume is refused.
    expect(await resumeAfterDrop(10)).toEqual({ status: 201, ids: [] });
  });

  it('answers getState with the latest state per source and state group, after a delay when asked, with events in between', async () => {
    const client = await RawClient.open(sandbox.essUrl, auth);
    await client.command('startSession', { sessionId: '', eventId: '' });
    await client.command('addSubscription', { filters: [{ modifier: 'include', resourceTypes: ['cameras'], sourceIds: ['*'], eventTypes: ['*'] }] });
    sandbox.publish([
      motion(0),
      motion(1),
      { id: 'r1', type: eventTypes.recordingStarted, source: camera, stategroupid: stateGroups.recording },
      { id: 'o1', type: eventTypes.outputActivated, source: output, stategroupid: stateGroups.output },
      { id: 'x1', type: eventTypes.systemConfigurationChanged, source: camera },
    ]);
    await client.untilEvents(4);
    sandbox.events.setGetStateDelay(200);
    const commandId = 50;
    client.ws.send(JSON.stringify({ command: 'getState', commandId }));
    const ponged = new Promise<boolean>((resolve) => {
      client.ws.once('pong', () => {
        resolve(client.frames.some((frame) => frame.commandId === commandId));
      });
    });
    client.ws.ping();
    sandbox.publish([motion(2)]);
    await client.untilEvents(5);
    expect(client.frames.some((frame) => frame.commandId === commandId)).toBe(false);
    await client.until(() => client.frames.some((frame) => frame.commandId === commandId));
    // A gateway busy computing state answers the ping only after the getState response.
    expect(await ponged).toBe(true);
    const response = client.frames.find((frame) => frame.commandId === commandId)!;
    const states = response.states as Frame[];
    expect(states.map((state) => state.id).sort()).toEqual(['e2', 'r1']);
    client.ws.close();
  });

  it('answers a delayed getState with 409 when a startSession on its connection came first: never leaves it unanswered', async () => {
    const client = await RawClient.open(sandbox.essUrl, auth);
    await client.command('startSession', { sessionId: '', eventId: '' });
    sandbox.events.setGetStateDelay(200);
    client.ws.send(JSON.stringify({ command: 'getState', commandId: 60 }));
    expect(await client.command('startSession', { sessionId: '', eventId: '' })).toMatchObject({ status: 201 });
    await client.until(() => client.frames.some((frame) => frame.commandId === 60));
    expect(client.frames.find((frame) => frame.commandId === 60)).toMatchObject({ status: 409, error: { errorText: expect.stringContaining('startSession') as unknown } });
    client.ws.close();
  });

  it('refuses upgrades with 503 for a count, or until told to accept again', async () => {
    sandbox.events.refuseUpgrades({ count: 2 });
    expect(await upgradeStatus(sandbox.essUrl, auth)).toBe(503);
    expect(await upgradeStatus(sandbox.essUrl, auth)).toBe(503);
    expect(await upgradeStatus(sandbox.essUrl, auth)).toBe(101);
    sandbox.events.refuseUpgrades({ status: 500 });
    expect(await upgradeStatus(sandbox.essUrl, auth)).toBe(500);
    expect(await upgradeStatus(sandbox.essUrl, auth)).toBe(500);
    sandbox.events.acceptUpgrades();
    expect(await upgradeStatus(sandbox.essUrl, auth)).toBe(101);
    expect(sandbox.stats.events.refused).toBe(4);
  });

  it('sends Retry-After with a refused upgrade: by default with a 503 only, when given with any status (a 429)', async () => {
    const refusal = (): Promise<{ status: number | undefined; retryAfter: string | undefined }> => new Promise((resolve, reject) => {
      const ws = new WebSocket(sandbox.essUrl, { headers: auth });
      ws.on('unexpected-response', (request, response) => {
        resolve({ status: response.statusCode, retryAfter: response.headers['retry-after'] });
        request.destroy();
      });
      ws.on('open', () => {
        ws.close();
        reject(new Error('upgraded'));
      });
      ws.on('error', reject);
    });
    sandbox.events.refuseUpgrades({ count: 1 });
    expect(await refusal()).toEqual({ status: 503, retryAfter: '1' });
    sandbox.events.refuseUpgrades({ count: 1, status: 429 });
    expect(await refusal()).toEqual({ status: 429, retryAfter: undefined });
    sandbox.events.refuseUpgrades({ count: 1, status: 429, retryAfterSeconds: 7 });
    expect(await refusal()).toEqual({ status: 429, retryAfter: '7' });
    sandbox.events.refuseUpgrades({ count: 1, retryAfterSeconds: 0 });
    expect(await refusal()).toEqual({ status: 503, retryAfter: undefined });
    expect(await upgradeStatus(sandbox.essUrl, auth)).toBe(101);
  });

  it('throws RangeError for fault controls it cannot carry out, keeping the settings it had', async () => {
    const { events } = sandbox;
    const impossible: [string, () => void][] = [
      ['refuseUpgrades count 0', () => { events.refuseUpgrades({ count: 0 }); }],
      ['refuseUpgrades count 1.5', () => { events.refuseUpgrades({ count: 1.5 }); }],
      ['refuseUpgrades status 42', () => { events.refuseUpgrades({ status: 42 }); }],
      ['refuseUpgrades status 200', () => { events.refuseUpgrades({ status: 200 }); }],
      ['refuseUpgrades retryAfterSeconds -1', () => { events.refuseUpgrades({ retryAfterSeconds: -1 }); }],
      ['failCommands count -1', () => { events.failCommands({ count: -1 }); }],
      ['failCommands count 0', () => { events.failCommands({ count: 0 }); }],
      ['failCommands status 42', () => { events.failCommands({ status: 42 }); }],
      ['failCommands status 600', () => { events.failCommands({ status: 600 }); }],
      ['setGetStateDelay -5', () => { events.setGetStateDelay(-5); }],
      ['setGetStateDelay NaN', () => { events.setGetStateDelay(Number.NaN); }],
      ['setGetStateDelay Infinity', () => { events.setGetStateDelay(Number.POSITIVE_INFINITY); }],
      // Infinity looped until the heap ran out.
      ['generate Infinity', () => { events.generate(Number.POSITIVE_INFINITY); }],
      ['generate 1.5', () => { events.generate(1.5); }],
      ['generate -1', () => { events.generate(-1); }],
      ['generate NaN', () => { events.generate(Number.NaN); }],
      // Past the cap: 1e9 ran the process out of heap (about 4 GB) after some 45 s.
      ['generate 1000001', () => { events.generate(1_000_001); }],
      ['generate 1e9', () => { events.generate(1e9); }],
    ];
    for (const [name, control] of impossible) expect(control, name).toThrow(RangeError);
    // A command name the protocol does not have (in another case too) never matched: TypeError.
    for (const command of ['getstate', 'StartSession', 'subscribe']) {
      expect(() => { events.failCommands({ command }); }, command).toThrow(new TypeError(`failCommands() command must be one of authenticate, startSession, addSubscription, removeSubscription, getState, not "${command}".`));
    }
    expect(() => { events.generate(1e9); }).toThrow('from 1 to 1000000, not 1000000000');
    await expect(startSandbox({ ess: { generator: false, getStateDelayMs: -1 } })).rejects.toThrow(RangeError);
    // None of them took effect: upgrades, commands and getState are served as before.
    expect(await upgradeStatus(sandbox.essUrl, auth)).toBe(101);
    const client = await RawClient.open(sandbox.essUrl, auth);
    expect(await client.command('startSession', { sessionId: '', eventId: '' })).toMatchObject({ status: 201 });
    expect(await client.command('getState')).toMatchObject({ status: 200 });
    expect(sandbox.stats.events).toMatchObject({ refused: 0, failed: 0, eventsPublished: 0 });
    client.ws.close();
  });

  it('refuses options it cannot carry out at start with RangeError (NaN frames flooded clients with empty frames)', async () => {
    /** The start's error, or undefined after closing a sandbox that started. */
    const startError = (ess: Record<string, unknown>): Promise<unknown> =>
      startSandbox({ ess: { generator: false, ...ess } }).then(async (started) => {
        await started.close();
        return undefined;
      }, (error: unknown) => error);
    for (const ess of [
      { maxEventsPerFrame: Number.NaN },
      { maxEventsPerFrame: 0 },
      { maxEventsPerFrame: 2.5 },
      { replayBufferSize: Number.NaN },
      { replayBufferSize: -1 },
      { replayBufferSize: 1.5 },
      { resumeWindowMs: Number.NaN },
      { resumeWindowMs: -1 },
      { resumeWindowMs: 2 ** 31 },
      { authenticateTimeoutMs: Number.NaN },
      { maxPayload: 0 },
      { maxPayload: Number.NaN },
      { generator: { intervalMs: Number.NaN } },
      { generator: { intervalMs: 0 } },
      { generator: { batchSize: 0 } },
      { generator: { cameras: -1 } },
      { generator: { outputs: Number.NaN } },
    ]) {
      expect(await startError(ess), JSON.stringify(ess)).toBeInstanceOf(RangeError);
    }
    // A valid maxEventsPerFrame splits a burst into frames of at most that many events.
    await sandbox.close();
    sandbox = await startSandbox({ ess: { generator: false, maxEventsPerFrame: 2, replayBufferSize: 0 } });
    const client = await RawClient.open(sandbox.essUrl, { Authorization: `Bearer ${sandbox.idp.issueToken().access_token}` });
    await client.command('startSession', { sessionId: '', eventId: '' });
    await client.command('addSubscription', { filters: includeAll });
    sandbox.publish(Array.from({ length: 5 }, (_, n) => motion(n)));
    await client.untilEvents(5);
    expect(client.frames.filter((frame) => Array.isArray(frame.events)).map((frame) => (frame.events as Frame[]).length)).toEqual([2, 2, 1]);
    client.ws.close();
  });

  it('expires a session whose connection was dropped in the same tick (its close event comes later)', async () => {
    const clients = [await RawClient.open(sandbox.essUrl, auth), await RawClient.open(sandbox.essUrl, auth)];
    const ids: string[] = [];
    for (const client of clients) {
      ids.push((await client.command('startSession', { sessionId: '', eventId: '' })).sessionId as string);
      await client.command('addSubscription', { filters: includeAll });
    }
    sandbox.publish([motion(0)]);
    for (const client of clients) await client.untilEvents(1);
    sandbox.events.dropConnections();
    sandbox.events.expireSessions();
    for (const client of clients) await client.closed;
    const next = await RawClient.open(sandbox.essUrl, auth);
    for (const sessionId of ids) {
      const answer = await next.command('startSession', { sessionId, eventId: 'e0' });
      expect(answer).toMatchObject({ status: 201 });
      expect(answer.sessionId).not.toBe(sessionId);
    }
    next.ws.close();
  });

  it('keeps the session of a connection still open when sessions are expired', async () => {
    const first = await RawClient.open(sandbox.essUrl, auth);
    const { sessionId } = await first.command('startSession', { sessionId: '', eventId: '' });
    await first.command('addSubscription', { filters: includeAll });
    sandbox.events.expireSessions();
    sandbox.publish([motion(0), motion(1)]);
    await first.untilEvents(2);
    first.ws.terminate();
    await first.closed;
    const second = await RawClient.open(sandbox.essUrl, auth);
    expect(await second.command('startSession', { sessionId, eventId: 'e0' })).toMatchObject({ status: 200, sessionId });
    await second.untilEvents(1);
    expect(second.events.map((event) => event.id)).toEqual(['e1']);
    second.ws.close();
  });

  it('drops connections in the middle of a burst; the rest is replayed on resume', async () => {
    const first = await RawClient.open(sandbox.essUrl, auth);
    const { sessionId } = await first.command('startSession', { sessionId: '', eventId: '' });
    await first.command('addSubscription', { filters: includeAll });
    sandbox.publish(Array.from({ length: 20_000 }, (_, n) => motion(n)));
    await first.untilEvents(1);
    sandbox.dropConnections();
    await first.closed;
    expect(first.events.length).toBeLessThan(20_000);
    const last = first.events.at(-1)!.id as string;
    const second = await RawClient.open(sandbox.essUrl, auth);
    expect(await second.command('startSession', { sessionId, eventId: last })).toMatchObject({ status: 200 });
    await second.untilEvents(20_000 - first.events.length);
    const ids = [...first.events, ...second.events].map((event) => event.id);
    expect(ids).toEqual(Array.from({ length: 20_000 }, (_, n) => `e${n}`));
    second.ws.close();
  });

  it('closes connections with a chosen close code, sessions staying resumable, and sends raw frames', async () => {
    const client = await RawClient.open(sandbox.essUrl, auth);
    const { sessionId } = await client.command('startSession', { sessionId: '', eventId: '' });
    await client.command('addSubscription', { filters: includeAll });
    sandbox.events.sendRaw('{"notice":"maintenance at 02:00"}');
    sandbox.publish([motion(0)]);
    await client.untilEvents(1);
    expect(client.frames).toContainEqual({ notice: 'maintenance at 02:00' });
    sandbox.events.closeConnections(1001, 'restarting');
    expect(await client.closed).toEqual({ code: 1001, reason: 'restarting' });
    const again = await RawClient.open(sandbox.essUrl, auth);
    expect(await again.command('startSession', { sessionId, eventId: 'e0' })).toMatchObject({ status: 200 });
    sandbox.events.closeConnections(1008, 'command rejected');
    expect((await again.closed).code).toBe(1008);
    // Codes a server may not send and reasons over 123 bytes: a RangeError, connected or not (ws
    // threw a TypeError for a code only with a connection open, and nothing without one).
    for (const [code, reason] of [[999, ''], [1005, ''], [1006, ''], [2000, ''], [5000, ''], [1000.5, ''], [1000, 'x'.repeat(124)]] as const) {
      expect(() => { sandbox.events.closeConnections(code, reason); }, `${code} ${reason.length}`).toThrow(RangeError);
    }
    const open = await RawClient.open(sandbox.essUrl, auth);
    expect(() => { sandbox.events.closeConnections(1005); }).toThrow(RangeError);
    sandbox.events.closeConnections(4000, 'x'.repeat(123));
    expect(await open.closed).toEqual({ code: 4000, reason: 'x'.repeat(123) });
  });

  it('stalls connections like a half-open TCP connection: no frames, no pongs', async () => {
    const client = await RawClient.open(sandbox.essUrl, auth);
    await client.command('startSession', { sessionId: '', eventId: '' });
    await client.command('addSubscription', { filters: includeAll });
    const pong = new Promise<boolean>((resolve) => {
      client.ws.once('pong', () => {
        resolve(true);
      });
      setTimeout(() => {
        resolve(false);
      }, 300);
    });
    sandbox.events.stallConnections();
    client.ws.ping();
    sandbox.publish([motion(0)]);
    expect(await pong).toBe(false);
    expect(client.events).toHaveLength(0);
    expect(sandbox.stats.events.connections).toBe(1);
    client.ws.terminate();
  });

  it('fills in times that strictly increase in publish order, past 10000 events in one millisecond and a clock stepping back', async () => {
    const client = await RawClient.open(sandbox.essUrl, auth);
    await client.command('startSession', { sessionId: '', eventId: '' });
    await client.command('addSubscription', { filters: includeAll });
    const frozen = Date.now();
    const now = vi.spyOn(Date, 'now').mockReturnValue(frozen);
    try {
      // More than 10000 times in one millisecond: the 4 sub-millisecond digits must not wrap back.
      for (let batch = 0; batch < 21; batch++) {
        sandbox.publish(Array.from({ length: 500 }, () => ({ type: eventTypes.motionStarted, source: camera })));
      }
      // The clock steps back a second: the times still go forward.
      now.mockReturnValue(frozen - 1000);
      sandbox.publish([{ type: eventTypes.motionStarted, source: camera }, { type: eventTypes.motionStopped, source: camera }]);
    } finally {
      now.mockRestore();
    }
    await client.untilEvents(10_502);
    const times = client.events.map((event) => event.time as string);
    expect(times.every((time) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/.test(time))).toBe(true);
    const backwards = times.findIndex((time, index) => index > 0 && time <= times[index - 1]!);
    expect(backwards === -1 ? undefined : [times[backwards - 1], times[backwards]]).toBeUndefined();
    client.ws.close();
  });

  it('generates camera, output and input events with state groups', async () => {
    const client = await RawClient.open(sandbox.essUrl, auth);
    await client.command('startSession', { sessionId: '', eventId: '' });
    await client.command('addSubscription', { filters: includeAll });
    sandbox.events.generate(300);
    await client.untilEvents(300);
    const resourceTypes = new Set(client.events.map((event) => (event.source as string).split('/')[0]));
    expect(resourceTypes).toEqual(new Set(['cameras', 'outputs', 'inputEvents']));
    const known = new Set<string>(Object.values(eventTypes));
    expect(client.events.every((event) => known.has(event.type as string))).toBe(true);
    expect(client.events.some((event) => typeof event.stategroupid === 'string')).toBe(true);
    const frames = client.frames.filter((frame) => Array.isArray(frame.events));
    expect(frames.length).toBeGreaterThan(1);
    client.ws.close();
  });
});

describe('events gateway generator timer', () => {
  it('publishes batches on its own when enabled', async () => {
    const sandbox = await startSandbox({ ess: { generator: { intervalMs: 20, batchSize: 3 } } });
    try {
      const started = Date.now();
      while (sandbox.stats.events.eventsPublished < 9 && Date.now() - started < 5000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(sandbox.stats.events.eventsPublished).toBeGreaterThanOrEqual(9);
    } finally {
      await sandbox.close();
    }
  });
});
