// Token herd: 1,000 callers ask for a token at the same moment, just after the token they held
// has expired. How many requests reach the token endpoint? sessionkit's Session keeps one
// acquisition in flight per identity (target: exactly 1). The peers are used the way their
// READMEs show: simple-oauth2's ClientCredentials with the `expired()` check and a new
// `getToken()` (its README: client-credentials tokens cannot be refreshed, fetch a new one), and
// openid-client 6's `clientCredentialsGrant()` with its `expiresIn()` helper. Every contender
// keeps the token in a variable shared by all callers, as a program would.
//
// All contenders start each round in the same state: they hold a token the sandbox issued with
// `expires_in: 1`, and the round starts once that second has passed (on the client and on the
// server). The sandbox runs in this process so that its request counter can be read.
import { oauth2, Session } from '@sessionkit/core-session';
import { type Sandbox, startSandbox } from '@sessionkit/sandbox';
import type * as OpenidClientModule from 'openid-client';
import type * as SimpleOauth2Module from 'simple-oauth2';
import type { AccessToken } from 'simple-oauth2';
import type { BenchmarkSuite, Measurement } from '../types.js';

// The peers are loaded when the suite runs, not whenever the bench starts.
type OpenidClient = typeof OpenidClientModule;
type SimpleOauth2 = typeof SimpleOauth2Module;

const CLIENT_ID = 'sessionkit-demo';
const CLIENT_SECRET = 'demo-secret';
const PRIMED_TOKEN_TTL_SECONDS = 1;

interface Herd {
  name: string;
  /** Hold a fresh token (the sandbox issues 1-second tokens while contenders are primed). */
  prime(): Promise<void>;
  /** What one caller does to get the access token it will send. */
  call(): Promise<string>;
  notes: string;
}

function sessionkitHerd(sandbox: Sandbox): Herd {
  let session: Session | undefined;
  return {
    name: 'sessionkit Session.getToken()',
    notes: 'one Session (in-memory store); every caller awaits session.getToken()',
    prime: async () => {
      // A new Session per round, so that no state carries over from the previous round.
      session = new Session({ authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }) });
      await session.start();
    },
    call: async () => {
      if (session === undefined) throw new Error('not primed');
      return (await session.getToken()).value;
    },
  };
}

function simpleOauth2Herd(sandbox: Sandbox, { ClientCredentials }: SimpleOauth2): Herd {
  const client = new ClientCredentials({
    client: { id: CLIENT_ID, secret: CLIENT_SECRET },
    auth: { tokenHost: sandbox.url, tokenPath: new URL(sandbox.tokenUrl).pathname },
  });
  let accessToken: AccessToken | undefined;
  return {
    name: 'simple-oauth2 5 (ClientCredentials, expired() then getToken())',
    notes: "its README's pattern: if accessToken.expired(), fetch a new token with client.getToken() (client-credentials tokens have no refresh token); the token is shared by all callers",
    prime: async () => {
      accessToken = await client.getToken({});
    },
    call: async () => {
      if (accessToken === undefined || accessToken.expired()) accessToken = await client.getToken({});
      return String(accessToken.token.access_token);
    },
  };
}

// eslint-disable-next-line @typescript-eslint/no-deprecated -- allowInsecureRequests: plain http on loopback is exactly the documented use
function openidClientHerd(sandbox: Sandbox, { allowInsecureRequests, clientCredentialsGrant, Configuration }: OpenidClient): Herd {
  // No OpenID discovery document on the sandbox: the Configuration is built from the server
  // metadata directly (the constructor the README documents next to discovery()), and
  // allowInsecureRequests() lets it use plain http on loopback.
  const config = new Configuration({ issuer: sandbox.url, token_endpoint: sandbox.tokenUrl }, CLIENT_ID, CLIENT_SECRET);
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- plain http on loopback is exactly the documented use
  allowInsecureRequests(config);
  let tokens: Awaited<ReturnType<OpenidClient['clientCredentialsGrant']>> | undefined;
  return {
    name: 'openid-client 6 (clientCredentialsGrant(), expiresIn() check)',
    notes: 'new Configuration({ issuer, token_endpoint }) (the sandbox has no discovery document) and allowInsecureRequests(config) for http on loopback; a caller calls clientCredentialsGrant() when the shared tokens are missing or expiresIn() is 0',
    prime: async () => {
      tokens = await clientCredentialsGrant(config);
    },
    call: async () => {
      if (tokens === undefined || (tokens.expiresIn() ?? 0) <= 0) tokens = await clientCredentialsGrant(config);
      return tokens.access_token;
    },
  };
}

interface HerdResult {
  requests: number;
  ms: number;
  failures: number;
  firstFailure: string | undefined;
}

async function runHerd(sandbox: Sandbox, herd: Herd, callers: number): Promise<HerdResult> {
  const before = sandbox.stats.idp.requests;
  const started = process.hrtime.bigint();
  const outcomes = await Promise.allSettled(Array.from({ length: callers }, () => herd.call()));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const requests = sandbox.stats.idp.requests - before;
  let failures = 0;
  let firstFailure: string | undefined;
  for (const outcome of outcomes) {
    // A caller must end with a token the sandbox accepts now, not the expired one it held.
    const reason =
      outcome.status === 'rejected'
        ? outcome.reason instanceof Error
          ? `${outcome.reason.name}: ${outcome.reason.message}`
          : String(outcome.reason)
        : sandbox.idp.verifyAccessToken(outcome.value) === undefined
          ? 'a caller ended with a token the sandbox does not accept'
          : undefined;
    if (reason !== undefined) {
      failures += 1;
      firstFailure ??= reason;
    }
  }
  return { requests, ms, failures, firstFailure };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

export const suite: BenchmarkSuite = {
  name: 'token-herd',
  async run(context) {
    const { quick } = context;
    // Quick mode (a smoke run) sends fewer callers so that the peers' herds end in a second or two.
    const callers = quick ? 100 : 1000;
    const rounds = quick ? 1 : 5;
    const [simpleOauth2, openidClient] = await Promise.all([import('simple-oauth2'), import('openid-client')]);
    const sandbox = await startSandbox();
    try {
      const herds = [sessionkitHerd(sandbox), simpleOauth2Herd(sandbox, simpleOauth2), openidClientHerd(sandbox, openidClient)];
      const results = new Map<Herd, HerdResult[]>(herds.map((herd) => [herd, []]));
      context.log(`  sandbox: startSandbox() in this process, http on loopback, ${sandbox.url}; ${callers} callers, ${rounds} round(s)`);
      for (let round = 0; round < rounds; round += 1) {
        sandbox.idp.setTokenTtlSeconds(PRIMED_TOKEN_TTL_SECONDS);
        for (const herd of herds) await herd.prime();
        const primedAt = Date.now();
        sandbox.idp.setTokenTtlSeconds(3600);
        // Wait out the primed tokens' lifetime (plus a margin for the clocks' rounding).
        await delay(Math.max(0, primedAt + PRIMED_TOKEN_TTL_SECONDS * 1000 + 100 - Date.now()));
        const order = [...herds.slice(round % herds.length), ...herds.slice(0, round % herds.length)];
        for (const herd of order) {
          const result = await runHerd(sandbox, herd, callers);
          results.get(herd)?.push(result);
          context.log(
            `  round ${round + 1}: ${herd.name}: ${result.requests} token request(s), ${result.ms.toFixed(1)} ms` +
              (result.failures > 0 ? `, ${result.failures} failed caller(s) (${result.firstFailure ?? ''})` : ''),
          );
        }
      }

      const countBenchmark = `token herd: ${callers.toLocaleString('en-US')} concurrent callers, expired token (http loopback)`;
      const timeBenchmark = `token herd wall time: ${callers.toLocaleString('en-US')} concurrent callers, expired token (http loopback)`;
      const measurements: Measurement[] = [];
      for (const herd of herds) {
        const rows = results.get(herd) ?? [];
        const failed = rows.reduce((sum, row) => sum + row.failures, 0);
        const firstFailure = rows.find((row) => row.firstFailure !== undefined)?.firstFailure;
        const failureNote = failed > 0 ? `; ${failed} of ${callers * rows.length} callers failed (first: ${firstFailure ?? ''})` : '';
        const ours = herd === herds[0];
        measurements.push({
          benchmark: countBenchmark,
          contender: herd.name,
          unit: 'token requests',
          higherIsBetter: false,
          rounds: rows.map((row) => row.requests),
          ...(ours ? { target: { op: '<=' as const, value: 1 } } : {}),
          notes: `${herd.notes}${failureNote}`,
        });
        measurements.push({
          benchmark: timeBenchmark,
          contender: herd.name,
          unit: 'ms',
          higherIsBetter: false,
          rounds: rows.map((row) => Math.round(row.ms * 100) / 100),
          baseline: ours,
          notes: ours ? 'from the first call to the last caller holding a fresh token; the server runs in the same process' : '',
        });
        context.log(`  ${herd.name}: median ${median(rows.map((row) => row.requests))} token request(s), ${median(rows.map((row) => row.ms)).toFixed(1)} ms`);
      }
      return measurements;
    } finally {
      await sandbox.close();
    }
  },
};
