// Command throughput over https on loopback, 16 requests in flight, against an in-process
// sandbox with a self-signed certificate: sessionkit's CommandClient (highPerformance) versus
// raw undici request() on the same kind of keep-alive pool (the practical limit), the public
// connector @hexonet/ispapi-apiconnector, and a client that opens a new connection per request.
// Then latency with one request in flight.
import { spawn } from 'node:child_process';
import { globalAgent } from 'node:https';
import { fileURLToPath } from 'node:url';
import { APIClient } from '@hexonet/ispapi-apiconnector';
import { CommandClient } from '@sessionkit/http-client';
import { Client, Pool } from 'undici';
import type { BenchmarkSuite, Measurement } from '../types.js';

const IN_FLIGHT = 16;
const COMMAND = { COMMAND: 'CheckDomain', DOMAIN: 'sessionkit-bench.com' } as const;
const BODY = `s_entity=54cd&s_login=demo&s_pw=demo-password&s_command=${encodeURIComponent('COMMAND=CheckDomain\nDOMAIN=sessionkit-bench.com')}`;
const HEADERS = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'bench' };

interface Contender {
  name: string;
  /** One request; resolves with the response CODE (checked, so no contender cheats). */
  call(): Promise<number>;
  close(): Promise<void>;
  /** Called before and after each of its runs. */
  enter?(): void;
  leave?(): void;
}

async function runInFlight(contender: Contender, total: number, inFlight: number): Promise<number> {
  let next = 0;
  let failures = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next += 1;
      const code = await contender.call();
      if (code !== 210) failures += 1;
    }
  };
  contender.enter?.();
  const started = process.hrtime.bigint();
  try {
    await Promise.all(Array.from({ length: inFlight }, worker));
  } finally {
    contender.leave?.();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (failures > 0) throw new Error(`${contender.name}: ${failures} of ${total} requests did not answer 210`);
  return seconds;
}

/** What the benchmark needs to know about the sandbox. */
interface Sandbox {
  url: string;
  commandUrl: string;
  certificate: string;
}

// The sandbox runs in a child process, as a real API runs on another machine: each contender's
// measured cost is then its own client work, not the server's work sharing its thread. The child
// runs `startSandbox({ tls: true })` with the same Node flags as this process (tsx and the source
// condition when run from sources, the built packages otherwise).
const CHILD_SCRIPT = `
import { startSandbox } from '@sessionkit/sandbox';
const sandbox = await startSandbox({ tls: true, commands: { recentRequests: 0 } });
process.stdout.write(JSON.stringify({ url: sandbox.url, commandUrl: sandbox.commandUrl, certificate: sandbox.certificate }) + '\\n');
process.stdin.resume();
process.stdin.on('end', () => { void sandbox.close().then(() => process.exit(0)); });
`;

async function startSandboxProcess(): Promise<{ sandbox: Sandbox; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', CHILD_SCRIPT], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  const sandbox = await new Promise<Sandbox>((resolve, reject) => {
    let received = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      received += chunk;
      const newline = received.indexOf('\n');
      if (newline !== -1) resolve(JSON.parse(received.slice(0, newline)) as Sandbox);
    });
    child.once('exit', (code) => { reject(new Error(`the sandbox process exited with ${String(code)} before it was ready`)); });
  });
  return {
    sandbox,
    stop: async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function rawPool(sandbox: Sandbox, connections: number): Contender {
  const pool = new Pool(sandbox.url, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    connect: { ca: sandbox.certificate },
  });
  const path = new URL(sandbox.commandUrl).pathname;
  return {
    name: 'raw undici request() (keep-alive Pool)',
    call: async () => {
      const { body } = await pool.request({ path, method: 'POST', headers: HEADERS, body: BODY });
      const text = await body.text();
      return Number(/CODE = (\d+)/.exec(text)?.[1]);
    },
    close: () => pool.close(),
  };
}

function commandClient(sandbox: Sandbox, connections: number): Contender {
  const client = new CommandClient({
    url: sandbox.commandUrl,
    ca: sandbox.certificate,
    credentials: { login: 'demo', password: 'demo-password' },
    highPerformance: { connections },
  });
  return {
    name: 'sessionkit CommandClient (highPerformance)',
    call: async () => (await client.request(COMMAND)).code,
    close: () => client.close(),
  };
}

function newConnectionPerRequest(sandbox: Sandbox): Contender {
  const path = new URL(sandbox.commandUrl).pathname;
  return {
    name: 'new connection per request (undici Client, closed after each)',
    call: async () => {
      const client = new Client(sandbox.url, { connect: { ca: sandbox.certificate } });
      try {
        const { body } = await client.request({ path, method: 'POST', headers: HEADERS, body: BODY });
        const text = await body.text();
        return Number(/CODE = (\d+)/.exec(text)?.[1]);
      } finally {
        await client.close();
      }
    },
    close: () => Promise.resolve(),
  };
}

// The public connector uses cross-fetch (node-fetch 2) on Node's https.globalAgent and has no
// option for a CA or an agent. It can be pointed at the sandbox with setURL(), and it trusts the
// sandbox's certificate only through the global agent: the certificate is added to
// globalAgent.options.ca for the benchmark (verification stays on) and removed afterwards.
// Version 9.0.8 as published prints every response with console.log (left-over debugging in
// Response and ResponseTranslator); console.log is silenced during its runs so that terminal
// output does not count against it.
function publicConnector(sandbox: Sandbox): Contender {
  const consoleLog = console.log;
  const previousCa = globalAgent.options.ca;
  globalAgent.options.ca = sandbox.certificate;
  const client = new APIClient();
  client.useLIVESystem();
  client.setURL(sandbox.commandUrl);
  client.setCredentials('demo', 'demo-password');
  return {
    name: '@hexonet/ispapi-apiconnector 9.0.8',
    call: async () => (await client.request({ ...COMMAND })).getCode(),
    enter: () => {
      console.log = () => undefined;
    },
    leave: () => {
      console.log = consoleLog;
    },
    close: () => {
      globalAgent.options.ca = previousCa;
      globalAgent.destroy();
      return Promise.resolve();
    },
  };
}

export const suite: BenchmarkSuite = {
  name: 'http-client',
  async run(context) {
    const { quick } = context;
    const log = (line: string): void => {
      context.log(line);
    };
    const { sandbox, stop } = await startSandboxProcess();
    const contenders: Contender[] = [];
    try {
      const raw = rawPool(sandbox, IN_FLIGHT);
      const ours = commandClient(sandbox, IN_FLIGHT);
      const peer = publicConnector(sandbox);
      const fresh = newConnectionPerRequest(sandbox);
      contenders.push(raw, ours, peer, fresh);

      const total = quick ? 400 : 4000;
      const freshTotal = quick ? 100 : 800;
      const rounds = quick ? 2 : 5;
      const throughput = new Map<Contender, number[]>(contenders.map((contender) => [contender, []]));
      for (const contender of contenders) await runInFlight(contender, contender === fresh ? freshTotal / 4 : total / 4, IN_FLIGHT); // warm-up
      for (let round = 0; round < rounds; round += 1) {
        // Rotate the order each round, so that no contender always runs right after the
        // new-connection client (whose closed connections the server is still cleaning up).
        const order = [...contenders.slice(round % contenders.length), ...contenders.slice(0, round % contenders.length)];
        for (const contender of order) {
          const count = contender === fresh ? freshTotal : total;
          const seconds = await runInFlight(contender, count, IN_FLIGHT);
          throughput.get(contender)?.push(Math.round(count / seconds));
        }
      }
      for (const contender of contenders) {
        log(`  throughput: ${contender.name}: median ${median(throughput.get(contender) ?? []).toLocaleString('en-US')} req/s`);
      }

      const latencyCount = quick ? 100 : 1000;
      const latency = new Map<Contender, number[]>([
        [raw, []],
        [ours, []],
      ]);
      for (let round = 0; round < rounds; round += 1) {
        for (const contender of round % 2 === 0 ? [raw, ours] : [ours, raw]) {
          const seconds = await runInFlight(contender, latencyCount, 1);
          latency.get(contender)?.push(Math.round((seconds / latencyCount) * 1e6) / 1e3);
        }
      }
      for (const contender of [raw, ours]) {
        log(`  latency: ${contender.name}: median ${median(latency.get(contender) ?? [])} ms`);
      }

      const rps = (contender: Contender): number[] => throughput.get(contender) ?? [];
      const ratio = (a: Contender, b: Contender): string => (median(rps(a)) / median(rps(b))).toFixed(2);
      log(`  CommandClient / raw undici: ${ratio(ours, raw)}x (target >= 0.75)`);
      log(`  CommandClient / public connector: ${ratio(ours, peer)}x (target >= 2.5)`);
      log(`  CommandClient / new connection per request: ${ratio(ours, fresh)}x (target >= 3)`);
      const mainBenchmark = `command throughput (https, ${IN_FLIGHT} in flight)`;
      const measurements: Measurement[] = [
        { benchmark: mainBenchmark, contender: raw.name, unit: 'req/s', higherIsBetter: true, rounds: rps(raw), baseline: true, notes: 'the practical limit: a fixed body, no encoding or parsing' },
        { benchmark: mainBenchmark, contender: ours.name, unit: 'req/s', higherIsBetter: true, rounds: rps(ours), targetRatio: 0.75 },
        {
          benchmark: mainBenchmark,
          contender: peer.name,
          unit: 'req/s',
          higherIsBetter: true,
          rounds: rps(peer),
          notes:
            'pointed at the sandbox with setURL(); it can trust the sandbox certificate only through https.globalAgent.options.ca (set for the run, verification on); its left-over console.log of every response is silenced during its runs',
        },
        { benchmark: mainBenchmark, contender: fresh.name, unit: 'req/s', higherIsBetter: true, rounds: rps(fresh), notes: 'a TCP and TLS handshake per request' },
        { benchmark: 'command throughput against the public connector', contender: peer.name, unit: 'req/s', higherIsBetter: true, rounds: rps(peer), baseline: true },
        { benchmark: 'command throughput against the public connector', contender: ours.name, unit: 'req/s', higherIsBetter: true, rounds: rps(ours), targetRatio: 2.5 },
        { benchmark: 'command throughput against a new connection per request', contender: fresh.name, unit: 'req/s', higherIsBetter: true, rounds: rps(fresh), baseline: true },
        { benchmark: 'command throughput against a new connection per request', contender: ours.name, unit: 'req/s', higherIsBetter: true, rounds: rps(ours), targetRatio: 3 },
        { benchmark: 'command latency (https, 1 in flight)', contender: raw.name, unit: 'ms', higherIsBetter: false, rounds: latency.get(raw) ?? [], baseline: true },
        { benchmark: 'command latency (https, 1 in flight)', contender: ours.name, unit: 'ms', higherIsBetter: false, rounds: latency.get(ours) ?? [] },
      ];
      return measurements;
    } finally {
      for (const contender of contenders) await contender.close();
      await stop();
    }
  },
};
