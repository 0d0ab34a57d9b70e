// Events over ws:// on loopback from a sandbox in a child process (as a real gateway runs on
// another machine, so that each contender's cost is its own client work):
// - throughput: events per second through EssClient.events() (duplicate check on every id,
//   state cache, bounded buffer, for-await iteration) versus a raw `ws` client that only
//   JSON.parses each frame (the limit), on the same stream of events, rounds alternating
//   which contender goes first; this process's CPU time per event from the same runs; RSS;
// - resume latency: the sandbox drops the connection in the middle of a burst, and we time
//   from the drop to the first replayed event (EssClient with its default backoff; a raw
//   client that reconnects at once is shown as the floor).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { oauth2, Session } from '@sessionkit/core-session';
import { EssClient, type EssEvent } from '@sessionkit/ess-client';
import { type RawData, WebSocket } from 'ws';
import type { BenchmarkSuite, Measurement } from '../types.js';

const FILTERS = [{ modifier: 'include', resourceTypes: ['*'], sourceIds: ['*'], eventTypes: ['*'] }];
const CLIENT_ID = { clientId: 'sessionkit-demo', clientSecret: 'demo-secret' };

// The child starts the sandbox (no generator, a replay buffer larger than any burst) and
// answers one JSON line per command line on stdin:
// - prepare {count}: make `count` camera events (UUID ids, 64 cameras, motion state), once;
// - publish: publish the prepared events, 100 per call, so every round streams the same events;
// - burst {count, dropAfter}: publish `count` fresh events (ids `b{serial}`, data.serial
//   counting up across bursts) and, once `dropAfter` of them have been handed to the sockets,
//   drop every connection; answers with the drop's time (epoch ms, sub-millisecond);
// - expire: drop every connection and forget every session, so no run feeds another's, and
//   collect the garbage of the run (about 200 MB for 200,000 events): left to itself, the
//   child's heap grew over two runs and a major collection every third run halved its sending
//   rate, so whichever contender ran then was starved (the slowest round of every contender in
//   the committed run of 1 December, raw client included, came every third run).
const CHILD_SCRIPT = `
import { startSandbox } from '@sessionkit/sandbox';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
const sandbox = await startSandbox({ ess: { generator: false, replayBufferSize: 1000000 } });
const say = (line) => process.stdout.write(JSON.stringify(line) + '\\n');
const now = () => performance.timeOrigin + performance.now();
const cameras = Array.from({ length: 64 }, () => 'cameras/' + randomUUID());
const types = ['6eb95dd6-7ccc-4bce-99f8-af0d0b582d77', '6f55a7a7-d21c-4629-ac18-af1975e395a2'];
const group = '4a0c2d6e-7f3b-4d8e-9a51-000000000001';
const event = (id, serial) => ({ id, type: types[serial % 2], source: cameras[serial % cameras.length], stategroupid: group, data: { serial } });
let prepared = [];
let serial = 0;
const publish = (events) => {
  for (let from = 0; from < events.length; from += 100) sandbox.publish(events.slice(from, from + 100));
};
const handlers = {
  prepare: (command) => {
    prepared = Array.from({ length: command.count }, (_, index) => event(randomUUID(), index));
    return {};
  },
  publish: () => {
    publish(prepared);
    return {};
  },
  burst: (command) => new Promise((resolve) => {
    const events = Array.from({ length: command.count }, () => { serial += 1; return event('b' + serial, serial); });
    const sentBefore = sandbox.stats.events.eventsSent;
    publish(events);
    const watch = () => {
      if (sandbox.stats.events.eventsSent - sentBefore < command.dropAfter) { setImmediate(watch); return; }
      sandbox.dropConnections();
      resolve({ droppedAt: now(), sent: sandbox.stats.events.eventsSent - sentBefore });
    };
    watch();
  }),
  expire: () => {
    sandbox.dropConnections();
    sandbox.events.expireSessions();
    globalThis.gc();
    return {};
  },
};
say({ essUrl: sandbox.essUrl, tokenUrl: sandbox.tokenUrl });
const queue = [];
let busy = false;
const work = async () => {
  if (busy) return;
  busy = true;
  while (queue.length > 0) {
    const command = queue.shift();
    say({ ...(await handlers[command.type](command)), done: command.type, stats: sandbox.stats.events });
  }
  busy = false;
};
createInterface({ input: process.stdin }).on('line', (text) => { queue.push(JSON.parse(text)); void work(); });
process.stdin.on('end', () => { void sandbox.close().then(() => process.exit(0)); });
`;

type Line = Record<string, unknown>;

interface SandboxProcess {
  essUrl: string;
  tokenUrl: string;
  send(command: Line): Promise<Line>;
  stop(): Promise<void>;
}

async function startSandboxProcess(): Promise<SandboxProcess> {
  // Same Node flags as this process: tsx and the source condition when run from sources.
  const child = spawn(process.execPath, [...process.execArgv, '--expose-gc', '--input-type=module', '-e', CHILD_SCRIPT], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let exited = false;
  const waiting: { resolve: (line: Line) => void; reject: (error: Error) => void }[] = [];
  child.once('exit', (code) => {
    exited = true;
    for (const waiter of waiting.splice(0)) waiter.reject(new Error(`the sandbox process exited (${String(code)})`));
  });
  createInterface({ input: child.stdout }).on('line', (text) => {
    // Node flags passed on (such as --trace-gc) may print lines of their own.
    if (!text.startsWith('{')) return;
    waiting.shift()?.resolve(JSON.parse(text) as Line);
  });
  const nextLine = (): Promise<Line> =>
    exited ? Promise.reject(new Error('the sandbox process has exited')) : new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  const ready = await nextLine();
  return {
    essUrl: ready.essUrl as string,
    tokenUrl: ready.tokenUrl as string,
    send: (command) => {
      const answered = nextLine();
      child.stdin.write(`${JSON.stringify(command)}\n`);
      return answered;
    },
    stop: async () => {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      const timer = setTimeout(() => child.kill(), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}

async function fetchToken(tokenUrl: string): Promise<string> {
  const response = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID.clientId, client_secret: CLIENT_ID.clientSecret }),
  });
  if (!response.ok) throw new Error(`the token endpoint answered ${String(response.status)}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

function session(tokenUrl: string): Session {
  return new Session({ authenticator: oauth2({ tokenUrl, grant: 'client_credentials', ...CLIENT_ID }) });
}

/** A raw protocol client: starts or resumes a session and subscribes; each events frame is JSON.parsed and nothing more. */
class RawClient {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  onEvents: (events: { id: string }[]) => void = () => undefined;
  #commandId = 0;
  readonly #answers = new Map<number, (frame: Line) => void>();

  constructor(url: string, token: string) {
    this.ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    this.ws.on('message', (data: RawData) => {
      const frame = JSON.parse((data as Buffer).toString('utf8')) as { commandId?: number; events?: { id: string }[] };
      if (frame.events !== undefined) this.onEvents(frame.events);
      else if (frame.commandId !== undefined) this.#answers.get(frame.commandId)?.(frame);
    });
    this.ws.on('error', () => undefined);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => {
        resolve();
      });
      this.ws.once('error', reject);
    });
  }

  command(command: string, fields: Line = {}): Promise<Line> {
    this.#commandId += 1;
    const commandId = this.#commandId;
    return new Promise((resolve) => {
      this.#answers.set(commandId, resolve);
      this.ws.send(JSON.stringify({ command, commandId, ...fields }));
    });
  }
}

function rssMiB(): number {
  return Math.round(process.memoryUsage().rss / (1024 * 1024));
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

interface Throughput {
  /** Events per second, first event to last. */
  rate: number;
  /** Microseconds of this process's CPU time per event, over the same span. */
  cpuPerEvent: number;
}

/** Times the stream from its first event to its `count`-th. */
class Stopwatch {
  #startedAt = 0n;
  #cpuAtStart = 0;
  start(): void {
    this.#startedAt = process.hrtime.bigint();
    this.#cpuAtStart = cpuMicros();
  }
  stop(count: number): Throughput {
    const cpu = cpuMicros() - this.#cpuAtStart;
    const seconds = Number(process.hrtime.bigint() - this.#startedAt) / 1e9;
    return { rate: count / seconds, cpuPerEvent: cpu / count };
  }
}

async function rawThroughput(sandbox: SandboxProcess, count: number): Promise<Throughput> {
  const client = new RawClient(sandbox.essUrl, await fetchToken(sandbox.tokenUrl));
  await client.opened;
  await client.command('startSession', { sessionId: '', eventId: '' });
  await client.command('addSubscription', { filters: FILTERS });
  const watch = new Stopwatch();
  let received = 0;
  const done = new Promise<Throughput>((resolve) => {
    client.onEvents = (events) => {
      if (received === 0) watch.start();
      received += events.length;
      if (received === count) resolve(watch.stop(count));
    };
  });
  await sandbox.send({ type: 'publish' });
  const result = await done;
  client.ws.terminate();
  await sandbox.send({ type: 'expire' });
  return result;
}

async function essThroughput(sandbox: SandboxProcess, count: number): Promise<Throughput> {
  const ess = new EssClient({ url: sandbox.essUrl, auth: session(sandbox.tokenUrl), filters: [{}] });
  await ess.connect();
  const events = ess.events();
  const published = sandbox.send({ type: 'publish' });
  const watch = new Stopwatch();
  let received = 0;
  let result: Throughput | undefined;
  for await (const event of events) {
    if (received === 0) watch.start();
    received += event.id === '' ? 0 : 1;
    if (received === count) {
      result = watch.stop(count);
      break;
    }
  }
  await published;
  const { duplicates, gaps } = ess.stats;
  await ess.close();
  await sandbox.send({ type: 'expire' });
  if (result === undefined) throw new Error(`EssClient.events() ended after ${String(received)} of ${String(count)} events`);
  if (duplicates !== 0 || gaps !== 0) throw new Error('EssClient saw duplicates or gaps in a throughput run');
  return result;
}

/** The same stream through `on('event')`: everything but the async iteration. */
async function essListenerThroughput(sandbox: SandboxProcess, count: number): Promise<Throughput> {
  const ess = new EssClient({ url: sandbox.essUrl, auth: session(sandbox.tokenUrl), filters: [{}] });
  const watch = new Stopwatch();
  let received = 0;
  const done = new Promise<Throughput>((resolve) => {
    ess.on('event', (event) => {
      if (received === 0) watch.start();
      received += event.id === '' ? 0 : 1;
      if (received === count) resolve(watch.stop(count));
    });
  });
  await ess.connect();
  await sandbox.send({ type: 'publish' });
  const result = await done;
  const { duplicates, gaps } = ess.stats;
  await ess.close();
  await sandbox.send({ type: 'expire' });
  if (duplicates !== 0 || gaps !== 0) throw new Error('EssClient saw duplicates or gaps in a throughput run');
  return result;
}

function serialOf(event: { data?: unknown }): number {
  return (event.data as { serial: number }).serial;
}

/** Checks that serials arrive each once and in order, counting up by one. */
class Continuity {
  #last: number | undefined;
  broken = 0;
  see(serial: number): void {
    if (this.#last !== undefined && serial !== this.#last + 1) this.broken += 1;
    this.#last = serial;
  }
}

interface ResumeResult {
  /** Milliseconds from the drop to the first replayed event, per round. */
  latencies: number[];
  notes: string;
}

/** Events in a burst, and how many the sandbox sends before it drops the connection. */
function burstSize(quick: boolean): { count: number; dropAfter: number } {
  // The sandbox hands up to 1 MiB (about 4,000 of these events) to a socket at a time, so
  // these sizes leave thousands unsent at the drop: they can only come by replay.
  return quick ? { count: 10_000, dropAfter: 1000 } : { count: 20_000, dropAfter: 5000 };
}

/** One drop: whether the client has seen it, and when the first event after it came. */
interface DropRound {
  away: boolean;
  firstAfterDrop?: number | undefined;
}

async function essResume(sandbox: SandboxProcess, rounds: number, quick: boolean): Promise<ResumeResult> {
  const ess = new EssClient({ url: sandbox.essUrl, auth: session(sandbox.tokenUrl), filters: [{}] });
  const continuity = new Continuity();
  let current: DropRound = { away: false };
  let received = 0;
  let wake: (() => void) | undefined;
  ess.on('connection', (change) => {
    if (change.state === 'delayed') current.away = true;
  });
  ess.on('event', (event: EssEvent) => {
    continuity.see(serialOf(event));
    received += 1;
    if (current.away) current.firstAfterDrop ??= epochNow();
    wake?.();
  });
  const until = async (test: () => boolean): Promise<void> => {
    while (!test()) await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
  };
  await ess.connect();
  const { count, dropAfter } = burstSize(quick);
  const latencies: number[] = [];
  for (let drop = 0; drop < rounds; drop += 1) {
    const round: DropRound = { away: false };
    current = round;
    const target = received + count;
    const answer = await sandbox.send({ type: 'burst', count, dropAfter });
    if ((answer.sent as number) >= count) throw new Error('the sandbox had sent the whole burst before the drop: nothing to replay');
    await until(() => received >= target);
    if (round.firstAfterDrop === undefined) throw new Error('EssClient got no event after the drop');
    latencies.push(round.firstAfterDrop - (answer.droppedAt as number));
  }
  const { resumes, gaps, duplicates } = ess.stats;
  await ess.close();
  await sandbox.send({ type: 'expire' });
  if (continuity.broken !== 0 || gaps !== 0 || resumes !== rounds) {
    throw new Error(`EssClient lost or repeated events across drops (breaks ${String(continuity.broken)}, gaps ${String(gaps)}, resumes ${String(resumes)})`);
  }
  return {
    latencies,
    notes: `${String(rounds)} drops, each after ${dropAfter.toLocaleString('en-US')} of a ${count.toLocaleString('en-US')}-event burst; every event once and in order (${String(duplicates)} replayed duplicates dropped); includes the deliberate full-jitter reconnect delay (0-500 ms)`,
  };
}

async function rawResume(sandbox: SandboxProcess, rounds: number, quick: boolean): Promise<ResumeResult> {
  const token = await fetchToken(sandbox.tokenUrl);
  let client = new RawClient(sandbox.essUrl, token);
  await client.opened;
  const sessionId = (await client.command('startSession', { sessionId: '', eventId: '' })).sessionId as string;
  await client.command('addSubscription', { filters: FILTERS });
  let lastEventId = '';
  const { count, dropAfter } = burstSize(quick);
  const latencies: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const seen: { firstAfterDrop?: number } = {};
    let received = 0;
    let done: (() => void) | undefined;
    const complete = new Promise<void>((resolve) => (done = resolve));
    const track = (events: { id: string }[]): void => {
      received += events.length;
      lastEventId = events.at(-1)?.id ?? lastEventId;
      if (received >= count) done?.();
    };
    client.onEvents = track;
    const closed = new Promise<void>((resolve) => client.ws.once('close', () => { resolve(); }));
    const answer = await sandbox.send({ type: 'burst', count, dropAfter });
    if ((answer.sent as number) >= count) throw new Error('the sandbox had sent the whole burst before the drop: nothing to replay');
    await closed;
    client = new RawClient(sandbox.essUrl, token);
    client.onEvents = (events) => {
      seen.firstAfterDrop ??= epochNow();
      track(events);
    };
    await client.opened;
    const started = await client.command('startSession', { sessionId, eventId: lastEventId });
    if (started.status !== 200) throw new Error(`the raw client could not resume (status ${String(started.status)})`);
    await complete;
    if (seen.firstAfterDrop === undefined) throw new Error('the raw client got no event after the drop');
    latencies.push(seen.firstAfterDrop - (answer.droppedAt as number));
  }
  client.ws.terminate();
  await sandbox.send({ type: 'expire' });
  return { latencies, notes: 'the floor: reconnects at once with a token it already holds, no backoff' };
}

export const suite: BenchmarkSuite = {
  name: 'ess-client',
  async run(context) {
    const { quick } = context;
    const log = (line: string): void => {
      context.log(line);
    };
    const count = quick ? 20_000 : 200_000;
    const rounds = quick ? 2 : 10;
    const sandbox = await startSandboxProcess();
    try {
      await sandbox.send({ type: 'prepare', count });
      const benchmark = `events throughput (${count.toLocaleString('en-US')} events, ws:// loopback, sandbox in a child process)`;
      log('ess-client: warm-up');
      await rawThroughput(sandbox, count);
      await essThroughput(sandbox, count);
      await essListenerThroughput(sandbox, count);
      const raw: Throughput[] = [];
      const ours: Throughput[] = [];
      const listener: Throughput[] = [];
      const rssBefore = rssMiB();
      let rssPeak = rssBefore;
      const contenders = [
        { name: 'raw ws + JSON.parse', run: () => rawThroughput(sandbox, count), results: raw },
        { name: 'EssClient.events()', run: () => essThroughput(sandbox, count), results: ours },
        { name: "EssClient on('event')", run: () => essListenerThroughput(sandbox, count), results: listener },
      ];
      for (let round = 0; round < rounds; round += 1) {
        // Rotate who goes first, so that drift in machine load spreads evenly.
        for (const contender of [...contenders.slice(round % contenders.length), ...contenders.slice(0, round % contenders.length)]) {
          const result = await contender.run();
          contender.results.push(result);
          rssPeak = Math.max(rssPeak, rssMiB());
          log(`  ${contender.name}: ${Math.round(result.rate).toLocaleString('en-US')} events/s, ${result.cpuPerEvent.toFixed(2)} µs CPU/event`);
        }
      }
      const rssAfter = rssMiB();
      const measurements: Measurement[] = [
        {
          benchmark,
          contender: 'raw ws client (JSON.parse only)',
          unit: 'events/s',
          higherIsBetter: true,
          rounds: raw.map((round) => round.rate),
          baseline: true,
          notes: 'the limit: parses each frame and counts its events',
        },
        {
          benchmark,
          contender: 'sessionkit EssClient.events()',
          unit: 'events/s',
          higherIsBetter: true,
          rounds: ours.map((round) => round.rate),
          targetRatio: 0.8,
          notes: `defaults (dedupe 'always', highWaterMark 1000, overflow 'pause', state cache); RSS ${String(rssBefore)} MiB before the rounds, ${String(rssAfter)} MiB after (peak between rounds ${String(rssPeak)} MiB)`,
        },
        {
          benchmark,
          contender: "sessionkit EssClient on('event')",
          unit: 'events/s',
          higherIsBetter: true,
          rounds: listener.map((round) => round.rate),
          notes: 'the same client and checks without the async iteration (one promise and one microtask per event)',
        },
      ];
      const cpuBenchmark = 'client CPU per event (the same runs: this process, first event to last)';
      measurements.push(
        {
          benchmark: cpuBenchmark,
          contender: 'raw ws client (JSON.parse only)',
          unit: 'µs/event',
          higherIsBetter: false,
          rounds: raw.map((round) => round.cpuPerEvent),
          baseline: true,
        },
        {
          benchmark: cpuBenchmark,
          contender: 'sessionkit EssClient.events()',
          unit: 'µs/event',
          higherIsBetter: false,
          rounds: ours.map((round) => round.cpuPerEvent),
          notes: 'the parse plus duplicate check, state cache, buffer and for-await iteration',
        },
        {
          benchmark: cpuBenchmark,
          contender: "sessionkit EssClient on('event')",
          unit: 'µs/event',
          higherIsBetter: false,
          rounds: listener.map((round) => round.cpuPerEvent),
        },
      );

      const resumeRounds = quick ? 3 : 15;
      log(`ess-client: resume latency, ${String(resumeRounds)} drops each`);
      const resumeBenchmark = 'resume latency after an abrupt drop (drop -> first replayed event)';
      const essLatency = await essResume(sandbox, resumeRounds, quick);
      const rawLatency = await rawResume(sandbox, resumeRounds, quick);
      measurements.push(
        {
          benchmark: resumeBenchmark,
          contender: 'sessionkit EssClient (default backoff)',
          unit: 'ms',
          higherIsBetter: false,
          rounds: essLatency.latencies,
          target: { op: '<=', value: 1500 },
          notes: essLatency.notes,
        },
        {
          benchmark: resumeBenchmark,
          contender: 'raw ws client (reconnects at once)',
          unit: 'ms',
          higherIsBetter: false,
          rounds: rawLatency.latencies,
          notes: rawLatency.notes,
        },
      );
      return measurements;
    } finally {
      await sandbox.stop();
    }
  },
};
