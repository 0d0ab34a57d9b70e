// REST JSON throughput over https on loopback, 16 requests in flight, against the sandbox's
// bearer-protected JSON API (GET /api/rest/v1/whoami): sessionkit's createApiClient (a ky
// instance whose every request carries `await session.authorization()`, with the 401 replay and
// redacted debug logging) versus plain ky with a static bearer header (the limit for a ky client).
// Both use an undici Agent of 16 keep-alive connections that trusts the sandbox's certificate, and
// both parse the JSON. The contenders take turns in time slices (balanced orders, as in the
// http-client suite); the sandbox runs in a child process, for the reasons given there.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { oauth2, Session } from '@sessionkit/core-session';
import { createApiClient } from '@sessionkit/http-client';
import ky from 'ky';
import { Agent } from 'undici';
import type { BenchmarkSuite, Measurement } from '../types.js';
import { balancedOrders, type BenchSandbox, startBenchSandbox } from './http-client.js';

const IN_FLIGHT = 16;
const SETTLE_MS = 25;
const IDENTITY = 'client:sessionkit-demo';

interface Contender {
  name: string;
  /** One GET whoami; resolves with the identity the API answered (checked). */
  call(): Promise<string>;
  close(): Promise<void>;
}

interface Slice {
  requestsPerSecond: number;
  cpuMicros: number;
}

async function runSlice(contender: Contender, ms: number): Promise<Slice> {
  let count = 0;
  let failures = 0;
  const deadline = performance.now() + ms;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      if ((await contender.call()) !== IDENTITY) failures += 1;
      count += 1;
    }
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  if (failures > 0) throw new Error(`${contender.name}: ${failures} of ${count} requests did not answer the identity`);
  return { requestsPerSecond: Math.round((count / elapsed) * 1000), cpuMicros: Math.round(((used.user + used.system) / count) * 10) / 10 };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

function agentFor(sandbox: BenchSandbox): Agent {
  return new Agent({ connections: IN_FLIGHT, pipelining: 1, keepAliveTimeout: 60_000, connect: { ca: sandbox.certificate } });
}

function session(sandbox: BenchSandbox, agent: Agent): Session {
  const fetchWithCa: typeof fetch = (input, init) => {
    const withAgent: Record<string, unknown> = { ...init, dispatcher: agent };
    return fetch(input, withAgent);
  };
  return new Session({
    authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret', fetch: fetchWithCa }),
  });
}

function plainKy(sandbox: BenchSandbox, token: string): Contender {
  const agent = agentFor(sandbox);
  // ky hands options it does not know, such as undici's `dispatcher`, to fetch.
  const options: Record<string, unknown> = { prefixUrl: `${sandbox.url}/api/rest/`, headers: { authorization: `Bearer ${token}` }, dispatcher: agent };
  const api = ky.create(options);
  return {
    name: 'plain ky, static bearer header',
    call: async () => (await api.get('v1/whoami').json<{ identity: string }>()).identity,
    close: () => agent.close(),
  };
}

function apiClient(sandbox: BenchSandbox, own: Session): Contender {
  // The same Agent settings as plain ky's, given as `dispatcher` so that the transports are the same.
  const agent = agentFor(sandbox);
  const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: own, dispatcher: agent });
  return {
    name: 'sessionkit createApiClient',
    call: async () => (await api.get('v1/whoami').json<{ identity: string }>()).identity,
    close: () => agent.close(),
  };
}

export const suite: BenchmarkSuite = {
  name: 'rest-client',
  async run(context) {
    const { quick } = context;
    const log = (line: string): void => {
      context.log(line);
    };
    const { sandbox, stop } = await startBenchSandbox();
    log(`  sandbox in a ${sandbox.where}: ${sandbox.url}`);
    const tokenAgent = agentFor(sandbox);
    const contenders: Contender[] = [];
    try {
      const own = session(sandbox, tokenAgent);
      const token = (await own.getToken()).value;
      contenders.push(plainKy(sandbox, token), apiClient(sandbox, own));
      const [plain, ours] = contenders as [Contender, Contender];

      const sliceMs = quick ? 150 : 1000;
      const orders = balancedOrders(contenders.length);
      const rounds = quick ? 2 * orders.length : 8 * orders.length;
      const slices = new Map<Contender, Slice[]>(contenders.map((contender) => [contender, []]));
      for (const contender of contenders) await runSlice(contender, sliceMs); // warm-up
      for (let round = 0; round < rounds; round += 1) {
        for (const position of orders[round % orders.length] ?? []) {
          const contender = contenders[position];
          if (contender === undefined) continue;
          slices.get(contender)?.push(await runSlice(contender, sliceMs));
          await sleep(SETTLE_MS);
        }
      }
      const rps = (contender: Contender): number[] => (slices.get(contender) ?? []).map((slice) => slice.requestsPerSecond);
      const cpu = (contender: Contender): number[] => (slices.get(contender) ?? []).map((slice) => slice.cpuMicros);
      for (const contender of contenders) {
        log(`  ${contender.name}: median ${median(rps(contender)).toLocaleString('en-US')} req/s, client CPU ${median(cpu(contender)).toFixed(1)} µs/request`);
      }
      log(`  createApiClient / plain ky: ${(median(rps(ours)) / median(rps(plain))).toFixed(2)}x (target >= 0.9)`);

      const benchmark = `REST JSON throughput (https, ${IN_FLIGHT} in flight)`;
      const cpuBenchmark = `REST client CPU time per request (https, ${IN_FLIGHT} in flight)`;
      const measurements: Measurement[] = [
        { benchmark, contender: plain.name, unit: 'req/s', higherIsBetter: true, rounds: rps(plain), baseline: true, notes: `the limit for a ky client: no session, no hooks; sandbox in a ${sandbox.where}` },
        { benchmark, contender: ours.name, unit: 'req/s', higherIsBetter: true, rounds: rps(ours), targetRatio: 0.9 },
        { benchmark: cpuBenchmark, contender: plain.name, unit: 'µs', higherIsBetter: false, rounds: cpu(plain), baseline: true },
        { benchmark: cpuBenchmark, contender: ours.name, unit: 'µs', higherIsBetter: false, rounds: cpu(ours) },
      ];
      return measurements;
    } finally {
      for (const contender of contenders) await contender.close();
      await tokenAgent.close();
      await stop();
    }
  },
};
