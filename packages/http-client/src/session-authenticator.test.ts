import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuthError, oauth2, Session } from '@sessionkit/core-session';
import { createLogger } from '@sessionkit/logger';
import { type Sandbox, startSandbox } from '@sessionkit/sandbox';
import { MemoryStore } from '@sessionkit/token-store';
import { CommandClient, type CommandRequestOptions, ISPAPI_PROXY_URL, ispapiSessionAuthenticator, type IspapiSessionAuthenticatorOptions } from '@sessionkit/http-client';
import { thrownBy } from './testing/thrown-by.js';

let sandbox: Sandbox;
let now = Date.UTC(2025, 6, 1);
const clock = (): number => now;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ commands: { clock, domainCount: 50 } });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  sandbox.commands.clearFaults();
});
afterAll(async () => {
  await sandbox.close();
});

function setup(options: Partial<IspapiSessionAuthenticatorOptions> = {}, store = new MemoryStore()): { session: Session; client: CommandClient } {
  const authenticator = ispapiSessionAuthenticator({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, ...options });
  const session = new Session({ authenticator, store, clock });
  const client = new CommandClient({ url: sandbox.commandUrl, session });
  cleanups.push(() => authenticator.close(), () => client.close());
  return { session, client };
}

function started(): number {
  return sandbox.stats.commands.byCommand.StartSession ?? 0;
}

describe('CommandClient with a core-session Session', () => {
  it('logs in once by StartSession for many concurrent requests and sends the session id', async () => {
    const { client } = setup();
    const before = started();
    const responses = await Promise.all(Array.from({ length: 10 }, () => client.request({ COMMAND: 'StatusAccount' })));
    expect(responses.map((response) => response.code)).toEqual(Array(10).fill(200));
    expect(started() - before).toBe(1);
    expect(sandbox.commands.recent.at(-1)).toMatchObject({ usedSession: true, login: undefined });
    expect(sandbox.commands.recent.find((request) => request.command.COMMAND === 'StartSession')?.command).toMatchObject({ TIMEOUT: '600', MAXTTL: '86400' });
  });

  it('hands out the session id with the server’s idle timeout and lifetime', async () => {
    const { session } = setup({ timeoutSeconds: 120, maxTtlSeconds: 3600 });
    const token = await session.getToken();
    expect(token).toMatchObject({ type: 'Session', idleTtlMs: 120_000, obtainedAt: now, expiresAt: now + 3_600_000 });
    expect(token.value).toMatch(/^[0-9a-f]{32}$/);
  });

  it('keeps the idle timeout and lifetime asked for when the server names an empty, zero, negative or endless one', async () => {
    for (const value of ['', '0', '-5', 'Infinity', 'soon']) {
      const { session } = setup({ timeoutSeconds: 120, maxTtlSeconds: 3600 });
      const id = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
      sandbox.commands.injectFault(
        { type: 'respond', body: `[RESPONSE]\ncode = 200\ndescription = Command completed successfully\nproperty[session][0] = ${id}\nproperty[timeout][0] = ${value}\nproperty[maxttl][0] = ${value}\nEOF\n` },
        { command: 'StartSession' },
      );
      const token = await session.getToken();
      expect(token, value).toMatchObject({ value: id, idleTtlMs: 120_000, obtainedAt: now, expiresAt: now + 3_600_000 });
      // Not handed out as expired: the next call reuses it.
      expect(await session.getToken()).toBe(token);
      sandbox.commands.clearFaults();
    }
  });

  it('after a 530 invalidates the session, logs in once more and replays a read-only command', async () => {
    const { session, client } = setup();
    await client.request({ COMMAND: 'StatusAccount' });
    const oldToken = await session.getToken();
    const before = started();
    sandbox.commands.expireSessions();
    const response = await client.request({ COMMAND: 'QueryDomainList', LIMIT: 1 });
    expect(response).toMatchObject({ code: 200, attempt: 2 });
    expect(started() - before).toBe(1);
    expect((await session.getToken()).value).not.toBe(oldToken.value);
    const recent = sandbox.commands.recent.slice(-3);
    expect(recent.map((request) => [request.command.COMMAND, request.code])).toEqual([
      ['QueryDomainList', 530],
      ['StartSession', 200],
      ['QueryDomainList', 200],
    ]);
  });

  it('after a 530 to many concurrent requests logs in once and replays each read-only one', async () => {
    const { client } = setup();
    await client.request({ COMMAND: 'StatusAccount' });
    const before = started();
    sandbox.commands.expireSessions();
    const responses = await Promise.all(Array.from({ length: 12 }, (_, index) => client.request({ COMMAND: 'CheckDomain', DOMAIN: `concurrent-${index}.com` })));
    expect(responses.map((response) => response.code)).toEqual(Array(12).fill(210));
    expect(responses.every((response) => response.attempt === 2)).toBe(true);
    expect(started() - before).toBe(1);
  });

  it('stops waiting for the login when the caller aborts, without stopping the login', async () => {
    const { session, client } = setup();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 800 }, { command: 'StartSession' });
    const before = started();
    const sessionsBefore = sandbox.stats.commands.sessions.started;
    const controller = new AbortController();
    const pending = client.request({ COMMAND: 'StatusAccount' }, { signal: controller.signal });
    while (started() === before) await new Promise((resolve) => setTimeout(resolve, 5)); // the login reached the server
    controller.abort('enough');
    await expect(pending).rejects.toMatchObject({ name: 'HttpClientError', code: 'ABORTED', cause: 'enough' });
    // It did not wait for the answer to StartSession ...
    expect(sandbox.stats.commands.sessions.started).toBe(sessionsBefore);
    // ... which still comes, and serves the next request without another login.
    expect((await client.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    expect(started() - before).toBe(1);
    expect(sandbox.stats.commands.sessions.started).toBe(sessionsBefore + 1);
    expect((await session.getToken()).value).toMatch(/^[0-9a-f]{32}$/);
  });

  it('rejects a signal that is not an AbortSignal before it asks the Session for a token: no login, nothing sent', async () => {
    const { session, client } = setup();
    const getToken = vi.spyOn(session, 'getToken');
    const requests = sandbox.stats.commands.requests;
    // It used to ask for the token (starting a login), then reject with a raw TypeError.
    await expect(client.request({ COMMAND: 'StatusAccount' }, { signal: new AbortController() } as unknown as CommandRequestOptions)).rejects.toMatchObject({
      name: 'HttpClientError',
      code: 'INVALID_ARGUMENT',
      message: 'signal must be an AbortSignal.',
    });
    expect(getToken).not.toHaveBeenCalled();
    expect(sandbox.stats.commands.requests).toBe(requests);
  });

  it('refuses a remoteAddress, subuser or sessionId that is not a string before it asks the Session for a token: no login, nothing sent', async () => {
    const { session, client } = setup();
    const getToken = vi.spyOn(session, 'getToken');
    const requests = sandbox.stats.commands.requests;
    // They used to log in, then reject with a raw TypeError.
    for (const [name, value] of [['remoteAddress', 3_405_803_785], ['subuser', { login: 'demo-sub' }], ['sessionId', 918_273_645]] as const) {
      await expect(client.request({ COMMAND: 'StatusAccount' }, { [name]: value })).rejects.toMatchObject({
        name: 'HttpClientError',
        code: 'INVALID_ARGUMENT',
        message: `${name} must be a string.`,
      });
    }
    expect(getToken).not.toHaveBeenCalled();
    expect(sandbox.stats.commands.requests).toBe(requests);
  });

  it('treats options given as null like options not given: a null sessionId leaves the request to the Session', async () => {
    const { client } = setup({ ca: null, tls: null, timeoutMs: null, logger: null } as unknown as Partial<IspapiSessionAuthenticatorOptions>);
    const before = started();
    // It used to bypass the Session and send the request without a session or credentials.
    expect((await client.request({ COMMAND: 'StatusAccount' }, { sessionId: null } as unknown as CommandRequestOptions)).code).toBe(200);
    expect(sandbox.commands.recent.at(-1)).toMatchObject({ usedSession: true });
    expect(started() - before).toBe(1);
    // A Session manages this client's sessions.
    await expect(client.login()).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });

  it('refuses missing credentials when it is built, as it refuses incomplete ones, sending nothing', () => {
    const requests = sandbox.stats.commands.requests;
    const error = { name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: 'credentials need a login and a password.' };
    // Without credentials (or without options: null counts as none) it used to throw a TypeError, reading their login.
    for (const options of [{ url: sandbox.commandUrl }, { url: sandbox.commandUrl, credentials: null }, { url: sandbox.commandUrl, credentials: { login: 'demo' } }, null, undefined]) {
      expect(thrownBy(() => ispapiSessionAuthenticator(options as never)), JSON.stringify(options)).toMatchObject(error);
    }
    expect(thrownBy(() => ispapiSessionAuthenticator('demo' as never))).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'options must be an object, not string.' });
    expect(sandbox.stats.commands.requests).toBe(requests);
  });

  it('rejects with INVALID_STATE when the Session’s authenticator is misconfigured', async () => {
    const misconfigured = new Session({
      authenticator: {
        identity: 'misconfigured',
        authenticate: () => Promise.reject(new AuthError('CONFIGURATION', 'ISPAPI_PASSWORD is not set')),
      },
      clock,
    });
    const client = new CommandClient({ url: sandbox.commandUrl, session: misconfigured });
    cleanups.push(() => client.close());
    await expect(client.request({ COMMAND: 'StatusAccount' })).rejects.toMatchObject({
      name: 'HttpClientError',
      code: 'INVALID_STATE',
      // It used to say only that the authenticator was misconfigured.
      message: 'The Session is misconfigured: ISPAPI_PASSWORD is not set',
      cause: { name: 'AuthError', code: 'CONFIGURATION' },
    });
  });

  it('refuses a Session that logs in at another URL or entity, or an OAuth 2.0 one, naming the URLs and entities but not the login', async () => {
    const credentials = { login: 'Login-Name-7', role: 'Role-Name-8', password: 'Password-Secret-9' };
    const ote = 'https://api-ote.ispapi.net/api/call.cgi';
    const live = 'https://api.ispapi.net/api/call.cgi';
    const refused = [
      // Its login went to the real OT&E system, its session id to the sandbox: the same system
      // (entity), another URL.
      [{ system: 'ote' }, { url: sandbox.commandUrl, system: 'ote' }, `session logs in at ${ote} (entity 1234), but the client sends to ${sandbox.commandUrl} (entity 1234)`],
      [{ system: 'ote' }, { url: sandbox.commandUrl }, `session logs in at ${ote} (entity 1234), but the client sends to ${sandbox.commandUrl} (entity 54cd)`],
      // The local proxy stands for the system's own URL, not for any: neither side may be another host.
      [{ url: ISPAPI_PROXY_URL, system: 'ote' }, { url: sandbox.commandUrl, system: 'ote' }, `session logs in at ${ISPAPI_PROXY_URL} (entity 1234), but the client sends to ${sandbox.commandUrl} (entity 1234)`],
      [{ url: sandbox.commandUrl, system: 'ote' }, { url: ISPAPI_PROXY_URL, system: 'ote' }, `session logs in at ${sandbox.commandUrl} (entity 1234), but the client sends to ${ISPAPI_PROXY_URL} (entity 1234)`],
      // Another path on the same host.
      [{ url: sandbox.url + '/other/call.cgi', system: 'ote' }, { url: sandbox.commandUrl, system: 'ote' }, `session logs in at ${sandbox.url}/other/call.cgi (entity 1234), but the client sends to ${sandbox.commandUrl} (entity 1234)`],
      [{ system: 'live' }, { system: 'ote' }, `session logs in at ${live} (entity 54cd), but the client sends to ${ote} (entity 1234)`],
      // The same URL, another entity (a proxy URL: the entity alone tells the systems apart).
      [{ url: sandbox.commandUrl, system: 'ote' }, { url: sandbox.commandUrl }, `session logs in at ${sandbox.commandUrl} (entity 1234), but the client sends to ${sandbox.commandUrl} (entity 54cd)`],
    ] as const;
    for (const [given, options, message] of refused) {
      const authenticator = ispapiSessionAuthenticator({ ...given, credentials });
      cleanups.push(() => authenticator.close());
      const thrown = thrownBy(() => new CommandClient({ ...options, session: new Session({ authenticator }) }));
      expect(thrown).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: `${message}: give ispapiSessionAuthenticator the same url and system.` });
      for (const secret of Object.values(credentials)) expect((thrown as Error).message).not.toContain(secret);
    }
    // Its bearer token used to be sent as s_session (a 530).
    const bearer = new Session({ authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }) });
    expect(thrownBy(() => new CommandClient({ url: sandbox.commandUrl, session: bearer }))).toMatchObject({
      name: 'HttpClientError',
      code: 'INVALID_ARGUMENT',
      message: 'session is an OAuth 2.0 session: its token is no ISPAPI session id (use ispapiSessionAuthenticator).',
    });
    // Accepted: the same URL written otherwise (both are read as the client reads its url), or with
    // a trailing slash, a query or a fragment; the local proxy in place of the system's own URL
    // (it forwards to that system); and identities that are not the authenticator's.
    const same = [
      [{ url: sandbox.commandUrl.replace('http:', 'HTTP:'), system: 'ote' }, { url: sandbox.commandUrl, system: 'ote' }],
      [{ url: `${sandbox.commandUrl}/`, system: 'ote' }, { url: `${sandbox.commandUrl}?x=1#y`, system: 'ote' }],
      [{ system: 'ote' }, { url: ISPAPI_PROXY_URL, system: 'ote' }],
      [{ url: ISPAPI_PROXY_URL, system: 'live' }, {}],
      [{ url: `${ISPAPI_PROXY_URL}/?x=1`, system: 'live' }, { url: `${ISPAPI_PROXY_URL}#y` }],
    ] as const;
    for (const [given, options] of same) {
      const authenticator = ispapiSessionAuthenticator({ ...given, credentials });
      cleanups.push(() => authenticator.close());
      expect(new CommandClient({ ...options, session: new Session({ authenticator }) })).toBeInstanceOf(CommandClient);
    }
    const custom = (identity: unknown): Session => ({ identity, getToken: () => Promise.reject(new Error('not used')), invalidate: () => undefined }) as unknown as Session;
    for (const identity of [undefined, 42, Object.create(null), 'ispapi my own login', 'ispapi not-a-url entity=1234 login=x', 'my-login']) {
      expect(new CommandClient({ session: custom(identity) })).toBeInstanceOf(CommandClient);
    }
    const authenticator = ispapiSessionAuthenticator({ url: sandbox.commandUrl.replace('http:', 'HTTP:'), system: 'ote', credentials: { login: 'demo', password: 'demo-password' } });
    const client = new CommandClient({ url: `${sandbox.commandUrl}#fragment`, system: 'ote', session: new Session({ authenticator, clock }) });
    cleanups.push(() => authenticator.close(), () => client.close());
    expect((await client.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
  });

  it('does not replay a write command after a 530, but the next request logs in again', async () => {
    const { client } = setup();
    await client.request({ COMMAND: 'StatusAccount' });
    const before = started();
    sandbox.commands.expireSessions();
    const response = await client.request({ COMMAND: 'AddDomain', DOMAIN: 'not-replayed.com' });
    expect(response).toMatchObject({ code: 530, description: 'SESSION NOT FOUND', attempt: 1 });
    expect(started() - before).toBe(0);
    expect((await client.request({ COMMAND: 'CheckDomain', DOMAIN: 'not-replayed.com' })).code).toBe(210);
    expect(started() - before).toBe(1);
  });

  it('replays at most once', async () => {
    const { client } = setup();
    await client.request({ COMMAND: 'StatusAccount' });
    const answer = '[RESPONSE]\nCODE = 530\nDESCRIPTION = SESSION NOT FOUND\nEOF\n';
    sandbox.commands.injectFault({ type: 'respond', body: answer }, { command: 'StatusAccount', times: 5 });
    const response = await client.request({ COMMAND: 'StatusAccount' });
    expect(response).toMatchObject({ code: 530, attempt: 2 });
    sandbox.commands.clearFaults();
  });

  it('expires the session after its idle timeout on the client too, sliding with use', async () => {
    const { client } = setup({ timeoutSeconds: 60 });
    await client.request({ COMMAND: 'StatusAccount' });
    const before = started();
    const refusedBefore = sandbox.stats.commands.byCode['530'] ?? 0;
    now += 40_000;
    expect((await client.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    now += 40_000;
    expect((await client.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    expect(started() - before).toBe(0);
    now += 61_000;
    expect((await client.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    // The Session knew the session had gone idle: it logged in again without a 530 round trip.
    expect(started() - before).toBe(1);
    expect(sandbox.stats.commands.byCode['530'] ?? 0).toBe(refusedBefore);
  });

  it('dates a use by when the request was sent, not by when its answer came: a slow answer does not keep a session the server idled out', async () => {
    // A relay that moves the shared clock on by `lag` as it passes on an answer: the server used
    // the session that long before the client sees its answer.
    let lag = 0;
    const target = new URL(sandbox.commandUrl);
    const sockets = new Set<Socket>();
    const relay = createServer((inbound) => {
      const outbound = connect(Number(target.port), target.hostname);
      for (const socket of [inbound, outbound]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.once('close', () => { inbound.destroy(); outbound.destroy(); });
      }
      inbound.pipe(outbound);
      outbound.on('data', (chunk: Buffer) => {
        now += lag;
        lag = 0;
        inbound.write(chunk);
      });
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      relay.close(() => { resolve(); });
    }));
    const url = `http://127.0.0.1:${String((relay.address() as AddressInfo).port)}${target.pathname}`;
    const authenticator = ispapiSessionAuthenticator({ url, credentials: { login: 'demo', password: 'demo-password' }, timeoutSeconds: 60 });
    const session = new Session({ authenticator, clock });
    const client = new CommandClient({ url, session });
    cleanups.push(() => authenticator.close(), () => client.close());
    expect((await client.request({ COMMAND: 'StatusAccount' })).code).toBe(200);

    // An answer that arrives 30 s after the request left, a failed one too (a 503, which the client makes a 421): the use is the request's.
    const sentAt = now;
    sandbox.commands.injectFault({ type: 'status', status: 503 });
    lag = 30_000;
    expect((await client.request({ COMMAND: 'AddDomain', DOMAIN: 'slow-answer-refused.com' })).code).toBe(421);
    expect(session.export().lastUsedAt).toBe(sentAt);
    const usedAt = now;
    lag = 30_000;
    expect((await client.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    expect(session.export().lastUsedAt).toBe(usedAt);

    // 75 s after the server's last use (45 s after its answer came), past the 60 s idle timeout:
    // a new login, not the dead session (a write is not replayed after a 530).
    const before = started();
    now = usedAt + 75_000;
    expect((await client.request({ COMMAND: 'AddDomain', DOMAIN: 'slow-answer.com' })).code).toBe(200);
    expect(started() - before).toBe(1);
  });

  it('ends the session with EndSession', async () => {
    const { session, client } = setup();
    await client.request({ COMMAND: 'StatusAccount' });
    const token = await session.getToken();
    const ended = sandbox.stats.commands.sessions.ended;
    await session.end();
    expect(sandbox.stats.commands.sessions.ended).toBe(ended + 1);
    expect(sandbox.commands.recent.at(-1)?.command.COMMAND).toBe('EndSession');
    const reuse = new CommandClient({ url: sandbox.commandUrl });
    cleanups.push(() => reuse.close());
    expect((await reuse.request({ COMMAND: 'StatusAccount' }, { sessionId: token.value })).code).toBe(530);
  });

  it('sends nothing when the client is closed while a request waits for its login', async () => {
    const { session, client } = setup();
    const before = sandbox.stats.commands.byCommand.StatusAccount ?? 0;
    const connections = sandbox.stats.commands.connections;
    const pending = client.request({ COMMAND: 'StatusAccount' });
    await client.close();
    await expect(pending).rejects.toMatchObject({ name: 'HttpClientError', code: 'CLOSED' });
    expect(sandbox.stats.commands.byCommand.StatusAccount ?? 0).toBe(before);
    // The login itself went on (on the authenticator's connection), and its session is there for the next client.
    expect((await session.getToken()).value).toMatch(/^[0-9a-f]{32}$/);
    expect(sandbox.stats.commands.connections - connections).toBe(1);
  });

  it('rejects at once when the client is closed while a request waits for a slow login', async () => {
    const { session, client } = setup();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 2000 }, { command: 'StartSession' });
    const before = started();
    const pending = client.request({ COMMAND: 'StatusAccount' }).catch((error: unknown) => error);
    while (started() === before) await new Promise((resolve) => setTimeout(resolve, 5)); // the login reached the server
    await client.close();
    const outcome = await Promise.race([pending, new Promise((resolve) => setTimeout(() => { resolve('still waiting'); }, 500))]);
    expect(outcome).toMatchObject({ name: 'HttpClientError', code: 'CLOSED' });
    // The login goes on, for the Session.
    expect((await session.getToken()).value).toMatch(/^[0-9a-f]{32}$/);
  });

  it('reports a failed EndSession to the Session, which retries it or warns; an unknown session counts as ended', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) });
    const authenticator = ispapiSessionAuthenticator({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' } });
    const session = new Session({ authenticator, clock, logger, retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    const probe = new CommandClient({ url: sandbox.commandUrl, retry: false });
    cleanups.push(() => authenticator.close(), () => probe.close());
    const codeWith = async (sessionId: string): Promise<number> => (await probe.request({ COMMAND: 'StatusAccount' }, { sessionId })).code;
    const ends = (): number => sandbox.stats.commands.byCommand.EndSession ?? 0;
    const warnings = (): number => lines.filter((line) => line.includes('could not revoke the token')).length;

    // One 503: the Session tries again, and the session is gone.
    const first = await session.getToken();
    sandbox.commands.injectFault({ type: 'status', status: 503 }, { command: 'EndSession', times: 1 });
    let before = ends();
    await session.end();
    expect(ends() - before).toBe(2);
    expect(await codeWith(first.value)).toBe(530);
    expect(warnings()).toBe(0);

    // Failing every time: the Session warns (without the session id) once it gives up.
    const second = await session.getToken();
    sandbox.commands.injectFault({ type: 'status', status: 503 }, { command: 'EndSession', times: 2 });
    before = ends();
    await session.end();
    expect(ends() - before).toBe(2);
    expect(warnings()).toBe(1);
    expect(await codeWith(second.value)).toBe(200);

    // The server no longer knows the session (530): ended, nothing to retry or warn about.
    await session.getToken();
    sandbox.commands.expireSessions();
    before = ends();
    await session.end();
    expect(ends() - before).toBe(1);
    expect(warnings()).toBe(1);
    for (const line of lines) expect(line).not.toContain(second.value);
  });

  it('masks the password and the session id the server echoes in its AuthError messages, and so in the revoke warning', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) });
    const authenticator = ispapiSessionAuthenticator({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' } });
    const session = new Session({ authenticator, clock, logger, retry: { retries: 0 } });
    const client = new CommandClient({ url: sandbox.commandUrl, session });
    cleanups.push(() => authenticator.close(), () => client.close());

    // A refused login: the AuthError, and the StartSession answer the client returns.
    const refused = '[RESPONSE]\ncode = 530\ndescription = Authentication failed: demo-password is not the password\nEOF\n';
    sandbox.commands.injectFault({ type: 'respond', body: refused }, { command: 'StartSession' });
    const error = await session.getToken().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'AuthError', code: 'INVALID_CREDENTIALS', message: 'StartSession failed: 530 Authentication failed: *** is not the password' });
    sandbox.commands.injectFault({ type: 'respond', body: refused }, { command: 'StartSession' });
    expect(await client.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 530, description: 'Authentication failed: *** is not the password' });

    // An EndSession that fails and names the session: the warning does not.
    const token = await session.getToken();
    sandbox.commands.injectFault({ type: 'respond', body: `[RESPONSE]\ncode = 549\ndescription = Session ${token.value} could not be ended\nEOF\n` }, { command: 'EndSession' });
    await session.end();
    const warning = lines.find((line) => line.includes('could not revoke the token'));
    expect(warning).toContain('EndSession failed: 549 Session *** could not be ended');
    for (const line of lines) {
      expect(line).not.toContain(token.value);
      expect(line).not.toContain('demo-password');
    }
  });

  it('masks the new session id a StartSession answer names in its description, in the authenticator’s log entries, and hands it out', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', format: 'json', write: (line) => lines.push(line) });
    const authenticator = ispapiSessionAuthenticator({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, logger });
    const session = new Session({ authenticator, clock, logger });
    cleanups.push(() => authenticator.close());
    const id = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
    sandbox.commands.injectFault({ type: 'respond', body: `[RESPONSE]\ncode = 200\ndescription = Session ${id} started\nproperty[session][0] = ${id}\nEOF\n` }, { command: 'StartSession' });
    expect((await session.getToken()).value).toBe(id);
    const entry = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((logged) => logged.msg === 'ispapi request');
    expect(entry).toMatchObject({ code: 200, description: 'Session *** started' });
    expect(entry?.body).toContain('description = Session *** started');
    for (const line of lines) expect(line).not.toContain(id);
  });

  it('masks a password the server echoes form-encoded (+ for a blank, lower-case hex) in the AuthError of a refused login', async () => {
    const authenticator = ispapiSessionAuthenticator({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'hunter two*' } });
    const session = new Session({ authenticator, clock, retry: { retries: 0 } });
    cleanups.push(() => authenticator.close());
    sandbox.commands.injectFault({ type: 'respond', body: '[RESPONSE]\ncode = 530\ndescription = Authentication failed for hunter+two%2a (hunter%20two%2A)\nEOF\n' }, { command: 'StartSession' });
    const error = await session.getToken().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'AuthError', code: 'INVALID_CREDENTIALS', message: 'StartSession failed: 530 Authentication failed for *** (***)' });
  });

  it('shares one login between sessions that share a store', async () => {
    const store = new MemoryStore();
    const first = setup({}, store);
    const second = setup({}, store);
    const before = started();
    await Promise.all([first.client.request({ COMMAND: 'StatusAccount' }), second.client.request({ COMMAND: 'StatusAccount' })]);
    expect(started() - before).toBe(1);
  });

  it('returns the StartSession answer when the login is refused, and leaves login() to the Session', async () => {
    const { client } = setup({ credentials: { login: 'demo', password: 'wrong-password' } });
    const response = await client.request({ COMMAND: 'StatusAccount' });
    expect(response).toMatchObject({ code: 530, synthetic: false });
    expect(sandbox.commands.recent.at(-1)?.command.COMMAND).toBe('StartSession');
    await expect(client.login()).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await expect(client.logout()).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });

  it('refuses reuseSession() on a client with a Session (its token is sent, so the saved entity would break every request)', async () => {
    const { client } = setup();
    expect(() => {
      client.reuseSession({ entity: '1234', session: 'saved-session-id' });
    }).toThrow(expect.objectContaining({ name: 'HttpClientError', code: 'INVALID_STATE' }));
    expect(client.entity).toBe('54cd');
    expect(client.saveSession()).toBeUndefined();
    const before = started();
    expect(await client.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 200 });
    expect(started() - before).toBe(1);
  });

  it('returns a synthetic 421 when the login cannot reach the server', async () => {
    sandbox.commands.injectFault({ type: 'status', status: 503 }, { command: 'StartSession', times: 10 });
    const authenticator = ispapiSessionAuthenticator({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' } });
    const session = new Session({ authenticator, clock, retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    const client = new CommandClient({ url: sandbox.commandUrl, session });
    cleanups.push(() => authenticator.close(), () => client.close());
    const response = await client.request({ COMMAND: 'StatusAccount' });
    expect(response).toMatchObject({ code: 421, synthetic: true, httpStatus: 503 });
  });

  it('waits out a 429 with Retry-After to StartSession (logins too close together): one login, then RATE_LIMITED for every session sharing the store until it passes', async () => {
    sandbox.commands.injectFault({ type: 'status', status: 429, retryAfter: 30 }, { command: 'StartSession', times: 10 });
    const store = new MemoryStore();
    const { session, client } = setup({}, store);
    const before = started();
    const error = await session.getToken().catch((error: unknown) => error);
    expect(error).toMatchObject({ name: 'AuthError', code: 'RATE_LIMITED', status: 429, retryAfterMs: 30_000 });
    expect(started() - before).toBe(1);
    // Not again, by this session, a request through it, or another session on the same store.
    expect(await session.getToken().catch((error: unknown) => error)).toMatchObject({ code: 'RATE_LIMITED' });
    expect(await client.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 421, synthetic: true });
    const other = setup({}, store);
    expect(await other.session.getToken().catch((error: unknown) => error)).toMatchObject({ code: 'RATE_LIMITED' });
    expect(started() - before).toBe(1);
    sandbox.commands.clearFaults();
    now += 31_000;
    expect(await client.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 200 });
    expect(started() - before).toBe(2);
  });

  it('waits out a 5xx with Retry-After to StartSession instead of retrying it; one without is retried as before', async () => {
    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: 120 }, { command: 'StartSession', times: 10 });
    const authenticator = ispapiSessionAuthenticator({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' } });
    const session = new Session({ authenticator, clock, retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 1 } });
    cleanups.push(() => authenticator.close());
    const before = started();
    expect(await session.getToken().catch((error: unknown) => error)).toMatchObject({ code: 'SERVER', status: 503, retryAfterMs: 120_000 });
    expect(started() - before).toBe(1);
    expect(await session.getToken().catch((error: unknown) => error)).toMatchObject({ code: 'RATE_LIMITED' });
    expect(started() - before).toBe(1);

    sandbox.commands.clearFaults();
    sandbox.commands.injectFault({ type: 'status', status: 503 }, { command: 'StartSession', times: 10 });
    const plain = new Session({ authenticator, clock, retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 1 } });
    const failed = await plain.getToken().catch((error: unknown) => error);
    expect(failed).toMatchObject({ code: 'SERVER', status: 503 });
    expect((failed as AuthError).retryAfterMs).toBeUndefined();
    expect(started() - before).toBe(4);
  });

  it('has session.end() retry an EndSession answered with a 5xx and Retry-After, as one without', async () => {
    const { session } = setup();
    await session.getToken();
    const active = sandbox.stats.commands.sessions.active;
    const ended = sandbox.stats.commands.byCommand.EndSession ?? 0;
    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: 1 }, { command: 'EndSession' });
    await session.end();
    expect((sandbox.stats.commands.byCommand.EndSession ?? 0) - ended).toBe(2);
    expect(sandbox.stats.commands.sessions.active).toBe(active - 1);
  });

  it('names the identity without secrets', () => {
    const authenticator = ispapiSessionAuthenticator({ url: sandbox.commandUrl, system: 'ote', credentials: { login: 'demo', role: 'ops', password: 'ops-password' } });
    cleanups.push(() => authenticator.close());
    expect(authenticator.identity).toBe(`ispapi ${sandbox.commandUrl} entity=1234 login=demo!ops`);
    expect(authenticator.identity).not.toContain('ops-password');
  });
});
