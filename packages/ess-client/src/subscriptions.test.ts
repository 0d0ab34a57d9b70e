// The client's subscriptions and the gateway's stay the same through lost answers, reconnects
// and restarts, and the resume record matches what was delivered when a listener closes the
// client. Real sandbox, real sockets; a relay (testing/relay.ts) holds back or cuts off answers.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { oauth2, Session } from '@sessionkit/core-session';
import { createLogger } from '@sessionkit/logger';
import type { Sandbox } from '@sessionkit/sandbox';
import { MemoryStore } from '@sessionkit/token-store';
import { EssClient, type EssClientOptions, type EssEvent, type EssGap } from '@sessionkit/ess-client';
import { next, numbered, outputActivated, startEssSandbox, take, until } from './testing/harness.js';
import { type Relay, startRelay } from './testing/relay.js';

let sandbox: Sandbox;
let relay: Relay | undefined;
const clients: EssClient[] = [];
const key = 'ess-subscriptions-test';

beforeEach(async () => {
  sandbox = await startEssSandbox();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await relay?.close();
  relay = undefined;
  await sandbox.close();
});

function client(options: Partial<EssClientOptions> = {}): EssClient {
  const created = new EssClient({
    url: sandbox.essUrl,
    auth: new Session({
      authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
    }),
    filters: [{ resourceTypes: ['cameras'] }],
    fetchState: false,
    reconnect: { initialDelayMs: 20 },
    ...options,
  });
  clients.push(created);
  return created;
}

const outputs = [{ resourceTypes: ['outputs'] }];
const output = (id: string): Record<string, unknown> => ({ id, type: outputActivated, source: 'outputs/o1' });
const ids = (events: EssEvent[]): string[] => events.map((event) => event.id);
const isRemoval = (command: Record<string, unknown>): boolean => command.command === 'removeSubscription';
const isOutputsAdd = (command: Record<string, unknown>): boolean =>
  command.command === 'addSubscription' && JSON.stringify(command.filters).includes('outputs');

async function recordReaches(store: MemoryStore, lastEventId: string): Promise<void> {
  for (let tries = 0; (await store.get(key))?.lastEventId !== lastEventId; tries += 1) {
    if (tries > 1000) throw new Error(`the resume record never reached ${lastEventId}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Wait (up to 5 s) for a resume record that passes `test`. */
async function recordWhere(store: MemoryStore, test: (record: Record<string, unknown>) => boolean): Promise<void> {
  for (let tries = 0; ; tries += 1) {
    const record = await store.get(key);
    if (record !== undefined && test(record)) return;
    if (tries > 500) throw new Error(`the resume record never passed the test: ${JSON.stringify(record)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Lose the connection while upgrades are refused; resolves once the client is `delayed`. */
async function goOffline(ess: EssClient): Promise<void> {
  sandbox.events.refuseUpgrades({ retryAfterSeconds: 0 });
  const away = next(ess, 'connection', (change) => change.state === 'delayed');
  sandbox.dropConnections();
  await away;
}

/**
 * Subscribe to outputs, take one event (so the session can be resumed), lose the connection and
 * unsubscribe while offline: the removal is queued for the resume. Upgrades stay refused.
 */
async function unsubscribeOffline(ess: EssClient): Promise<{ iterator: AsyncIterableIterator<EssEvent>; id: string }> {
  const iterator = ess.events();
  const id = await ess.subscribe(outputs);
  sandbox.publish(numbered(0, 1));
  await take(iterator, 1);
  await goOffline(ess);
  await ess.unsubscribe(id);
  return { iterator, id };
}

it('a subscribe() whose answer a drop cut off leaves no subscription behind: a new session, and a retry that unsubscribe() removes', async () => {
  relay = await startRelay(sandbox.essUrl);
  const ess = client({ url: relay.url });
  await ess.connect();
  const iterator = ess.events();
  sandbox.publish(numbered(0, 1));
  await take(iterator, 1);

  // The gateway adds the subscription; the answer is lost with the connection.
  const cut = relay.cutAnswer(isOutputsAdd);
  const gaps: EssGap[] = [];
  ess.on('gap', (gap) => gaps.push(gap));
  const back = next(ess, 'connection', (change) => change.state === 'online');
  await expect(ess.subscribe(outputs)).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
  await cut;
  await back;
  sandbox.publish([output('o1'), ...numbered(1, 1)]);
  expect(ids(await take(iterator, 1))).toEqual(['e1']);
  // That session holds a subscription the client cannot name: it was not resumed.
  expect(gaps).toMatchObject([{ lastEventId: 'e0' }]);

  // Subscribing again makes one subscription, which unsubscribe() removes.
  const id = await ess.subscribe(outputs);
  sandbox.publish([output('o2')]);
  expect(ids(await take(iterator, 1))).toEqual(['o2']);
  await ess.unsubscribe(id);
  sandbox.publish([output('o3'), ...numbered(2, 1)]);
  expect(ids(await take(iterator, 1))).toEqual(['e2']);
  expect(ess.stats).toMatchObject({ resumes: 0, gaps: 1 });
});

/** A client through a relay, with a resume record in `store`, that has taken e0. */
async function throughRelay(store: MemoryStore): Promise<{ first: EssClient; iterator: AsyncIterableIterator<EssEvent>; through: Relay }> {
  const through = (relay = await startRelay(sandbox.essUrl));
  const first = client({ url: through.url, resumeStore: store, resumeKey: key });
  await first.connect();
  const iterator = first.events();
  sandbox.publish(numbered(0, 1));
  await take(iterator, 1);
  return { first, iterator, through };
}

it('a process that closed during an unanswered subscribe() leaves a record that does not resume that session', async () => {
  const store = new MemoryStore();
  const { first, through } = await throughRelay(store);
  const { held } = through.holdAnswer(isOutputsAdd);
  const subscribing = expect(first.subscribe(outputs)).rejects.toMatchObject({ code: 'CLOSED' });
  await held; // the gateway has added it
  await first.close();
  await subscribing;

  const second = client({ resumeStore: store, resumeKey: key });
  const resumed = second.events();
  await second.connect();
  sandbox.publish([output('o1'), ...numbered(1, 1)]);
  expect(ids(await take(resumed, 1))).toEqual(['e1']);
  expect(second.stats).toMatchObject({ resumes: 0, gaps: 1 });
});

it('a process killed during an unanswered subscribe() leaves a record that does not resume that session (saved before the add is sent)', async () => {
  const store = new MemoryStore();
  const { first, iterator, through } = await throughRelay(store);
  void iterator.next(); // back for the next event, as a for-await loop: done with e0
  await recordReaches(store, 'e0');
  const { held, release } = through.holdAnswer(isOutputsAdd);
  const subscribing = first.subscribe(outputs);
  await held; // the gateway has added it
  // What a process killed now leaves (it runs no catch, no close()): read as a restart would.
  const left = (await store.get(key))!;
  expect(left.lastEventId).toBeUndefined();
  const killed = new MemoryStore();
  await killed.set(key, left);
  const second = client({ resumeStore: killed, resumeKey: key });
  const resumed = second.events();
  await second.connect();
  sandbox.publish([output('o1'), ...numbered(1, 1)]);
  // It used to resume the session, and with it the outputs subscription it could not name.
  expect(ids(await take(resumed, 1))).toEqual(['e1']);
  expect(second.stats).toMatchObject({ resumes: 0, gaps: 1 });
  // Answered: the record has its last event again.
  release();
  await subscribing;
  await recordReaches(store, 'e0');
});

/** A MemoryStore whose writes take `delayMs`. */
class SlowStore extends MemoryStore {
  constructor(public delayMs: number) {
    super();
  }
  override async set(...args: Parameters<MemoryStore['set']>): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    return super.set(...args);
  }
}

it('subscribes while events keep the resume record busy: the add waits for its own write, not for the writes to stop', async () => {
  const store = new SlowStore(20);
  const ess = client({ resumeStore: store, resumeKey: key });
  const iterator = ess.events();
  await ess.connect();
  let published = 0;
  // An event every 5 ms, each its own batch: a record to save every 5 ms, four times faster than the store writes.
  const timer = setInterval(() => { sandbox.publish(numbered(published++, 1)); }, 5);
  const consuming = (async () => { for await (const event of iterator) if (event.id === 'stop') break; })();
  try {
    await until(() => published > 20);
    const outcome = await Promise.race([ess.subscribe(outputs).then(() => 'subscribed'), new Promise((resolve) => setTimeout(resolve, 5000, 'still waiting'))]);
    // It waited for every write to be done, which never happened while the events came.
    expect(outcome).toBe('subscribed');
  } finally {
    clearInterval(timer);
    await iterator.return?.();
    await consuming;
  }
});

it('a drop while an add waits for its record write leaves the session resumable: nothing was sent', async () => {
  const store = new SlowStore(0);
  const ess = client({ resumeStore: store, resumeKey: key });
  const iterator = ess.events();
  await ess.connect();
  sandbox.publish(numbered(0, 1));
  await take(iterator, 1);
  void iterator.next(); // back for the next event: done with e0
  await recordReaches(store, 'e0');
  store.delayMs = 300;
  const subscribing = ess.subscribe(outputs).catch((error: unknown) => error);
  await new Promise((resolve) => setTimeout(resolve, 50)); // inside the add's wait for its write
  sandbox.dropConnections();
  expect(await subscribing).toMatchObject({ name: 'EssError' });
  await until(() => ess.connectionState === 'online');
  store.delayMs = 0;
  // The count of adds in flight used to go below 0 here: every later record lacked its last event.
  sandbox.publish(numbered(1, 1));
  await recordReaches(store, 'e0');
  const away = next(ess, 'connection', (change) => change.state === 'delayed');
  const back = next(ess, 'connection', (change) => change.state === 'online');
  sandbox.dropConnections();
  await away;
  await back;
  expect(ess.stats).toMatchObject({ gaps: 0 });
  expect(ess.stats.resumes).toBeGreaterThanOrEqual(1);
});

/**
 * A client through a relay, which has had e0 and whose next resume the relay answers as `rewrite`
 * makes the gateway's answer; then the connection drops.
 */
async function resumeAnswered(rewrite: (answer: Record<string, unknown>) => Record<string, unknown>): Promise<{ ess: EssClient; iterator: AsyncIterableIterator<EssEvent>; previousSessionId: string | undefined }> {
  relay = await startRelay(sandbox.essUrl);
  const ess = client({ url: relay.url });
  await ess.connect();
  const previousSessionId = ess.sessionId;
  const iterator = ess.events();
  sandbox.publish(numbered(0, 1));
  await take(iterator, 1);
  relay.rewriteAnswer((command) => command.command === 'startSession' && command.sessionId !== '', rewrite);
  return { ess, iterator, previousSessionId };
}

it('resumes a session whose 200 answer to the resume names no sessionId (the spec shows one only in a 201)', async () => {
  const { ess, iterator, previousSessionId } = await resumeAnswered((answer) => ({ commandId: answer.commandId, status: answer.status }));
  const away = next(ess, 'connection', (change) => change.state === 'delayed');
  const back = next(ess, 'connection', (change) => change.state === 'online' || change.state === 'halted');
  sandbox.dropConnections();
  await away;
  expect(await back).toMatchObject({ state: 'online' });
  sandbox.publish(numbered(1, 1));
  expect(ids(await take(iterator, 1))).toEqual(['e1']);
  expect(ess.sessionId).toBe(previousSessionId);
  expect(ess.stats).toMatchObject({ resumes: 1, gaps: 0 });
});

it('reports a gap when a 200 answer to a resume names another session, and subscribes on it again', async () => {
  const { ess, previousSessionId } = await resumeAnswered((answer) => ({ ...answer, status: 200, sessionId: 'another-session' }));
  const gap = next(ess, 'gap');
  const sentBefore = relay!.commands.length;
  sandbox.dropConnections();
  expect(await gap).toEqual({ previousSessionId, sessionId: 'another-session', lastEventId: 'e0' });
  await until(() => ess.connectionState === 'online');
  expect(ess.sessionId).toBe('another-session');
  expect(ess.stats).toMatchObject({ resumes: 0, gaps: 1 });
  // The session it names holds none of the client's subscriptions as far as the client can know.
  const adds = relay!.commands.slice(sentBefore).filter((command) => command.command === 'addSubscription');
  expect(adds.map((command) => command.filters)).toEqual([[{ modifier: 'include', resourceTypes: ['cameras'], sourceIds: ['*'], eventTypes: ['*'] }]]);
});

it('removes a subscription unsubscribed while its own add is in flight on a new session', async () => {
  relay = await startRelay(sandbox.essUrl);
  const ess = client({ url: relay.url });
  await ess.connect();
  const iterator = ess.events();
  const id = await ess.subscribe(outputs);
  sandbox.publish([output('o1')]);
  await take(iterator, 1);

  await goOffline(ess);
  sandbox.events.expireSessions();
  const { held, release } = relay.holdAnswer(isOutputsAdd);
  const back = next(ess, 'connection', (change) => change.state === 'online');
  sandbox.events.acceptUpgrades();
  await held; // a new session: the filters are added again, and `outputs` is being added
  await ess.unsubscribe(id);
  release();
  await back;
  sandbox.publish([output('o2'), ...numbered(0, 1)]);
  expect(ids(await take(iterator, 1))).toEqual(['e0']);
  expect(ess.stats).toMatchObject({ gaps: 1 });
});

it('sends one removal for an unsubscribe() during a new session\'s re-subscription, whose 503 keeps the subscription on both sides (in the record too)', async () => {
  relay = await startRelay(sandbox.essUrl);
  const store = new MemoryStore();
  const logged: string[] = [];
  const logger = createLogger({ level: 'warn', format: 'json', write: (line) => logged.push(line) });
  const ess = client({ url: relay.url, resumeStore: store, resumeKey: key, logger });
  await ess.connect();
  const iterator = ess.events();
  const id = await ess.subscribe(outputs);
  await ess.subscribe([{ resourceTypes: ['inputEvents'] }]);
  sandbox.publish(numbered(0, 1));
  await take(iterator, 1);

  await goOffline(ess);
  sandbox.events.expireSessions();
  const readding = relay.holdAnswer((command) => command.command === 'addSubscription' && JSON.stringify(command.filters).includes('inputEvents'));
  const removal = relay.holdAnswer(isRemoval);
  sandbox.events.failCommands({ command: 'removeSubscription', status: 503 });
  const sent = relay.commands.length;
  const back = next(ess, 'connection', (change) => change.state === 'online');
  sandbox.events.acceptUpgrades();
  await readding.held; // a new session: outputs is added again, inputEvents is being added
  const unsubscribing = ess.unsubscribe(id);
  const refused = expect(unsubscribing).rejects.toMatchObject({ code: 'COMMAND_FAILED', status: 503 });
  await removal.held; // the gateway refused it; the answer is held
  readding.release();
  // The set-up goes on to the queued removals (the record is saved just before): this one is in flight.
  await recordWhere(store, (record) => (record.subscriptions as { serverId?: string }[]).every((subscription) => subscription.serverId !== undefined));
  removal.release();
  await refused;
  await back;
  // It used to be sent again by the set-up, answered 200: the gateway dropped it while the client kept it.
  expect(relay.commands.slice(sent).filter(isRemoval)).toHaveLength(1);
  // The set-up's warning says it is not queued (unsubscribe() took it off the queue); it said it was.
  const warnings = logged.map((line) => JSON.parse(line) as { msg: string; queued?: boolean; error?: { status?: number } });
  expect(warnings.filter((line) => line.msg === 'could not remove a subscription').map((line) => [line.queued, line.error?.status])).toEqual([[false, 503]]);
  await recordWhere(store, (record) => (record.subscriptions as { id: string }[]).some((subscription) => subscription.id === id) && (record.removals as unknown[]).length === 0);
  sandbox.publish([output('o1'), ...numbered(1, 1)]);
  expect(ids(await take(iterator, 2))).toEqual(['o1', 'e1']);
  await ess.unsubscribe(id);
  sandbox.publish([output('o2'), ...numbered(2, 1)]);
  expect(ids(await take(iterator, 1))).toEqual(['e2']);
});

it('a restarted process sends the removals queued while offline: the resumed session keeps no unsubscribed subscription', async () => {
  const store = new MemoryStore();
  const options = { resumeStore: store, resumeKey: key };
  const first = client(options);
  await first.connect();
  const iterator = first.events();
  const id = await first.subscribe(outputs);
  sandbox.publish(numbered(0, 1));
  await take(iterator, 1);
  await iterator.return?.(); // done with e0, as a loop that breaks
  await goOffline(first);
  await first.unsubscribe(id); // queued for the resume
  await first.close();
  sandbox.events.acceptUpgrades();

  const second = client(options);
  const resumed = second.events();
  await second.connect();
  expect(second.stats.resumes).toBe(1);
  sandbox.publish([output('o1'), ...numbered(1, 1)]);
  expect(ids(await take(resumed, 1))).toEqual(['e1']);
});

it('keeps a queued removal refused with a 503 and sends it again on the next connection: then the gateway drops the subscription, and its events stop', async () => {
  const ess = client();
  await ess.connect();
  const { iterator, id } = await unsubscribeOffline(ess);
  sandbox.events.failCommands({ command: 'removeSubscription', status: 503 });
  const online = next(ess, 'connection', (change) => change.state === 'online');
  sandbox.events.acceptUpgrades();
  await online; // the refusal does not keep the client offline
  expect(sandbox.stats.events.failed).toBe(1);
  // Still queued: the gateway keeps the subscription on this connection.
  sandbox.publish([output('o1'), ...numbered(1, 1)]);
  expect(ids(await take(iterator, 2))).toEqual(['o1', 'e1']);
  // It used to be forgotten after the 503 (before that, the connect attempt failed): the next
  // connection's resume sends it again, before going online.
  const back = next(ess, 'connection', (change) => change.state === 'online');
  sandbox.dropConnections();
  await back;
  sandbox.publish([output('o2'), ...numbered(2, 1)]);
  expect(ids(await take(iterator, 1))).toEqual(['e2']);
  expect(ess.stats).toMatchObject({ gaps: 0, resumes: 2 });
  await expect(ess.unsubscribe(id)).rejects.toMatchObject({ code: 'INVALID_COMMAND' }); // gone for good
});

it('comes online while the gateway refuses every queued removal with a 503: subscribe() and getState() resolve, events flow, and each connection asks again', async () => {
  const ess = client({ fetchState: true });
  await ess.connect();
  const { iterator } = await unsubscribeOffline(ess);
  sandbox.events.failCommands({ command: 'removeSubscription', status: 503, count: 1e9 });
  // Made while offline: they wait for the connection.
  const subscribing = ess.subscribe([{ resourceTypes: ['inputEvents'] }]);
  const state = ess.getState();
  sandbox.events.acceptUpgrades();
  // Every connect attempt used to fail on the refusal: never online, and these never settled.
  await until(() => ess.connectionState === 'online', 3000, 'online');
  await expect(subscribing).resolves.toEqual(expect.any(String));
  await expect(state).resolves.toEqual(expect.any(Array));
  sandbox.publish(numbered(1, 1));
  expect(ids(await take(iterator, 1))).toEqual(['e1']);
  expect(sandbox.stats.events.failed).toBe(1); // not again on the same connection
  const back = next(ess, 'connection', (change) => change.state === 'online');
  sandbox.dropConnections();
  await back;
  expect(sandbox.stats.events.failed).toBe(2); // still queued: sent again by the next resume
  sandbox.publish(numbered(2, 1));
  expect(ids(await take(iterator, 1))).toEqual(['e2']);
  expect(ess.stats).toMatchObject({ gaps: 0, resumes: 2, connections: 3 });
});

it('fails the connect attempt when a queued removal goes unanswered (the connection may be dead), and sends it again on the next', async () => {
  relay = await startRelay(sandbox.essUrl);
  const ess = client({ url: relay.url, commandTimeoutMs: 300 });
  await ess.connect();
  const { iterator } = await unsubscribeOffline(ess);
  const unanswered = relay.holdAnswer(isRemoval);
  sandbox.events.acceptUpgrades();
  await unanswered.held;
  // It used to go online on that connection (whose silence could have been a dead socket).
  await until(() => relay!.commands.filter(isRemoval).length === 2, 5000, 'the removal sent again');
  await until(() => ess.connectionState === 'online', 5000, 'online');
  expect(ess.stats).toMatchObject({ gaps: 0, connections: 2 });
  sandbox.publish([output('o1'), ...numbered(1, 1)]);
  expect(ids(await take(iterator, 1))).toEqual(['e1']);
});

it('keeps the queued removals that close() cut short, and sends them after connect() again', async () => {
  relay = await startRelay(sandbox.essUrl);
  const ess = client({ url: relay.url });
  await ess.connect();
  await unsubscribeOffline(ess);
  const unanswered = relay.holdAnswer(isRemoval);
  sandbox.events.acceptUpgrades();
  await unanswered.held;
  await ess.close();
  // It used to be dropped: never sent again.
  await ess.connect();
  expect(relay.commands.filter(isRemoval)).toHaveLength(2);
});

it("an unsubscribe() whose answer close() cuts short resolves and queues the removal: the client no longer lists a subscription the gateway may have removed", async () => {
  relay = await startRelay(sandbox.essUrl);
  const store = new MemoryStore();
  const ess = client({ url: relay.url, resumeStore: store, resumeKey: key });
  await ess.connect();
  const id = await ess.subscribe(outputs);
  let iterator = ess.events();
  sandbox.publish(numbered(0, 1));
  await take(iterator, 1);
  const removal = relay.holdAnswer(isRemoval);
  const unsubscribing = ess.unsubscribe(id);
  await removal.held; // the gateway removed it; its answer is held back
  await ess.close();
  // It used to reject with CLOSED and keep the subscription (the record too): the resumed session
  // was then listed with a subscription the gateway no longer had.
  await expect(unsubscribing).resolves.toBeUndefined();
  expect((await store.get(key)) as unknown).toMatchObject({ removals: [expect.any(String)] });
  await ess.connect();
  iterator = ess.events();
  expect(ess.stats).toMatchObject({ gaps: 0, resumes: 1 });
  await until(() => relay!.commands.filter(isRemoval).length === 2, 5000, 'the removal sent again');
  sandbox.publish([output('o1'), ...numbered(1, 1)]);
  expect(ids(await take(iterator, 1))).toEqual(['e1']);
  await expect(ess.unsubscribe(id)).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
});

it('drops a queued removal refused with a 501 (asking again would get the same answer), with a warning: the gateway keeps the subscription', async () => {
  const logged: string[] = [];
  const ess = client({ logger: createLogger({ level: 'warn', format: 'json', write: (line) => logged.push(line) }) });
  await ess.connect();
  const { iterator } = await unsubscribeOffline(ess);
  sandbox.events.failCommands({ command: 'removeSubscription', status: 501, count: 1e9 });
  const online = next(ess, 'connection', (change) => change.state === 'online');
  sandbox.events.acceptUpgrades();
  await online;
  expect(sandbox.stats.events.failed).toBe(1);
  expect(logged.map((line) => JSON.parse(line) as Record<string, unknown>)).toContainEqual(
    expect.objectContaining({ level: 'warn', msg: 'could not remove a subscription', queued: false }),
  );
  // Not sent again by the next connection (it used to fail that connect attempt, and the next).
  const back = next(ess, 'connection', (change) => change.state === 'online');
  sandbox.dropConnections();
  await back;
  expect(sandbox.stats.events.failed).toBe(1);
  sandbox.publish([output('o1'), ...numbered(1, 1)]);
  expect(ids(await take(iterator, 2))).toEqual(['o1', 'e1']);
  expect(ess.stats).toMatchObject({ gaps: 0, resumes: 2 });
});

it("a restarted process whose removal of the stored filters gets a 503 comes online and sends it again on its next connection: then the session keeps only its own filters", async () => {
  const store = new MemoryStore();
  await firstProcess(store);
  sandbox.events.failCommands({ command: 'removeSubscription', status: 503 });
  const second = client({ resumeStore: store, resumeKey: key, filters: outputs });
  const resumed = second.events();
  await second.connect();
  expect(sandbox.stats.events.failed).toBe(1);
  expect(second.stats).toMatchObject({ gaps: 0 });
  // Still queued, in the record too: the stored filters' subscription stays on this connection.
  await recordWhere(store, (record) => Array.isArray(record.removals) && record.removals.length === 1);
  sandbox.publish([...numbered(1, 1), output('o1')]);
  expect(ids(await take(resumed, 2))).toEqual(['e1', 'o1']);
  const back = next(second, 'connection', (change) => change.state === 'online');
  sandbox.dropConnections();
  await back;
  sandbox.publish([...numbered(2, 1), output('o2')]);
  expect(ids(await take(resumed, 1))).toEqual(['o2']);
  expect(second.stats).toMatchObject({ gaps: 0, resumes: 2 });
});

it("saves the events an 'event' listener got before it closed the client: a restart repeats none and loses none", async () => {
  const store = new MemoryStore();
  const options = { resumeStore: store, resumeKey: key };
  const first = client(options);
  await first.connect();
  const heard: string[] = [];
  let closing: Promise<void> | undefined;
  first.on('event', (event) => {
    heard.push(event.id);
    if (event.id === 'e4') closing = first.close();
  });
  sandbox.publish(numbered(0, 2));
  await recordReaches(store, 'e1');
  sandbox.publish(numbered(2, 8)); // one batch; the listener closes at its third event
  await until(() => closing !== undefined);
  await closing;
  expect(heard).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
  expect((await store.get(key))?.lastEventId).toBe('e4');

  const second = client(options);
  const again: string[] = [];
  second.on('event', (event) => again.push(event.id));
  await second.connect();
  expect(second.stats.resumes).toBe(1);
  sandbox.publish(numbered(10, 1));
  await until(() => again.includes('e10'));
  expect(again).toEqual(['e5', 'e6', 'e7', 'e8', 'e9', 'e10']);
});

it("with an iterator open as well, the record follows what the iterator takes of that batch, also after close()", async () => {
  const store = new MemoryStore();
  const options = { resumeStore: store, resumeKey: key };
  const first = client(options);
  await first.connect();
  const iterator = first.events();
  let closing: Promise<void> | undefined;
  first.on('event', (event) => {
    if (event.id === 'e4') closing = first.close();
  });
  sandbox.publish(numbered(0, 2));
  await take(iterator, 2);
  const waiting = iterator.next(); // back for more, as a for-await loop: done with e0, e1
  await recordReaches(store, 'e1');
  sandbox.publish(numbered(2, 8)); // the iterator gets e2 and e3 of this batch, the listener e4 too
  await until(() => closing !== undefined);
  await closing;
  expect((await store.get(key))?.lastEventId).toBe('e1'); // not taken yet
  expect(ids([(await waiting).value!, ...(await take(iterator, 10))])).toEqual(['e2', 'e3']);
  await first.close(); // waits for the record written while draining
  expect((await store.get(key))?.lastEventId).toBe('e3');

  const second = client(options);
  const resumed = second.events();
  await second.connect();
  expect(second.stats.resumes).toBe(1);
  sandbox.publish(numbered(10, 1));
  expect(ids(await take(resumed, 7))).toEqual(['e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10']);
});

it("with an iterator open, the event at which an 'event' listener closed the client reaches the next iterator after connect() in the same process, and the listeners not again", async () => {
  const first = client();
  await first.connect();
  const iterator = first.events();
  const heard: string[] = [];
  let closing: Promise<void> | undefined;
  first.on('event', (event) => {
    heard.push(event.id);
    if (event.id === 'e4' && !closing) closing = first.close();
  });
  sandbox.publish(numbered(0, 10)); // one batch: the iterator gets e0 to e3, the listener e4 too
  await until(() => closing !== undefined);
  await closing;
  expect(ids(await take(iterator, 10))).toEqual(['e0', 'e1', 'e2', 'e3']);
  expect(first.lastEventId).toBe('e3');

  const connecting = first.connect();
  const resumed = first.events(); // made while connecting: gets the replay from e4 on
  await connecting;
  expect(first.stats.resumes).toBe(1);
  sandbox.publish(numbered(10, 1));
  expect(ids(await take(resumed, 6))).toEqual(['e4', 'e5', 'e6', 'e7', 'e8', 'e9']);
  expect(ids(await take(resumed, 1))).toEqual(['e10']);
  expect(heard).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10']);
  expect(first.stats).toMatchObject({ duplicates: 0, events: 11 });
});

it("an iterator an 'event' listener made during the batch it closed the client in: the record stays before the event it closed at, which the next iterator gets", async () => {
  const store = new MemoryStore();
  const first = client({ resumeStore: store, resumeKey: key });
  await first.connect();
  let iterator: AsyncIterableIterator<EssEvent> | undefined;
  let closing: Promise<void> | undefined;
  const listener = (event: EssEvent): void => {
    if (event.id === 'e2') iterator = first.events(); // gets e3 on
    if (event.id === 'e5') closing = first.close();
  };
  first.on('event', listener);
  sandbox.publish(numbered(0, 10)); // one batch
  await until(() => closing !== undefined);
  await closing;
  expect(ids(await take(iterator!, 10))).toEqual(['e3', 'e4']);
  await first.close(); // waits for the record written once the iterator's consumer is done
  expect(first.lastEventId).toBe('e4');
  expect((await store.get(key))?.lastEventId).toBe('e4');
  first.off('event', listener);

  await first.connect(); // the replay from e5 on is held for the next events() call
  const resumed = first.events();
  expect(ids(await take(resumed, 5))).toEqual(['e5', 'e6', 'e7', 'e8', 'e9']);
});

it("an 'event' listener that lets go of the only iterator and closes the client at one event: the record ends there, and nothing is owed", async () => {
  const store = new MemoryStore();
  const options = { resumeStore: store, resumeKey: key };
  const first = client(options);
  await first.connect();
  const iterator = first.events();
  sandbox.publish(numbered(0, 1));
  expect(ids(await take(iterator, 1))).toEqual(['e0']);
  const waiting = iterator.next(); // done with e0
  await recordReaches(store, 'e0');
  let closing: Promise<void> | undefined;
  const listener = (event: EssEvent): void => {
    if (event.id !== 'e4') return;
    void iterator.return?.();
    closing = first.close();
  };
  first.on('event', listener);
  sandbox.publish(numbered(1, 9)); // one batch
  await until(() => closing !== undefined);
  await closing;
  await first.close();
  expect(ids([(await waiting).value!])).toEqual(['e1']);
  expect(first.lastEventId).toBe('e4');
  expect((await store.get(key))?.lastEventId).toBe('e4');
  first.off('event', listener);

  await first.connect(); // nothing owed: the replay from e5 on is held for the next events() call
  expect(ids(await take(first.events(), 5))).toEqual(['e5', 'e6', 'e7', 'e8', 'e9']);
});

it("an iterator that threw OVERFLOW still holds the record back when an 'event' listener closes the client", async () => {
  const store = new MemoryStore();
  const first = client({ resumeStore: store, resumeKey: key, overflow: 'error', highWaterMark: 3 });
  await first.connect();
  const iterator = first.events();
  sandbox.publish(numbered(0, 1));
  expect(ids(await take(iterator, 1))).toEqual(['e0']);
  const waiting = iterator.next(); // done with e0; gets e1 and reads no more: OVERFLOW at e4
  await recordReaches(store, 'e0');
  const heard: string[] = [];
  let closing: Promise<void> | undefined;
  first.on('event', (event) => {
    heard.push(event.id);
    if (event.id === 'e15') closing = first.close();
  });
  sandbox.publish(numbered(1, 9));
  await until(() => heard.includes('e9'));
  sandbox.publish(numbered(10, 10)); // a later batch: the listener closes at e15
  await until(() => closing !== undefined);
  await closing;
  await first.close();
  expect(ids([(await waiting).value!])).toEqual(['e1']);
  await expect(iterator.next()).rejects.toMatchObject({ code: 'OVERFLOW' });
  expect((await store.get(key))?.lastEventId).toBe('e0'); // a restart replays what the iterator missed
});

it('forgets the event owed to iterators when the next connect() starts a new session: an old id repeated later is a duplicate', async () => {
  const first = client();
  await first.connect();
  const iterator = first.events();
  let closing: Promise<void> | undefined;
  const listener = (event: EssEvent): void => {
    if (event.id === 'e4') closing = first.close();
  };
  first.on('event', listener);
  sandbox.publish(numbered(0, 10));
  await until(() => closing !== undefined);
  await closing;
  expect(ids(await take(iterator, 10))).toEqual(['e0', 'e1', 'e2', 'e3']);
  first.off('event', listener);
  sandbox.events.expireSessions();
  const gap = next(first, 'gap');
  const connecting = first.connect();
  const renewed = first.events();
  await connecting;
  await gap;
  sandbox.publish([...numbered(4, 1), ...numbered(20, 1)]);
  expect(ids(await take(renewed, 1))).toEqual(['e20']);
  expect(first.stats.duplicates).toBe(1);
});

it("a 'state' listener that closes the client leaves the record before the batch an iterator has not taken yet", async () => {
  const store = new MemoryStore();
  const first = client({ resumeStore: store, resumeKey: key });
  await first.connect();
  const iterator = first.events();
  sandbox.publish(numbered(0, 2));
  await take(iterator, 2);
  const waiting = iterator.next(); // back for more, as a for-await loop: done with e0, e1
  await recordReaches(store, 'e1');
  let closing: Promise<void> | undefined;
  first.on('state', () => {
    closing ??= first.close();
  });
  sandbox.publish(numbered(2, 5)); // one batch of stateful events, buffered by the iterator
  await until(() => closing !== undefined);
  await closing;
  expect((await store.get(key))?.lastEventId).toBe('e1');
  expect(ids([(await waiting).value!, ...(await take(iterator, 10))])).toEqual(['e2', 'e3', 'e4', 'e5', 'e6']);
  await first.close(); // waits for the record written while draining
  expect((await store.get(key))?.lastEventId).toBe('e6');
});

/** A first process (filters: cameras) that takes e0, saves its record and closes. */
async function firstProcess(store: MemoryStore): Promise<void> {
  const first = client({ resumeStore: store, resumeKey: key });
  await first.connect();
  const iterator = first.events();
  sandbox.publish(numbered(0, 1));
  await take(iterator, 1);
  await iterator.return?.(); // done with e0, as a loop that breaks
  await recordReaches(store, 'e0');
  await first.close();
}

it('a process restarted with other filters resumes the session with its own filters, not the stored ones', async () => {
  const store = new MemoryStore();
  await firstProcess(store);
  const second = client({ resumeStore: store, resumeKey: key, filters: outputs });
  const resumed = second.events();
  await second.connect();
  expect(second.stats.resumes).toBe(1);
  sandbox.publish([...numbered(1, 1), output('o1')]);
  expect(ids(await take(resumed, 1))).toEqual(['o1']);
  await resumed.return?.(); // done with o1, as a loop that breaks
  await second.close();

  // Its record names the new filters' subscription: a third process with them resumes it as is.
  const third = client({ resumeStore: store, resumeKey: key, filters: outputs });
  const again = third.events();
  await third.connect();
  expect(third.stats.resumes).toBe(1);
  sandbox.publish([...numbered(2, 1), output('o2')]);
  expect(ids(await take(again, 1))).toEqual(['o2']);
});

it('a process restarted without a filters option removes the stored filters subscription from the resumed session', async () => {
  const store = new MemoryStore();
  await firstProcess(store);
  const second = client({ resumeStore: store, resumeKey: key, filters: undefined });
  const resumed = second.events();
  await second.connect();
  expect(second.stats.resumes).toBe(1);
  await second.subscribe(outputs);
  sandbox.publish([...numbered(1, 1), output('o1')]);
  expect(ids(await take(resumed, 1))).toEqual(['o1']);
});

it('removes the subscription of a late answer to a subscribe() that timed out', async () => {
  relay = await startRelay(sandbox.essUrl);
  const ess = client({ url: relay.url, commandTimeoutMs: 1000 });
  await ess.connect();
  const iterator = ess.events();
  const { held, release } = relay.holdAnswer(isOutputsAdd);
  const subscribing = expect(ess.subscribe(outputs)).rejects.toMatchObject({ code: 'COMMAND_TIMEOUT' });
  await held; // the gateway has added it
  await subscribing;
  release();
  await until(() => relay?.commands.some((command) => command.command === 'removeSubscription') === true, 5000, 'a removeSubscription');
  await ess.getState(); // answered after the removal: the gateway handles commands in order
  sandbox.publish([output('o1'), ...numbered(0, 1)]);
  expect(ids(await take(iterator, 1))).toEqual(['e0']);
});

it('resumes the session again once the late answer to a timed-out subscribe() named its subscription: no gap at the next drop, and a 503 to its removal is tried again', async () => {
  relay = await startRelay(sandbox.essUrl);
  const store = new MemoryStore();
  const ess = client({ url: relay.url, commandTimeoutMs: 500, resumeStore: store, resumeKey: key });
  const gaps: EssGap[] = [];
  ess.on('gap', (gap) => gaps.push(gap));
  await ess.connect();
  const iterator = ess.events();
  sandbox.publish(numbered(0, 1));
  await take(iterator, 1);
  const waiting = iterator.next(); // back for more, as a for-await loop: done with e0
  await recordReaches(store, 'e0');
  const { held, release } = relay.holdAnswer(isOutputsAdd);
  const subscribing = expect(ess.subscribe(outputs)).rejects.toMatchObject({ code: 'COMMAND_TIMEOUT' });
  await held; // the gateway has added it
  await subscribing;
  // Not to be resumed while the gateway may hold a subscription the client cannot name.
  await recordWhere(store, (record) => record.lastEventId === undefined);
  sandbox.events.failCommands({ command: 'removeSubscription', status: 503 });
  release();
  // The late answer names it: queued for removal, and the session may be resumed again.
  await recordReaches(store, 'e0');
  await until(() => sandbox.stats.events.failed === 1, 5000, 'the refused removal');
  expect((await store.get(key))?.removals).toHaveLength(1);
  sandbox.dropConnections();
  sandbox.publish(numbered(1, 2)); // while reconnecting
  // It used to start a new session: a gap, and e1, e2 lost.
  expect(ids([(await waiting).value!, ...(await take(iterator, 1))])).toEqual(['e1', 'e2']);
  expect(gaps).toEqual([]);
  expect(ess.stats.resumes).toBe(1);
  // The resume sent the queued removal again (before going online): the gateway has no outputs subscription left.
  await until(() => ess.stats.connections === 2 && ess.connectionState === 'online', 5000, 'online again');
  sandbox.publish([output('o1'), ...numbered(3, 1)]);
  expect(ids(await take(iterator, 1))).toEqual(['e3']);
  await recordWhere(store, (record) => Array.isArray(record.removals) && record.removals.length === 0 && record.lastEventId !== undefined);
});

/** A first process that subscribes `filters`, takes e0 (recorded in a MemoryStore) and closes: what a restart resumes. */
async function firstRunSubscribing(filters: Parameters<EssClient['subscribe']>[0]) {
  const store = new MemoryStore();
  const options = { resumeStore: store, resumeKey: key };
  const first = client(options);
  await first.connect();
  const iterator = first.events();
  const restored = await first.subscribe(filters);
  sandbox.publish(numbered(0, 1));
  await take(iterator, 1);
  await iterator.return?.(); // done with e0, as a loop that breaks
  await recordReaches(store, 'e0');
  await first.close();
  return { store, options, restored };
}

it("a restarted process names new subscriptions apart from its restored ones, which unsubscribe() still removes", async () => {
  const { options, restored } = await firstRunSubscribing(outputs);

  const second = client(options);
  const resumed = second.events();
  await second.connect();
  const added = await second.subscribe([{ resourceTypes: ['inputEvents'] }]);
  expect(added).not.toBe(restored);
  await second.unsubscribe(restored);
  sandbox.publish([output('o1'), { id: 'i1', type: outputActivated, source: 'inputEvents/i1' }]);
  expect(ids(await take(resumed, 1))).toEqual(['i1']);
});

it('a restarted process that subscribes again what it subscribed before gets the restored subscription back (once), not another one', async () => {
  const { store, options, restored } = await firstRunSubscribing([{ resourceTypes: ['outputs', 'inputEvents'] }]);

  const second = client(options);
  const resumed = second.events();
  await second.connect();
  expect(second.stats.resumes).toBe(1);
  const commands = sandbox.stats.events.commands;
  // Equal filters, the order within a list aside: the restored id, and nothing sent.
  expect(await second.subscribe([{ modifier: 'include', resourceTypes: ['inputEvents', 'outputs'] }])).toBe(restored);
  expect(sandbox.stats.events.commands).toBe(commands);
  // Claimed once: the same filters again make another subscription, and other filters too.
  const again = await second.subscribe([{ resourceTypes: ['outputs', 'inputEvents'] }]);
  const other = await second.subscribe([{ resourceTypes: ['hardware'] }]);
  expect(new Set([restored, again, other]).size).toBe(3);
  expect(sandbox.stats.events.commands).toBe(commands + 2);
  await second.unsubscribe(again);
  sandbox.publish([output('o1')]);
  expect(ids(await take(resumed, 1))).toEqual(['o1']);
  await second.close();
  const record = await store.get(key);
  // It used to be filters, subscription-1, subscription-2 (one more at every restart), ...
  expect((record?.subscriptions as { id: string }[]).map((subscription) => subscription.id)).toEqual(['filters', restored, other]);
});

it('a restarted process claims no restored subscription that was unsubscribed, even when a new one took its id', async () => {
  const store = new MemoryStore();
  const options = { resumeStore: store, resumeKey: key };
  const first = client(options);
  await first.connect();
  const restored = await first.subscribe(outputs);
  await first.close();

  const second = client(options);
  await second.connect();
  await second.unsubscribe(restored);
  // The id is free again: the next subscribe() takes it, and is a subscription of its own.
  expect(await second.subscribe(outputs)).toBe(restored);
  const commands = sandbox.stats.events.commands;
  expect(await second.subscribe(outputs)).not.toBe(restored);
  expect(sandbox.stats.events.commands).toBe(commands + 1);
});

it("refuses a subscribe() over maxCommandBytes (by default the sandbox's 1 MiB) before sending it, INVALID_COMMAND: the connection, its session and every consumer's events go on", async () => {
  const ess = client();
  await ess.connect();
  const iterator = ess.events();
  const received: string[] = [];
  ess.on('event', (event) => received.push(event.id));
  const { sessionId } = ess;
  const commands = sandbox.stats.events.commands;
  // About 2.5 MB on the wire: 60,000 source ids, over the gateway's limit of 1 MiB.
  const sourceIds = Array.from({ length: 60_000 }, (_, index) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`);
  const error = await ess.subscribe([{ resourceTypes: ['cameras'], sourceIds }]).catch((caught: unknown) => caught);
  // It was sent: the gateway closed with 1009, and the client halted (PROTOCOL_ERROR), for every consumer.
  expect(error).toMatchObject({ name: 'EssError', code: 'INVALID_COMMAND', retryable: false });
  expect((error as Error).message).toMatch(/^"addSubscription" is \d{7} bytes, over maxCommandBytes \(1048576\): not sent\.$/);
  expect(sandbox.stats.events.commands).toBe(commands);
  sandbox.publish(numbered(0, 3));
  expect(ids(await take(iterator, 3))).toEqual(['e0', 'e1', 'e2']);
  expect(received).toEqual(['e0', 'e1', 'e2']);
  expect(ess.connectionState).toBe('online');
  expect(ess.sessionId).toBe(sessionId);
  expect(sandbox.stats.events.connectionsTotal).toBe(1);
  // A smaller subscription goes, on the same connection.
  await ess.subscribe(outputs);
  expect(sandbox.stats.events.commands).toBe(commands + 1);
});

it('halts with INVALID_COMMAND, sending nothing more, when the filters option is over maxCommandBytes: every new session would send it', async () => {
  // The startSession (about 70 bytes) goes; the filters' addSubscription (about 130) does not.
  const ess = client({ maxCommandBytes: 100 });
  const error = await ess.connect().catch((caught: unknown) => caught);
  expect(error).toMatchObject({ name: 'EssError', code: 'INVALID_COMMAND', retryable: false });
  expect((error as Error).message).toMatch(/^"addSubscription" is \d+ bytes, over maxCommandBytes \(100\): not sent\.$/);
  expect(ess.connectionState).toBe('halted');
  expect(sandbox.stats.events.commands).toBe(1);
});
