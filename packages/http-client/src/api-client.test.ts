import { generateKeyPairSync } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { getEventListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTPError, type Options as KyOptions, TimeoutError } from 'ky';
import { Agent } from 'undici';
import { oauth2, Session } from '@sessionkit/core-session';
import { createLogger, type Logger } from '@sessionkit/logger';
import { runChild } from '@sessionkit/vitest-config/child';
import { type Sandbox, startSandbox } from '@sessionkit/sandbox';
import { MemoryStore } from '@sessionkit/token-store';
import { type ApiClientOptions, type ApiSession, createApiClient } from '@sessionkit/http-client';
import { thrownBy } from './testing/thrown-by.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ commands: { domainCount: 5 } });
});
afterAll(async () => {
  await sandbox.close();
});

function session(target: Sandbox = sandbox, fetcher?: typeof fetch): Session {
  return new Session({
    authenticator: oauth2({
      tokenUrl: target.tokenUrl,
      grant: 'client_credentials',
      clientId: 'sessionkit-demo',
      clientSecret: 'demo-secret',
      ...(fetcher === undefined ? {} : { fetch: fetcher }),
    }),
  });
}

/** The message of the HTTPError a request for a missing resource with `searchParams` gets, and its debug log line. */
async function messageAndLog(searchParams: Record<string, string>): Promise<[string, string]> {
  const lines: string[] = [];
  const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0, logger: createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) }) });
  const error = await api.get('v1/missing', { searchParams }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(HTTPError);
  return [(error as HTTPError).message, lines.find((line) => line.includes('v1/missing?')) ?? ''];
}

/** A session that hands out a new token (`Bearer token-<n>`) on every call and records what is invalidated. */
function countingSession(): { counting: ApiSession; invalidated: string[] } {
  const invalidated: string[] = [];
  let issued = 0;
  const counting: ApiSession = {
    authorization: () => Promise.resolve(`Bearer token-${String(++issued)}`),
    invalidate: (refused) => { invalidated.push(typeof refused === 'string' ? refused : refused.value); },
  };
  return { counting, invalidated };
}

describe('createApiClient', () => {
  it('adds the session’s authorization to every request', async () => {
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session() });
    expect(await api.get('v1/whoami').json()).toEqual({ identity: 'client:sessionkit-demo' });
    const echo = await api.post('v1/echo', { json: { hello: ['world'] }, searchParams: { a: '1' } }).json();
    expect(echo).toEqual({ identity: 'client:sessionkit-demo', method: 'POST', query: { a: '1' }, body: { hello: ['world'] } });
  });

  it('after a 401 invalidates the token, gets a new one and replays once', async () => {
    const own = session();
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: own });
    await api.get('v1/whoami');
    const first = await own.getToken();
    const issued = sandbox.stats.idp.issued;
    const unauthorized = sandbox.stats.commands.rest.unauthorized;
    sandbox.idp.expireAll();
    expect(await api.post('v1/echo', { json: { n: 1 } }).json()).toMatchObject({ body: { n: 1 } });
    expect(sandbox.stats.idp.issued - issued).toBe(1);
    expect(sandbox.stats.commands.rest.unauthorized - unauthorized).toBe(1);
    expect((await own.getToken()).value).not.toBe(first.value);
  });

  it('replays only once: a second 401 is the caller’s', async () => {
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session() });
    await api.get('v1/whoami');
    const requests = sandbox.stats.commands.rest.requests;
    sandbox.commands.injectFault({ type: 'status', status: 401 }, { path: '/api/rest/v1/whoami', times: 5 });
    const error = await api.get('v1/whoami').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HTTPError);
    expect((error as HTTPError).response.status).toBe(401);
    expect(sandbox.stats.commands.rest.requests - requests).toBe(2);
    sandbox.commands.clearFaults();
  });

  it('retries after Retry-After on 429 and 503', async () => {
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session() });
    await api.get('v1/whoami');
    const requests = sandbox.stats.commands.rest.requests;
    sandbox.commands.injectFault({ type: 'status', status: 429, retryAfter: '0.2' }, { path: '/api/rest/v1/whoami' });
    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: '0.1' }, { path: '/api/rest/v1/whoami' });
    const started = performance.now();
    expect(await api.get('v1/whoami').json()).toEqual({ identity: 'client:sessionkit-demo' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(sandbox.stats.commands.rest.requests - requests).toBe(3);
    const limited = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0 });
    sandbox.commands.injectFault({ type: 'status', status: 429, retryAfter: 1 }, { path: '/api/rest/v1/whoami' });
    await expect(limited.get('v1/whoami')).rejects.toBeInstanceOf(HTTPError);
  });

  it('keeps the default cap on Retry-After (60 s) when only a retry count or limit is given', async () => {
    // ky hands its normalized options to beforeRequest hooks: what it will wait by.
    const retryOf = async (retry: ApiClientOptions['retry']): Promise<{ limit?: number; maxRetryAfter?: number }> => {
      let seen: KyOptions['retry'];
      const hooks = { beforeRequest: [(_request: Request, options: { retry: KyOptions['retry'] }) => { seen = options.retry; }] };
      await createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry, hooks }).get('v1/whoami');
      return seen as { limit?: number; maxRetryAfter?: number };
    };
    // A count alone, or a limit alone, used to drop the cap: a Retry-After of a day was waited out.
    expect(await retryOf(3)).toMatchObject({ limit: 3, maxRetryAfter: 60_000 });
    expect(await retryOf({ limit: 1 })).toMatchObject({ limit: 1, maxRetryAfter: 60_000 });
    expect(await retryOf(undefined)).toMatchObject({ limit: 2, maxRetryAfter: 60_000 });
    expect(await retryOf({ maxRetryAfter: 5000 })).toMatchObject({ limit: 2, maxRetryAfter: 5000 });
    // Neither a count nor an object: refused when built (a string used to be spread into ky's options).
    expect(thrownBy(() => createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: '3' as unknown as number }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('logs each request through the logger without the token', async () => {
    const lines: string[] = [];
    const own = session();
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: own, logger: createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) }) });
    await api.get('v1/whoami', { searchParams: { access_token: 'query-secret-value' } });
    sandbox.idp.expireAll();
    const stale = await own.getToken();
    await api.get('v1/whoami');
    const token = await own.getToken();
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.filter((entry) => entry.msg === 'rest request').map((entry) => entry.status)).toEqual([200, 401, 200]);
    expect(entries.some((entry) => entry.msg === 'rest 401: token invalidated, replaying once')).toBe(true);
    for (const line of lines) {
      expect(line).not.toContain(token.value);
      expect(line).not.toContain(stale.value);
      expect(line).not.toContain('query-secret-value');
    }
  });

  it('changes no outcome when its logger throws: a request resolves, a refused token is dropped and the request replayed once', async () => {
    const fail = (): never => {
      throw new Error('the logger is down');
    };
    const loggers: [string, Logger][] = [
      ['isLevelEnabled() throws', { ...createLogger({ level: 'debug', write: () => undefined }), isLevelEnabled: fail }],
      ['debug() throws', { ...createLogger({ level: 'debug', write: () => undefined }), debug: fail }],
    ];
    for (const [name, logger] of loggers) {
      const own = session();
      const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: own, retry: 0, logger });
      // It used to reject with the logger's error.
      expect(await api.post('v1/echo', { json: { n: 1 } }).json(), name).toMatchObject({ body: { n: 1 } });
      const stale = await own.getToken();
      const unauthorized = sandbox.stats.commands.rest.unauthorized;
      sandbox.idp.expireAll();
      // The 401 entry and the entry of the refused attempt throw: the token is dropped all the same, and the request replayed.
      expect(await api.post('v1/echo', { json: { n: 2 } }).json(), name).toMatchObject({ body: { n: 2 } });
      expect(sandbox.stats.commands.rest.unauthorized - unauthorized, name).toBe(1);
      expect((await own.getToken()).value, name).not.toBe(stale.value);
    }
  });

  it('shares a keep-alive pool and trusts a self-signed certificate explicitly', async () => {
    const secure = await startSandbox({ tls: true, commands: { domainCount: 5 } });
    const agent = new Agent({ connect: { ca: secure.certificate } });
    try {
      const fetchWithCa: typeof fetch = (input, init) => {
        const withAgent: Record<string, unknown> = { ...init, dispatcher: agent };
        return fetch(input, withAgent);
      };
      const own = session(secure, fetchWithCa);
      const api = createApiClient({ baseUrl: `${secure.url}/api/rest/`, session: own, highPerformance: { connections: 2 }, ca: secure.certificate });
      secure.commands.resetStats();
      for (let index = 0; index < 6; index += 1) expect((await api.get('v1/whoami').json<{ identity: string }>()).identity).toBe('client:sessionkit-demo');
      expect(secure.stats.commands.rest.requests).toBe(6);
      const untrusting = createApiClient({ baseUrl: `${secure.url}/api/rest/`, session: own, retry: 0 });
      await expect(untrusting.get('v1/whoami')).rejects.toThrow();
      const shared = createApiClient({ baseUrl: `${secure.url}/api/rest/`, session: own, dispatcher: agent });
      expect((await shared.get('v1/whoami').json<{ identity: string }>()).identity).toBe('client:sessionkit-demo');
    } finally {
      await agent.close();
      await secure.close();
    }
  });

  it('leaves retrying a failed login to the Session: ky never retries an AuthError, and a caller’s shouldRetry decides the rest', async () => {
    const refused = (): Session =>
      new Session({ authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'wrong-secret' }) });
    const consulted: unknown[] = [];
    const retries = [undefined, 3, { limit: 3, shouldRetry: ({ error }: { error: Error }) => { consulted.push(error); return true; } }];
    for (const retry of retries) {
      const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: refused(), ...(retry === undefined ? {} : { retry }) });
      const before = sandbox.stats.idp.requests;
      await expect(api.get('v1/whoami')).rejects.toMatchObject({ name: 'AuthError', code: 'INVALID_CREDENTIALS' });
      expect(sandbox.stats.idp.requests - before).toBe(1);
    }
    expect(consulted).toEqual([]);

    // Other failures still go to the caller's shouldRetry: here it refuses a retry ky would make.
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: { limit: 2, shouldRetry: ({ error }) => { consulted.push(error); return false; } } });
    await api.get('v1/whoami');
    const requests = sandbox.stats.commands.rest.requests;
    sandbox.commands.injectFault({ type: 'status', status: 503 }, { path: '/api/rest/v1/whoami', times: 2 });
    await expect(api.get('v1/whoami')).rejects.toBeInstanceOf(HTTPError);
    expect(sandbox.stats.commands.rest.requests - requests).toBe(1);
    expect(consulted).toHaveLength(1);
    sandbox.commands.clearFaults();
  });

  it("refuses CommandClient's retry key, in the client's options or a request's, and a logger that is not a Logger of @sessionkit/logger (each was ignored: two retries went on; console logged nothing)", async () => {
    const baseUrl = `${sandbox.url}/api/rest/`;
    const retries = { name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: "retry is ky's: { limit }, not retries (CommandClient's option)." };
    expect(thrownBy(() => createApiClient({ baseUrl, session: session(), retry: { retries: 0 } as never }))).toMatchObject(retries);
    await expect(createApiClient({ baseUrl, session: session() }).get('v1/whoami', { retry: { retries: 0 } as never })).rejects.toMatchObject(retries);
    for (const logger of [console, { debug: () => undefined }, 'debug']) {
      expect(thrownBy(() => createApiClient({ baseUrl, session: session(), logger: logger as never }))).toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: 'logger must be a Logger of @sessionkit/logger: createLogger(), or adaptLogger(target) for console, pino or winston.',
      });
    }
    const lines: string[] = [];
    const api = createApiClient({ baseUrl, session: session(), retry: { limit: 0 }, logger: createLogger({ level: 'debug', write: (line) => lines.push(line) }) });
    expect(await api.get('v1/whoami').json()).toEqual({ identity: 'client:sessionkit-demo' });
    expect(lines.some((line) => line.includes('rest request'))).toBe(true);
  });

  it('rejects a bad timeoutMs or retry count when it is built, naming the option, instead of failing every request', async () => {
    const baseUrl = `${sandbox.url}/api/rest/`;
    for (const value of [1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      // With its own pool (highPerformance, ca or tls) a fractional timeoutMs used to fail every request: undici takes whole milliseconds only.
      for (const own of [{ highPerformance: true }, {}]) {
        expect(thrownBy(() => createApiClient({ baseUrl, session: session(), ...own, timeoutMs: value }))).toMatchObject({
          name: 'HttpClientError',
          code: 'INVALID_ARGUMENT',
          message: `timeoutMs must be a whole number from 1 to 2147483647, not ${value}.`,
        });
      }
      expect(thrownBy(() => createApiClient({ baseUrl, session: session(), retry: value }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^retry must be a whole number from 0 /) as unknown });
      // In the object form too: ky retried a limit of NaN without end.
      expect(thrownBy(() => createApiClient({ baseUrl, session: session(), retry: { limit: value } }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^retry must be a whole number from 0 /) as unknown });
    }
    // 0 used to time out every request at once (ky's timer, unlike undici's, does not take 0 as none).
    expect(thrownBy(() => createApiClient({ baseUrl, session: session(), timeoutMs: 0 }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'timeoutMs must be a whole number from 1 to 2147483647, not 0.' });
    // Whole milliseconds are fine, with the client's own pool too.
    const api = createApiClient({ baseUrl, session: session(), highPerformance: true, timeoutMs: 2000, retry: 0 });
    expect(await api.get('v1/whoami').json()).toEqual({ identity: 'client:sessionkit-demo' });
  });

  it('refuses a request\'s or extend()\'s retry limit that is no whole number before anything is sent, and does not retry that refusal', async () => {
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: { limit: 2, delay: () => 1 } });
    const requests = sandbox.stats.commands.rest.requests;
    // A limit of NaN was retried without end against a failing server (the refusal too, then sent).
    sandbox.commands.injectFault({ type: 'status', status: 503 }, { times: 5 });
    for (const retry of [{ limit: Number.NaN }, { limit: 1.5 }, Number.POSITIVE_INFINITY]) {
      const error = await api.get('v1/whoami', { retry }).then(() => undefined, (caught: unknown) => caught);
      expect(error, JSON.stringify(retry)).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^retry must be a whole number from 0 /) as unknown });
      await expect(api.extend({ retry }).get('v1/whoami')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(sandbox.stats.commands.rest.requests).toBe(requests);
    sandbox.commands.clearFaults();
  });

  it('treats options given as null (plain JavaScript) like options not given', async () => {
    const nulls = { highPerformance: null, ca: null, tls: null, retry: null, timeoutMs: null, headers: null, hooks: null, logger: null, dispatcher: null };
    // highPerformance, headers and hooks given as null used to throw a TypeError.
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), ...nulls } as unknown as ApiClientOptions);
    expect(await api.get('v1/whoami').json()).toEqual({ identity: 'client:sessionkit-demo' });
    // Headers and hooks of a request still apply.
    const seen: (string | null)[] = [];
    const hooks = { beforeRequest: [(request: Request) => { seen.push(request.headers.get('x-request')); }] };
    expect(await api.get('v1/whoami', { headers: { 'x-request': 'one' }, hooks }).json()).toEqual({ identity: 'client:sessionkit-demo' });
    expect(seen).toEqual(['one']);
  });

  it('treats the options argument given as null like none, so that baseUrl is missing, and refuses one that is not an object', () => {
    // Both used to throw a TypeError.
    expect(thrownBy(() => createApiClient(null as never))).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^baseUrl must be an http: or https: URL /) as unknown });
    expect(thrownBy(() => createApiClient(`${sandbox.url}/api/rest/` as never))).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'options must be an object, not string.' });
  });

  it('refuses a missing or unusable session when it is built, naming it, instead of a TypeError at the first request', async () => {
    const baseUrl = `${sandbox.url}/api/rest/`;
    const error = { name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: 'session must have authorization() and invalidate().' };
    const requests = sandbox.stats.commands.rest.requests;
    expect(thrownBy(() => createApiClient({ baseUrl } as ApiClientOptions))).toMatchObject(error);
    for (const unusable of [null, 'Bearer token', {}, { authorization: () => Promise.resolve('Bearer token') }, { invalidate: () => undefined }]) {
      expect(thrownBy(() => createApiClient({ baseUrl, session: unusable } as unknown as ApiClientOptions)), JSON.stringify(unusable)).toMatchObject(error);
    }
    expect(sandbox.stats.commands.rest.requests).toBe(requests);
    // Anything with both works, such as a wrapper of a Session.
    const own = session();
    const wrapper = { authorization: () => own.authorization(), invalidate: (refused: string) => { own.invalidate(refused); } };
    expect(await createApiClient({ baseUrl, session: wrapper }).get('v1/whoami').json()).toEqual({ identity: 'client:sessionkit-demo' });
  });

  it('drops the token and replays only for a 401 of the API’s own origin, not of another one a redirect led to', async () => {
    // Two origins: the API, which redirects, and another one that answers 401 to everything.
    const seen: { path: string | undefined; authorization: string | undefined }[] = [];
    const other = createHttpServer((request, response) => {
      seen.push({ path: request.url, authorization: request.headers.authorization });
      response.writeHead(401).end();
    });
    let apiRequests = 0;
    const api = createHttpServer((request, response) => {
      apiRequests++;
      if (request.url === '/api/rest/elsewhere') response.writeHead(307, { location: `${origin(other)}/refusing` }).end();
      else if (request.url === '/api/rest/here') response.writeHead(307, { location: '/api/rest/refused' }).end();
      else response.writeHead(401).end();
    });
    const origin = (server: HttpServer): string => `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    await Promise.all([other, api].map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
    try {
      const { counting, invalidated } = countingSession();
      const client = createApiClient({ baseUrl: `${origin(api)}/api/rest/`, session: counting, retry: 0 });
      // Another origin's 401: fetch sent it no token, so the token is kept and nothing is replayed.
      const elsewhere = await client.get('elsewhere').catch((caught: unknown) => caught);
      expect((elsewhere as HTTPError).response.status).toBe(401);
      expect(seen).toEqual([{ path: '/refusing', authorization: undefined }]);
      expect([invalidated, apiRequests]).toEqual([[], 1]);
      // The API's own 401 after a redirect on its origin: the token is dropped and the request replayed.
      const here = await client.get('here').catch((caught: unknown) => caught);
      expect((here as HTTPError).response.status).toBe(401);
      expect(invalidated).toEqual(['Bearer token-2']);
      expect(apiRequests).toBe(5);
    } finally {
      await Promise.all([other, api].map((server) => new Promise<void>((resolve) => server.close(() => { resolve(); }))));
    }
  });

  it('drops the token and replays only for a 401 that may be about the token: not for another scheme’s challenge alone, nor a Bearer error other than invalid_token (RFC 6750); the replay’s token only for an explicit invalid_token', async () => {
    let challenge: string | undefined;
    let requests = 0;
    const server = createHttpServer((_request, response) => {
      requests++;
      response.writeHead(401, challenge === undefined ? {} : { 'www-authenticate': challenge }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { counting, invalidated } = countingSession();
      const client = createApiClient({ baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, session: counting, retry: 0 });
      const outcome = async (given: string | undefined): Promise<[number, string[]]> => {
        challenge = given;
        requests = 0;
        invalidated.length = 0;
        const error = await client.get('x').catch((caught: unknown) => caught);
        expect((error as HTTPError).response.status).toBe(401);
        return [requests, [...invalidated]];
      };
      // Not the token's: sent once, and the token kept.
      expect(await outcome('Basic realm="corp-proxy"')).toEqual([1, []]);
      expect(await outcome('Basic realm="bearer-gateway"')).toEqual([1, []]);
      expect(await outcome('Bearer realm="api", error="invalid_request", error_description="two tokens"')).toEqual([1, []]);
      expect(await outcome('Bearer error="insufficient_scope", error_description="not an invalid_token"')).toEqual([1, []]);
      expect(await outcome('Basic realm="corp, Bearer"')).toEqual([1, []]);
      expect(await outcome('Bearer error_description="set error=invalid_token later", error="invalid_request"')).toEqual([1, []]);
      // The token's: dropped and replayed once with a new one, itself dropped when refused as invalid_token too.
      expect(await outcome('Bearer realm="api", error="invalid_token"')).toEqual([2, ['Bearer token-7', 'Bearer token-8']]);
      expect(await outcome('Basic realm="x", Bearer error=invalid_token')).toEqual([2, ['Bearer token-9', 'Bearer token-10']]);
      // Maybe the token's (no challenge, or a Bearer one without an error): dropped and replayed, the new one kept.
      expect(await outcome('Bearer realm="api"')).toEqual([2, ['Bearer token-11']]);
      expect(await outcome('Bearer realm="api error=invalid_token", DPoP error="invalid_token"')).toEqual([2, ['Bearer token-13']]);
      expect(await outcome(undefined)).toEqual([2, ['Bearer token-15']]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    }
  });

  it('asks the token endpoint once per request of an API that refuses every one (the replay’s new token is kept)', async () => {
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0 });
    await api.get('v1/whoami');
    const issued = sandbox.stats.idp.issued;
    sandbox.commands.injectFault({ type: 'status', status: 401 }, { path: '/api/rest/v1/whoami', times: 10 });
    try {
      for (let call = 0; call < 5; call++) expect(((await api.get('v1/whoami').catch((caught: unknown) => caught)) as HTTPError).response.status).toBe(401);
      expect(sandbox.stats.idp.issued - issued).toBe(5);
    } finally {
      sandbox.commands.clearFaults();
    }
  });

  it('sends nothing to another origin than baseUrl’s, given as a URL, a Request or by a hook, and asks the session for no token; its own origin’s URLs go', async () => {
    const seen: (string | undefined)[] = [];
    const server = (): HttpServer => createHttpServer((request, response) => {
      seen.push(request.headers.authorization);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    const [other, api] = [server(), server()];
    const origin = (each: HttpServer): string => `http://127.0.0.1:${(each.address() as { port: number }).port}`;
    await Promise.all([other, api].map((each) => new Promise<void>((resolve) => each.listen(0, '127.0.0.1', resolve))));
    try {
      let asked = 0;
      const counting: ApiSession = { authorization: () => Promise.resolve(`Bearer token-${String(++asked)}`), invalidate: () => undefined };
      let retries = 0;
      const client = createApiClient({ baseUrl: `${origin(api)}/api/rest/`, session: counting, hooks: { beforeRetry: [() => { retries++; }] } });
      const message = `A request to ${origin(other)} is not sent: the client's token is for ${origin(api)} only.`;
      const elsewhere = `${origin(other)}/collect`;
      for (const input of [new URL(elsewhere), new Request(elsewhere)]) {
        await expect(client.get(input)).rejects.toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message });
      }
      // A hook of the caller's that points the request elsewhere.
      const redirected = client.extend({ hooks: { beforeRequest: [() => new Request(elsewhere)] } });
      await expect(redirected.get('v1/me')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message });
      // Refused at once: not retried.
      expect([seen, asked, retries]).toEqual([[], 0, 0]);
      // The API's own URL, absolute (a `next` link), is sent with the token.
      await expect(client.get(new URL(`${origin(api)}/api/rest/v1/items?page=2`)).json()).resolves.toEqual({});
      expect(seen).toEqual(['Bearer token-1']);
    } finally {
      await Promise.all([other, api].map((each) => new Promise<void>((resolve) => each.close(() => { resolve(); }))));
    }
  });

  it('sends the client’s headers and runs its hooks, with those of each request', async () => {
    const seen: string[] = [];
    const hook = (name: string) => (request: Request) => { seen.push(`${name}: ${request.headers.get('x-client') ?? '-'} ${request.headers.get('x-request') ?? '-'}`); };
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), headers: { 'x-client': 'c' }, hooks: { beforeRequest: [hook('client')] } });
    await api.get('v1/whoami', { headers: { 'x-request': 'r' }, hooks: { beforeRequest: [hook('request')] } });
    await api.get('v1/whoami');
    expect(seen).toEqual(['client: c r', 'request: c r', 'client: c -']);
  });

  // Secret query fields a caller may put in a path or in searchParams, and a password in a URL in a query value.
  const SECRETS = { api_key: 'key-secret-1', access_token: 'token-secret-2', password: 'password-secret-3', s_pw: 'pw-secret-4' };
  const IN_URL = 'url-secret-5';
  // The same in a path (searchParams would replace its query): the URL in a query value as it is, not encoded.
  const QUERY = `?${new URLSearchParams(SECRETS).toString()}&next=https://user:${IN_URL}@example.com/`;
  const expectRedacted = (error: unknown): void => {
    const { message, stack } = error as Error;
    for (const secret of [...Object.values(SECRETS), IN_URL]) {
      expect(message).not.toContain(secret);
      expect(stack).not.toContain(secret);
    }
    // Still the URL, redacted.
    expect(message).toContain('/api/rest/v1/');
    expect(message).toContain('api_key=');
  };

  it('redacts the URL in the message and stack of an HTTPError and keeps its response and request', async () => {
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0 });
    // A 404 of the API, the secrets in the path's query.
    const missing = await api.get(`v1/missing${QUERY}`).catch((caught: unknown) => caught);
    expect(missing).toBeInstanceOf(HTTPError);
    expectRedacted(missing);
    expect((missing as HTTPError).response.status).toBe(404);
    expect(await (missing as HTTPError).response.json()).toEqual({ error: 'not_found' });
    expect((missing as HTTPError).request.url).toContain(QUERY);
    // A fault (500), the secrets in searchParams, a request with a body, through json().
    sandbox.commands.injectFault({ type: 'status', status: 500 }, { path: '/api/rest/v1/echo' });
    const failed = await api.post('v1/echo', { json: { a: 1 }, searchParams: SECRETS }).json().catch((caught: unknown) => caught);
    expect(failed).toBeInstanceOf(HTTPError);
    expectRedacted(failed);
    expect((failed as HTTPError).response.status).toBe(500);
    expect((failed as HTTPError).options.method).toBe('POST');
  });

  it('redacts the URL in the message and stack of a TimeoutError and keeps its request, without the bearer token', async () => {
    const tokens = session();
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: tokens, retry: 0, timeoutMs: 150 });
    // The token first, so that the login does not count against the timeout.
    await api.get('v1/whoami');
    const { value: token } = await tokens.getToken();
    // Without and with a signal of the caller (which ky combines with its own), and with a body.
    const requests = [() => api.get(`v1/whoami${QUERY}`), () => api.get(`v1/whoami${QUERY}`, { signal: new AbortController().signal }), () => api.post('v1/whoami', { json: { a: 1 }, searchParams: SECRETS })];
    for (const request of requests) {
      sandbox.commands.injectFault({ type: 'slow', delayMs: 2000 }, { path: '/api/rest/v1/whoami' });
      const error = await request().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TimeoutError);
      expectRedacted(error);
      // The request is the one sent, its URL as it was.
      expect((error as TimeoutError).request.url).toContain(`api_key=${SECRETS.api_key}`);
      // The authorization went with the fetch, not onto ky's Request: console.error(error) prints its headers.
      expect((error as TimeoutError).request.headers.get('authorization')).toBeNull();
      expect(inspect(error, { depth: 10 })).not.toContain(token);
    }
    sandbox.commands.clearFaults();
  });

  it('redacts the URL in what util.inspect (console.error) and JSON.stringify show of an HTTPError and a TimeoutError, which keep request.url and options as sent', async () => {
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0, timeoutMs: 150 });
    await api.get('v1/whoami');
    // The secrets in searchParams (which error.options holds) and in the path.
    const missing = await api.get('v1/missing', { searchParams: SECRETS }).catch((caught: unknown) => caught);
    const missingInPath = await api.post(`v1/missing${QUERY}`, { json: { a: 1 } }).catch((caught: unknown) => caught);
    sandbox.commands.injectFault({ type: 'slow', delayMs: 2000 }, { path: '/api/rest/v1/whoami' });
    const timedOut = await api.get(`v1/whoami${QUERY}`).catch((caught: unknown) => caught);
    sandbox.commands.clearFaults();
    expect([missing, missingInPath, timedOut].map((error) => (error as Error).name)).toEqual(['HTTPError', 'HTTPError', 'TimeoutError']);
    for (const error of [missing, missingInPath, timedOut] as (HTTPError | TimeoutError)[]) {
      // They used to print request.url, and options.searchParams, as sent.
      const printed = [inspect(error), inspect(error, { depth: 10, showHidden: true }), inspect({ error }, { depth: 10 }), JSON.stringify(error)];
      for (const text of printed) {
        for (const secret of [...Object.values(SECRETS), IN_URL]) expect(text).not.toContain(secret);
        expect(text).toContain('api_key=[REDACTED]');
      }
      expect(printed[0]).toContain(error.stack);
      // The properties as they were: the URL as sent.
      expect(error.request.url).toContain(`api_key=${SECRETS.api_key}`);
    }
    // What they show: the name, message and stack, the status, the method and the URL, redacted.
    const url = `${sandbox.url}/api/rest/v1/missing?${new URLSearchParams({ ...SECRETS, api_key: '[REDACTED]', access_token: '[REDACTED]', password: '[REDACTED]', s_pw: '[REDACTED]' }).toString()}`.replaceAll('%5B', '[').replaceAll('%5D', ']');
    expect(JSON.parse(JSON.stringify(missing)) as unknown).toEqual({ name: 'HTTPError', message: `Request failed with status code 404 Not Found: GET ${url}`, stack: (missing as Error).stack, status: 404, method: 'GET', url });
    expect(inspect(missing)).toContain(`status: 404,\n  method: 'GET',\n  url: '${url}'`);
    expect(JSON.parse(JSON.stringify(timedOut)) as unknown).toMatchObject({ name: 'TimeoutError', request: { method: 'GET', url: expect.stringContaining('/api/rest/v1/whoami?api_key=[REDACTED]') as unknown } });
    expect(((missing as HTTPError).options as KyOptions).searchParams).toEqual(SECRETS);
    expect((missingInPath as HTTPError).options).toMatchObject({ method: 'POST', json: { a: 1 } });
  });

  it('prints what the caller’s hooks add to an HTTPError (a body, a code, a cause), and prints one whose request, response and options a hook deleted', async () => {
    const cause = new Error('the cause');
    const api = createApiClient({
      baseUrl: `${sandbox.url}/api/rest/`,
      session: session(),
      retry: 0,
      hooks: { beforeError: [(error) => Object.assign(error, { code: 'E_MISSING', body: { reason: 'gone' }, cause })] },
    });
    const added = (await api.get('v1/missing', { searchParams: SECRETS }).catch((caught: unknown) => caught)) as HTTPError;
    const json = JSON.stringify(added);
    expect(JSON.parse(json) as unknown).toMatchObject({ name: 'HTTPError', code: 'E_MISSING', body: { reason: 'gone' }, cause: { name: 'Error', message: 'the cause' }, status: 404, method: 'GET' });
    const printed = inspect(added, { depth: 5 });
    expect(printed).toContain("code: 'E_MISSING'");
    expect(printed).toContain("reason: 'gone'");
    expect(printed).toContain('the cause');
    for (const secret of Object.values(SECRETS)) {
      expect(printed).not.toContain(secret);
      expect(json).not.toContain(secret);
    }
    // A cause as `new Error(message, { cause })` makes it: not enumerable. One that is the error
    // itself (or leads back to it) prints once, bounded, and JSON gives its name and message.
    const plain = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0 });
    const circular = await plain.get('v1/missing', { hooks: { beforeError: [(error) => Object.defineProperty(error, 'cause', { value: error, configurable: true })] } }).catch((caught: unknown) => caught);
    expect(JSON.parse(JSON.stringify(circular)) as unknown).toMatchObject({ name: 'HTTPError', cause: { name: 'HTTPError', message: expect.stringContaining('404') as unknown } });
    expect(inspect(circular).length).toBeLessThan(20_000);
    expect(inspect(circular)).toContain('cause: [Circular]');
    expect(inspect(circular, { depth: null }).length).toBeLessThan(20_000);
    // A getter a hook added that throws: the error still prints (its stack).
    const throwing = await plain.get('v1/missing', { hooks: { beforeError: [(error) => Object.defineProperty(error, 'body', { get: () => { throw new Error('unreadable'); }, enumerable: true })] } }).catch((caught: unknown) => caught);
    expect(inspect(throwing)).toContain('HTTPError: Request failed with status code 404');
    // A hook that drops the heavy properties (a way to keep them out of logs before this fix):
    // printing it must not throw, which in a catch block would replace the error.
    const stripping = createApiClient({
      baseUrl: `${sandbox.url}/api/rest/`,
      session: session(),
      retry: 0,
      hooks: { beforeError: [(error) => Object.assign(error, { request: undefined, response: undefined, options: undefined })] },
    });
    const stripped = await stripping.get('v1/missing', { searchParams: SECRETS }).catch((caught: unknown) => caught);
    expect(() => inspect(stripped)).not.toThrow();
    expect(JSON.parse(JSON.stringify(stripped)) as unknown).toMatchObject({ name: 'HTTPError', message: expect.stringContaining('api_key=[REDACTED]') as unknown });
  });

  it('runs the caller’s beforeError hooks after the redaction: of the client, of extend() and of each request', async () => {
    const seen: string[] = [];
    const hook = (name: string) => (error: HTTPError): HTTPError => {
      seen.push(`${name}: ${error.message}`);
      return error;
    };
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0, hooks: { beforeError: [hook('client')] } });
    const extended = api.extend({ hooks: { beforeError: [hook('extend')] } });
    // What the caller's last hook returns is what is thrown.
    const error = await extended.get('v1/missing', { searchParams: SECRETS, hooks: { beforeError: [hook('request'), (thrown) => Object.assign(thrown, { tagged: true })] } }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'HTTPError', tagged: true, response: { status: 404 } });
    expect(seen.map((entry) => entry.split(':')[0])).toEqual(['client', 'extend', 'request']);
    for (const entry of seen) {
      expect(entry).toContain('Request failed with status code 404');
      for (const secret of Object.values(SECRETS)) expect(entry).not.toContain(secret);
    }
    // Its other hooks still run too.
    const requests: string[] = [];
    const withOthers = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0, hooks: { beforeRequest: [(request) => { requests.push(request.method); }] } });
    expectRedacted(await withOthers.get('v1/missing', { searchParams: SECRETS }).catch((caught: unknown) => caught));
    expect(requests).toEqual(['GET']);
  });

  it('redacts a URL percent-encoded in a query value (searchParams) in errors and the log, and leaves other encoded values as they are', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) });
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0, timeoutMs: 150, logger });
    await api.get('v1/whoami');
    // searchParams encodes each value: `:` `/` `?` `=` `&` `@` become escapes, which hid the secret from the redaction.
    const secrets = { redirect: 'https://x.example/cb?password=encoded-secret-1', next: '/cb?a=1&token=encoded-secret-2', back: 'https://user:encoded-secret-3@example.com/', twice: encodeURIComponent('/cb?api_key=encoded-secret-4') };
    const plain = { q: 'a b&c=d', price: '100%', odd: '%zz' };
    const searchParams = { ...plain, ...secrets };
    const check = (error: unknown): void => {
      const { message, stack } = error as Error;
      for (const secret of ['encoded-secret-1', 'encoded-secret-2', 'encoded-secret-3', 'encoded-secret-4']) {
        expect(message).not.toContain(secret);
        expect(stack).not.toContain(secret);
      }
      // Still the URL, the values without a secret as they were.
      expect(message).toContain(`v1/missing?${new URLSearchParams(plain).toString()}&redirect=https%3A%2F%2Fx.example%2Fcb%3Fpassword%3D`);
    };
    const missing = await api.get('v1/missing', { searchParams }).catch((caught: unknown) => caught);
    expect(missing).toBeInstanceOf(HTTPError);
    check(missing);
    expect((missing as HTTPError).request.url).toContain(new URLSearchParams(searchParams).toString());
    sandbox.commands.injectFault({ type: 'slow', delayMs: 2000 }, { path: '/api/rest/v1/missing' });
    const timedOut = await api.get('v1/missing', { searchParams }).catch((caught: unknown) => caught);
    expect(timedOut).toBeInstanceOf(TimeoutError);
    check(timedOut);
    sandbox.commands.clearFaults();
    expect(lines.filter((line) => line.includes('v1/missing?'))).toHaveLength(2);
    for (const line of lines) expect(line).not.toMatch(/encoded-secret/);
  });

  it('refuses an authorization that is not a valid header value without quoting it, and sends nothing', async () => {
    const SECRET = 'Tok3n-Secret-Value';
    const tokenSession = (value: string): Session =>
      new Session({ authenticator: { identity: `bad-token ${value.length}`, authenticate: (context) => Promise.resolve({ value, type: 'Bearer', obtainedAt: context.now(), expiresAt: context.now() + 60_000 }) } });
    const ours = /^authorization must be Latin-1 without control characters\.$/;
    // A Session (core-session) refuses a token with a control character itself, with its own message.
    const sessions = /^The authenticator returned no token /;
    const sources: [ApiClientOptions['session'], RegExp][] = [
      [tokenSession(`${SECRET}\nX-Injected: 1`), sessions],
      [tokenSession(`${SECRET}\r\nX-Injected: 1`), sessions],
      [tokenSession(`${SECRET}\0`), sessions],
      // Beyond Latin-1: a TypeError without the token, but refused the same way.
      [tokenSession(`${SECRET}\u2603`), ours],
      // A token source of the caller's own.
      [{ authorization: () => Promise.resolve(`Bearer ${SECRET}\nX`), invalidate: () => undefined }, ours],
    ];
    for (const [source, message] of sources) {
      const lines: string[] = [];
      const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: source, logger: createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) }) });
      const requests = sandbox.stats.commands.rest.requests;
      const error = await api.get('v1/whoami').catch((caught: unknown) => caught);
      const seen: string[] = [inspect(error, { depth: 20, showHidden: true }), ...lines];
      for (let cause: unknown = error; cause != null; cause = (cause as Error).cause) seen.push((cause as Error).message, String((cause as Error).stack));
      for (const text of seen) expect(text).not.toContain(SECRET);
      // An AuthError: ky does not retry it.
      expect(error).toMatchObject({ name: 'AuthError', code: 'INVALID_RESPONSE' });
      expect((error as Error).message).toMatch(message);
      expect((error as Error).cause).toBeUndefined();
      // Not retried, and never sent.
      expect(sandbox.stats.commands.rest.requests - requests).toBe(0);
    }
  });

  it('does not retry a request whose Session failed with a store error (its lock held too long): the Session has waited already', async () => {
    const store = new MemoryStore();
    const own = new Session({ store, lockTimeoutMs: 200, authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }) });
    let release!: () => void;
    const held = store.withLock(own.key, () => new Promise<void>((resolve) => { release = resolve; }));
    try {
      let retries = 0;
      const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: own, hooks: { beforeRetry: [() => { retries += 1; }] } });
      // A GET (which ky retries): each retry waited for the lock again, three times the lock timeout in all.
      await expect(api.get('v1/whoami')).rejects.toMatchObject({ name: 'StoreError', code: 'LOCK_TIMEOUT' });
      expect(retries).toBe(0);
    } finally {
      release();
      await held;
    }
  });

  it('ends the reading of a body at the caller’s abort, with garbage collections meanwhile: after a 401 replay, a retry, a retry after a timeout, and without the hooks (in a child process)', { timeout: 60_000 }, async () => {
    const script = fileURLToPath(new URL('./testing/rest-body-abort-child.ts', import.meta.url));
    // A lost abort gives up after 3 s in the child, which then goes on to the next path.
    const { exitCode, stdout, stderr } = await runChild(script, { nodeFlags: ['--expose-gc'], killAfterMs: 45_000 });
    expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: '' });
    const outcomes = stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown);
    expect(outcomes).toEqual(['plain', 'replay', 'retry', 'timeout', 'unhooked'].map((path) => ({ path, ended: 'caller gave up', letGo: true })));
  });

  it('ends a request at once with the caller’s abort while the Session gets a token, on the first request and on the replay after a 401, and leaves no listener', async () => {
    // A timeout long enough to tell: the wait for the token used to go on until it (or the Session's attempt timeout) ended it.
    const reason = new Error('caller gave up');
    // Without retries: the token requests left hanging fail when the faults are cleared, and a retry would reach later tests.
    const once = (): Session => new Session({ authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }), retry: { retries: 0 } });
    for (const replay of [false, true]) {
      const own = once();
      const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: own, timeoutMs: 5000 });
      if (replay) {
        await api.get('v1/whoami');
        sandbox.idp.revokeAll();
      }
      const requests = sandbox.stats.commands.rest.requests;
      sandbox.idp.injectFault({ kind: 'hang', count: 10 });
      const controller = new AbortController();
      setTimeout(() => {
        controller.abort(reason);
      }, 100);
      const started = performance.now();
      const error = await api.get('v1/whoami', { signal: controller.signal }).catch((caught: unknown) => caught);
      const elapsed = performance.now() - started;
      sandbox.idp.clearFaults();
      expect(error, replay ? 'replay' : 'first request').toBe(reason);
      // Well before timeoutMs (5 s), with room for a busy machine.
      expect(elapsed).toBeLessThan(3000);
      // The refused request only, for the replay: nothing after the abort.
      expect(sandbox.stats.commands.rest.requests - requests).toBe(replay ? 1 : 0);
    }
    // ky's timeout ends that wait too, with its TimeoutError.
    sandbox.idp.injectFault({ kind: 'hang', count: 10 });
    const timedOut = await createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: once(), timeoutMs: 200, retry: 0 }).get('v1/whoami').catch((caught: unknown) => caught);
    sandbox.idp.clearFaults();
    expect(timedOut).toBeInstanceOf(TimeoutError);

    // Once the token is there, the listener that waited for the abort is gone: of those on ky's
    // signal during that wait, only the one of ky's Request (which follows it) stays.
    let signal!: AbortSignal;
    let during: unknown[] = [];
    const own = session();
    const watched = { authorization: () => { during = getEventListeners(signal, 'abort'); return own.authorization(); }, invalidate: (refused: string) => { own.invalidate(refused); } };
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: watched, hooks: { beforeRequest: [(_request, options) => { signal = options.signal!; }] } });
    expect(await api.get('v1/whoami', { signal: new AbortController().signal }).json()).toEqual({ identity: 'client:sessionkit-demo' });
    expect(getEventListeners(signal, 'abort').filter((listener) => during.includes(listener))).toHaveLength(1);
  });

  it('keeps its retry guards under a request’s or extend()’s retry: never retries a failed login, and caps Retry-After', async () => {
    const refused = (): Session =>
      new Session({ authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'wrong-secret' }) });
    const consulted: unknown[] = [];
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: refused() });
    const calls = [
      () => api.get('v1/whoami', { retry: 3 }),
      () => api.get('v1/whoami', { retry: { limit: 3 } }),
      () => api.get('v1/whoami', { retry: { limit: 3, shouldRetry: ({ error }) => { consulted.push(error); return true; } } }),
      () => api.extend({ retry: 3 }).get('v1/whoami'),
    ];
    for (const [index, call] of calls.entries()) {
      const before = sandbox.stats.idp.requests;
      // A count used to replace the client's retry options whole, the guard with them: four token requests.
      await expect(call()).rejects.toMatchObject({ name: 'AuthError', code: 'INVALID_CREDENTIALS' });
      expect(sandbox.stats.idp.requests - before, `call ${index}`).toBe(1);
    }
    expect(consulted).toEqual([]);

    // The cap: a request's count keeps the client's; a request's maxRetryAfter lowers it, never raises it.
    let seen: { maxRetryAfter?: number } | undefined;
    const hooks = { beforeRequest: [(_request: Request, options: { retry: KyOptions['retry'] }) => { seen = options.retry as { maxRetryAfter?: number }; }] };
    const capped = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: { maxRetryAfter: 1000 }, hooks });
    for (const [retry, cap] of [[3, 1000], [{ limit: 1 }, 1000], [{ maxRetryAfter: 500 }, 500], [{ maxRetryAfter: 120_000 }, 1000]] as const) {
      await capped.get('v1/whoami', { retry });
      expect(seen?.maxRetryAfter, JSON.stringify(retry)).toBe(cap);
    }
    // And what it does: a Retry-After over the client's cap is not waited out (it used to be, whole, after a request's `retry: 1`).
    const requests = sandbox.stats.commands.rest.requests;
    sandbox.commands.injectFault({ type: 'status', status: 429, retryAfter: 3 }, { path: '/api/rest/v1/whoami' });
    const started = performance.now();
    const error = await capped.extend({ retry: 2 }).get('v1/whoami', { retry: 1 }).catch((caught: unknown) => caught);
    expect((error as HTTPError).response.status).toBe(429);
    expect(performance.now() - started).toBeLessThan(2500);
    expect(sandbox.stats.commands.rest.requests - requests).toBe(1);
    sandbox.commands.clearFaults();
  });

  it('does not retry a failure whose Retry-After is longer than maxRetryAfter, rather than retry it early at the cap', async () => {
    // A cap of 3 s: a wait for it stands out from the time a request takes on a busy machine.
    const capped = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: { maxRetryAfter: 3000 } });
    await capped.get('v1/whoami');
    const plain = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session() });
    // Unreadable, or an HTTP date past the cap (far past it too), is not waited for either: ky would wait the whole cap.
    const cases = [[capped, 5], [plain, 120], [plain, 'soon, maybe'], [plain, 'Infinity'], [plain, 'Fri, 31 Dec 9999 23:59:59 GMT'], [capped, new Date(Date.now() + 30_000).toUTCString()]] as const;
    for (const [api, retryAfter] of cases) {
      const requests = sandbox.stats.commands.rest.requests;
      sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter }, { path: '/api/rest/v1/whoami' });
      const started = performance.now();
      // It used to be sent again when the cap ran out (after 3 s; after 60 s by default), before the time the server asked for.
      const error = await api.get('v1/whoami').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(HTTPError);
      expect((error as HTTPError).response.status, String(retryAfter)).toBe(503);
      expect(performance.now() - started).toBeLessThan(2500);
      expect(sandbox.stats.commands.rest.requests - requests).toBe(1);
      sandbox.commands.clearFaults();
    }
    // Within the cap it waits and retries.
    const requests = sandbox.stats.commands.rest.requests;
    sandbox.commands.injectFault({ type: 'status', status: 429, retryAfter: '0.3' }, { path: '/api/rest/v1/whoami' });
    const started = performance.now();
    expect(await capped.get('v1/whoami').json()).toEqual({ identity: 'client:sessionkit-demo' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(sandbox.stats.commands.rest.requests - requests).toBe(2);
  });

  it('caps only the Retry-After that ky waits on: 500 and 502 are retried as before whatever their Retry-After, and so is a 503 when afterStatusCodes leaves it out', async () => {
    const base = `${sandbox.url}/api/rest/`;
    const fast = { backoffLimit: 10 };
    const api = createApiClient({ baseUrl: base, session: session(), retry: fast });
    const ignoring = createApiClient({ baseUrl: base, session: session(), retry: { ...fast, afterStatusCodes: [] } });
    await api.get('v1/whoami');
    await ignoring.get('v1/whoami');
    const cases: [typeof api, number, KyOptions][] = [
      [api, 500, {}],
      [api, 502, {}],
      [ignoring, 503, {}],
      [api, 503, { retry: { limit: 2, afterStatusCodes: [] } }],
    ];
    for (const [client, status, requestOptions] of cases) {
      const requests = sandbox.stats.commands.rest.requests;
      // ky does not wait on these (not in afterStatusCodes): a Retry-After of 2 minutes, far over the
      // 60 s cap, used to stop the retries (one request, not three).
      sandbox.commands.injectFault({ type: 'status', status, retryAfter: 120 }, { path: '/api/rest/v1/whoami', times: 2 });
      const started = performance.now();
      expect(await client.get('v1/whoami', requestOptions).json(), `${status} ${JSON.stringify(requestOptions)}`).toEqual({ identity: 'client:sessionkit-demo' });
      // Far from the 2 minutes, with room for a busy machine.
      expect(performance.now() - started).toBeLessThan(5000);
      expect(sandbox.stats.commands.rest.requests - requests).toBe(3);
      sandbox.commands.clearFaults();
    }
  });

  it('reads no response but that of ky’s HTTPError: an error with another kind of response, from a hook or the session, is retried as ky does, not replaced by a TypeError', async () => {
    // got- and superagent-style: a `response` without a fetch Headers.
    const foreign = (): Error => Object.assign(new Error('signing service: 503'), { response: { statusCode: 503, status: 503, headers: { 'retry-after': '1' } } });
    const thrown: unknown[] = [];
    const hooked = createApiClient({
      baseUrl: `${sandbox.url}/api/rest/`,
      session: session(),
      retry: { limit: 1, backoffLimit: 10 },
      hooks: { beforeRequest: [() => { const error = foreign(); thrown.push(error); throw error; }] },
    });
    const error = await hooked.get('v1/whoami').catch((caught: unknown) => caught);
    // It used to be `TypeError: state.error.response?.headers.get is not a function`, and not retried.
    expect(thrown).toHaveLength(2);
    expect(error).toBe(thrown[1]);
    const own: ApiSession = { authorization: () => { const failed = foreign(); thrown.push(failed); return Promise.reject(failed); }, invalidate: () => undefined };
    thrown.length = 0;
    const failing = await createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: own, retry: { limit: 1, backoffLimit: 10 } }).get('v1/whoami').catch((caught: unknown) => caught);
    expect(thrown).toHaveLength(2);
    expect(failing).toBe(thrown[1]);
  });

  it('keeps the AuthError guard and the 60 s cap on a request that drops the beforeRequest hooks', async () => {
    const base = `${sandbox.url}/api/rest/`;
    const clientHooks = { beforeRequest: [() => undefined] };
    // Plain JavaScript, or a cast: ky's types leave undefined out (exactOptionalPropertyTypes).
    const dropped = { hooks: { beforeRequest: undefined } } as unknown as KyOptions;
    const refused = createApiClient({
      baseUrl: base,
      session: new Session({ authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'wrong-secret' }) }),
      hooks: clientHooks,
    });
    const before = sandbox.stats.idp.requests;
    await expect(refused.get('v1/whoami', dropped)).rejects.toMatchObject({ name: 'AuthError', code: 'INVALID_CREDENTIALS' });
    // It used to be retried twice: three token requests.
    expect(sandbox.stats.idp.requests - before).toBe(1);

    // ky hands its normalized options to afterResponse hooks too: the cap it waits by.
    let cap: unknown;
    const hooks = { ...clientHooks, afterResponse: [(_request: Request, options: { retry: KyOptions['retry'] }) => { cap = (options.retry as { maxRetryAfter?: number }).maxRetryAfter; }] };
    await createApiClient({ baseUrl: base, session: session(), hooks }).get('v1/whoami', dropped);
    expect(cap).toBe(60_000);
    // And what it does: ky waits at most the client's cap (it used to wait the whole 3 s).
    const capped = createApiClient({ baseUrl: base, session: session(), retry: { maxRetryAfter: 300 }, hooks: clientHooks });
    await capped.get('v1/whoami');
    const requests = sandbox.stats.commands.rest.requests;
    sandbox.commands.injectFault({ type: 'status', status: 429, retryAfter: 3 }, { path: '/api/rest/v1/whoami' });
    const started = performance.now();
    expect(await capped.get('v1/whoami', dropped).json()).toEqual({ identity: 'client:sessionkit-demo' });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(sandbox.stats.commands.rest.requests - requests).toBe(2);
  });

  it('reads maxRetryAfter given as null (plain JavaScript), of the client or a request, as not given: the 60 s cap', async () => {
    const base = `${sandbox.url}/api/rest/`;
    const nullCap = { maxRetryAfter: null } as unknown as KyOptions['retry'] & object;
    for (const [clientRetry, requestRetry] of [[nullCap, undefined], [undefined, nullCap]]) {
      const api = createApiClient({ baseUrl: base, session: session(), retry: clientRetry });
      await api.get('v1/whoami');
      const requests = sandbox.stats.commands.rest.requests;
      sandbox.commands.injectFault({ type: 'status', status: 429, retryAfter: '0.2' }, { path: '/api/rest/v1/whoami' });
      // It used to be a cap of 0: the 429 was returned at once instead of retried.
      expect(await api.get('v1/whoami', requestRetry ? { retry: requestRetry } : {}).json(), clientRetry ? 'client' : 'request').toEqual({ identity: 'client:sessionkit-demo' });
      expect(sandbox.stats.commands.rest.requests - requests).toBe(2);
    }
  });

  it('reads a Retry-After date as ky does, ending in UTC or +0000 or in ISO form, with no limit of its own: one over the cap is not retried', async () => {
    const base = `${sandbox.url}/api/rest/`;
    const capped = createApiClient({ baseUrl: base, session: session(), retry: { maxRetryAfter: 3000 } });
    await capped.get('v1/whoami');
    const future = new Date(Date.now() + 3_600_000);
    for (const retryAfter of [future.toUTCString().replace('GMT', 'UTC'), future.toUTCString().replace('GMT', '+0000'), future.toISOString()]) {
      const requests = sandbox.stats.commands.rest.requests;
      sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter }, { path: '/api/rest/v1/whoami' });
      const started = performance.now();
      // These read as no Retry-After: ky waited the cap (3 s) and sent it again, an hour early.
      const error = await capped.get('v1/whoami').catch((caught: unknown) => caught);
      expect((error as HTTPError).response.status, retryAfter).toBe(503);
      expect(performance.now() - started).toBeLessThan(2500);
      expect(sandbox.stats.commands.rest.requests - requests).toBe(1);
    }
    // A cap over an hour: a Retry-After of 3 hours used to read as 1 hour, under a 2-hour cap, and
    // the caller's shouldRetry was asked (ky would have waited 2 hours). Now it is not asked.
    const asked: unknown[] = [];
    const long = createApiClient({ baseUrl: base, session: session(), retry: { maxRetryAfter: 7_200_000, shouldRetry: ({ error }) => { asked.push(error); return false; } } });
    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: 3 * 3600 }, { path: '/api/rest/v1/whoami' });
    expect(((await long.get('v1/whoami').catch((caught: unknown) => caught)) as HTTPError).response.status).toBe(503);
    expect(asked).toEqual([]);
  });

  it('retries a Retry-After that is a Unix time (ky reads a number from 2024 on as one): ky waits for it, at most the cap', async () => {
    const capped = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: { maxRetryAfter: 5000 } });
    await capped.get('v1/whoami');
    const requests = sandbox.stats.commands.rest.requests;
    // Two seconds from now as a Unix time: read as seconds, it would be over the cap.
    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: Math.ceil(Date.now() / 1000) + 1 }, { path: '/api/rest/v1/whoami' });
    await expect(capped.get('v1/whoami').json()).resolves.toMatchObject({});
    expect(sandbox.stats.commands.rest.requests - requests).toBe(2);
  });

  it('times out a whole try: the token, the 401 and the replay share one timeoutMs (as documented)', async () => {
    const own = session();
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: own, retry: 0, timeoutMs: 1000 });
    await api.get('v1/whoami');
    sandbox.idp.revokeAll();
    // Two answers of 900 ms each, the 401 and the replay's: each within timeoutMs, not both.
    sandbox.commands.injectFault({ type: 'slow', delayMs: 900 }, { path: '/api/rest/v1/whoami', times: 2 });
    const started = performance.now();
    await expect(api.get('v1/whoami')).rejects.toBeInstanceOf(TimeoutError);
    // A timeout for each part would end after 1.8 s at the earliest.
    expect(performance.now() - started).toBeLessThan(1700);
    sandbox.commands.clearFaults();
  });

  it('keeps the mutual-TLS key and passphrase out of its errors (the dispatcher is no ky option)', async () => {
    const PASSPHRASE = 'Mtls-Passphrase-Secret';
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASSPHRASE }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const keyLine = privateKey.split('\n')[1] ?? '';
    // The client's own Agent, built from these options (an http: origin does not use them, so no certificate is needed).
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0, tls: { key: privateKey, passphrase: PASSPHRASE } });
    const error = await api.get('v1/missing').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HTTPError);
    // It used to be there, four levels down: error.options.dispatcher[Symbol(options)].connect.
    const text = inspect(error, { depth: 10, showHidden: true });
    expect(text).not.toContain(PASSPHRASE);
    expect(text).not.toContain(keyLine);
    expect((error as HTTPError).options).not.toHaveProperty('dispatcher');
    // Its own Agent still sends the requests.
    expect(await api.get('v1/whoami').json()).toEqual({ identity: 'client:sessionkit-demo' });
  });

  it('refuses a request’s or extend()’s fetch, which would send without the authorization, at once and without sending', async () => {
    // Retries 3 s apart: one would stand out from a busy machine's slowness.
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: { limit: 2, delay: () => 3000 } });
    await api.get('v1/whoami');
    const tracing: typeof fetch = (input, init) => fetch(input, init);
    const requests = sandbox.stats.commands.rest.requests;
    const started = performance.now();
    for (const call of [() => api.get('v1/whoami', { fetch: tracing }), () => api.extend({ fetch: tracing }).get('v1/whoami'), () => api.post('v1/echo', { fetch: tracing, json: {} })]) {
      // It used to go out without the authorization: a 401 of the API, with no replay.
      await expect(call()).rejects.toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: 'fetch cannot be replaced.' });
    }
    // Not retried either.
    expect(performance.now() - started).toBeLessThan(2000);
    expect(sandbox.stats.commands.rest.requests).toBe(requests);
  });

  it('masks common credential query fields in its URLs (errors and log), and leaves other fields as they are', async () => {
    const lines: string[] = [];
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0, logger: createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) }) });
    const names = ['key', 'apikey', 'API-Key', 'pwd', 'sig', 'signature', 'X-Amz-Signature', 'X-Amz-Credential', 'credentials', 'bearer', 'code', 'CODE'];
    const searchParams = Object.fromEntries(names.map((name, index) => [name, `query-secret-${index}`]));
    const error = await api.get('v1/missing', { searchParams: { ...searchParams, page: '2', sort: 'name' } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HTTPError);
    const { message, stack } = error as HTTPError;
    expect(lines.filter((line) => line.includes('v1/missing?'))).toHaveLength(1);
    for (const text of [message, String(stack), ...lines]) expect(text).not.toMatch(/query-secret/);
    // The rest of the message as it was: `status code 404`, the fields without a secret.
    expect(message).toContain('Request failed with status code 404 Not Found');
    expect(message).toContain('&page=2&sort=name');
    expect((error as HTTPError).request.url).toContain('X-Amz-Signature=query-secret-6');
  });

  it('masks key and code in its URLs only as whole query field names, or in a credential’s name, not at the end of an ordinary one', async () => {
    // `sort-key` was here too: `key` as the last word after a `-`, `_` or `.` is masked since (see the next test).
    const ordinary = ['countryCode', 'country_code', 'sortKey', 'status_code', 'errorCode', 'postal_code', 'promoCode', 'productKey', 'partitionKey', 'cacheKey', 'idempotencyKey', 'monkey', 'keyword'];
    const secret = ['key', 'Key', 'code', 'CODE', 'api_key', 'API-Key', 'apikey', 'access_key', 'AccessKey', 'accesskey', 'secret_key', 'awsSecretKey', 'secretkey', 'X-Amz-Credential', 'X-Amz-Signature'];
    const searchParams = {
      ...Object.fromEntries(ordinary.map((name, index) => [name, `shown-${index}`])),
      ...Object.fromEntries(secret.map((name, index) => [name, `query-secret-${index}`])),
      // A URL in a query value, percent-encoded by searchParams.
      next: 'https://app.example/cb?code=query-secret-next&state=1',
    };
    for (const text of await messageAndLog(searchParams)) {
      expect(text).not.toMatch(/query-secret/);
      // They used to be masked too (`key` and `code` matched at the end of any name).
      for (const [index, name] of ordinary.entries()) expect(text).toContain(`${name}=shown-${index}`);
    }
  });

  it('masks names whose last word after a -, _ or . is key, and pass, jwt, assertion and hmac names, in its URLs (errors and log)', async () => {
    const lines: string[] = [];
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest/`, session: session(), retry: 0, logger: createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) }) });
    // Credential names that used to show their values: `key` after a separator, and the four words
    // whole or as the last word of a name, as `password` and `token` are.
    const secret = [
      'subscription-key', 'Ocp-Apim-Subscription-Key', 'auth_key', 'app_key', 'client_key', 'license.key', 'sort-key', 'x-api-key', 'X_API_KEY',
      'pass', 'PASS', 'x_pass', 'userPass', 'jwt', 'id_jwt', 'JWT', 'assertion', 'client_assertion', 'clientAssertion', 'hmac', 'X-Hmac', 'x.hmac',
    ];
    // Still shown: camelCase names ending in Key (as documented), and names that only start with or hold one of the words.
    const ordinary = ['sortKey', 'subscriptionKey', 'monkey', 'keyword', 'key_id', 'client_assertion_type', 'passive', 'bypass', 'hmac_algorithm', 'jwt_type', 'status_code'];
    const searchParams = {
      ...Object.fromEntries(ordinary.map((name, index) => [name, `shown-${index}`])),
      ...Object.fromEntries(secret.map((name, index) => [name, `query-secret-${index}`])),
      // In a URL in a query value, percent-encoded by searchParams, and two encodings deep.
      next: 'https://app.example/cb?subscription-key=query-secret-next&pass=query-secret-pass&state=1',
      twice: encodeURIComponent('/cb?client_assertion=query-secret-twice'),
    };
    const error = await api.get('v1/missing', { searchParams }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HTTPError);
    sandbox.commands.injectFault({ type: 'slow', delayMs: 2000 }, { path: '/api/rest/v1/missing' });
    const timedOut = await api.get('v1/missing', { searchParams, timeout: 150 }).catch((caught: unknown) => caught);
    sandbox.commands.clearFaults();
    expect(timedOut).toBeInstanceOf(TimeoutError);
    const logged = lines.filter((line) => line.includes('v1/missing?'));
    expect(logged).toHaveLength(2);
    for (const text of [(error as HTTPError).message, String((error as HTTPError).stack), (timedOut as TimeoutError).message, String((timedOut as TimeoutError).stack), ...logged]) {
      expect(text).not.toMatch(/query-secret/);
      for (const [index, name] of ordinary.entries()) expect(text).toContain(`${name}=shown-${index}`);
    }
    // The URL as sent stays in the error.
    expect((error as HTTPError).request.url).toContain('subscription-key=query-secret-0');
  });

  it('masks key and code after an encoded # or a ; too, and a value with a & in it whole', async () => {
    const searchParams = {
      // They used to show: `%23` and `;` did not start a field.
      redirect_uri: 'https://app.example/cb#code=query-secret-fragment&state=1',
      next: '/list#subscription-key=query-secret-hash',
      matrix: 'a=1;app_key=query-secret-semicolon',
      // A value with a `&` (sent as `%26`) is masked whole, up to the next plain `&`: so are the fields
      // after a masked one in an encoded value (stopping at `%26` there showed the rest of such a value).
      list: '/list?sort_key=query-secret-sort&page=3&filter=open',
      key: 'query-secret-a&query-secret-b',
      code: 'query-secret-c&d',
      page: '2',
    };
    for (const text of await messageAndLog(searchParams)) {
      expect(text).not.toMatch(/query-secret/);
      expect(text).toContain('&page=2');
    }
  });

  it('rejects a base URL with a query or fragment, which ky would append the request paths to', async () => {
    const requests = sandbox.stats.commands.rest.requests;
    for (const baseUrl of [`${sandbox.url}/api/rest/?tenant=a`, `${sandbox.url}/api/rest/#part`, `${sandbox.url}/api/rest/?`, `${sandbox.url}/api/rest/#`, new URL(`${sandbox.url}/api/rest/?tenant=a`)]) {
      // It used to send `/api/rest/?tenant=a/v1/whoami`.
      expect(thrownBy(() => createApiClient({ baseUrl, session: session() })), String(baseUrl)).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: 'baseUrl must have no query or fragment.' });
    }
    expect(sandbox.stats.commands.rest.requests).toBe(requests);
    // A query per request still goes.
    const api = createApiClient({ baseUrl: `${sandbox.url}/api/rest`, session: session() });
    expect(await api.post('v1/echo', { json: {}, searchParams: { tenant: 'a' } }).json()).toMatchObject({ query: { tenant: 'a' } });
  });

  it('rejects a bad base URL', () => {
    expect(() => createApiClient({ baseUrl: 'not a url', session: session() })).toThrow(/baseUrl/);
    expect(() => createApiClient({ baseUrl: `${sandbox.url}/api/rest/?s_session=hunter2-secret`, session: session() })).toThrow(/secret query fields/);
  });
});
