// Warm getToken(): the cost a client pays on every request once the session holds a token.
// Compared with the limit: reading a variable that already holds the same settled promise.
import { oauth2, Session, type Token } from '@sessionkit/core-session';
import { startSandbox } from '@sessionkit/sandbox';
import type { BenchmarkSuite, Measurement } from '../types.js';

interface Loop {
  contender: string;
  baseline?: boolean;
  /** Runs `iterations` operations and returns something derived from them (kept alive). */
  run(iterations: number): Promise<number>;
}

async function measure(benchmark: string, loops: Loop[], iterations: number, rounds: number, log: (line: string) => void): Promise<Measurement[]> {
  const results = loops.map((loop) => ({ loop, rounds: [] as number[] }));
  let keep = 0;
  for (const { loop } of results) keep += await loop.run(iterations); // warm-up (JIT)
  for (let round = 0; round < rounds; round += 1) {
    // Interleave contenders so that machine noise spreads evenly.
    for (const result of results) {
      const started = process.hrtime.bigint();
      keep += await result.loop.run(iterations);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      result.rounds.push(Math.round(iterations / seconds));
    }
  }
  if (keep === 0) throw new Error('the measured loops did no work');
  for (const { loop, rounds: values } of results) {
    const sorted = [...values].sort((a, b) => a - b);
    log(`  ${benchmark}: ${loop.contender}: median ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toLocaleString('en-US')} ops/s`);
  }
  return results.map(({ loop, rounds: values }) => ({
    benchmark,
    contender: loop.contender,
    unit: 'ops/s',
    higherIsBetter: true,
    rounds: values,
    baseline: loop.baseline,
    ...(loop.baseline === true ? {} : { target: { op: '>=' as const, value: 1_000_000 } }),
    notes: loop.baseline === true ? 'the limit: no session logic at all' : 'one Date.now() and a few field reads per call; the promise is settled and shared',
  }));
}

export const suite: BenchmarkSuite = {
  name: 'core-session',
  async run(context) {
    const { quick } = context;
    const log = (line: string): void => { context.log(line); };
    const sandbox = await startSandbox();
    try {
      const session = new Session({
        authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
      });
      const token = await session.start();
      const holder = { token: Promise.resolve(token), header: Promise.resolve(`Bearer ${token.value}`) };
      const iterations = quick ? 200_000 : 2_000_000;
      const rounds = quick ? 3 : 7;

      const callLoops: Loop[] = [
        {
          contender: 'reading a variable holding the token promise',
          baseline: true,
          run: (count) => {
            let hits = 0;
            let last: Promise<Token> = holder.token;
            for (let index = 0; index < count; index += 1) {
              const current = holder.token;
              if (current === last) hits += 1;
              last = current;
            }
            return Promise.resolve(hits);
          },
        },
        {
          contender: 'sessionkit session.getToken()',
          run: (count) => {
            let hits = 0;
            let last: Promise<Token> = holder.token;
            for (let index = 0; index < count; index += 1) {
              const current = session.getToken();
              if (current === last) hits += 1;
              last = current;
            }
            return Promise.resolve(hits);
          },
        },
      ];
      const awaitLoops: Loop[] = [
        {
          contender: 'await a variable holding the token promise',
          baseline: true,
          run: async (count) => {
            let length = 0;
            for (let index = 0; index < count; index += 1) length += (await holder.token).value.length;
            return length;
          },
        },
        {
          contender: 'sessionkit await session.getToken()',
          run: async (count) => {
            let length = 0;
            for (let index = 0; index < count; index += 1) length += (await session.getToken()).value.length;
            return length;
          },
        },
        {
          contender: 'sessionkit await session.authorization()',
          run: async (count) => {
            let length = 0;
            for (let index = 0; index < count; index += 1) length += (await session.authorization()).length;
            return length;
          },
        },
      ];

      const measurements = [
        ...(await measure('warm getToken() call', callLoops, iterations, rounds, log)),
        ...(await measure('warm await getToken()', awaitLoops, iterations, rounds, log)),
      ];
      if (sandbox.stats.idp.requests !== 1) throw new Error(`expected 1 token request while warm, saw ${sandbox.stats.idp.requests}`);
      return measurements;
    } finally {
      await sandbox.close();
    }
  },
};
