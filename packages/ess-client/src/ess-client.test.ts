import { inspect } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Authenticator, oauth2, Session, type Token } from '@sessionkit/core-session';
import { createLogger } from '@sessionkit/logger';
import type { Sandbox } from '@sessionkit/sandbox';
import { MemoryStore, type TokenStore } from '@sessionkit/token-store';
import { WebSocket, WebSocketServer } from 'ws';
import { EssClient, type EssClientOptions, EssError, type EssEvent, type EssFilter, type EssGap, type EssSession } from '@sessionkit/ess-client';
import {
  everything,
  fetchToken,
  motionGroup,
  motionStarted,
  motionStopped,
  next,
  numbered,
  numberOf,
  outputActivated,
  startEssSandbox,
  take,
  until,
} from './testing/harness.js';

let sandbox: Sandbox;
const clients: EssClient[] = [];

beforeEach(async () => {
  sandbox = await startEssSandbox();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await sandbox.close();
});

function session(): Session {
  return new Session({
    authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
  });
}

function client(options: Partial<EssClientOptions> = {}): EssClient {
  const created = new EssClient({
    url: sandbox.essUrl,
    auth: session(),
    filters: everything,
    reconnect: { initialDelayMs: 20 },
    ...options,
  });
  clients.push(created);
  return created;
}

/** What `make` throws (undefined when it does not): for checks of synchronous argument errors. */
function thrownBy(make: () => unknown): unknown {
  try {
    make();
  } catch (caught) {
    return caught;
  }
  return undefined;
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, index) => from + index);
}

describe('EssClient: sessions', () => {
  it('starts a new session, subscribes its filters and delivers events in order, with state', async () => {
    const ess = client({ filters: [{ resourceTypes: ['cameras'] }] });
    const states: string[] = [];
    ess.on('state', (change) => states.push(change.reason));
    const connection: string[] = [];
    ess.on('connection', (change) => connection.push(change.state));
    expect(ess.connectionState).toBe('offline');
    await ess.connect();
    expect(ess.connectionState).toBe('online');
    expect(connection).toEqual(['connecting', 'online']);
    expect(ess.sessionId).toEqual(expect.any(String));
    expect(sandbox.stats.events).toMatchObject({ sessionsNew: 1, sessionsResumed: 0, connections: 1 });

    const iterator = ess.events();
    sandbox.publish([...numbered(0, 8), { id: 'o1', type: outputActivated, source: 'outputs/o1', stategroupid: 'output' }]);
    const events = await take(iterator, 8);
    expect(events.map(numberOf)).toEqual(range(0, 8));
    expect(events[0]!.time).toMatch(/\.\d{7}Z$/);
    expect(ess.lastEventId).toBe('e7');
    // Latest motion state per camera: e4..e7.
    expect(ess.state.map((state) => state.id).sort()).toEqual(['e4', 'e5', 'e6', 'e7']);
    expect(states).toContain('event');

    const snapshot = await ess.getState();
    expect(snapshot.map((state) => state.id).sort()).toEqual(['e4', 'e5', 'e6', 'e7']);
    expect(snapshot.every((state) => state.stategroupid === motionGroup)).toBe(true);
    expect(states).toContain('snapshot');
  });

  it('drops duplicate ids and delivers each event once', async () => {
    const ess = client();
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 3));
    sandbox.publish(numbered(1, 3));
    const events = await take(iterator, 4);
    expect(events.map((event) => event.id)).toEqual(['e0', 'e1', 'e2', 'e3']);
    expect(ess.stats.duplicates).toBe(2);
  });

  it('delivers text as sent in frames of ASCII and of other characters alike', async () => {
    const ess = client();
    await ess.connect();
    const iterator = ess.events();
    const names = ['Gate 2', 'Kamera Süd – Tor 2', '東京 カメラ 😀'];
    // One frame each: the first is all ASCII, the others are not.
    for (const [index, name] of names.entries()) sandbox.publish([{ id: `t${index}`, type: outputActivated, source: 'outputs/o1', data: { name } }]);
    const events = await take(iterator, 3);
    expect(events.map((event) => (event.data as { name: string }).name)).toEqual(names);
  });

  /** What `new EssClient({ url })` throws (undefined when it does not). */
  function constructorError(url: string): unknown {
    return thrownBy(() => new EssClient({ url, auth: () => Promise.resolve('token') }));
  }

  it('refuses a url that is not ws:// or wss://, or that ws could not parse, without showing it', () => {
    // A bad port: ws's own error would have shown the whole url, credentials and query included.
    for (const url of ['http://127.0.0.1/x', 'wss://user:S3CR3T-pw@127.0.0.1:99999/x', 'wss://127.0.0.1:99999/x?access_token=S3CR3T-q', 'wss://[::1/x']) {
      const error = constructorError(url);
      expect(error, url).toMatchObject({ name: 'EssError', code: 'INVALID_COMMAND' });
      expect(inspect(error, { depth: 10 })).not.toContain('S3CR3T');
    }
  });

  it('refuses a url with a fragment, which ws would refuse at every connect, without showing it', () => {
    const urls = [
      'ws://host:1234/api/ws/events/v1#frag',
      `${sandbox.essUrl}#S3CR3T-f`,
      'wss://user:S3CR3T-pw@127.0.0.1:1234/api/ws/events/v1?access_token=S3CR3T-q#x',
      'wss://127.0.0.1:1234/api/ws/events/v1##',
    ];
    for (const url of urls) {
      const error = constructorError(url);
      expect(error, url).toMatchObject({ name: 'EssError', code: 'INVALID_COMMAND' });
      expect(inspect(error, { depth: 10 })).not.toContain('S3CR3T');
      expect(inspect(error, { depth: 10 })).not.toContain('1234');
    }
    // Without the fragment the same urls are taken, and so is an empty fragment, which ws takes too.
    expect(constructorError('wss://user:pw@127.0.0.1:1234/api/ws/events/v1?access_token=q')).toBeUndefined();
    expect(constructorError('wss://127.0.0.1:1234/api/ws/events/v1#')).toBeUndefined();
  });

  it('subscribes and unsubscribes; refuses invalid filters before sending anything', async () => {
    const ess = client({ filters: [{ resourceTypes: ['outputs'] }] });
    await ess.connect();
    const iterator = ess.events();
    const commands = sandbox.stats.events.commands;
    await expect(ess.subscribe([{ modifier: 'sometimes' as 'include' }])).rejects.toMatchObject({ name: 'EssError', code: 'INVALID_COMMAND' });
    await expect(ess.subscribe([])).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
    await expect(ess.subscribe([{ sourceIds: [''] }])).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
    expect(sandbox.stats.events.commands).toBe(commands);
    expect(ess.connectionState).toBe('online');

    const id = await ess.subscribe([{ resourceTypes: ['CAMERAS'], sourceIds: ['c1'] }, { modifier: 'exclude', eventTypes: [motionStopped] }]);
    // Camera c1 is n % 4 === 1, and odd n are "motion stopped": excluded. Other cameras do not match.
    sandbox.publish(numbered(0, 4));
    sandbox.publish(numbered(9, 1));
    sandbox.publish(numbered(13, 1).map((event) => ({ ...event, type: outputActivated })));
    const [event] = await take(iterator, 1);
    expect(event!.id).toBe('e13');
    await ess.unsubscribe(id);
    await expect(ess.unsubscribe(id)).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
    sandbox.publish(numbered(21, 1).map((event) => ({ ...event, type: outputActivated }))); // c1: no longer subscribed
    sandbox.publish([{ id: 'out', type: outputActivated, source: 'outputs/x' }]); // matches the filters option
    const [after] = await take(iterator, 1);
    expect(after!.id).toBe('out');
  });

  it('keeps a subscription whose removal the gateway refused, so unsubscribe() can be tried again', async () => {
    const ess = client({ filters: [{ resourceTypes: ['outputs'] }] });
    await ess.connect();
    const iterator = ess.events();
    const id = await ess.subscribe([{ resourceTypes: ['cameras'] }]);
    for (const status of [500, 403]) {
      sandbox.events.failCommands({ command: 'removeSubscription', status });
      await expect(ess.unsubscribe(id)).rejects.toMatchObject({ code: 'COMMAND_FAILED', status, retryable: status === 500 });
      // Still subscribed on the gateway: its events still come.
      sandbox.publish(numbered(status, 1));
      expect((await take(iterator, 1)).map(numberOf)).toEqual([status]);
    }
    await ess.unsubscribe(id);
    await expect(ess.unsubscribe(id)).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
    sandbox.publish(numbered(600, 1));
    sandbox.publish([{ id: 'out', type: outputActivated, source: 'outputs/x' }]);
    expect((await take(iterator, 1))[0]!.id).toBe('out');
  });

  it('resumes inside the window and replays what was in flight or published meanwhile, once and in order', async () => {
    const ess = client();
    const gaps: EssGap[] = [];
    ess.on('gap', (gap) => gaps.push(gap));
    await ess.connect();
    const sessionId = ess.sessionId;
    const iterator = ess.events();
    sandbox.publish(numbered(0, 10_000));
    const first = await take(iterator, 100);
    sandbox.dropConnections();
    sandbox.publish(numbered(10_000, 1000));
    const rest = await take(iterator, 10_900);
    expect([...first, ...rest].map(numberOf)).toEqual(range(0, 11_000));
    expect(ess.sessionId).toBe(sessionId);
    expect(ess.stats.resumes).toBe(1);
    expect(sandbox.stats.events.sessionsResumed).toBe(1);
    expect(gaps).toEqual([]);
  });

  it('after the window: reports a gap, subscribes again and fetches state by itself', async () => {
    const logged: string[] = [];
    const ess = client({ filters: [{ resourceTypes: ['cameras'] }], logger: createLogger({ level: 'trace', format: 'json', write: (line) => logged.push(line) }) });
    await ess.connect();
    const oldSession = ess.sessionId;
    const iterator = ess.events();
    sandbox.publish(numbered(0, 10));
    await take(iterator, 10);

    sandbox.events.refuseUpgrades();
    const away = next(ess, 'connection', (change) => change.state === 'delayed');
    sandbox.dropConnections();
    expect((await away).error).toMatchObject({ code: 'CONNECTION_LOST' });
    await until(() => sandbox.stats.events.refused >= 1, 5000, 'a refused reconnect');
    sandbox.publish(numbered(10, 4)); // lost: the session is about to expire
    sandbox.events.expireSessions();
    sandbox.publish(numbered(14, 6)); // lost: there is no session at all
    const gap = next(ess, 'gap');
    const refetched = next(ess, 'state', (change) => change.reason === 'snapshot');
    sandbox.events.acceptUpgrades();

    expect(await gap).toEqual({ previousSessionId: oldSession, sessionId: expect.any(String) as string, lastEventId: 'e9' });
    expect(ess.sessionId).not.toBe(oldSession);
    // Session ids are secrets to the logger: neither the old one nor the new one is logged.
    expect(logged.some((line) => line.includes('the session was not resumed'))).toBe(true);
    expect(logged.filter((line) => line.includes(oldSession ?? '?') || line.includes(ess.sessionId ?? '?'))).toEqual([]);
    const snapshot = await refetched;
    // The refetched state includes the lost events' effect: the latest per camera is e16..e19.
    expect(snapshot.changed.map((state) => state.id).sort()).toEqual(['e16', 'e17', 'e18', 'e19']);
    expect(ess.state.map((state) => state.id).sort()).toEqual(['e16', 'e17', 'e18', 'e19']);
    sandbox.publish(numbered(20, 5));
    expect((await take(iterator, 5)).map(numberOf)).toEqual(range(20, 5));
    expect(ess.stats.gaps).toBe(1);
    expect(sandbox.stats.events.sessionsNew).toBe(2);
  });
});

describe('EssClient: tokens', () => {
  it('gets a fresh token after a 401 at reconnect: the Session is invalidated and asked again', async () => {
    const logged: string[] = [];
    const ess = client({ logger: createLogger({ level: 'trace', format: 'json', write: (line) => logged.push(line) }) });
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 5));
    await take(iterator, 5);
    const tokenRequests = sandbox.stats.idp.requests;
    sandbox.idp.expireAll();
    sandbox.dropConnections();
    sandbox.publish(numbered(5, 5));
    expect((await take(iterator, 5)).map(numberOf)).toEqual(range(5, 5));
    expect(sandbox.stats.events.unauthorized).toBe(1);
    expect(sandbox.stats.idp.requests).toBe(tokenRequests + 1);
    expect(ess.stats.resumes).toBe(1);
    expect(logged.some((line) => line.includes('token refused: retrying with a fresh token') && line.includes('UNAUTHORIZED'))).toBe(true);
  });

  it('gets a fresh token again for a 401 after another failure in between (a gateway restarting twice), not halting', async () => {
    const ess = client({
      logger: createLogger({
        level: 'info',
        format: 'json',
        write: (line) => {
          const { msg } = JSON.parse(line) as { msg: string };
          // The first 401's fresh token meets a 503; by the next attempt it has been revoked too.
          if (msg === 'token refused: retrying with a fresh token' && !sandbox.stats.events.refused) sandbox.events.refuseUpgrades({ count: 1 });
          if (msg === 'connect attempt failed') sandbox.idp.expireAll();
        },
      }),
    });
    await ess.connect();
    const changes: string[] = [];
    ess.on('connection', (change) => changes.push(`${change.state}${change.error ? ` ${change.error.code}` : ''}`));
    const online = next(ess, 'connection', (change) => change.state === 'online' || change.state === 'halted');
    sandbox.idp.expireAll();
    sandbox.dropConnections();
    // It used to halt with UNAUTHORIZED: one fresh token until online again, whatever came between.
    expect((await online).state).toBe('online');
    expect(changes).toEqual(['delayed CONNECTION_LOST', 'online']);
    expect(sandbox.stats.events).toMatchObject({ unauthorized: 2, refused: 1 });
  });

  it('halts with UNAUTHORIZED when the second token is refused too; reconnect() recovers', async () => {
    const stale = await fetchToken(sandbox);
    let token = stale;
    const logged: string[] = [];
    const ess = client({ auth: () => Promise.resolve(token), logger: createLogger({ level: 'trace', format: 'json', write: (line) => logged.push(line) }) });
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 3));
    await take(iterator, 3);
    sandbox.idp.expireAll();
    const halted = next(ess, 'connection', (change) => change.state === 'halted');
    sandbox.dropConnections();
    const change = await halted;
    expect(change.error).toBeInstanceOf(EssError);
    expect(change.error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect(ess.connectionState).toBe('halted');
    expect(sandbox.stats.events.unauthorized).toBe(2);
    await expect(iterator.next()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(ess.getState()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect(logged.join('\n')).not.toContain(stale);

    token = await fetchToken(sandbox);
    sandbox.publish(numbered(3, 3));
    const reconnecting = ess.reconnect();
    expect(ess.connectionState).toBe('delayed');
    const resumed = ess.events();
    await reconnecting;
    expect((await take(resumed, 3)).map(numberOf)).toEqual(range(3, 3));
    expect(ess.stats.resumes).toBe(1);
  });

  it('halts with AUTH_FAILED, not retryable, when the token function returns no string (undefined, or the token response object); connect() rejects', async () => {
    const token = await fetchToken(sandbox);
    for (const value of [undefined, { access_token: token, token_type: 'Bearer' }, '  ']) {
      let calls = 0;
      const ess = client({
        auth: () => {
          calls += 1;
          return Promise.resolve(value as string);
        },
        reconnect: { initialDelayMs: 20 },
      });
      // It used to be retried forever: connect() never settled and the state stayed connecting.
      const error = await ess.connect().catch((caught: unknown) => caught);
      expect(error).toMatchObject({ name: 'EssError', code: 'AUTH_FAILED', retryable: false });
      expect(calls).toBe(1);
      expect(ess.connectionState).toBe('halted');
      expect(inspect(error, { depth: 10 })).not.toContain(token.slice(8, 40));
    }
    expect(sandbox.stats.events.connectionsTotal).toBe(0);
  });

  it('accepts a function returning a token with or without the Bearer prefix', async () => {
    const ess = client({ auth: async () => `Bearer ${await fetchToken(sandbox)}` });
    await ess.connect();
    expect(ess.connectionState).toBe('online');
  });
});

describe('EssClient: faults', () => {
  it('recovers from 503 at upgrade with backoff and resumes', async () => {
    const ess = client();
    const logged: string[] = [];
    const withLog = client({ logger: createLogger({ level: 'debug', format: 'json', write: (line) => logged.push(line) }) });
    await ess.connect();
    await withLog.connect();
    const iterator = withLog.events();
    sandbox.publish(numbered(0, 3));
    await take(iterator, 3);
    sandbox.events.refuseUpgrades({ count: 6 });
    sandbox.dropConnections();
    sandbox.publish(numbered(3, 3));
    expect((await take(iterator, 3)).map(numberOf)).toEqual(range(3, 3));
    await until(() => ess.connectionState === 'online', 10_000, 'the other client');
    expect(sandbox.stats.events.refused).toBe(6);
    expect(withLog.stats.resumes).toBe(1);
    expect(withLog.stats.gaps).toBe(0);
    expect(logged.some((line) => line.includes('"status":503'))).toBe(true);
  });

  it('retries a connection whose startSession or re-subscription gets a server error; halts on any other refusal', async () => {
    const ess = client();
    sandbox.events.failCommands({ command: 'startSession', status: 503 });
    await ess.connect();
    expect(ess.connectionState).toBe('online');
    expect(sandbox.stats.events.failed).toBe(1);
    const iterator = ess.events();
    sandbox.publish(numbered(0, 3));
    await take(iterator, 3);
    // A resume answered 500 twice is tried again until it resumes: nothing lost or repeated.
    sandbox.events.failCommands({ command: 'startSession', status: 500, count: 2 });
    sandbox.dropConnections();
    sandbox.publish(numbered(3, 3));
    expect((await take(iterator, 3)).map(numberOf)).toEqual(range(3, 3));
    expect(ess.stats).toMatchObject({ resumes: 1, gaps: 0 });
    expect(sandbox.stats.events.failed).toBe(3);

    // A new session whose filters subscription gets 503 is set up again too.
    const other = client();
    sandbox.events.failCommands({ command: 'addSubscription', status: 503 });
    await other.connect();
    expect(other.connectionState).toBe('online');

    // A refusal that is not a server error (400) is not retried: connect() rejects, the client halts.
    const refused = client();
    sandbox.events.failCommands({ command: 'startSession', status: 400 });
    await expect(refused.connect()).rejects.toMatchObject({ code: 'COMMAND_FAILED', status: 400, retryable: false });
    expect(refused.connectionState).toBe('halted');
  });

  it('halts with RETRIES_EXHAUSTED after maxRetries failed attempts', async () => {
    const ess = client({ reconnect: { initialDelayMs: 5, maxRetries: 2 } });
    await ess.connect();
    sandbox.events.refuseUpgrades({ retryAfterSeconds: 0 });
    const halted = next(ess, 'connection', (change) => change.state === 'halted');
    sandbox.dropConnections();
    const { error } = await halted;
    expect(error).toMatchObject({ code: 'RETRIES_EXHAUSTED' });
    expect(error?.cause).toMatchObject({ code: 'HANDSHAKE_FAILED', status: 503 });
    expect(sandbox.stats.events.refused).toBe(3);
  });

  it('routes events that arrive while commands are pending; none is lost', async () => {
    const ess = client();
    await ess.connect();
    const iterator = ess.events();
    sandbox.events.setGetStateDelay(300);
    const before = ess.stats.events;
    const state = ess.getState();
    const subscribed = ess.subscribe([{ resourceTypes: ['outputs'] }]);
    for (let batch = 0; batch < 30; batch += 1) sandbox.publish(numbered(batch * 100, 100));
    await subscribed;
    const duringGetState = ess.stats.events - before;
    const states = await state;
    expect(duringGetState).toBeGreaterThan(0);
    expect(states.length).toBe(4);
    expect((await take(iterator, 3000)).map(numberOf)).toEqual(range(0, 3000));
  });

  it('sends one getState for the calls made while not online, each caller getting an array of its own', async () => {
    const ess = client({ fetchState: false });
    await ess.connect();
    sandbox.publish(numbered(0, 4));
    await until(() => ess.stats.events === 4);
    sandbox.events.refuseUpgrades({ count: 2 });
    sandbox.dropConnections();
    await until(() => ess.connectionState !== 'online');
    const before = sandbox.stats.events.commands;
    const calls = Array.from({ length: 20 }, () => ess.getState());
    const answers = await Promise.all(calls);
    // The resume's startSession, and one getState.
    expect(sandbox.stats.events.commands - before).toBe(2);
    expect(answers[0]?.map((state) => state.id).sort()).toEqual(['e0', 'e1', 'e2', 'e3']);
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(new Set(answers).size).toBe(20);
    // Online, each call sends its own.
    await Promise.all([ess.getState(), ess.getState()]);
    expect(sandbox.stats.events.commands - before).toBe(4);
  });

  it('waits for a slow getState with its own timeout; the heartbeat deadline does not kill it', async () => {
    const ess = client({ commandTimeoutMs: 150, getStateTimeoutMs: 10_000, heartbeatMs: 30, heartbeatTimeoutMs: 60 });
    await ess.connect();
    sandbox.publish(numbered(0, 4));
    sandbox.events.setGetStateDelay(800);
    const states = await ess.getState();
    expect(states.map((state) => state.id).sort()).toEqual(['e0', 'e1', 'e2', 'e3']);
    expect(ess.stats.connections).toBe(1);
    expect(sandbox.stats.events.connectionsTotal).toBe(1);

    const impatient = client({ getStateTimeoutMs: 100 });
    await impatient.connect();
    await expect(impatient.getState()).rejects.toMatchObject({ code: 'COMMAND_TIMEOUT' });
  });

  it('detects a half-open connection by heartbeat, terminates it and resumes', async () => {
    const ess = client({ heartbeatMs: 50, heartbeatTimeoutMs: 100 });
    // The heartbeat deadline is off while a getState is pending: let the first one finish.
    const fetched = next(ess, 'state', (change) => change.reason === 'snapshot');
    await ess.connect();
    await fetched;
    const iterator = ess.events();
    sandbox.publish(numbered(0, 5));
    await take(iterator, 5);
    const lost = next(ess, 'connection', (change) => change.state === 'delayed');
    sandbox.events.stallConnections();
    sandbox.publish(numbered(5, 5));
    expect((await lost).error).toMatchObject({ code: 'HEARTBEAT_TIMEOUT' });
    expect((await take(iterator, 5)).map(numberOf)).toEqual(range(5, 5));
    expect(ess.stats.resumes).toBe(1);
    expect(ess.stats.gaps).toBe(0);
  });

  it('receives large frames (a multi-megabyte getState) and halts with FRAME_TOO_LARGE above maxPayload', async () => {
    const big = numbered(0, 3000, { cameras: 3000, padding: 2000 });
    sandbox.publish(big);
    const ess = client();
    await ess.connect();
    const states = await ess.getState();
    expect(states).toHaveLength(3000);

    const small = client({ maxPayload: 1_000_000, fetchState: false });
    await small.connect();
    const halted = next(small, 'connection', (change) => change.state === 'halted');
    await expect(small.getState()).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
    const { error } = await halted;
    expect(error).toMatchObject({ code: 'FRAME_TOO_LARGE', closeCode: 1009, retryable: false });
    expect(error?.message).toContain('maxPayload');
  });

  it("reports the gateway's close 1009 (a frame the client sent was too large for it) as PROTOCOL_ERROR, not as its own maxPayload, and reconnects: it does not halt", async () => {
    await sandbox.close();
    // A gateway limit below maxCommandBytes (1 MiB): the client sends what the gateway refuses.
    sandbox = await startEssSandbox({ maxPayload: 4096 });
    const ess = client({ fetchState: false });
    await ess.connect();
    const iterator = ess.events();
    const changes: string[] = [];
    ess.on('connection', (change) => changes.push(change.state));
    const lost = next(ess, 'connection', (change) => change.state !== 'online');
    const gap = next(ess, 'gap');
    // About 7 kB on the wire, over the gateway's 4096 bytes.
    const sourceIds = Array.from({ length: 500 }, (_, index) => `camera-${index}`);
    await expect(ess.subscribe([{ resourceTypes: ['cameras'], sourceIds }])).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
    const { state, error } = await lost;
    // It halted (not retryable): one bad call stopped the events of every consumer until reconnect().
    expect(state).toBe('delayed');
    expect(error).toMatchObject({ code: 'PROTOCOL_ERROR', closeCode: 1009, retryable: true });
    expect(error?.message).toBe('Connection closed with code 1009: the gateway rejected what was sent.');
    // The unanswered addSubscription may not be named: a new session (a gap), with the known subscriptions only.
    await gap;
    await until(() => ess.connectionState === 'online', 10_000, 'online again');
    expect(changes).toEqual(['delayed', 'online']);
    sandbox.publish(numbered(0, 2));
    expect((await take(iterator, 2)).map(numberOf)).toEqual([0, 1]);
  });
});

describe('EssClient: close codes, reconnect policy, subscriptions across reconnects', () => {
  it('maps close codes: 1001 (restart) resumes; 1008 halts with PROTOCOL_ERROR until reconnect()', async () => {
    const ess = client();
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 3));
    await take(iterator, 3);
    const lost = next(ess, 'connection', (change) => change.state === 'delayed');
    sandbox.events.closeConnections(1001, 'restarting');
    expect((await lost).error).toMatchObject({ name: 'EssError', code: 'CONNECTION_LOST', closeCode: 1001, retryable: true });
    sandbox.publish(numbered(3, 2));
    expect((await take(iterator, 2)).map(numberOf)).toEqual([3, 4]);
    expect(ess.stats.resumes).toBe(1);

    const halted = next(ess, 'connection', (change) => change.state === 'halted');
    sandbox.events.closeConnections(1008, 'command rejected');
    const { error } = await halted;
    expect(error).toMatchObject({ code: 'PROTOCOL_ERROR', closeCode: 1008, retryable: false });
    expect(error?.message).toContain('command rejected');
    await expect(iterator.next()).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    expect(sandbox.stats.events.connectionsTotal).toBe(2);

    sandbox.publish(numbered(5, 2));
    const reconnecting = ess.reconnect();
    const resumed = ess.events();
    await reconnecting;
    expect((await take(resumed, 2)).map(numberOf)).toEqual([5, 6]);
    expect(ess.stats.resumes).toBe(2);
  });

  it('logs frames it does not know at debug level and keeps the connection', async () => {
    const logged: string[] = [];
    const ess = client({ logger: createLogger({ level: 'debug', format: 'json', write: (line) => logged.push(line) }) });
    await ess.connect();
    const iterator = ess.events();
    sandbox.events.sendRaw('{"notice":"maintenance at 02:00"}');
    sandbox.events.sendRaw('{"commandId":999,"status":200}');
    sandbox.events.sendRaw('not json');
    sandbox.events.sendRaw('[1,2]');
    sandbox.events.sendRaw('{"events":[{"type":"no id"}]}');
    sandbox.publish(numbered(0, 2));
    expect((await take(iterator, 2)).map(numberOf)).toEqual([0, 1]);
    expect(ess.connectionState).toBe('online');
    expect(ess.stats).toMatchObject({ connections: 1, events: 2 });
    const text = logged.join('\n');
    for (const said of ['neither a response nor events', 'no pending command', 'not a JSON object', 'without an id']) expect(text).toContain(said);
    expect(text.split('not a JSON object')).toHaveLength(3); // 'not json' and '[1,2]'
  });

  it('asks shouldReconnect after every failure; reconnect: false halts on the first loss', async () => {
    const asked: [string, number][] = [];
    const ess = client({
      reconnect: {
        initialDelayMs: 5,
        shouldReconnect: (error, attempt) => {
          asked.push([error.code, attempt]);
          return attempt < 3;
        },
      },
    });
    await ess.connect();
    sandbox.events.refuseUpgrades({ retryAfterSeconds: 0 });
    const halted = next(ess, 'connection', (change) => change.state === 'halted');
    sandbox.dropConnections();
    expect((await halted).error).toMatchObject({ code: 'HANDSHAKE_FAILED', status: 503 });
    expect(asked).toEqual([
      ['CONNECTION_LOST', 1],
      ['HANDSHAKE_FAILED', 1],
      ['HANDSHAKE_FAILED', 2],
      ['HANDSHAKE_FAILED', 3],
    ]);
    expect(sandbox.stats.events.refused).toBe(3);

    sandbox.events.acceptUpgrades();
    const once = client({ reconnect: false });
    await once.connect();
    const stopped = next(once, 'connection', (change) => change.state === 'halted');
    sandbox.dropConnections();
    expect((await stopped).error).toMatchObject({ code: 'CONNECTION_LOST' });
    expect(sandbox.stats.events.connectionsTotal).toBe(2);
    await once.reconnect();
    expect(once.stats.resumes).toBe(0); // no event yet, so nothing to resume from: a new session
  });

  it('waits at most initialDelayMs before the first attempt after every loss of an open connection, also when each is lost at once', async () => {
    const logged: string[] = [];
    const ess = client({
      reconnect: { initialDelayMs: 4, windowMaxDelayMs: 2000 },
      logger: createLogger({ level: 'debug', format: 'json', write: (line) => logged.push(line) }),
    });
    await ess.connect();
    // A gateway that drops every connection as soon as it is made, 8 times: the design asks for
    // the first attempt within a second of each loss (not counted as retries), so no growth.
    let drops = 0;
    const flapping = (change: { state: string }): void => {
      if (change.state === 'online' && drops < 8) {
        drops += 1;
        sandbox.dropConnections();
      }
    };
    ess.on('connection', flapping);
    sandbox.dropConnections();
    await until(() => drops === 8 && ess.connectionState === 'online', 20_000, 'the flapping to end');
    ess.off('connection', flapping);
    const delays = logged.map((line) => JSON.parse(line) as { msg: string; delayMs?: number }).flatMap((entry) => (entry.msg === 'reconnecting after a delay' ? [entry.delayMs ?? 0] : []));
    // The delays were read (a zero one is not logged: all 8 zero has a chance of 4^-8).
    expect(delays.length).toBeGreaterThan(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(4);
    expect(ess.stats.resumes).toBe(0); // no event yet: each is a new session
  });

  it("reconnect() from a 'halted' listener starts again at once", async () => {
    const ess = client({ reconnect: false });
    let halts = 0;
    ess.on('connection', (change) => {
      if (change.state !== 'halted' || (halts += 1) > 1) return;
      ess.reconnect().catch(() => undefined);
    });
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 1));
    await take(iterator, 1);
    const again = next(ess, 'connection', (change) => change.state === 'online');
    sandbox.dropConnections();
    await again;
    const resumed = ess.events();
    sandbox.publish(numbered(1, 2));
    expect((await take(resumed, 2)).map(numberOf)).toEqual([1, 2]);
    expect(halts).toBe(1);
    expect(ess.stats).toMatchObject({ connections: 2, resumes: 1 });
  });

  it('asks shouldReconnect after the next loss when close() came before the loss a reconnect() made was handled', async () => {
    const asked: string[] = [];
    const ess = client({
      fetchState: false,
      reconnect: {
        initialDelayMs: 5,
        shouldReconnect: (error) => {
          asked.push(error.code);
          return false;
        },
      },
    });
    await ess.connect();
    // reconnect() ends the connection to resume at once; close() comes before that loss is handled.
    const reconnecting = ess.reconnect();
    const closing = ess.close();
    await expect(reconnecting).rejects.toMatchObject({ code: 'CLOSED' });
    await closing;
    await ess.connect();
    const change = next(ess, 'connection');
    sandbox.dropConnections();
    // An automatic reconnect would go to 'delayed' without asking; shouldReconnect says no: halted.
    expect(await change).toMatchObject({ previous: 'online', state: 'halted', error: { code: 'CONNECTION_LOST' } });
    expect(asked).toEqual(['CONNECTION_LOST']);
    expect(sandbox.stats.events.connectionsTotal).toBe(2);

    // An explicit reconnect() still always reconnects, whatever shouldReconnect says.
    await ess.reconnect();
    const forced = next(ess, 'connection');
    const again = ess.reconnect();
    expect(await forced).toMatchObject({ previous: 'online', state: 'delayed' });
    await again;
    expect(ess.connectionState).toBe('online');
    expect(asked).toEqual(['CONNECTION_LOST']);
  });

  it('reconnect() while delayed skips the rest of the backoff wait', async () => {
    // The first delay is drawn from [0, 1e9) ms: without reconnect() the test would time out.
    const ess = client({ reconnect: { initialDelayMs: 1e9, windowMaxDelayMs: 1e9, maxDelayMs: 1e9 } });
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 1));
    await take(iterator, 1);
    const away = next(ess, 'connection', (change) => change.state === 'delayed');
    sandbox.dropConnections();
    await away;
    await ess.reconnect();
    expect(ess.stats.resumes).toBe(1);
  });

  it("reconnect() from shouldReconnect or a 'delayed' listener skips the wait that follows", async () => {
    // The delays are drawn from [0, 1e9) ms: a wait that is not skipped times the test out.
    const slow = { initialDelayMs: 1e9, windowMaxDelayMs: 1e9, maxDelayMs: 1e9 };
    const asking = client({
      fetchState: false,
      reconnect: {
        ...slow,
        shouldReconnect: () => {
          asking.reconnect().catch(() => undefined);
          return true;
        },
      },
    });
    const listening = client({ fetchState: false, reconnect: slow });
    listening.on('connection', (change) => {
      if (change.state === 'delayed') listening.reconnect().catch(() => undefined);
    });
    for (const ess of [asking, listening]) {
      await ess.connect();
      const iterator = ess.events();
      sandbox.publish(numbered(0, 1));
      await take(iterator, 1);
      const back = next(ess, 'connection', (change) => change.previous === 'delayed' && change.state === 'online');
      sandbox.dropConnections();
      await back;
      expect(ess.stats).toMatchObject({ connections: 2, resumes: 1 });
      await ess.close();
    }
  });

  it('a reconnect() during a connect attempt that succeeds skips no wait after a later loss', async () => {
    const logged: string[] = [];
    const token = await fetchToken(sandbox);
    let again: Promise<void> | undefined;
    const ess = client({
      fetchState: false,
      // The first attempt asks for a token: reconnect() is called in the middle of it.
      auth: () => {
        again ??= ess.reconnect();
        return Promise.resolve(token);
      },
      reconnect: { initialDelayMs: 1e9, windowMaxDelayMs: 1e9, maxDelayMs: 1e9 },
      logger: createLogger({ level: 'debug', format: 'json', write: (line) => logged.push(line) }),
    });
    await ess.connect();
    await again;
    const away = next(ess, 'connection', (change) => change.state === 'delayed');
    sandbox.dropConnections();
    await away;
    // The backoff wait began (it logs as it begins), rather than a reconnect at once.
    expect(logged.some((line) => line.includes('reconnecting after a delay'))).toBe(true);
    expect(ess.connectionState).toBe('delayed');
    expect(ess.stats.connections).toBe(1);
  });

  it('sends an unsubscribe again after a resume when the connection died before the answer', async () => {
    const ess = client({ filters: [{ resourceTypes: ['outputs'] }], heartbeatMs: 50, heartbeatTimeoutMs: 100, fetchState: false });
    await ess.connect();
    const iterator = ess.events();
    const cameras = await ess.subscribe([{ resourceTypes: ['cameras'] }]);
    sandbox.publish(numbered(0, 1));
    await take(iterator, 1);
    const lost = next(ess, 'connection', (change) => change.state === 'delayed');
    const back = next(ess, 'connection', (change) => change.state === 'online');
    sandbox.events.stallConnections(); // the removal is never answered; the heartbeat ends the connection
    await ess.unsubscribe(cameras);
    expect((await lost).error).toMatchObject({ code: 'HEARTBEAT_TIMEOUT' });
    await back;
    expect(ess.stats.resumes).toBe(1);
    sandbox.publish([...numbered(1, 2), { id: 'o1', type: outputActivated, source: 'outputs/o1' }]);
    expect((await take(iterator, 1)).map((event) => event.id)).toEqual(['o1']);
  });

  it('removes a subscription unsubscribed while offline once resumed, and restores the others after a gap', async () => {
    const ess = client({ filters: [{ resourceTypes: ['outputs'] }] });
    await ess.connect();
    const iterator = ess.events();
    const cameras = await ess.subscribe([{ resourceTypes: ['cameras'] }]);
    await ess.subscribe([{ resourceTypes: ['inputEvents'] }]);
    sandbox.publish(numbered(0, 2));
    await take(iterator, 2);
    const input = (id: string): Record<string, unknown> => ({ id, type: motionStarted, source: 'inputEvents/i1' });
    const output = (id: string): Record<string, unknown> => ({ id, type: outputActivated, source: 'outputs/o1' });

    sandbox.events.refuseUpgrades({ retryAfterSeconds: 0 });
    const away = next(ess, 'connection', (change) => change.state === 'delayed');
    sandbox.dropConnections();
    await away;
    await ess.unsubscribe(cameras);
    let back = next(ess, 'connection', (change) => change.state === 'online');
    sandbox.events.acceptUpgrades();
    await back;
    expect(ess.stats.resumes).toBe(1);
    sandbox.publish([...numbered(2, 2), input('in1')]);
    expect((await take(iterator, 1)).map((event) => event.id)).toEqual(['in1']);

    sandbox.events.refuseUpgrades({ retryAfterSeconds: 0 });
    const awayAgain = next(ess, 'connection', (change) => change.state === 'delayed');
    sandbox.dropConnections();
    await awayAgain;
    sandbox.events.expireSessions();
    const gap = next(ess, 'gap');
    back = next(ess, 'connection', (change) => change.state === 'online');
    sandbox.events.acceptUpgrades();
    await gap;
    await back;
    sandbox.publish([input('in2'), ...numbered(4, 1), output('o1')]);
    expect((await take(iterator, 2)).map((event) => event.id)).toEqual(['in2', 'o1']);
    expect(sandbox.stats.events).toMatchObject({ sessionsNew: 2, sessionsResumed: 1 });
  });
});

describe('EssClient: backpressure', () => {
  async function settled(read: () => number): Promise<void> {
    let last = -1;
    let same = 0;
    await until(
      () => {
        const value = read();
        same = value === last ? same + 1 : 0;
        last = value;
        return same >= 5;
      },
      10_000,
      'a steady count',
    );
  }

  it('stops reading the socket while the consumer lags, then delivers everything', async () => {
    const total = 20_000;
    const ess = client({ highWaterMark: 100 });
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, total, { padding: 1000 }));
    const first = await take(iterator, 10);
    await settled(() => ess.stats.events);
    const received = ess.stats.events;
    expect(received).toBeLessThan(total / 2);
    expect(sandbox.stats.events.eventsSent).toBeLessThan(total);
    const rest = await take(iterator, total - 10);
    expect([...first, ...rest].map(numberOf)).toEqual(range(0, total));
  });

  it("ends the iterator with OVERFLOW under overflow: 'error'", async () => {
    const ess = client({ highWaterMark: 50, overflow: 'error' });
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 500));
    await until(() => ess.stats.events >= 500, 10_000, 'all events');
    await expect(iterator.next()).rejects.toMatchObject({ code: 'OVERFLOW' });
  });
});

describe('EssClient: lifecycle', () => {
  it('close() ends iterators and rejects commands; connect() works again', async () => {
    const ess = client();
    await ess.connect();
    const iterator = ess.events();
    const pending = iterator.next();
    await ess.close();
    expect(ess.connectionState).toBe('offline');
    expect(await pending).toEqual({ done: true, value: undefined });
    await expect(ess.getState()).rejects.toMatchObject({ code: 'CLOSED' });
    await ess.connect();
    expect(ess.connectionState).toBe('online');
    expect(ess.stats.resumes).toBe(0);
  });

  it('close() does not wait for a token request that hangs', async () => {
    let asked = 0;
    const ess = client({ auth: () => { asked += 1; return new Promise<string>(() => undefined); } });
    const connecting = ess.connect();
    await until(() => asked === 1);
    // It used to wait for the token forever (with a Session: until its attempt timed out).
    await ess.close();
    await expect(connecting).rejects.toMatchObject({ code: 'CLOSED' });
    expect(ess.connectionState).toBe('offline');
    // Connecting again asks again.
    ess.connect().catch(() => undefined);
    await until(() => asked === 2);
  });

  it('refuses numeric options that are NaN, negative, or times Node cannot keep (Infinity fired at once), naming the option', () => {
    const cases: [Partial<EssClientOptions>, string][] = [
      [{ commandTimeoutMs: Number.POSITIVE_INFINITY }, 'commandTimeoutMs'],
      [{ getStateTimeoutMs: 2 ** 31 }, 'getStateTimeoutMs'],
      [{ heartbeatMs: Number.NaN }, 'heartbeatMs'],
      [{ connectTimeoutMs: -1 }, 'connectTimeoutMs'],
      [{ highWaterMark: Number.NaN }, 'highWaterMark'],
      [{ reconnect: { initialDelayMs: Number.POSITIVE_INFINITY } }, 'initialDelayMs'],
      [{ reconnect: { maxRetries: -1 } }, 'maxRetries'],
      // Node takes a longer timer, or a fraction above the longest, as 1 ms.
      [{ commandTimeoutMs: 2147483647.5 }, 'commandTimeoutMs'],
    ];
    for (const [options, name] of cases) {
      const error = thrownBy(() => client(options));
      // Timeouts are at least 1 ms; numbers that are not times (highWaterMark, maxRetries) have no upper bound.
      const min = name.endsWith('TimeoutMs') ? 1 : 0;
      const max = name.endsWith('Ms') ? ' to 2147483647' : '';
      expect(error, name).toMatchObject({ name: 'EssError', code: 'INVALID_COMMAND', message: `${name} must be a number from ${min}${max}.` });
    }
    // Numbers that are not times may be larger: maxRetries Infinity (the default); maxPayload up to
    // the 32-bit integer ws reads it as (2 ** 32 was a limit of none), 0 for none.
    expect(() => client({ reconnect: { maxRetries: Number.POSITIVE_INFINITY }, maxPayload: 2 ** 31 - 1, getStateTimeoutMs: 2 ** 31 - 1, heartbeatMs: 0 })).not.toThrow();
    expect(() => client({ maxPayload: 0 })).not.toThrow();
    // resumeWindowMs is no timer (it is compared with the time since the loss): always inside the window.
    expect(() => client({ reconnect: { resumeWindowMs: Number.POSITIVE_INFINITY } })).not.toThrow();
  });

  it('reconnect() while online drops the connection and resumes at once', async () => {
    const ess = client();
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 2));
    await take(iterator, 2);
    await ess.reconnect();
    sandbox.publish(numbered(2, 2));
    expect((await take(iterator, 2)).map(numberOf)).toEqual([2, 3]);
    expect(ess.stats.resumes).toBe(1);
    expect(sandbox.stats.events.connectionsTotal).toBe(2);
  });

  it('delivers to event listeners as well as iterators', async () => {
    const ess = client();
    const seen: EssEvent[] = [];
    ess.on('event', (event) => seen.push(event));
    await ess.connect();
    sandbox.publish(numbered(0, 3));
    await until(() => seen.length === 3);
    expect(seen.map(numberOf)).toEqual([0, 1, 2]);
  });
});

describe('EssClient: edge cases of delivery, the resume record and the lifecycle', () => {
  const key = 'ess-test';
  async function recorded(store: MemoryStore): Promise<unknown> {
    return (await store.get(key))?.lastEventId;
  }

  /** Wait (up to 5 s) for the record to reach `id`, with nothing else to await. */
  async function recordReaches(store: MemoryStore, id: string): Promise<void> {
    for (let tries = 0; tries < 500 && (await recorded(store)) !== id; tries += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await recorded(store)).toBe(id);
  }

  it('hands out what an iterator buffered before a halt, so reconnect() loses nothing and reports no gap', async () => {
    const ess = client({ reconnect: false, fetchState: false });
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 20));
    await until(() => ess.lastEventId === 'e19');
    const first = await take(iterator, 5);
    const halted = next(ess, 'connection', (change) => change.state === 'halted');
    sandbox.dropConnections();
    await halted;
    const buffered = await take(iterator, 15);
    await expect(iterator.next()).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
    await ess.reconnect();
    const resumed = ess.events();
    sandbox.publish(numbered(20, 5));
    const rest = await take(resumed, 5);
    expect([...first, ...buffered, ...rest].map(numberOf)).toEqual(range(0, 25));
    expect(ess.stats).toMatchObject({ resumes: 1, gaps: 0 });
  });

  it("delivers nothing after close(): not the rest of a batch when an 'event' listener closes the client", async () => {
    const ess = client({ fetchState: false });
    await ess.connect();
    const iterator = ess.events();
    let heard = 0;
    let closing: Promise<void> | undefined;
    ess.on('event', () => {
      heard += 1;
      closing ??= ess.close();
      expect(ess.connectionState).toBe('offline');
    });
    sandbox.publish(numbered(0, 100));
    await until(() => closing !== undefined);
    await closing;
    expect(await take(iterator, 100)).toEqual([]);
    expect(heard).toBe(1);
  });

  it('ignores a stateful event without a source instead of throwing in the socket handler', async () => {
    const ess = client({ fetchState: false });
    await ess.connect();
    const iterator = ess.events();
    sandbox.events.sendRaw('{"events":[{"id":"bad","time":"2026-01-01T00:00:00Z","type":"t","stategroupid":"g"}]}');
    sandbox.publish(numbered(0, 1));
    expect((await take(iterator, 2)).map((event) => event.id)).toEqual(['bad', 'e0']);
    expect(ess.state.map((state) => state.id)).toEqual(['e0']);
    expect(ess.connectionState).toBe('online');
  });

  it("writes a new session's resume record before subscribing: killed at the first event, a restart reports a gap", async () => {
    // The gateway's command count when each write started and when it was done.
    const writes: { started: number; done?: number }[] = [];
    /** A store on a slow disk: the first write takes until the gateway gets another command, or 300 ms. */
    class SlowStore extends MemoryStore {
      override async set(...args: Parameters<MemoryStore['set']>): Promise<void> {
        const write: { started: number; done?: number } = { started: sandbox.events.stats.commands };
        writes.push(write);
        if (writes.length === 1) await until(() => sandbox.events.stats.commands > write.started, 300).catch(() => undefined);
        await super.set(...args);
        write.done = sandbox.events.stats.commands;
      }
    }
    const store = new SlowStore();
    const ess = client({ fetchState: false, resumeStore: store, resumeKey: key });
    await ess.connect();
    // Nothing (the addSubscription) was sent while the new session's record was being written.
    expect(writes[0]?.done).toBe(writes[0]?.started);
    const iterator = ess.events();
    sandbox.publish(numbered(0, 5));
    expect((await take(iterator, 1)).map(numberOf)).toEqual([0]);
    // What the store holds as the first event is handled: what a process killed now leaves.
    const left = await store.get(key);
    expect(left).toMatchObject({ sessionId: ess.sessionId });
    const restartStore = new MemoryStore();
    if (left) await restartStore.set(key, left);
    const restarted = client({ fetchState: false, resumeStore: restartStore, resumeKey: key });
    const gap = next(restarted, 'gap');
    await restarted.connect();
    // No event finished: nothing to resume after, a new session, and the loss reported.
    expect(await gap).toMatchObject({ previousSessionId: ess.sessionId, lastEventId: undefined });
    expect(restarted.stats).toMatchObject({ resumes: 0, gaps: 1 });
  });

  it("advances the resume record for an iterator started from an 'event' listener", async () => {
    const store = new MemoryStore();
    const ess = client({ fetchState: false, resumeStore: store, resumeKey: key });
    await ess.connect();
    const taken: string[] = [];
    let started = false;
    ess.on('event', () => {
      if (started) return;
      started = true;
      void (async () => {
        for await (const event of ess.events()) taken.push(event.id);
      })();
    });
    sandbox.publish(numbered(0, 5));
    await until(() => ess.lastEventId === 'e4');
    for (let batch = 1; batch <= 3; batch += 1) {
      sandbox.publish(numbered(batch * 5, 5));
      await until(() => taken.at(-1) === `e${batch * 5 + 4}`);
    }
    await ess.close();
    expect(await recorded(store)).toBe('e19');
  });

  it('advances the resume record while an iterator is drained after close(): a restart repeats nothing', async () => {
    const store = new MemoryStore();
    const options = { fetchState: false, resumeStore: store, resumeKey: key };
    const first = client(options);
    await first.connect();
    const iterator = first.events();
    sandbox.publish(numbered(0, 3));
    sandbox.publish(numbered(3, 7));
    await until(() => first.lastEventId === 'e9');
    const taken = await take(iterator, 3);
    await first.close();
    for await (const event of iterator) taken.push(event);
    expect(taken.map(numberOf)).toEqual(range(0, 10));
    await first.close(); // waits for the record written while draining
    expect(await recorded(store)).toBe('e9');

    const second = client(options);
    const resumed = second.events();
    await second.connect();
    sandbox.publish(numbered(10, 2));
    expect((await take(resumed, 2)).map(numberOf)).toEqual([10, 11]);
    expect(second.stats.resumes).toBe(1);
  });

  it('fetches state on the next connection when the connection dropped during the automatic getState', async () => {
    sandbox.events.setGetStateDelay(300);
    sandbox.publish(numbered(0, 4, { prefix: 'pre' }));
    const ess = client();
    await ess.connect(); // a new session: getState sent, answered in 300 ms
    const iterator = ess.events();
    sandbox.publish([{ id: 'o1', type: outputActivated, source: 'outputs/o1' }]);
    await take(iterator, 1);
    const snapshot = next(ess, 'state', (change) => change.reason === 'snapshot');
    sandbox.dropConnections(); // the getState is lost with the connection
    expect((await snapshot).changed.map((state) => state.id).sort()).toEqual(['pre0', 'pre1', 'pre2', 'pre3']);
    expect(ess.stats.resumes).toBe(1);
  });

  it('pauses reading again when a command times out while an iterator is full', async () => {
    const total = 20_000;
    const ess = client({ fetchState: false, highWaterMark: 100, getStateTimeoutMs: 100, heartbeatMs: 0 });
    await ess.connect();
    const iterator = ess.events();
    const steady = async (): Promise<void> => {
      let last = -1;
      let same = 0;
      await until(
        () => {
          same = ess.stats.events === last ? same + 1 : 0;
          last = ess.stats.events;
          return same >= 5;
        },
        10_000,
        'a steady count',
      );
    };
    sandbox.publish(numbered(0, 300));
    await take(iterator, 1);
    await steady(); // paused at the high-water mark
    // Sending a command resumes reading (the answer must get through); its timeout pauses again.
    sandbox.events.setGetStateDelay(60_000);
    await expect(ess.getState()).rejects.toMatchObject({ code: 'COMMAND_TIMEOUT' });
    sandbox.publish(numbered(300, total, { padding: 1000 }));
    await steady();
    expect(ess.stats.events).toBeLessThan(total / 2);
  });

  it("keeps the resume record before what an iterator missed with overflow: 'error'", async () => {
    const store = new MemoryStore();
    const ess = client({ fetchState: false, resumeStore: store, resumeKey: key, highWaterMark: 10, overflow: 'error' });
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 5));
    await take(iterator, 5);
    sandbox.publish(numbered(5, 50));
    await until(() => ess.lastEventId === 'e54');
    await expect(iterator.next()).rejects.toMatchObject({ code: 'OVERFLOW' });
    await ess.close();
    expect(await recorded(store)).toBe('e4');
  });

  /**
   * A client whose iterators throw OVERFLOW at their second unread event, with a listener that
   * takes every batch (only an OVERFLOW's hold keeps the record back), its record at e0.
   */
  async function overflowing(): Promise<{ store: MemoryStore; ess: EssClient }> {
    const store = new MemoryStore();
    const ess = client({ fetchState: false, resumeStore: store, resumeKey: key, highWaterMark: 2, overflow: 'error' });
    await ess.connect();
    ess.on('event', () => undefined);
    sandbox.publish(numbered(0, 1));
    await recordReaches(store, 'e0');
    return { store, ess };
  }

  it("lets go of each iterator that threw OVERFLOW (a consumer that starts a new loop after each left them all behind), the record still held back", async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let collected = 0;
    const registry = new FinalizationRegistry(() => {
      collected += 1;
    });
    const { store, ess } = await overflowing();
    for (let round = 0; round < 10; round += 1) {
      const restarted = ess.events();
      registry.register(restarted, round);
      const before = ess.stats.events;
      sandbox.publish(numbered(1 + 3 * round, 3));
      await until(() => ess.stats.events === before + 3);
      // Not expect().rejects, which keeps what it was given.
      const thrown = await restarted.next().then(() => undefined, (error: unknown) => (error as EssError).code);
      expect(thrown).toBe('OVERFLOW');
    }
    for (let pass = 0; pass < 3; pass += 1) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Every one but, at most, one a pending promise still refers to.
    expect(collected).toBeGreaterThanOrEqual(9);
    await ess.close();
    expect(await recorded(store)).toBe('e0'); // a restart replays what they missed
  });

  it('lets the record pass again once the consumer of an iterator that threw OVERFLOW lets go of it', async () => {
    const { store, ess } = await overflowing();
    const iterator = ess.events();
    sandbox.publish(numbered(1, 3));
    await until(() => ess.stats.events === 4);
    const thrown = await iterator.next().then(() => undefined, (error: unknown) => (error as EssError).code);
    expect(thrown).toBe('OVERFLOW');
    sandbox.publish(numbered(4, 1));
    await until(() => ess.stats.events === 5);
    await new Promise((resolve) => setTimeout(resolve, 200)); // a write of e4 would be done by now
    expect(await recorded(store)).toBe('e0'); // held back
    await iterator.return?.();
    sandbox.publish(numbered(5, 1));
    await recordReaches(store, 'e5');
  });

  it('holds the events that come before the first events() call, a resume replay during connect() included, and saves them only once taken', async () => {
    const store = new MemoryStore();
    const options = { fetchState: false, resumeStore: store, resumeKey: key };
    const first = client(options);
    const iterator = first.events();
    await first.connect();
    sandbox.publish(numbered(0, 3));
    await take(iterator, 3);
    await iterator.return?.(); // done with them, as a loop that breaks
    await first.close();
    expect(await recorded(store)).toBe('e2');
    sandbox.publish(numbered(3, 5)); // while no process runs, inside the resume window

    // A restarted process in the order most code is written: connect(), then events().
    const second = client(options);
    await second.connect(); // the replay of e3..e7 arrives during connect(), before any iterator
    await until(() => second.lastEventId === 'e7');
    // Nobody took them yet: the record stays where it was.
    expect(await recorded(store)).toBe('e2');
    const late = second.events();
    sandbox.publish(numbered(8, 2));
    // The replay used to reach no consumer, and the record moved past it all the same.
    expect((await take(late, 7)).map(numberOf)).toEqual(range(3, 7));
    expect(second.stats).toMatchObject({ resumes: 1, gaps: 0 });
    await late.return?.();
    await second.close();
    expect(await recorded(store)).toBe('e9');
    // The next events() is an iterator of its own again.
    const after = second.events();
    expect(await after.next()).toEqual({ done: true, value: undefined });
  });

  /** A session with e0..e(taken-1) taken and recorded, then `away` more published while no client runs. */
  async function awayFrom(store: MemoryStore, taken: number, away: number): Promise<void> {
    const first = client({ fetchState: false, resumeStore: store, resumeKey: key });
    const iterator = first.events();
    await first.connect();
    sandbox.publish(numbered(0, taken));
    await take(iterator, taken);
    await iterator.return?.();
    await first.close();
    sandbox.publish(numbered(taken, away));
  }

  it('holds a replay larger than highWaterMark for events() right after connect(): reading pauses, nothing is lost', async () => {
    const store = new MemoryStore();
    await awayFrom(store, 2, 300);
    const ess = client({ fetchState: false, highWaterMark: 5, resumeStore: store, resumeKey: key });
    await ess.connect(); // the replay of e2..e301 comes during connect(): more than 5 to hold
    const iterator = ess.events();
    sandbox.publish(numbered(302, 2));
    // It used to drop them at highWaterMark and throw OVERFLOW, while the record passed them.
    expect((await take(iterator, 302)).map(numberOf)).toEqual(range(2, 302));
    await iterator.return?.();
    await ess.close();
    expect(await recorded(store)).toBe('e303');

    // With overflow: 'error' too: what is held pauses reading, it is not dropped.
    const strict = client({ fetchState: false, highWaterMark: 5, overflow: 'error', resumeStore: store, resumeKey: key });
    sandbox.publish(numbered(304, 300));
    await strict.connect(); // the first read of the replay holds far more than 5
    expect((await take(strict.events(), 300)).map(numberOf)).toEqual(range(304, 300));
  });

  it("keeps a held iterator pausing once events() takes it: a slow consumer gets backpressure, not OVERFLOW", async () => {
    const store = new MemoryStore();
    await awayFrom(store, 1, 1);
    const ess = client({ fetchState: false, highWaterMark: 10, resumeStore: store, resumeKey: key });
    await ess.connect(); // e1 held
    const iterator = ess.events();
    sandbox.publish(numbered(2, 50));
    await until(() => ess.stats.events >= 11);
    // A slow consumer: reading pauses at 10 buffered events instead of failing the iterator.
    expect((await take(iterator, 51)).map(numberOf)).toEqual(range(1, 51));
  });

  it('lets held events go when no events() call takes them right after connect(): the record goes on, and a later events() gets what comes after it', async () => {
    const store = new MemoryStore();
    await awayFrom(store, 1, 2);
    const ess = client({ fetchState: false, resumeStore: store, resumeKey: key });
    await ess.connect(); // e1, e2 held, for a moment
    // Nobody took them: let go, and the record goes on without another frame (a client used for
    // its state alone used to replay them at every restart).
    await recordReaches(store, 'e2');
    const iterator = ess.events();
    sandbox.publish(numbered(3, 1));
    expect((await take(iterator, 1)).map(numberOf)).toEqual([3]);
    await iterator.return?.();
    await ess.close();
    expect(await recorded(store)).toBe('e3');
  });

  it("does not let the record pass what an iterator did not take when it leaves during a frame (from a 'state' listener)", async () => {
    const store = new MemoryStore();
    const ess = client({ fetchState: false, resumeStore: store, resumeKey: key });
    const iterator = ess.events();
    await ess.connect();
    sandbox.publish(numbered(0, 1));
    await take(iterator, 1);
    void iterator.next(); // back for the next event, as a for-await loop: done with e0
    await recordReaches(store, 'e0');
    ess.on('state', () => void iterator.return?.());
    sandbox.publish(numbered(1, 3));
    await until(() => ess.lastEventId === 'e3');
    await ess.close();
    // It used to count as a frame with no consumer at all, taken by nobody: e3.
    expect(await recorded(store)).toBe('e0');
  });

  it("lets a held replay go for a client used for its state alone, also with overflow: 'error' past highWaterMark: the record goes on", async () => {
    const store = new MemoryStore();
    await awayFrom(store, 1, 300);
    const ess = client({ fetchState: false, highWaterMark: 20, overflow: 'error', resumeStore: store, resumeKey: key });
    ess.on('state', () => undefined);
    await ess.connect(); // the replay overflows the held iterator; nobody takes it
    await until(() => ess.lastEventId === 'e300');
    // Its dropped batches used to stay pending: every restart replayed the same events.
    await recordReaches(store, 'e300');
  });

  it('keeps held events across close() for the next events(): it hands them out (then ends, or goes on after a connect() that resumes); a new session drops them', async () => {
    const store = new MemoryStore();
    await awayFrom(store, 1, 2);
    const closed = client({ fetchState: false, resumeStore: store, resumeKey: key });
    await closed.connect(); // e1, e2 held
    await closed.close();
    expect(await recorded(store)).toBe('e0');
    const drained: EssEvent[] = [];
    for await (const event of closed.events()) drained.push(event);
    expect(drained.map(numberOf)).toEqual([1, 2]);
    await closed.close(); // waits for the record
    expect(await recorded(store)).toBe('e2');

    sandbox.publish(numbered(3, 2));
    const resumed = client({ fetchState: false, resumeStore: store, resumeKey: key });
    await resumed.connect(); // e3, e4 held
    await resumed.close();
    sandbox.publish(numbered(5, 1));
    await resumed.connect(); // resumes after e4: e5 joins them
    // They used to be dropped at close(), and this connect() resumed after them: lost for good.
    expect((await take(resumed.events(), 3)).map(numberOf)).toEqual([3, 4, 5]);
    expect(resumed.stats).toMatchObject({ resumes: 2, gaps: 0 });

    sandbox.publish(numbered(6, 2));
    const gapped = client({ fetchState: false, resumeStore: store, resumeKey: key });
    await gapped.connect(); // e6, e7 held (and more of the first ones, from the record)
    await gapped.close();
    sandbox.events.expireSessions();
    const gap = next(gapped, 'gap');
    await gapped.connect(); // a new session: the held events are not handed out after the gap
    await gap;
    const iterator = gapped.events();
    sandbox.publish(numbered(100, 1));
    expect((await take(iterator, 1)).map(numberOf)).toEqual([100]);
  });

  it("gives an iterator made by an 'event' listener the rest of that frame", async () => {
    const ess = client({ fetchState: false });
    const made: AsyncIterableIterator<EssEvent>[] = [];
    ess.on('event', (event) => {
      if (event.id === 'e1') made.push(ess.events());
    });
    await ess.connect();
    sandbox.publish(numbered(0, 5));
    await until(() => made.length === 1);
    const [iterator] = made;
    if (iterator === undefined) throw new Error('no iterator');
    // It used to start with the next frame: e2..e4 never reached it.
    expect((await take(iterator, 3)).map(numberOf)).toEqual([2, 3, 4]);
  });
  it('keeps advancing the resume record of a client that never takes events (its state alone)', async () => {
    const store = new MemoryStore();
    const ess = client({ resumeStore: store, resumeKey: key });
    ess.on('state', () => undefined);
    await ess.connect();
    sandbox.publish(numbered(0, 20));
    await until(() => ess.lastEventId === 'e19');
    await ess.close();
    // Held events nobody took used to keep it at none: a restart then lost the session.
    expect(await recorded(store)).toBe('e19');
  });

  it("holds a replay for events() right after connect() when an 'event' listener was there already: the listener gets it, and so does the iterator", async () => {
    const store = new MemoryStore();
    const heard: number[] = [];
    const ess = client({ fetchState: false, resumeStore: store, resumeKey: key });
    ess.on('event', (event) => heard.push(numberOf(event)));
    const first = ess.events();
    await ess.connect();
    sandbox.publish(numbered(0, 2));
    expect((await take(first, 2)).map(numberOf)).toEqual([0, 1]);
    await first.return?.();
    await ess.close();
    sandbox.publish(numbered(2, 3)); // while closed: the resume's replay
    await ess.connect();
    const second = ess.events();
    sandbox.publish(numbered(5, 1));
    // The iterator used to miss e2..e4: with a listener, nothing was held for it.
    expect((await take(second, 4)).map(numberOf)).toEqual(range(2, 4));
    expect(heard).toEqual(range(0, 6));
    await second.return?.();
    await ess.close();
    expect(await recorded(store)).toBe('e5');
  });

  it("keeps the held events for events() when an 'event' listener is added first: the listener gets the next ones, the iterator the held ones too", async () => {
    const store = new MemoryStore();
    await awayFrom(store, 1, 2);
    const ess = client({ fetchState: false, resumeStore: store, resumeKey: key });
    await ess.connect(); // e1, e2 held
    const heard: number[] = [];
    ess.on('event', (event) => heard.push(numberOf(event)));
    const iterator = ess.events();
    sandbox.publish(numbered(3, 2));
    // The listener used to drop the held e1, e2 (the iterator was a new one), and the record passed them.
    expect((await take(iterator, 4)).map(numberOf)).toEqual([1, 2, 3, 4]);
    expect(heard).toEqual([3, 4]);
  });
  it('hands a reconnect() after a halt the replay it brings, to an iterator made after it', async () => {
    const ess = client({ reconnect: false, fetchState: false });
    await ess.connect();
    const iterator = ess.events();
    sandbox.publish(numbered(0, 2));
    await take(iterator, 2);
    const halted = next(ess, 'connection', (change) => change.state === 'halted');
    sandbox.events.closeConnections(1008, 'policy');
    await halted;
    await expect(iterator.next()).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    sandbox.publish(numbered(2, 3)); // while halted
    await ess.reconnect();
    const resumed = ess.events();
    sandbox.publish(numbered(5, 1));
    expect((await take(resumed, 4)).map(numberOf)).toEqual(range(2, 4));
    expect(ess.stats).toMatchObject({ resumes: 1, gaps: 0 });
  });

  it('never moves the resume record back: an iterator from before a close() drained after a connect() saves nothing older', async () => {
    const store = new MemoryStore();
    const options = { fetchState: false, resumeStore: store, resumeKey: key };
    const ess = client(options);
    const heard: string[] = [];
    ess.on('event', (event) => heard.push(event.id));
    const old = ess.events();
    await ess.connect();
    sandbox.publish(numbered(0, 5));
    await until(() => heard.length === 5);
    await ess.close(); // the iterator still holds e0..e4
    await ess.connect();
    sandbox.publish(numbered(5, 5));
    await until(() => heard.length === 10);
    await ess.close();
    expect(await recorded(store)).toBe('e9');
    const drained: EssEvent[] = [];
    for await (const event of old) drained.push(event);
    expect(drained.map(numberOf)).toEqual(range(0, 5));
    await ess.close();
    // It used to go back to e4, and a restarted process got e5..e9 again.
    expect(await recorded(store)).toBe('e9');
  });

  /** A connected client with a resume store and two iterators made before connect(). */
  async function twoIterators(): Promise<{ store: MemoryStore; ess: EssClient; a: AsyncIterableIterator<EssEvent, undefined>; b: AsyncIterableIterator<EssEvent, undefined> }> {
    const store = new MemoryStore();
    const ess = client({ fetchState: false, resumeStore: store, resumeKey: key });
    const a = ess.events();
    const b = ess.events();
    await ess.connect();
    return { store, ess, a, b };
  }

  it('saves a batch once a for-await loop is done with its last event: at the next turn, at a break, or when it ends after close() from its body', async () => {
    const store = new MemoryStore();
    const ess = client({ fetchState: false, resumeStore: store, resumeKey: key });
    await ess.connect();
    const seen: string[] = [];
    let recordWhileHandling: unknown;
    const loop = (async () => {
      for await (const event of ess.events()) {
        seen.push(event.id);
        // Handling e2, the last of its batch: not saved yet (a crash now must repeat it).
        if (event.id === 'e2') recordWhileHandling = await recorded(store);
        if (event.id === 'e4') break;
      }
    })();
    sandbox.publish(numbered(0, 3));
    await until(() => seen.length === 3);
    await recordReaches(store, 'e2'); // the loop came back for e3
    expect(recordWhileHandling).toBeUndefined();
    sandbox.publish(numbered(3, 2));
    await loop; // broke out at e4, the last of its batch
    await ess.close();
    expect(await recorded(store)).toBe('e4');

    // close() from the loop body while it handles the last event of a batch: taken when the loop ends.
    const again = client({ fetchState: false, resumeStore: store, resumeKey: key });
    await again.connect();
    const ending = (async () => {
      for await (const event of again.events()) {
        if (event.id === 'e6') {
          await again.close();
          recordWhileHandling = await recorded(store);
        }
      }
    })();
    sandbox.publish(numbered(5, 2));
    await ending;
    expect(recordWhileHandling).toBe('e4');
    await again.close(); // waits for the record written as the loop ended
    expect(await recorded(store)).toBe('e6');
  });

  it('counts an iterator that leaves once, however often return() is called', async () => {
    const { store, ess, a, b } = await twoIterators();
    sandbox.publish(numbered(0, 5));
    await take(a, 1);
    await a.return?.();
    await a.return?.();
    await take(b, 5);
    void b.next(); // back for more: done with e4
    await ess.close();
    // A second return() used to count a's share twice: the batch then never completed.
    expect(await recorded(store)).toBe('e4');
  });

  it('leaves a batch to the other iterators when one leaves in the middle of it, and to none when it was the only one', async () => {
    const { store, ess, a, b } = await twoIterators();
    sandbox.publish(numbered(0, 2));
    await take(a, 2);
    await take(b, 2);
    sandbox.publish(numbered(2, 5));
    await take(b, 5);
    void b.next(); // back for more: done with e6
    await take(a, 1);
    await a.return?.();
    // b took the whole batch: it used to stay undelivered (a's share never came).
    await until(() => ess.lastEventId === 'e6');
    await ess.close();
    expect(await recorded(store)).toBe('e6');

    // Alone, an iterator that leaves early does not make the record pass what it did not take.
    const alone = client({ fetchState: false, resumeStore: store, resumeKey: key });
    const only = alone.events();
    await alone.connect();
    sandbox.publish(numbered(7, 4));
    await take(only, 2);
    await only.return?.();
    await alone.close();
    expect(await recorded(store)).toBe('e6');
    // And next() after return() is done: the buffer was dropped.
    expect(await only.next()).toEqual({ done: true, value: undefined });
  });

  it('fetches state after connect() in a restarted process that resumes its session (its cache is empty)', async () => {
    const store = new MemoryStore();
    const options = { resumeStore: store, resumeKey: key };
    const first = client(options);
    const iterator = first.events();
    await first.connect();
    sandbox.publish(numbered(0, 4));
    await take(iterator, 4);
    await iterator.return?.();
    await until(() => first.state.length === 4);
    await first.close();

    const second = client(options);
    const snapshot = next(second, 'state', (change) => change.reason === 'snapshot');
    await second.connect();
    expect(second.stats.resumes).toBe(1);
    // It used to stay empty: only a new session fetched state.
    expect((await snapshot).changed).toHaveLength(4);
    expect(second.state).toHaveLength(4);
  });

  it('closes promptly while an iterator is full (the paused socket still reads the close answer)', async () => {
    const ess = client({ fetchState: false, highWaterMark: 10, heartbeatMs: 0 });
    const iterator = ess.events();
    await ess.connect();
    // Enough to fill the iterator and pause the socket, few enough that reading what is left behind
    // the close answer takes no time worth counting, even on a busy machine (2,000 events of 1 kB took
    // hundreds of milliseconds there, close to the bound).
    sandbox.publish(numbered(0, 100, { padding: 1000 }));
    await take(iterator, 1);
    await until(() => ess.stats.events >= 10);
    // The close handshake ends it, not the 1 s terminate() fallback, which a paused socket always
    // needed. Watched on the real ws class rather than timed: a bound under 1 s left little margin
    // on a busy machine.
    const terminate = vi.spyOn(WebSocket.prototype, 'terminate');
    try {
      await ess.close();
      expect(terminate).not.toHaveBeenCalled();
    } finally {
      terminate.mockRestore();
    }
  });

  it('does not come online on a connection lost while its new session was being recorded, nor start a heartbeat there', async () => {
    const memory = new MemoryStore();
    let recorded!: () => void;
    const slow = new Promise<void>((resolve) => { recorded = resolve; });
    // A store whose first write ends only once the connection is gone (a slow disk, Redis over a network).
    const resumeStore: TokenStore = {
      get: (key) => memory.get(key),
      delete: (key) => memory.delete(key),
      withLock: (key, fn, options) => memory.withLock(key, fn, options),
      set: async (key, value) => {
        await slow;
        await memory.set(key, value);
      },
    };
    const emitted = vi.spyOn(WebSocket.prototype, 'emit');
    try {
      // No filters: no addSubscription, whose failure would have ended the set-up.
      const ess = client({ filters: undefined, resumeStore, heartbeatMs: 50 });
      const states: string[] = [];
      ess.on('connection', (change) => states.push(change.state));
      const connected = ess.connect();
      await until(() => sandbox.stats.events.sessionsNew >= 1);
      sandbox.dropConnections();
      await until(() => emitted.mock.calls.some(([name]) => name === 'close'));
      recorded();
      await connected;
      // Online on a new session of a new connection: it used to come online on the dead one (whose
      // heartbeat timer then kept the process alive after close()), and went delayed at once.
      expect(states).toEqual(['connecting', 'online']);
      expect(sandbox.stats.events).toMatchObject({ sessionsNew: 2, connections: 1 });
    } finally {
      emitted.mockRestore();
    }
  });

  it('rejects commands with CLOSED after a halt and a close(), not with the old halt error', async () => {
    const ess = client({ reconnect: false, fetchState: false });
    await ess.connect();
    const halted = next(ess, 'connection', (change) => change.state === 'halted');
    sandbox.events.closeConnections(1008, 'policy');
    await halted;
    await expect(ess.getState()).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    await ess.close();
    await expect(ess.getState()).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(ess.subscribe([{}])).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('halts with the error when shouldReconnect throws', async () => {
    const bug = new Error('bug in the callback');
    const ess = client({
      reconnect: {
        shouldReconnect: () => {
          throw bug;
        },
      },
    });
    await ess.connect();
    const iterator = ess.events();
    const pending = iterator.next();
    const halted = next(ess, 'connection', (change) => change.state === 'halted');
    sandbox.dropConnections();
    const { error, previous } = await halted;
    expect(error).toMatchObject({ name: 'EssError', code: 'CONNECTION_LOST', cause: bug });
    expect(previous).toBe('online');
    await expect(pending).rejects.toBe(error);
  });

  it('changes connection states only as they happen: offline at close(), no delayed without a reconnect', async () => {
    const seen: string[] = [];
    const watch = (ess: EssClient): EssClient => ess.on('connection', (change) => seen.push(`${change.previous}>${change.state}`));

    const once = watch(client({ reconnect: false }));
    await once.connect();
    const halted = next(once, 'connection', (change) => change.state === 'halted');
    sandbox.events.closeConnections(1001, 'restart');
    await halted;
    expect(seen.splice(0)).toEqual(['offline>connecting', 'connecting>online', 'online>halted']);

    const stored = watch(client({ resumeStore: new MemoryStore() }));
    const connecting = stored.connect();
    await stored.close();
    await expect(connecting).rejects.toMatchObject({ code: 'CLOSED' });
    expect(seen.splice(0)).toEqual([]);

    const ess = watch(client());
    await ess.connect();
    const closing = ess.close();
    expect(ess.connectionState).toBe('offline');
    const again = ess.connect();
    await closing;
    await again;
    expect(ess.connectionState).toBe('online');
    expect(seen.splice(0)).toEqual(['offline>connecting', 'connecting>online', 'online>offline', 'offline>connecting', 'connecting>online']);

    // close(), connect(), close(): the last call wins, and the connect() in between is closed.
    const first = ess.close();
    const queued = ess.connect();
    const last = ess.close();
    await first;
    await expect(queued).rejects.toMatchObject({ code: 'CLOSED' });
    await last;
    expect(ess.connectionState).toBe('offline');
  });

  it('sends an unsubscribe made while a reconnect re-adds subscriptions on that connection', async () => {
    // A gateway of its own: it answers addSubscription after 100 ms, so the unsubscribe lands
    // between startSession and online.
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    const received: string[] = [];
    let connections = 0;
    server.on('connection', (socket) => {
      connections += 1;
      const connection = connections;
      socket.on('message', (raw: Buffer) => {
        const command = JSON.parse(raw.toString()) as { command: string; commandId: number; subscriptionId?: string };
        received.push(`${connection}:${command.command}${command.subscriptionId === undefined ? '' : `(${command.subscriptionId})`}`);
        const reply = (fields: Record<string, unknown>): void => {
          socket.send(JSON.stringify({ commandId: command.commandId, status: 200, ...fields }));
        };
        if (command.command === 'startSession') reply({ status: 201, sessionId: `s${connection}` });
        else if (command.command === 'addSubscription') {
          setTimeout(() => {
            reply({ subscriptionId: `sub${connection}-${command.commandId}` });
          }, 100);
        }
        else reply({});
      });
    });
    try {
      const { port } = server.address() as { port: number };
      const ess = client({ url: `ws://127.0.0.1:${port}/api/ws/events/v1`, auth: () => Promise.resolve('token'), fetchState: false, heartbeatMs: 0 });
      await ess.connect();
      const outputs = await ess.subscribe([{ resourceTypes: ['outputs'] }]);
      await ess.subscribe([{ resourceTypes: ['inputEvents'] }]);
      for (const socket of server.clients) socket.terminate();
      // A new session: the filters and `outputs` are added again, `inputEvents` is pending.
      await until(() => received.filter((line) => line.startsWith('2:addSubscription')).length === 3);
      expect(ess.connectionState).toBe('delayed');
      await ess.unsubscribe(outputs);
      await until(() => ess.connectionState === 'online');
      expect(received.filter((line) => line.startsWith('2:'))).toContain('2:removeSubscription(sub2-3)');
    } finally {
      for (const socket of server.clients) socket.terminate();
      await new Promise((resolve) => {
        server.close(resolve);
      });
    }
  });
});

describe('EssClient: close() and connect() from callbacks, sparse filters, tokens with whitespace', () => {
  /** How `promise` settled within `ms`: 'resolved', 'rejected CODE' or 'pending'. */
  const settled = (promise: Promise<unknown>, ms = 3000): Promise<string> =>
    Promise.race([
      promise.then(
        () => 'resolved',
        (error: unknown) => `rejected ${(error as Partial<EssError>).code}`,
      ),
      new Promise<string>((resolve) => {
        setTimeout(() => {
          resolve('pending');
        }, ms);
      }),
    ]);

  for (const call of ['connect', 'reconnect'] as const) {
    it(`${call}() from an 'offline' connection listener during close() waits for the close`, async () => {
      const token = await fetchToken(sandbox);
      const ess = client({ auth: () => Promise.resolve(token), fetchState: false });
      let again: Promise<void> | undefined;
      ess.on('connection', (change) => {
        if (change.state === 'offline' && !again) {
          again = ess[call]();
          again.catch(() => undefined);
        }
      });
      await ess.connect();
      expect(await settled(ess.close())).toBe('resolved');
      expect(await settled(again!)).toBe('resolved');
      expect(ess.connectionState).toBe('online');
    });
  }

  for (const answer of [true, false]) {
    it(`stays offline after a close() from shouldReconnect answering ${answer}; events() then ends`, async () => {
      let closing: Promise<void> | undefined;
      const ess = client({
        fetchState: false,
        reconnect: {
          initialDelayMs: 20,
          shouldReconnect: () => {
            closing ??= ess.close();
            return answer;
          },
        },
      });
      await ess.connect();
      const offline = next(ess, 'connection', (change) => change.state === 'offline');
      sandbox.dropConnections();
      await offline;
      await closing;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(ess.connectionState).toBe('offline');
      expect(sandbox.stats.events.connectionsTotal).toBe(1);
      await expect(ess.events().next()).resolves.toEqual({ done: true, value: undefined });
    });
  }

  it('refuses sparse filter lists and unknown filter keys before sending anything: the connection stays', async () => {
    const ess = client({ fetchState: false });
    await ess.connect();
    const commands = sandbox.stats.events.commands;
    // eslint-disable-next-line no-sparse-arrays
    await expect(ess.subscribe([{ resourceTypes: ['cameras', , 'outputs'] as string[] }])).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
    // eslint-disable-next-line no-sparse-arrays
    await expect(ess.subscribe([{ resourceTypes: ['cameras'] }, , {}] as EssFilter[])).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
    // eslint-disable-next-line no-sparse-arrays
    expect(() => client({ filters: [, { eventTypes: [motionStarted] }] as EssFilter[] })).toThrow(expect.objectContaining({ code: 'INVALID_COMMAND' }));
    // A misspelled key, as a plain JavaScript caller may write it.
    await expect(ess.subscribe([{ modifier: 'exclude', eventType: [motionStarted] } as EssFilter])).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
    expect(() => client({ filters: [{ resourceType: ['cameras'] } as EssFilter] })).toThrow(expect.objectContaining({ code: 'INVALID_COMMAND' }));
    expect(sandbox.stats.events.commands).toBe(commands);
    expect(sandbox.stats.events.malformed).toBe(0);
    expect(ess.connectionState).toBe('online');
  });

  it('sends a token function\'s token without the whitespace around it (a token read from a file ends with a newline)', async () => {
    const token = await fetchToken(sandbox);
    const ess = client({ auth: () => Promise.resolve(` ${token}\r\n`), reconnect: { initialDelayMs: 20, maxRetries: 2 } });
    expect(await settled(ess.connect())).toBe('resolved');
  });

  it('halts, not retrying, when a token cannot go in a header; the error names the header, not the token', async () => {
    const token = await fetchToken(sandbox);
    // A line break inside, and a character beyond Latin-1 (U+20AC, the euro sign).
    for (const bad of [`${token.slice(0, 8)}\n${token.slice(8)}`, `${token}\u20ac`]) {
      let calls = 0;
      // maxRetries: were it retried after a backoff, it would end with RETRIES_EXHAUSTED.
      const ess = client({
        auth: () => {
          calls += 1;
          return Promise.resolve(bad);
        },
        reconnect: { initialDelayMs: 20, maxRetries: 2 },
      });
      const error = await ess.connect().catch((caught: unknown) => caught);
      expect(error).toMatchObject({ name: 'EssError', code: 'CONNECTION_FAILED', retryable: false, cause: { code: 'ERR_INVALID_CHAR' } });
      // Not tried again at once either: the function's token cannot be dropped.
      expect(calls).toBe(1);
      expect(inspect(error, { depth: 10 })).toContain('authorization');
      expect(inspect(error, { depth: 10 })).not.toContain(token.slice(8, 40));
      expect(ess.connectionState).toBe('halted');
    }
    expect(sandbox.stats.events.connectionsTotal).toBe(0);
  });

  /**
   * A Session whose authenticator hands out `tokens` in turn, each `[value, lifeMs]`, the last
   * one for good (as read from a token file); `issued` counts the token requests, `attempts`
   * the client's getToken() calls (one a connect attempt).
   */
  function fileSession(logged: string[], ...tokens: [string, number][]): { auth: EssSession; issued: () => number; attempts: () => number } {
    let issued = 0;
    let attempts = 0;
    const authenticator: Authenticator = {
      identity: 'file token',
      authenticate: ({ now }) => {
        const [value, lifeMs] = tokens[Math.min(issued, tokens.length - 1)]!;
        issued += 1;
        const obtainedAt = now();
        return Promise.resolve({ value, obtainedAt, expiresAt: obtainedAt + lifeMs });
      },
    };
    const logger = createLogger({ level: 'trace', format: 'json', write: (line) => logged.push(line) });
    const session = new Session({ authenticator, store: new MemoryStore(), logger });
    const auth: EssSession = {
      getToken: () => {
        attempts += 1;
        return session.getToken();
      },
      invalidate: (token) => {
        session.invalidate(token);
      },
    };
    return { auth, issued: () => issued, attempts: () => attempts };
  }

  it('sends a Session token without the whitespace around it: one read from a file with a trailing newline goes online at once', async () => {
    const good = await fetchToken(sandbox);
    const logged: string[] = [];
    const { auth, issued } = fileSession(logged, [`${good}\n`, 2_000], [good, 3_600_000]);
    const ess = client({ auth, fetchState: false, reconnect: { initialDelayMs: 200, maxDelayMs: 500 } });
    const states: string[] = [];
    ess.on('connection', (change) => states.push(change.state));
    expect(await settled(ess.connect())).toBe('resolved');
    expect(states).toEqual(['connecting', 'online']);
    expect(issued()).toBe(1);
  });

  it('drops a Session token Node refuses as a header and tries the next one at once, without asking shouldReconnect; never the token in a log', async () => {
    const good = await fetchToken(sandbox);
    const bad = `${good.slice(0, 5)}\u20ac${good.slice(5)}`;
    const logged: string[] = [];
    const { auth, issued } = fileSession(logged, [bad, 2_000], [good, 3_600_000]);
    const errors: EssError[] = [];
    const ess = client({
      auth,
      fetchState: false,
      reconnect: {
        initialDelayMs: 200,
        maxDelayMs: 500,
        shouldReconnect: (error) => {
          errors.push(error);
          return error.retryable;
        },
      },
      logger: createLogger({ level: 'trace', format: 'json', write: (line) => logged.push(line) }),
    });
    expect(await settled(ess.connect(), 5000)).toBe('resolved');
    // Tried again at once, as after a 401: no failure for shouldReconnect, no backoff.
    expect(errors).toEqual([]);
    expect(issued()).toBe(2);
    // The Session does not hand the refused token out again.
    expect((await auth.getToken()).value).toBe(good);
    expect(issued()).toBe(2);
    expect(sandbox.stats.events.connectionsTotal).toBe(1);
    const retried = logged.filter((line) => line.includes('token refused: retrying with a fresh token'));
    expect(retried).toHaveLength(1);
    expect(retried[0]).toContain('ERR_INVALID_CHAR');
    // Not a 401 (the time stamp is left out: its milliseconds were .401 once).
    const { time: _time, ...entry } = JSON.parse(retried[0]!) as Record<string, unknown>;
    expect(JSON.stringify(entry)).not.toContain('401');
    expect(logged.filter((line) => line.includes('connect attempt failed'))).toEqual([]);
    expect(logged.filter((line) => line.includes('token invalidated'))).toHaveLength(1);
    const secret = good.slice(5, 40);
    for (const line of logged) expect(line).not.toContain(secret);
  });

  it('halts after one retry when the Session hands out the refused token again (a token file with a character beyond Latin-1 in it)', async () => {
    const good = await fetchToken(sandbox);
    const bad = `${good.slice(0, 5)}\u20ac${good.slice(5)}`;
    const logged: string[] = [];
    const { auth, issued, attempts } = fileSession(logged, [bad, 3_600_000]);
    // Retried after every backoff, this client would make about 40 attempts a second.
    const ess = client({ auth, fetchState: false, reconnect: { initialDelayMs: 50, maxDelayMs: 100 }, logger: createLogger({ level: 'trace', format: 'json', write: (line) => logged.push(line) }) });
    const connecting = ess.connect();
    expect(await settled(connecting, 2000)).toBe('rejected CONNECTION_FAILED');
    expect(ess.connectionState).toBe('halted');
    // The first token, and the second, which the Session took from the authenticator twice (it
    // takes an invalidated value that comes back only the second time).
    expect(attempts()).toBe(2);
    expect(issued()).toBeLessThanOrEqual(3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(attempts()).toBe(2);
    const error = await connecting.catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'CONNECTION_FAILED', retryable: false, cause: { code: 'ERR_INVALID_CHAR' } });
    expect(sandbox.stats.events.connectionsTotal).toBe(0);
    const secret = good.slice(5, 40);
    expect(inspect(error, { depth: 10 })).not.toContain(secret);
    for (const line of logged) expect(line).not.toContain(secret);
  });

  it('does not try a third token in a run: a 401 to the token that replaced a refused one halts', async () => {
    const good = await fetchToken(sandbox);
    const logged: string[] = [];
    const { auth, attempts } = fileSession(logged, [`${good.slice(0, 5)}\u20ac${good.slice(5)}`, 2_000], ['not-a-token', 3_600_000]);
    const ess = client({ auth, fetchState: false, reconnect: { initialDelayMs: 50, maxDelayMs: 100 } });
    expect(await settled(ess.connect())).toBe('rejected UNAUTHORIZED');
    expect(attempts()).toBe(2);
    expect(sandbox.stats.events.unauthorized).toBe(1);
  });
});

describe('EssClient: the automatic getState, close() races, option and listener checks, iterators made while closed', () => {
  it('tries the automatic getState again on the same connection after a 503, logging each failure, until it succeeds', async () => {
    sandbox.publish(numbered(0, 4, { prefix: 'pre' }));
    sandbox.events.failCommands({ command: 'getState', status: 503, count: 2 });
    let failures = 0;
    const ess = client({
      fetchState: true,
      reconnect: { initialDelayMs: 50 },
      logger: createLogger({
        level: 'warn',
        format: 'json',
        write: (line) => {
          if (line.includes('the automatic getState failed')) failures += 1;
        },
      }),
    });
    await ess.connect();
    // It used to keep the cache empty until the next connection.
    await until(() => ess.state.length === 4, 3000, 'the state after two failed getStates');
    expect(ess.state.map((state) => state.id).sort()).toEqual(['pre0', 'pre1', 'pre2', 'pre3']);
    expect(failures).toBe(2);
    expect(ess.stats.connections).toBe(1);
    expect(sandbox.stats.events.connectionsTotal).toBe(1);
  });

  it('does not send a timed-out automatic getState again on the same connection (it would take as long again, and its late answer is dropped)', async () => {
    sandbox.events.setGetStateDelay(300);
    const ess = client({ fetchState: true, getStateTimeoutMs: 100, reconnect: { initialDelayMs: 20, maxDelayMs: 40 } });
    await ess.connect();
    // The sandbox counts a getState when it answers it (300 ms late): what it counts after that is a getState sent again.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const commands = sandbox.stats.events.commands;
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(sandbox.stats.events.commands).toBe(commands);
    expect(ess.stats.connections).toBe(1);
  });

  it('stops trying the automatic getState again once the connection goes, and on the next one starts again', async () => {
    sandbox.publish(numbered(0, 4, { prefix: 'pre' }));
    sandbox.events.failCommands({ command: 'getState', status: 500, count: 1000 });
    const ess = client({ reconnect: { initialDelayMs: 200 } });
    await ess.connect();
    await until(() => sandbox.stats.events.failed >= 2, 3000, 'a second failed getState');
    await ess.close();
    const failed = sandbox.stats.events.failed;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(sandbox.stats.events.failed).toBe(failed);
    sandbox.events.failCommands({ command: 'getState', status: 500, count: 1 });
    await ess.connect();
    await until(() => ess.state.length === 4, 3000, 'the state');
  });

  it('rejects subscribe() and getState() called right before close() with CLOSED, sending nothing', async () => {
    const ess = client({ fetchState: false });
    await ess.connect();
    const commands = sandbox.stats.events.commands;
    // They used to reject with a retryable CONNECTION_LOST.
    const subscribing = expect(ess.subscribe([{ resourceTypes: ['outputs'] }])).rejects.toMatchObject({ code: 'CLOSED', retryable: false });
    const fetching = expect(ess.getState()).rejects.toMatchObject({ code: 'CLOSED', retryable: false });
    await ess.close();
    await subscribing;
    await fetching;
    expect(sandbox.stats.events.commands).toBe(commands);
  });

  it('refuses a dedupeCapacity that is not a number from 0 to 16777216 and unknown dedupe and overflow values; null takes the default', () => {
    for (const dedupeCapacity of [Number.NaN, -5, Number.POSITIVE_INFINITY, 2e9, 2 ** 24 + 1, '100' as unknown as number]) {
      expect(() => client({ dedupeCapacity }), String(dedupeCapacity)).toThrow(
        expect.objectContaining({ name: 'EssError', code: 'INVALID_COMMAND', message: 'dedupeCapacity must be a number from 0 to 16777216.' }),
      );
    }
    // As before: rounded down, at least 1.
    for (const dedupeCapacity of [0, 1.5, 100.5, 2e6]) expect(() => client({ dedupeCapacity }), String(dedupeCapacity)).not.toThrow();
    expect(() => client({ dedupe: 'Always' as 'always' })).toThrow(
      expect.objectContaining({ code: 'INVALID_COMMAND', message: 'dedupe must be "always" or "after-reconnect".' }),
    );
    expect(() => client({ overflow: 'drop' as 'error' })).toThrow(expect.objectContaining({ code: 'INVALID_COMMAND', message: 'overflow must be "pause" or "error".' }));
    expect(() => client({ dedupeCapacity: null, dedupe: null, overflow: null } as unknown as Partial<EssClientOptions>)).not.toThrow();
    expect(() => client({ dedupeCapacity: 1, dedupe: 'after-reconnect', overflow: 'error' })).not.toThrow();
  });

  it('refuses timeouts of 0, which would time out at once (a heartbeat of 0 ms dropped every healthy connection); heartbeatMs: 0 stays off', async () => {
    for (const name of ['heartbeatTimeoutMs', 'commandTimeoutMs', 'getStateTimeoutMs', 'connectTimeoutMs'] as const) {
      expect(() => client({ [name]: 0 }), name).toThrow(expect.objectContaining({ code: 'INVALID_COMMAND', message: `${name} must be a number from 1 to 2147483647.` }));
    }
    const ess = client({ fetchState: false, heartbeatMs: 0, heartbeatTimeoutMs: 1, commandTimeoutMs: 1000 });
    await ess.connect();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ess.connectionState).toBe('online');
    expect(ess.stats.connections).toBe(1);
  });

  it('refuses unknown event names with INVALID_COMMAND; a listener added during an emit gets the next payload, not that one', async () => {
    const ess = client({ fetchState: false });
    for (const name of ['error', 'close', 'toString', '__proto__']) {
      const message = `No event "${name}": event, gap, state or connection.`;
      expect(() => ess.on(name as 'event', () => undefined), name).toThrow(expect.objectContaining({ name: 'EssError', code: 'INVALID_COMMAND', message }));
      expect(() => ess.off(name as 'event', () => undefined), name).toThrow(expect.objectContaining({ name: 'EssError', code: 'INVALID_COMMAND', message }));
    }
    const late: string[] = [];
    ess.on('event', (event) => {
      if (event.id === 'e0') ess.on('event', (later) => late.push(later.id));
    });
    const changes: string[] = [];
    ess.on('connection', (change) => {
      if (change.state === 'online') ess.on('connection', (later) => changes.push(later.state));
    });
    // Removed during an emit: still called for that one (the emit goes through the listeners it began with).
    const removed: string[] = [];
    const once = (event: EssEvent): void => {
      removed.push(event.id);
    };
    ess.on('event', (event) => {
      if (event.id === 'e0') ess.off('event', once);
    });
    ess.on('event', once);
    await ess.connect();
    sandbox.publish(numbered(0, 2));
    await until(() => ess.lastEventId === 'e1');
    // They used to get e0 and the online change too.
    expect(late).toEqual(['e1']);
    expect(changes).toEqual([]);
    expect(removed).toEqual(['e0']);
  });
});

describe('EssClient: bad input (a token function that never answers, a frame over maxPayload while connecting, option types)', () => {
  it('bounds a token function that never answers by connectTimeoutMs: the attempt fails, retryable, and the next call that answers connects', async () => {
    const token = await fetchToken(sandbox);
    let calls = 0;
    const failures: EssError[] = [];
    const ess = client({
      // The first call never settles; the next ones answer.
      auth: () => (++calls === 1 ? new Promise<string>(() => undefined) : Promise.resolve(token)),
      // Also the handshake's bound: ample for a local gateway.
      connectTimeoutMs: 1000,
      reconnect: {
        initialDelayMs: 20,
        shouldReconnect: (error) => {
          failures.push(error);
          return error.retryable;
        },
      },
    });
    const connecting = ess.connect();
    // It used to wait for the first call for ever: connecting, one call, nothing timed out.
    await until(() => calls >= 2, 10_000, 'a second call of the token function');
    await connecting;
    expect(ess.connectionState).toBe('online');
    expect(failures[0]).toMatchObject({ name: 'EssError', code: 'AUTH_FAILED', retryable: true });
    expect(failures[0]!.message).toBe('The token function did not answer within connectTimeoutMs (1000 ms).');
  });

  it('halts with FRAME_TOO_LARGE, as online, when a frame over maxPayload comes while connecting (the startSession answer); connect() rejects with it', async () => {
    // Stops at the third failure: it used to be a retryable CONNECTION_LOST, tried for ever (a new gateway session each time).
    const ess = client({ maxPayload: 10, reconnect: { initialDelayMs: 20, shouldReconnect: (error, attempt) => error.retryable && attempt < 3 } });
    const error = await ess.connect().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'EssError', code: 'FRAME_TOO_LARGE', closeCode: 1009, retryable: false });
    expect((error as Error).message).toContain('maxPayload');
    expect(ess.connectionState).toBe('halted');
    expect(sandbox.stats.events.sessionsNew).toBe(1);
  });

  it("halts with PROTOCOL_ERROR, as online, when the gateway closes with 1009 while connecting (a filters subscription too large for it)", async () => {
    await sandbox.close();
    sandbox = await startEssSandbox({ maxPayload: 4096 });
    // About 7 kB on the wire, over the gateway's 4096 bytes: the addSubscription of every new session.
    const sourceIds = Array.from({ length: 500 }, (_, index) => `camera-${index}`);
    const ess = client({ filters: [{ resourceTypes: ['cameras'], sourceIds }], reconnect: { initialDelayMs: 20, shouldReconnect: (error, attempt) => error.retryable && attempt < 3 } });
    const error = await ess.connect().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'EssError', code: 'PROTOCOL_ERROR', closeCode: 1009, retryable: false });
    expect(ess.connectionState).toBe('halted');
    expect(sandbox.stats.events.sessionsNew).toBe(1);
  });

  it('refuses options of the wrong type, naming the option and what is allowed, never the value', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ heartbeatTimeoutMs: '10s' }, 'heartbeatTimeoutMs must be a number from 1 to 2147483647.'],
      [{ connectTimeoutMs: '10000' }, 'connectTimeoutMs must be a number from 1 to 2147483647.'],
      [{ heartbeatMs: 'S3CR3T' }, 'heartbeatMs must be a number from 0 to 2147483647.'],
      [{ highWaterMark: 'abc' }, 'highWaterMark must be a number from 0.'],
      [{ maxPayload: 'abc' }, 'maxPayload must be a number from 0 to 2147483647.'],
      // ws reads it as a 32-bit integer: this was a limit of 10 bytes, Infinity none.
      [{ maxPayload: 2 ** 32 + 10 }, 'maxPayload must be a number from 0 to 2147483647.'],
      [{ maxPayload: Infinity }, 'maxPayload must be a number from 0 to 2147483647.'],
      // console (a likely mistake) and other loggers without child(): a TypeError from child() before.
      [{ logger: console }, 'logger must be a Logger of @sessionkit/logger (createLogger() or adaptLogger()).'],
      [{ logger: 'S3CR3T' }, 'logger must be a Logger of @sessionkit/logger (createLogger() or adaptLogger()).'],
      [{ maxCommandBytes: '1MB' }, 'maxCommandBytes must be a number from 0.'],
      [{ reconnect: { maxRetries: '3' } }, 'maxRetries must be a number from 0.'],
      [{ reconnect: { initialDelayMs: '100' } }, 'initialDelayMs must be a number from 0 to 2147483647.'],
      [{ reconnect: 'S3CR3T' }, 'reconnect must be true, false or an object.'],
      [{ reconnect: ['S3CR3T'] }, 'reconnect must be true, false or an object.'],
      [{ reconnect: { shouldReconnect: 'S3CR3T' } }, 'shouldReconnect must be a function.'],
      [{ fetchState: 'no' }, 'fetchState must be a boolean.'],
      [{ ca: 42 }, 'ca must be PEM text (-----BEGIN CERTIFICATE-----), a string or an array of them, not a file path.'],
      [{ ca: ['-----BEGIN CERTIFICATE-----', { pem: 'S3CR3T' }] }, 'ca must be PEM text (-----BEGIN CERTIFICATE-----), a string or an array of them, not a file path.'],
      // A file's path for its contents: every connect failed as untrusted, told to pass ca.
      [{ ca: '/etc/ssl/S3CR3T/ca.pem' }, 'ca must be PEM text (-----BEGIN CERTIFICATE-----), a string or an array of them, not a file path.'],
      [{ ca: ['-----BEGIN CERTIFICATE-----', Buffer.from('S3CR3T.pem')] }, 'ca must be PEM text (-----BEGIN CERTIFICATE-----), a string or an array of them, not a file path.'],
      [{ resumeStore: {} }, 'resumeStore must be a TokenStore (get and set).'],
      [{ resumeStore: 'S3CR3T' }, 'resumeStore must be a TokenStore (get and set).'],
      [{ resumeKey: 42 }, 'resumeKey must be a non-empty string without NUL or lone surrogates.'],
      [{ resumeKey: { key: 'S3CR3T' } }, 'resumeKey must be a non-empty string without NUL or lone surrogates.'],
      // What no store takes as a key: every save and read failed, logged at warn only (no resume after a restart).
      [{ resumeKey: '' }, 'resumeKey must be a non-empty string without NUL or lone surrogates.'],
      [{ resumeKey: 'S3CR3T\0' }, 'resumeKey must be a non-empty string without NUL or lone surrogates.'],
      [{ resumeKey: 'S3CR3T\ud800' }, 'resumeKey must be a non-empty string without NUL or lone surrogates.'],
    ];
    for (const [options, message] of cases) {
      const error = thrownBy(() => client(options));
      expect(error, message).toMatchObject({ name: 'EssError', code: 'INVALID_COMMAND', message });
      expect(inspect(error, { depth: 10 }), message).not.toContain('S3CR3T');
    }
    // What they may be: ca as tls takes it (a Buffer too), reconnect true or false.
    const pem = '-----BEGIN CERTIFICATE-----\n';
    for (const options of [{ ca: pem }, { ca: [pem, pem] }, { ca: Buffer.from(pem) }, { ca: [new TextEncoder().encode(pem)] }, { reconnect: true }, { reconnect: false }, { resumeStore: new MemoryStore(), resumeKey: 'k' }]) {
      expect(() => client(options as Partial<EssClientOptions>), inspect(options)).not.toThrow();
    }
  });

  it('refuses a listener that is not a function, which on() took and every emit then failed to call (logged at warn)', () => {
    const ess = client();
    for (const name of ['event', 'gap', 'state', 'connection'] as const) {
      expect(() => ess.on(name, 'S3CR3T' as unknown as () => void), name).toThrow(
        expect.objectContaining({ name: 'EssError', code: 'INVALID_COMMAND', message: 'A listener must be a function.' }),
      );
    }
  });

  it('takes null as not given for every option but url and auth: no filters, no resumeStore, the defaults', async () => {
    const logged: string[] = [];
    const nulls = {
      filters: null,
      resumeStore: null,
      resumeKey: null,
      reconnect: { initialDelayMs: null, maxDelayMs: null, resumeWindowMs: null, windowMaxDelayMs: null, maxRetries: null, shouldReconnect: null },
      heartbeatMs: null,
      heartbeatTimeoutMs: null,
      commandTimeoutMs: null,
      getStateTimeoutMs: null,
      connectTimeoutMs: null,
      highWaterMark: null,
      overflow: null,
      maxPayload: null,
      maxCommandBytes: null,
      dedupeCapacity: null,
      dedupe: null,
      fetchState: null,
      ca: null,
    };
    const ess = client({ ...nulls, logger: createLogger({ level: 'debug', format: 'json', write: (line) => logged.push(line) }) } as unknown as Partial<EssClientOptions>);
    expect(() => client({ ...nulls, reconnect: null, logger: null } as unknown as Partial<EssClientOptions>)).not.toThrow();
    const snapshot = next(ess, 'state');
    await ess.connect();
    await snapshot;
    // No filters: nothing subscribed. A null resumeStore used to be used: reading and saving the record failed, logged at warn.
    expect(sandbox.stats.events.commands).toBe(2); // startSession and the automatic getState
    expect(logged.join('\n')).not.toContain('resume record');
  });
});

describe('EssClient: auth objects and Sessions waited for, options that are no object', () => {
  it('waits for a custom auth object whose getToken() is slow, warning once connectTimeoutMs has passed: one call, no failed attempt; never the token in a log', async () => {
    const token = await fetchToken(sandbox);
    let calls = 0;
    let answer: ((token: Token) => void) | undefined;
    const failures: EssError[] = [];
    const logged: string[] = [];
    // Neither a function nor a Session: an object of the program's own, answering late.
    const auth: EssSession = {
      getToken: () => {
        calls += 1;
        return new Promise<Token>((resolve) => (answer = resolve));
      },
    };
    const ess = client({
      auth,
      connectTimeoutMs: 200,
      reconnect: { initialDelayMs: 20, shouldReconnect: (error) => (failures.push(error), true) },
      logger: createLogger({ level: 'trace', format: 'json', write: (line) => logged.push(line) }),
    });
    const connecting = ess.connect();
    await until(() => logged.some((line) => line.includes('has not answered within connectTimeoutMs')), 10_000, 'the warning');
    expect(ess.connectionState).toBe('connecting');
    answer!({ value: token, obtainedAt: Date.now() });
    await connecting;
    expect(ess.connectionState).toBe('online');
    expect(calls).toBe(1);
    expect(failures).toEqual([]);
    for (const line of logged) expect(line).not.toContain(token.slice(8, 40));
  });

  it('waits for a Session whose token endpoint is slower than connectTimeoutMs, even with reconnect: false: one request, online', async () => {
    const token = await fetchToken(sandbox);
    let requests = 0;
    let answer: ((token: Token) => void) | undefined;
    const authenticator: Authenticator = {
      identity: 'slow token endpoint',
      authenticate: () => {
        requests += 1;
        return new Promise<Token>((resolve) => (answer = resolve));
      },
    };
    const logged: string[] = [];
    const ess = client({
      auth: new Session({ authenticator, store: new MemoryStore() }),
      connectTimeoutMs: 200,
      reconnect: false,
      logger: createLogger({ level: 'warn', format: 'json', write: (line) => logged.push(line) }),
    });
    const connecting = ess.connect();
    // A bound here halted this client (no retries): a slow token endpoint is the Session's to bound.
    await until(() => logged.some((line) => line.includes('has not answered within connectTimeoutMs')), 10_000, 'the warning');
    const now = Date.now();
    answer!({ value: token, obtainedAt: now, expiresAt: now + 3_600_000 });
    await connecting;
    expect(ess.connectionState).toBe('online');
    expect(requests).toBe(1);
  });

  it('takes a 401 to an auth object without invalidate() as to a Session: a fresh token is asked for at once, and connects', async () => {
    const token = await fetchToken(sandbox);
    let calls = 0;
    // getToken() only: the first token is refused, the next is good.
    const auth: EssSession = { getToken: () => Promise.resolve({ value: ++calls === 1 ? 'not-a-token' : token, obtainedAt: Date.now() }) };
    const ess = client({ auth, fetchState: false });
    // auth.invalidate() threw inside the client's loop: connect() never settled, the state stayed connecting.
    const connected = await Promise.race([ess.connect().then(() => 'resolved'), new Promise((resolve) => setTimeout(resolve, 3000, 'pending'))]);
    expect(connected).toBe('resolved');
    expect(calls).toBe(2);
    expect(sandbox.stats.events.unauthorized).toBe(1);
  });

  it('halts at once, not retried, when an auth object hands out no token (a string, say), as for a token function', async () => {
    let calls = 0;
    for (const value of ['a-bare-token-string', { value: '   ' }, null]) {
      const auth = { getToken: () => Promise.resolve((calls += 1, value)) } as unknown as EssSession;
      const ess = client({ auth, fetchState: false });
      const outcome = await Promise.race([ess.connect().then(() => 'resolved', (error: unknown) => error), new Promise((resolve) => setTimeout(resolve, 3000, 'pending'))]);
      // It used to be a retryable AUTH_FAILED (a TypeError from reading the token's value), tried again for ever.
      expect(outcome, JSON.stringify(value)).toMatchObject({
        name: 'EssError',
        code: 'AUTH_FAILED',
        retryable: false,
        message: 'Could not get a token (CONFIGURATION): auth.getToken() must resolve to a token: { value: string, type?: string }.',
      });
      expect(inspect(outcome, { depth: 10 })).not.toContain('a-bare-token-string');
    }
    expect(calls).toBe(3);
    // A token function that resolves to no string is told what it must resolve to.
    const ess = client({ auth: () => Promise.resolve({ value: 'a-token-object' } as unknown as string), fetchState: false });
    const error = await ess.connect().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'AUTH_FAILED', retryable: false, message: 'Could not get a token (CONFIGURATION): auth() must resolve to a non-empty string.' });
    expect(inspect(error, { depth: 10 })).not.toContain('a-token-object');
    // The message of an error the program's own auth rejects with is not taken into the EssError's, whatever it carries.
    const rejecting = client({ auth: () => Promise.reject(Object.assign(new Error('login for demo / hunter2-secret refused'), { code: 'CONFIGURATION', own: true })), fetchState: false });
    const refused = await rejecting.connect().catch((caught: unknown) => caught);
    expect(refused).toMatchObject({ code: 'AUTH_FAILED', message: 'Could not get a token (CONFIGURATION).' });
  });

  it('goes on when an auth object\'s invalidate() throws after a 401: asked for a token again, it connects (no unhandled rejection)', async () => {
    const token = await fetchToken(sandbox);
    let calls = 0;
    const auth: EssSession = {
      getToken: () => Promise.resolve({ value: ++calls === 1 ? 'not-a-token' : token, obtainedAt: Date.now() }),
      invalidate: () => {
        throw new Error('invalidate is broken');
      },
    };
    const ess = client({ auth, fetchState: false });
    const connected = await Promise.race([ess.connect().then(() => 'resolved', (error: unknown) => error), new Promise((resolve) => setTimeout(resolve, 3000, 'pending'))]);
    expect(connected).toBe('resolved');
    expect(calls).toBe(2);
  });

  it('refuses no options, or options that are no object, with a TypeError that says what it needs, never the value', () => {
    const Client = EssClient as unknown as new (options?: unknown) => EssClient;
    for (const options of [[], [undefined], [null], ['wss://user:S3CR3T@127.0.0.1/api/ws/events/v1'], [42], [[{ url: 'wss://127.0.0.1/', auth: 'S3CR3T' }]]]) {
      const error = thrownBy(() => new Client(...options));
      // It was "Cannot read properties of undefined (reading 'url')", or an INVALID_COMMAND about the url.
      expect(error, inspect(options)).toBeInstanceOf(TypeError);
      expect(error, inspect(options)).toMatchObject({ message: 'EssClient needs an options object, with url and auth.' });
      expect(inspect(error, { depth: 10 })).not.toContain('S3CR3T');
    }
  });
});
