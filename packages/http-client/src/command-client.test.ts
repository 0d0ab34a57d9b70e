import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errors as undiciErrors } from 'undici';
import { createLogger, type LogFields, type Logger } from '@sessionkit/logger';
import { type CommandFault, type Sandbox, startSandbox } from '@sessionkit/sandbox';
import { CommandClient, type CommandClientOptions, type CommandRequestOptions, type CommandResponse, createApiClient, HttpClientError, ispapiSessionAuthenticator, ISPAPI_SYSTEMS } from '@sessionkit/http-client';
import { errorCode, isRetryableError } from './transport.js';
import { redactResponseText } from './redaction.js';
import { thrownBy } from './testing/thrown-by.js';

const DEMO = { login: 'demo', password: 'demo-password' };

let sandbox: Sandbox;
let now = Date.UTC(2025, 5, 1);
const clients: CommandClient[] = [];

function client(options: CommandClientOptions = {}): CommandClient {
  const created = new CommandClient({ url: sandbox.commandUrl, credentials: DEMO, retry: { baseDelayMs: 1 }, ...options });
  clients.push(created);
  return created;
}

/** Resolves after `ms`. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What `promise` (of a value or an error) settles with within `ms`, else 'still pending'. */
function settledWithin(promise: Promise<unknown>, ms: number): Promise<unknown> {
  return Promise.race([promise, sleep(ms).then(() => 'still pending')]);
}

/** `promise`, and `name` pushed to `order` once it settles. */
function tracked<T>(order: string[], name: string, promise: Promise<T>): Promise<T> {
  const push = (): void => {
    order.push(name);
  };
  void promise.then(push, push);
  return promise;
}

/** The COMMAND of each request the sandbox got since its stats were reset. */
function commandsSent(): (string | undefined)[] {
  return sandbox.commands.recent.map((record) => record.command.COMMAND);
}

/** A logger that hands each debug entry to `onDebug`. */
function debugLogger(onDebug: (fields: LogFields) => void): Logger {
  const logger: Logger = {
    trace: () => undefined,
    debug: (_message, fields) => {
      if (fields !== undefined) onDebug(fields);
    },
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    child: () => logger,
    isLevelEnabled: (level) => level === 'debug',
  };
  return logger;
}

beforeAll(async () => {
  sandbox = await startSandbox({
    commands: {
      clock: () => now,
      users: [
        { login: 'otp-user', password: 'otp-password', otp: '654321', domains: 3 },
        { login: 'filtered', password: 'filtered-password', allowedAddresses: ['203.0.113.9'], domains: 2 },
      ],
    },
  });
});

afterEach(async () => {
  sandbox.commands.clearFaults();
  await Promise.all(clients.splice(0).map((created) => created.close()));
});

afterAll(async () => {
  await sandbox.close();
});

describe('systems', () => {
  it('sets URL and entity together, and a URL override changes the URL only', () => {
    const live = new CommandClient();
    const ote = new CommandClient({ system: 'ote' });
    const overridden = new CommandClient({ system: 'ote', url: 'http://127.0.0.1:1/api/call.cgi' });
    expect([live.url, live.entity]).toEqual([ISPAPI_SYSTEMS.live.url, '54cd']);
    expect([ote.url, ote.entity]).toEqual(['https://api-ote.ispapi.net/api/call.cgi', '1234']);
    expect([overridden.url, overridden.entity, overridden.system]).toEqual(['http://127.0.0.1:1/api/call.cgi', '1234', 'ote']);
    clients.push(live, ote, overridden);
  });

  it('keeps the live and OT&E systems apart', async () => {
    const live = client();
    const ote = client({ system: 'ote' });
    expect((await live.request({ COMMAND: 'StatusAccount' })).property('AMOUNT')).toBe('10000.00');
    expect((await ote.request({ COMMAND: 'StatusAccount' })).property('AMOUNT')).toBe('50000.00');
    expect((await ote.request({ COMMAND: 'AddDomain', DOMAIN: 'client-ote-only.com' })).code).toBe(200);
    expect((await ote.request({ COMMAND: 'CheckDomain', DOMAIN: 'client-ote-only.com' })).code).toBe(211);
    expect((await live.request({ COMMAND: 'CheckDomain', DOMAIN: 'client-ote-only.com' })).code).toBe(210);
    expect(sandbox.commands.recent.at(-1)?.entity).toBe('54cd');
  });

  it('rejects a bad system or URL when it is built', () => {
    expect(() => new CommandClient({ system: 'test' as 'live' })).toThrow(HttpClientError);
    expect(() => new CommandClient({ url: 'ftp://example.com/' })).toThrow(/http/);
    expect(() => new CommandClient({ url: 'https://user:pw@example.com/' })).toThrow(/credentials/);
    expect(() => new CommandClient({ highPerformance: { connections: 0 } })).toThrow(/connections/);
    expect(() => new CommandClient({ highPerformance: { connections: 1.5 } })).toThrow(/^highPerformance\.connections must be a whole number from 1 /);
  });

  it('names what a number option is when it is no number, never its value (a string passed by mistake may be a secret)', () => {
    const given: unknown[] = ['pw-Option-Secret-1', Object.create(null), Symbol('x'), 10n, { toString: () => 'pw-Option-Secret-2' }];
    for (const value of given) {
      const error = thrownBy(() => new CommandClient({ url: sandbox.commandUrl, timeoutMs: value as number }));
      expect(error).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: `timeoutMs must be a whole number from 0 to 2147483647, not ${typeof value}.` });
      expect(JSON.stringify(error) + String((error as Error).stack)).not.toContain('pw-Option-Secret');
    }
  });

  it('rejects a bad timeoutMs or connectTimeoutMs when it is built, instead of a 421 for every request', async () => {
    sandbox.commands.resetStats();
    // undici's pool takes whole milliseconds only: a fractional timeoutMs used to fail every request.
    for (const ms of [1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      const makers = [
        () => new CommandClient({ url: sandbox.commandUrl, credentials: DEMO, timeoutMs: ms }),
        () => ispapiSessionAuthenticator({ url: sandbox.commandUrl, credentials: DEMO, timeoutMs: ms }),
      ];
      for (const make of makers) {
        expect(thrownBy(make)).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: `timeoutMs must be a whole number from 0 to 2147483647, not ${ms}.` });
      }
      expect(thrownBy(() => new CommandClient({ url: sandbox.commandUrl, connectTimeoutMs: ms }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^connectTimeoutMs /) as unknown });
    }
    expect(sandbox.stats.commands.requests).toBe(0);
    // Whole milliseconds, up to the longest timer, are fine.
    expect((await client({ timeoutMs: 2000, connectTimeoutMs: 2 ** 31 - 1 }).request({ COMMAND: 'StatusAccount' })).code).toBe(200);
  });

  it('rejects bad retry options when it is built, naming the option', async () => {
    const bad: [CommandClientOptions['retry'], string][] = [
      [{ baseDelayMs: -1 }, 'retry.baseDelayMs'],
      [{ baseDelayMs: Number.NaN }, 'retry.baseDelayMs'],
      [{ baseDelayMs: 1.5 }, 'retry.baseDelayMs'],
      [{ baseDelayMs: 2 ** 31, maxDelayMs: 2 ** 31 }, 'retry.baseDelayMs'],
      [{ maxDelayMs: -1 }, 'retry.maxDelayMs'],
      [{ maxDelayMs: Number.POSITIVE_INFINITY }, 'retry.maxDelayMs'],
      [{ maxDelayMs: 2000.5 }, 'retry.maxDelayMs'],
      [{ maxDelayMs: 2 ** 31 }, 'retry.maxDelayMs'],
      [{ baseDelayMs: 500, maxDelayMs: 100 }, 'retry.maxDelayMs'],
      // Above the default maxDelayMs (2000).
      [{ baseDelayMs: 5000 }, 'retry.maxDelayMs'],
      [{ maxRetryAfterMs: -1 }, 'retry.maxRetryAfterMs'],
      [{ maxRetryAfterMs: 2 ** 31 }, 'retry.maxRetryAfterMs'],
      [{ retries: 1.5 }, 'retry.retries'],
      [{ retries: -1 }, 'retry.retries'],
      [1.5, 'retry.retries'],
    ];
    for (const [retry, name] of bad) {
      const error = thrownBy(() => new CommandClient({ url: sandbox.commandUrl, retry }));
      expect(error, JSON.stringify(retry)).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: expect.stringMatching(new RegExp(`^${name} must be a whole number from `)) as unknown });
    }
    expect(thrownBy(() => new CommandClient({ retry: { baseDelayMs: 500, maxDelayMs: 100 } }))).toMatchObject({ message: 'retry.maxDelayMs must be a whole number from 500 to 2147483647, not 100.' });
    expect(thrownBy(() => new CommandClient({ retry: { baseDelayMs: 5000 } }))).toMatchObject({ message: 'retry.maxDelayMs must be a whole number from 5000 to 2147483647, not 2000.' });
    expect(() => new CommandClient({ retry: { baseDelayMs: 2 ** 31 - 1, maxDelayMs: 2 ** 31 - 1, maxRetryAfterMs: 2 ** 31 - 1 } })).not.toThrow();
    // The lower edges are fine too: a client with them retries at once.
    const edge = client({ retry: { retries: 1, baseDelayMs: 0, maxDelayMs: 0, maxRetryAfterMs: 0 } });
    sandbox.commands.injectFault({ type: 'status', status: 503 });
    expect(await edge.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 200, attempt: 2 });
  });

  it("refuses the REST client's retry key and a logger that is not a Logger of @sessionkit/logger when it is built (each was ignored: two retries went on; console logged nothing)", () => {
    expect(thrownBy(() => new CommandClient({ url: sandbox.commandUrl, retry: { limit: 0 } as never }))).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: "retry takes { retries }, not limit (ky's option, for createApiClient)." });
    for (const logger of [console, { debug: () => undefined }, 'debug']) {
      expect(thrownBy(() => new CommandClient({ url: sandbox.commandUrl, logger: logger as never }))).toMatchObject({
        name: 'HttpClientError',
        code: 'INVALID_ARGUMENT',
        message: 'logger must be a Logger of @sessionkit/logger: createLogger(), or adaptLogger(target) for console, pino or winston.',
      });
    }
    expect(() => new CommandClient({ url: sandbox.commandUrl, retry: { retries: 0 }, logger: createLogger() })).not.toThrow();
  });

  it("refuses a ca that is not PEM text, such as a file's path, when it is built (Node's TLS skipped it: every request failed as untrusted)", () => {
    const refused = { name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: 'ca must be PEM text (-----BEGIN CERTIFICATE-----), not a file path: readFileSync(path, "utf8").' };
    const pem = '-----BEGIN CERTIFICATE-----\n';
    for (const ca of ['/etc/ssl/ca.pem', Buffer.from('/etc/ssl/ca.pem'), [pem, '/etc/ssl/ca.pem']]) {
      expect(thrownBy(() => new CommandClient({ ca }))).toMatchObject(refused);
      expect(thrownBy(() => new CommandClient({ tls: { ca } }))).toMatchObject(refused);
      expect(thrownBy(() => createApiClient({ baseUrl: 'https://api.example/', session: { authorization: () => Promise.resolve('Bearer t'), invalidate: () => undefined }, ca }))).toMatchObject(refused);
    }
    // A Uint8Array that is not a Buffer too (TLS takes one), as text, not its numbers.
    for (const ca of [pem, Buffer.from(pem), [pem, Buffer.from(pem)], new TextEncoder().encode(pem)]) expect(() => new CommandClient({ ca: ca as string })).not.toThrow();
    expect(thrownBy(() => new CommandClient({ ca: new TextEncoder().encode('/etc/ssl/ca.pem') as never }))).toMatchObject(refused);
  });

  it('refuses a session that is no Session when it is built, naming the option without its value, instead of a 421 for every request', () => {
    const error = { name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: 'session must have getToken() and invalidate().' };
    // A session id where the Session goes, a token, a half Session, ...: each used to answer every request with 421.
    const secret = 'session-id-d41d8cd98f00b204';
    for (const unusable of [secret, { value: secret }, 42, true, {}, { getToken: () => Promise.resolve({ value: secret }) }, { getToken: () => undefined, touch: () => undefined }, { invalidate: () => undefined }]) {
      const thrown = thrownBy(() => new CommandClient({ url: sandbox.commandUrl, session: unusable as never }));
      expect(thrown, JSON.stringify(unusable)).toMatchObject(error);
      expect((thrown as Error).message).not.toContain(secret);
    }
    // Anything with the two methods is taken, such as a wrapper of a Session; null, false, '' and 0 (`useSession && session`) are none.
    clients.push(new CommandClient({ session: { getToken: () => undefined, invalidate: () => undefined } as never }));
    for (const none of [null, false, '', 0]) clients.push(new CommandClient({ session: none as never }));
  });

  it('rejects an endpoint URL with a secret in its query, without repeating the secret', () => {
    const queries = ['s_login=demo&s_pw=hunter2-secret', 'S_SESSION=hunter2-secret', 's%5Fotp=hunter2-secret', 'lang=en&Password=hunter2-secret', 'auth0=hunter2-secret',
      // Credential fields of other APIs (a gateway in front of the system), which the REST client masks in its URLs: this URL is logged as it is.
      'access_token=hunter2-secret', 'api_key=hunter2-secret', 'lang=en&key=hunter2-secret', 'X-Amz-Signature=hunter2-secret', 'pwd=hunter2-secret', 'password%5B0%5D=hunter2-secret'];
    for (const query of queries) {
      const url = `${sandbox.commandUrl}?${query}`;
      for (const make of [() => new CommandClient({ url }), () => ispapiSessionAuthenticator({ url, credentials: DEMO })]) {
        const error = thrownBy(make);
        expect(error).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: expect.stringMatching(/secret query fields .*options/) as unknown });
        expect(JSON.stringify(error) + String(error)).not.toContain('hunter2');
      }
    }
    // A query without secrets is part of the endpoint, as before.
    expect(new CommandClient({ url: `${sandbox.commandUrl}?lang=en&s_login=demo` }).url).toBe(`${sandbox.commandUrl}?lang=en&s_login=demo`);
  });
});

describe('requests', () => {
  it('sends a form with the fields in order, the content type set, and the user agent in the SDK format', async () => {
    const created = client({ credentials: { ...DEMO, role: 'ops' }, remoteAddress: '198.51.100.4', subuser: 'demo-sub' });
    await created.request({ COMMAND: 'StatusAccount' });
    const seen = sandbox.commands.recent.at(-1);
    expect(seen?.contentType).toBe('application/x-www-form-urlencoded');
    expect(seen?.fieldNames).toEqual(['s_entity', 's_login', 's_pw', 's_remoteaddr', 's_user', 's_command']);
    expect(seen).toMatchObject({ login: 'demo!ops', remoteAddress: '198.51.100.4', user: 'demo-sub' });
    expect(seen?.userAgent).toMatch(/^sessionkit \((linux|darwin|win32); [a-z0-9]+; rv:\d+\.\d+\.\d+\) sessionkit-http-client\/\d+\.\d+\.\d+ node\/v\d+\.\d+\.\d+$/);
    expect(created.userAgent).toBe(seen?.userAgent);

    const named = client({ userAgent: { name: 'shop', version: '2.1.0', modules: ['billing/1.4.0', 'dns/0.3.1'] } });
    await named.request({ COMMAND: 'StatusAccount' });
    expect(sandbox.commands.recent.at(-1)?.userAgent).toMatch(/^shop \(\w+; \w+; rv:2\.1\.0\) billing\/1\.4\.0 dns\/0\.3\.1 sessionkit-http-client\/[\d.]+ node\/v[\d.]+$/);
    // One module alone, as a string (it was spread a character per module).
    expect(client({ userAgent: { name: 'shop', version: '2.1.0', modules: 'billing/1.4.0' } }).userAgent).toMatch(/^shop \(\w+; \w+; rv:2\.1\.0\) billing\/1\.4\.0 sessionkit-http-client\//);
    const verbatim = client({ userAgent: 'exactly this' });
    await verbatim.request({ COMMAND: 'StatusAccount' });
    expect(sandbox.commands.recent.at(-1)?.userAgent).toBe('exactly this');
  });

  it('logs in as a role user, with a one-time password, through an IP filter, and views a subuser', async () => {
    const viewer = client({ credentials: { ...DEMO, role: 'viewer', password: 'viewer-password' } });
    expect((await viewer.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    expect((await viewer.request({ COMMAND: 'DeleteDomain', DOMAIN: 'x.com' })).code).toBe(531);

    expect((await client({ credentials: { login: 'otp-user', password: 'otp-password' } }).request({ COMMAND: 'StatusAccount' })).code).toBe(530);
    expect((await client({ credentials: { login: 'otp-user', password: 'otp-password', otp: '654321' } }).request({ COMMAND: 'StatusAccount' })).code).toBe(200);

    const filtered = client({ credentials: { login: 'filtered', password: 'filtered-password' } });
    expect((await filtered.request({ COMMAND: 'StatusAccount' })).code).toBe(531);
    expect((await filtered.request({ COMMAND: 'StatusAccount' }, { remoteAddress: '203.0.113.9' })).code).toBe(200);
    expect((await client({ credentials: { login: 'filtered', password: 'filtered-password' }, remoteAddress: '203.0.113.9' }).request({ COMMAND: 'StatusAccount' })).code).toBe(200);

    const own = client();
    expect((await own.request({ COMMAND: 'QueryDomainList', LIMIT: 1 }, { subuser: 'demo-sub' })).property('TOTAL')).toBe('40');
    expect((await client({ subuser: 'demo-sub' }).request({ COMMAND: 'QueryDomainList', LIMIT: 1 })).property('TOTAL')).toBe('40');
    expect((await own.request({ COMMAND: 'QueryDomainList', LIMIT: 1 })).property('TOTAL')).toBe('3000');
  });

  it('resolves API errors as responses, never throwing', async () => {
    const wrong = client({ credentials: { login: 'demo', password: 'wrong' } });
    const refused = await wrong.request({ COMMAND: 'StatusAccount' });
    expect(refused).toMatchObject({ code: 530, synthetic: false, httpStatus: 200, attempt: 1 });
    expect(refused.isError()).toBe(true);
    const missing = await client().request({ COMMAND: 'StatusDomain', DOMAIN: 'not-mine-at-all.com' });
    expect(missing.code).toBe(545);
    expect(missing.command).toEqual({ COMMAND: 'StatusDomain', DOMAIN: 'not-mine-at-all.com' });
  });

  it('rejects only caller errors: a bad command, an aborted signal, a closed client', async () => {
    const created = client();
    await expect(created.request({ DOMAIN: 'x.com' })).rejects.toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT' });
    await expect(created.request({ COMMAND: 'X', BAD: {} })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(created.request({ COMMAND: 'StatusAccount' }, { signal: AbortSignal.abort('stop') })).rejects.toMatchObject({ code: 'ABORTED', cause: 'stop' });

    sandbox.commands.injectFault({ type: 'slow', delayMs: 10_000 });
    const controller = new AbortController();
    const pending = created.request({ COMMAND: 'StatusAccount' }, { signal: controller.signal });
    setTimeout(() => { controller.abort(); }, 50);
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });

    await created.close();
    await expect(created.request({ COMMAND: 'StatusAccount' })).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('rejects a bad per-request timeoutMs and a user agent with control characters as INVALID_ARGUMENT, sending nothing', async () => {
    const created = client();
    sandbox.commands.resetStats();
    // Checked as the client's own timeoutMs is.
    for (const timeoutMs of [-5, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      await expect(created.request({ COMMAND: 'StatusAccount' }, { timeoutMs })).rejects.toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^timeoutMs /) as unknown });
    }
    await expect(created.pages({ COMMAND: 'QueryDomainList' }, { timeoutMs: -1 }).next()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(created.pages({ COMMAND: 'QueryDomainList' }, { maxPages: 1.5 }).next()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^maxPages /) as unknown });
    expect(sandbox.stats.commands.requests).toBe(0);

    const userAgents = ['shop\r\nX-Injected: 1', 'shop\n', 'tab\there', 'nul\0', 'snow \u2603', { name: 'shop\r\nX-Injected: 1', version: '1.0.0' }];
    for (const userAgent of userAgents) {
      expect(thrownBy(() => new CommandClient({ url: sandbox.commandUrl, userAgent }))).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT' });
    }
    // Latin-1 text is a valid header value.
    await client({ userAgent: 'Bücher-Laden/1.0' }).request({ COMMAND: 'StatusAccount' });
    expect(sandbox.commands.recent.at(-1)?.userAgent).toBe('Bücher-Laden/1.0');
  });

  it('rejects a signal that is not an AbortSignal as INVALID_ARGUMENT, sending nothing', async () => {
    const created = client();
    sandbox.commands.resetStats();
    // It used to end as a 421 (undici refused it) after the request was encoded, or a TypeError with a Session.
    for (const signal of [{}, 'stop', { aborted: false }, new AbortController(), 0]) {
      const options = { signal } as unknown as CommandRequestOptions;
      await expect(created.request({ COMMAND: 'StatusAccount' }, options)).rejects.toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: 'signal must be an AbortSignal.' });
      await expect(created.pages({ COMMAND: 'QueryDomainList' }, options).next()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(created.login(options)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(sandbox.stats.commands.requests).toBe(0);
    expect(created.loggedIn).toBe(false);
  });

  it('refuses a connection field that is not a string as INVALID_ARGUMENT naming the option, without its value, sending nothing', async () => {
    sandbox.commands.resetStats();
    // From plain JavaScript: these used to be accepted, and then every request rejected with a TypeError.
    const otp = { login: 'otp-user', password: 'otp-password', otp: 654_321 };
    const given: [Record<string, unknown>, string][] = [
      [{ credentials: otp }, 'credentials.otp'],
      [{ remoteAddress: 3_405_803_785 }, 'remoteAddress'],
      [{ subuser: { login: 'demo-sub' } }, 'subuser'],
    ];
    for (const [options, name] of given) {
      const expected = { name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: `${name} must be a string.` };
      expect(thrownBy(() => new CommandClient({ url: sandbox.commandUrl, credentials: DEMO, ...options }))).toMatchObject(expected);
      // The authenticator's client refuses them too, rather than every login of the Session failing with a TypeError.
      expect(thrownBy(() => ispapiSessionAuthenticator({ url: sandbox.commandUrl, credentials: DEMO, ...options }))).toMatchObject(expected);
    }
    const created = client({ credentials: { login: 'otp-user', password: 'otp-password', otp: '654321' } });
    const perRequest: [CommandRequestOptions, string][] = [
      [{ remoteAddress: 3_405_803_785 as never }, 'remoteAddress'],
      [{ subuser: ['demo-sub'] as never }, 'subuser'],
      [{ sessionId: 918_273_645 as never }, 'sessionId'],
    ];
    for (const [options, name] of perRequest) {
      const expected = { name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: `${name} must be a string.` };
      await expect(created.request({ COMMAND: 'StatusAccount' }, options)).rejects.toMatchObject(expected);
      await expect(created.pages({ COMMAND: 'QueryDomainList' }, options).next()).rejects.toMatchObject(expected);
    }
    expect(sandbox.stats.commands.requests).toBe(0);
    // As strings they are sent.
    expect((await created.request({ COMMAND: 'StatusAccount' }, { remoteAddress: '203.0.113.9' })).code).toBe(200);
    expect(sandbox.commands.recent.at(-1)?.fieldNames).toEqual(['s_entity', 's_login', 's_otp', 's_pw', 's_remoteaddr', 's_command']);
  });

  it('treats options given as null (plain JavaScript) like options not given', async () => {
    const nulls = { system: null, highPerformance: null, ca: null, tls: null, retry: null, timeoutMs: null, connectTimeoutMs: null, logger: null, debug: null, userAgent: null, remoteAddress: null, subuser: null, session: null };
    const created = client(nulls as unknown as CommandClientOptions);
    const requestNulls = { signal: null, timeoutMs: null, idempotent: null, remoteAddress: null, subuser: null, sessionId: null } as unknown as CommandRequestOptions;
    expect(await created.request({ COMMAND: 'StatusAccount' }, requestNulls)).toMatchObject({ code: 200, attempt: 1 });
    expect(sandbox.commands.recent.at(-1)?.fieldNames).toEqual(['s_entity', 's_login', 's_pw', 's_command']);
    // No Session: login() is the client's own (it used to be INVALID_STATE with session: null).
    expect((await created.login()).code).toBe(200);
    expect(created.loggedIn).toBe(true);
    // The default retries (retry: null used to throw a TypeError, as highPerformance: null did).
    sandbox.commands.injectFault({ type: 'status', status: 503 }, { times: 2 });
    expect(await created.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 200, attempt: 3 });
    // No credentials: login() says so (credentials: null used to throw a TypeError).
    const withoutCredentials = client({ credentials: null } as unknown as CommandClientOptions);
    await expect(withoutCredentials.login()).rejects.toMatchObject({ name: 'HttpClientError', code: 'INVALID_STATE' });
  });

  it('treats the options argument given as null like none, and refuses one that is not an object, sending nothing', async () => {
    // Each of these used to throw a TypeError (reading a property of null).
    const none = null as never;
    const unconfigured = new CommandClient(none);
    clients.push(unconfigured);
    expect([unconfigured.system, unconfigured.url]).toEqual(['live', ISPAPI_SYSTEMS.live.url]);
    const created = client();
    expect(await created.request({ COMMAND: 'StatusAccount' }, none)).toMatchObject({ code: 200, attempt: 1 });
    const pages = created.pages({ COMMAND: 'QueryDomainList', LIMIT: 1 }, none);
    expect((await pages.next()).value).toMatchObject({ code: 200, pagination: { hasNext: true } });
    expect((await pages.next()).value).toMatchObject({ code: 200, pagination: { first: 1 } });
    await pages.return();
    expect((await created.login(none)).code).toBe(200);
    expect((await created.logout(none)).code).toBe(200);
    expect(created.loggedIn).toBe(false);

    // Anything else that is not an object is a mistake (`new CommandClient('ote')` used to make a live client).
    sandbox.commands.resetStats();
    for (const options of ['ote', 5, true, () => ({ system: 'ote' })]) {
      const error = { name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: `options must be an object, not ${typeof options}.` };
      const given = options as never;
      expect(thrownBy(() => new CommandClient(given))).toMatchObject(error);
      await expect(created.request({ COMMAND: 'StatusAccount' }, given)).rejects.toMatchObject(error);
      await expect(created.pages({ COMMAND: 'QueryDomainList' }, given).next()).rejects.toMatchObject(error);
      await expect(created.login(given)).rejects.toMatchObject(error);
      await expect(created.logout(given)).rejects.toMatchObject(error);
    }
    expect(sandbox.stats.commands.requests).toBe(0);
  });

  it('never changes the caller’s command', async () => {
    const command = Object.freeze({ COMMAND: 'CheckDomains', DOMAIN: Object.freeze(['a-free-one.com', 'b-free-one.com']) });
    const response = await client().request(command);
    expect(response.column('DOMAINCHECK').map((value) => value?.slice(0, 3))).toEqual(['210', '210']);
  });
});

describe('connections', () => {
  it('reuses keep-alive connections for sequential requests', async () => {
    const created = client({ highPerformance: true });
    sandbox.commands.resetStats();
    for (let index = 0; index < 20; index += 1) await created.request({ COMMAND: 'StatusAccount' });
    expect(sandbox.stats.commands.requests).toBe(20);
    // undici's Pool may open a second connection while the first is being released; no more.
    expect(sandbox.stats.commands.connections).toBeLessThanOrEqual(2);
  });

  it('bounds the pool in high-performance mode', async () => {
    const created = client({ highPerformance: { connections: 3 } });
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 20 }, { times: 12 });
    const responses = await Promise.all(Array.from({ length: 24 }, () => created.request({ COMMAND: 'StatusAccount' })));
    expect(responses.every((response) => response.code === 200)).toBe(true);
    expect(sandbox.stats.commands.requests).toBe(24);
    expect(sandbox.stats.commands.connections).toBe(3);
  });

  it('opens more connections without the bound', async () => {
    const created = client();
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 50 }, { times: 8 });
    await Promise.all(Array.from({ length: 8 }, () => created.request({ COMMAND: 'StatusAccount' })));
    expect(sandbox.stats.commands.connections).toBe(8);
  });

  it('reconnects after the server dropped every connection', async () => {
    const created = client({ highPerformance: true });
    expect((await created.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    sandbox.dropConnections();
    expect((await created.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
  });

  it('trusts a self-signed certificate only when told to', async () => {
    const secure = await startSandbox({ tls: true, commands: { domainCount: 5 } });
    try {
      const trusting = new CommandClient({ url: secure.commandUrl, credentials: DEMO, ca: secure.certificate, highPerformance: true });
      const viaTls = new CommandClient({ url: secure.commandUrl, credentials: DEMO, tls: { ca: secure.certificate, minVersion: 'TLSv1.3' } });
      const untrusting = new CommandClient({ url: secure.commandUrl, credentials: DEMO });
      clients.push(trusting, viaTls, untrusting);
      expect((await trusting.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
      expect((await viaTls.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
      const refused = await untrusting.request({ COMMAND: 'StatusAccount' });
      expect(refused).toMatchObject({ code: 421, synthetic: true, attempt: 1, httpStatus: undefined });
      expect(String((refused.cause as { code?: string }).code)).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
      // A ca of the wrong type is refused when the client is built; another TLS setting of the wrong
      // type, which Node's TLS refuses on every connection (ERR_INVALID_ARG_TYPE), fails each request:
      // a read-only command is not retried either.
      expect(thrownBy(() => new CommandClient({ url: secure.commandUrl, credentials: DEMO, ca: 42 as unknown as string }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
      const wrong = new CommandClient({ url: secure.commandUrl, credentials: DEMO, tls: { ca: secure.certificate, cert: 42 as unknown as string }, retry: { baseDelayMs: 1 } });
      clients.push(wrong);
      const refusedCa = await wrong.request({ COMMAND: 'StatusAccount' });
      expect(refusedCa).toMatchObject({ code: 421, synthetic: true, attempt: 1 });
      expect((refusedCa.cause as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE');
      expect(secure.stats.commands.requests).toBe(2);
    } finally {
      await secure.close();
    }
  });
});

describe('failures and retries', () => {
  it('turns an empty body into 423 and an invalid body into 423, without retrying', async () => {
    const created = client();
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'empty-body' });
    const empty = await created.request({ COMMAND: 'StatusAccount' });
    expect(empty).toMatchObject({ code: 423, synthetic: true, httpStatus: 200, attempt: 1, description: `Empty API response. Probably unreachable API end point ${sandbox.commandUrl}` });
    sandbox.commands.injectFault({ type: 'invalid-body' });
    const invalid = await created.request({ COMMAND: 'StatusAccount' });
    expect(invalid).toMatchObject({ code: 423, description: 'Invalid API response. Contact Support', httpStatus: 200 });
    expect(invalid.raw).toContain('CODE = 423');
    expect(sandbox.stats.commands.requests).toBe(2);
  });

  it('turns a body cut off before its EOF line into 423 Invalid API response, so that pages() stops with it', async () => {
    const created = client();
    const full = (await created.request({ COMMAND: 'QueryDomainList', LIMIT: 100 })).raw;
    expect(full).toMatch(/\nEOF\n$/);
    // Cut in the middle of the DOMAIN column, as a close-delimited body cut off by a proxy is:
    // it used to be a 200 with part of the records, and pages() stopped without an error.
    const cutAt = full.indexOf('PROPERTY[DOMAIN][1]');
    expect(cutAt).toBeGreaterThan(0);
    const cut = full.slice(0, cutAt);
    sandbox.commands.injectFault({ type: 'respond', body: cut }, { command: 'QueryDomainList' });
    const pages: CommandResponse[] = [];
    for await (const page of created.pages({ COMMAND: 'QueryDomainList', LIMIT: 100 })) pages.push(page);
    expect(pages.map((page) => page.code)).toEqual([423]);
    expect(pages[0]).toMatchObject({ synthetic: true, description: 'Invalid API response. Contact Support', httpStatus: 200, records: [] });
    // Only the header lines, and EOF inside a value, are cut off too; the whole body is not.
    for (const body of ['[RESPONSE]\nCODE = 200\nDESCRIPTION = Command completed successfully\n', '[RESPONSE]\nCODE = 200\nDESCRIPTION = EOF\n']) {
      sandbox.commands.injectFault({ type: 'respond', body }, { command: 'StatusAccount' });
      expect(await created.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 423, synthetic: true });
    }
    sandbox.commands.injectFault({ type: 'respond', body: full }, { command: 'QueryDomainList' });
    const whole = await created.request({ COMMAND: 'QueryDomainList', LIMIT: 100 });
    expect(whole).toMatchObject({ code: 200, synthetic: false });
    expect(whole.records.length).toBeGreaterThan(1);
  });

  it('retries a read-only command after HTTP 5xx, honouring Retry-After, and keeps the status', async () => {
    const entries: Record<string, unknown>[] = [];
    const logger = {
      trace: () => undefined,
      debug: (_msg: string, fields?: Record<string, unknown>) => { if (fields !== undefined) entries.push(fields); },
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      child: () => logger,
      isLevelEnabled: (level: string) => level !== 'trace',
    };
    const created = client({ logger });
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: '0.3' });
    const started = performance.now();
    const response = await created.request({ COMMAND: 'QueryDomainList', LIMIT: 1 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(response).toMatchObject({ code: 200, attempt: 2 });
    expect(entries.map((entry) => [entry.status, entry.code, entry.attempt, entry.retryInMs])).toEqual([
      [503, 421, 1, 300],
      [200, 200, 2, undefined],
    ]);

    sandbox.commands.injectFault({ type: 'status', status: 502 }, { times: 5 });
    const exhausted = await created.request({ COMMAND: 'StatusAccount' });
    expect(exhausted).toMatchObject({ code: 421, synthetic: true, httpStatus: 502, attempt: 3 });
    sandbox.commands.clearFaults();

    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: 120 });
    expect(await created.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 421, httpStatus: 503, attempt: 1, retryAfterMs: 120_000 });
    sandbox.commands.injectFault({ type: 'status', status: 404 });
    const refused = await created.request({ COMMAND: 'StatusAccount' });
    expect(refused).toMatchObject({ code: 421, httpStatus: 404, attempt: 1 });
    expect(refused.retryAfterMs).toBeUndefined();
  });

  it('returns a Retry-After over an hour (read as the 1-hour cap) at once, also under a maxRetryAfterMs above it', async () => {
    const patient = client({ retry: { maxRetryAfterMs: 4 * 3_600_000 } });
    // Three hours: it was read as one, at most maxRetryAfterMs, and retried after an hour, two before the server asked.
    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: 3 * 3600 });
    const answer = patient.request({ COMMAND: 'StatusAccount' });
    try {
      expect(await settledWithin(answer, 5000)).toMatchObject({ code: 421, httpStatus: 503, attempt: 1, retryAfterMs: 3_600_000 });
    } finally {
      sandbox.commands.clearFaults();
      // A retry still waiting rejects with CLOSED.
      await patient.close();
      await answer.catch(() => undefined);
    }
    // Under the cap, it is waited out as before: 2 s.
    const waiting = client({ retry: { maxRetryAfterMs: 4 * 3_600_000 } });
    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: 2 });
    expect(await waiting.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 200, attempt: 2 });
  });

  it('never retries a write command once it may have reached the server', async () => {
    const created = client();
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'status', status: 503 });
    expect(await created.request({ COMMAND: 'AddDomain', DOMAIN: 'write-once-a.com' })).toMatchObject({ code: 421, httpStatus: 503, attempt: 1 });
    sandbox.commands.injectFault({ type: 'drop' });
    const dropped = await created.request({ COMMAND: 'AddDomain', DOMAIN: 'write-once-b.com' });
    expect(dropped).toMatchObject({ code: 421, synthetic: true, httpStatus: undefined, attempt: 1 });
    expect(dropped.cause).toBeInstanceOf(Error);
    expect(sandbox.stats.commands.requests).toBe(2);
    // ... unless the caller says it is safe.
    sandbox.commands.injectFault({ type: 'drop' });
    expect(await created.request({ COMMAND: 'AddDomain', DOMAIN: 'write-once-c.com' }, { idempotent: true })).toMatchObject({ code: 200, attempt: 2 });
  });

  it('retries a command only for idempotent true: a string such as "false" (from a config file) counts as false', async () => {
    const created = client();
    for (const idempotent of ['false', 'true', 1]) {
      sandbox.commands.resetStats();
      sandbox.commands.injectFault({ type: 'status', status: 503 });
      const response = await created.request({ COMMAND: 'AddDomain', DOMAIN: `write-once-${String(idempotent)}.com` }, { idempotent: idempotent as never });
      expect(response, String(idempotent)).toMatchObject({ code: 421, httpStatus: 503, attempt: 1 });
      expect(sandbox.stats.commands.requests).toBe(1);
    }
    // Not given (undefined or null), a read-only command is retried as before.
    sandbox.commands.injectFault({ type: 'status', status: 503 });
    expect(await created.request({ COMMAND: 'CheckDomain', DOMAIN: 'retried.com' }, { idempotent: null as never })).toMatchObject({ attempt: 2 });
  });

  it('retries a read-only command after a dropped connection', async () => {
    const created = client();
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'drop' }, { times: 2 });
    expect(await created.request({ COMMAND: 'CheckDomain', DOMAIN: 'dropped-twice.com' })).toMatchObject({ code: 210, attempt: 3 });
    expect(sandbox.stats.commands.requests).toBe(3);
    sandbox.commands.injectFault({ type: 'drop' }, { times: 2 });
    expect(await client({ retry: false }).request({ COMMAND: 'CheckDomain', DOMAIN: 'dropped-twice.com' })).toMatchObject({ code: 421, attempt: 1 });
  });

  it('retries any command when it never left the client (connection refused)', async () => {
    const closed = await startSandbox({ commands: { domainCount: 1 } });
    const url = closed.commandUrl;
    await closed.close();
    const created = client({ url, retry: { retries: 2, baseDelayMs: 1 } });
    const response = await created.request({ COMMAND: 'AddDomain', DOMAIN: 'never-sent.com' });
    expect(response).toMatchObject({ code: 421, synthetic: true, attempt: 3, httpStatus: undefined });
    expect((response.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('separates the connect timeout from the response timeout', async () => {
    // A TCP server that accepts and never answers: a TLS handshake to it never completes.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const connecting = client({ url: `https://127.0.0.1:${port}/api/call.cgi`, connectTimeoutMs: 100, retry: { retries: 1, baseDelayMs: 1 } });
      const timedOut = await connecting.request({ COMMAND: 'AddDomain', DOMAIN: 'never-connected.com' });
      expect(timedOut).toMatchObject({ code: 421, attempt: 2 });
      expect((timedOut.cause as { code?: string }).code).toBe('UND_ERR_CONNECT_TIMEOUT');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => { resolve(); }));
    }

    sandbox.commands.injectFault({ type: 'slow', delayMs: 5000 });
    const slow = client({ timeoutMs: 100, retry: false });
    const late = await slow.request({ COMMAND: 'StatusAccount' });
    expect(late).toMatchObject({ code: 421, attempt: 1 });
    expect((late.cause as { code?: string }).code).toBe('UND_ERR_HEADERS_TIMEOUT');
    sandbox.commands.injectFault({ type: 'slow', delayMs: 300 });
    expect((await slow.request({ COMMAND: 'StatusAccount' }, { timeoutMs: 5000 })).code).toBe(200);
  });

  it('stops reading an answer past maxResponseBytes (an endless body), as a 421 it does not retry', async () => {
    // An HTTP server that answers 200 and sends body without end, until the client goes.
    let requests = 0;
    let sent = 0;
    const endless = createHttpServer((_request, response) => {
      requests++;
      response.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'property[domain][0] = endless.com\n');
      const write = (): void => {
        while (!response.destroyed && response.write(chunk)) sent += chunk.length;
        if (!response.destroyed) response.once('drain', write);
      };
      write();
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(endless.address() as { port: number }).port}/api/call.cgi`;
      const capped = client({ url, maxResponseBytes: 1024 * 1024, retry: { retries: 2, baseDelayMs: 1 } });
      const response = await capped.request({ COMMAND: 'QueryDomainList' });
      expect(response).toMatchObject({ code: 421, synthetic: true, attempt: 1, httpStatus: undefined });
      expect((response.cause as { code?: string }).code).toBe('UND_ERR_RES_EXCEEDED_MAX_SIZE');
      // Read-only, yet not retried: the same answer would be as large again.
      expect(requests).toBe(1);
      // The server wrote little more than the cap before the client went (socket buffers aside).
      expect(sent).toBeLessThan(16 * 1024 * 1024);
    } finally {
      endless.closeAllConnections();
      await new Promise<void>((resolve) => endless.close(() => { resolve(); }));
    }
  });

  it('reads an answer up to maxResponseBytes whole, and refuses a maxResponseBytes that is no whole number of bytes', async () => {
    const list = await client({ maxResponseBytes: 64 * 1024 }).request({ COMMAND: 'QueryDomainList', LIMIT: 5 });
    expect(list.code).toBe(200);
    for (const maxResponseBytes of [0, -1, 1.5, Number.NaN, '1000' as unknown as number]) {
      expect(thrownBy(() => client({ maxResponseBytes }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('maxResponseBytes') as unknown });
    }
  });

  it('never retries an argument undici refuses', () => {
    // A safety net: the client checks what it hands to undici (a signal that is no AbortSignal,
    // the example this test used to send, is now INVALID_ARGUMENT before anything is sent).
    const refused = new undiciErrors.InvalidArgumentError('signal must be an EventEmitter or EventTarget');
    expect(errorCode(refused)).toBe('UND_ERR_INVALID_ARG');
    for (const readOnly of [true, false]) {
      expect(isRetryableError(refused, readOnly)).toBe(false);
      expect(isRetryableError(new TypeError('fetch failed', { cause: refused }), readOnly)).toBe(false);
    }
  });

  it('never retries an answer longer than the longest string Node makes (maxResponseBytes over ~512 MiB)', () => {
    // What body.text() throws then (a real one needs half a gigabyte: the 421 path is the one the
    // endless-body test above takes); it would be read whole again on every retry.
    const tooLong = Object.assign(new Error('Cannot create a string longer than 0x1fffffe8 characters'), { code: 'ERR_STRING_TOO_LONG' });
    expect(isRetryableError(tooLong, true)).toBe(false);
    expect(isRetryableError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), true)).toBe(true);
  });

  it('returns the first close() call’s promise from every close(): a second one waits for the requests in flight too', async () => {
    const created = client();
    expect((await created.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    sandbox.commands.injectFault({ type: 'slow', delayMs: 300 });
    let done = false;
    const inFlight = created.request({ COMMAND: 'StatusAccount' }).then((response) => {
      done = true;
      return response;
    });
    await sleep(50);
    const first = created.close();
    const second = created.close();
    // The second used to resolve at once, while the request was still in flight.
    expect(second).toBe(first);
    await second;
    expect(done).toBe(true);
    expect((await inFlight).code).toBe(200);
    expect(created.close()).toBe(first);
  });

  it('stops retrying once the client is closed: the retry rejects with CLOSED and is not sent', async () => {
    const closing: Promise<void>[] = [];
    // close() is called while the first attempt's failure is logged, before the backoff.
    const created = client({
      retry: { retries: 2, baseDelayMs: 1 },
      logger: debugLogger((fields) => {
        if (fields.attempt === 1) closing.push(created.close());
      }),
    });
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'status', status: 503 }, { times: 3 });
    await expect(created.request({ COMMAND: 'StatusAccount' })).rejects.toMatchObject({ name: 'HttpClientError', code: 'CLOSED' });
    await Promise.all(closing);
    expect(closing).toHaveLength(1);
    expect(sandbox.stats.commands.requests).toBe(1);
  });

  it('wakes a request waiting to retry when the client is closed: CLOSED at once, and nothing more is sent', async () => {
    // A backoff and a Retry-After wait, each far longer than the test may take.
    const waits: [CommandClientOptions['retry'], CommandFault][] = [
      [{ retries: 2, baseDelayMs: 20_000, maxDelayMs: 20_000 }, { type: 'status', status: 503 }],
      [{ retries: 2, baseDelayMs: 1 }, { type: 'status', status: 503, retryAfter: 20 }],
    ];
    for (const [retry, fault] of waits) {
      let retrying = (): void => undefined;
      const waiting = new Promise<void>((resolve) => {
        retrying = resolve;
      });
      const created = client({
        retry,
        logger: debugLogger((fields) => {
          if (fields.retryInMs !== undefined) retrying();
        }),
      });
      sandbox.commands.clearFaults();
      sandbox.commands.resetStats();
      sandbox.commands.injectFault(fault, { times: 3 });
      const pending = created.request({ COMMAND: 'StatusAccount' }).catch((error: unknown) => error);
      await waiting;
      await sleep(50);
      await created.close();
      expect(await settledWithin(pending, 1000)).toMatchObject({ name: 'HttpClientError', code: 'CLOSED' });
      await sleep(50);
      expect(sandbox.stats.commands.requests).toBe(1);
    }
  });

  it('stops waiting to retry as soon as the signal fires: ABORTED, and nothing more is sent', async () => {
    const created = client({ retry: { retries: 2, baseDelayMs: 20_000, maxDelayMs: 20_000 } });
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'status', status: 503 }, { times: 3 });
    const controller = new AbortController();
    const pending = created.request({ COMMAND: 'StatusAccount' }, { signal: controller.signal }).catch((error: unknown) => error);
    while (sandbox.stats.commands.requests === 0) await sleep(5);
    await sleep(50);
    controller.abort('enough');
    expect(await settledWithin(pending, 1000)).toMatchObject({ name: 'HttpClientError', code: 'ABORTED', cause: 'enough' });
    expect(sandbox.stats.commands.requests).toBe(1);
  });

  it('reads Retry-After as seconds or as an HTTP date, and not otherwise', async () => {
    const created = client({ retry: false });
    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: '1.5' });
    expect((await created.request({ COMMAND: 'StatusAccount' })).retryAfterMs).toBe(1500);
    // An HTTP date has whole seconds: 120 s ahead is read as 119 to 120 s.
    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: new Date(Date.now() + 120_000).toUTCString() });
    const dated = (await created.request({ COMMAND: 'StatusAccount' })).retryAfterMs;
    expect(dated).toBeGreaterThan(118_000);
    expect(dated).toBeLessThanOrEqual(120_000);
    sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: 'soon' });
    expect((await created.request({ COMMAND: 'StatusAccount' })).retryAfterMs).toBeUndefined();
  });
});

describe('sessions', () => {
  it('logs in, sends the session instead of the credentials, and logs out', async () => {
    const created = client({ credentials: { ...DEMO, otp: '1' } });
    const login = await created.login({ timeoutSeconds: 120 });
    expect(login.code).toBe(200);
    expect(created.loggedIn).toBe(true);
    expect(sandbox.commands.recent.at(-1)?.command).toEqual({ COMMAND: 'StartSession', TIMEOUT: '120' });
    expect((await created.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    const used = sandbox.commands.recent.at(-1);
    expect(used).toMatchObject({ usedSession: true, login: undefined });
    expect(used?.fieldNames).toEqual(['s_entity', 's_session', 's_command']);

    const logout = await created.logout();
    expect(logout.code).toBe(200);
    expect(created.loggedIn).toBe(false);
    expect(sandbox.commands.recent.at(-1)?.command.COMMAND).toBe('EndSession');
    expect(await created.logout()).toMatchObject({ code: 530, description: 'SESSION NOT FOUND', synthetic: true });
  });

  it('starts one session for concurrent login() calls: a call while one is in flight waits for it and shares its response', async () => {
    const created = client();
    const { sessions } = sandbox.stats.commands;
    const started = sessions.started;
    const active = sessions.active;
    // Two at once used to start two sessions, the one that finished first left open on the server.
    const [first, second] = await Promise.all([created.login({ timeoutSeconds: 120 }), created.login({ timeoutSeconds: 120 })]);
    expect(first.code).toBe(200);
    expect(second).toBe(first);
    expect(sessions.started - started).toBe(1);
    expect(sessions.active - active).toBe(1);
    expect(created.saveSession()?.session).toBe(first.property('SESSION'));
    // Once it is over, a login() starts a session again (as documented, the one in use is replaced).
    const next = await created.login();
    expect(next.code).toBe(200);
    expect(next).not.toBe(first);
    expect(sessions.started - started).toBe(2);
    expect(created.saveSession()?.session).toBe(next.property('SESSION'));
    await created.logout();
    await client().request({ COMMAND: 'EndSession' }, { sessionId: first.property('SESSION') ?? '' });

    // A failed login is shared as well, and not kept: the next call tries again.
    const refused = client({ credentials: { login: 'demo', password: 'nope' } });
    const requests = sandbox.stats.commands.requests;
    const failed = await Promise.all([refused.login(), refused.login()]);
    expect(failed[0].code).toBe(530);
    expect(failed[1]).toBe(failed[0]);
    expect(sandbox.stats.commands.requests - requests).toBe(1);
    expect((await refused.login()).code).toBe(530);
    expect(sandbox.stats.commands.requests - requests).toBe(2);
  });

  it('lets a login() that waits for one in flight end its own wait with its signal or close(), and refuses a bad signal, with one StartSession', async () => {
    const created = client();
    const { sessions } = sandbox.stats.commands;
    const started = sessions.started;
    sandbox.commands.injectFault({ type: 'slow', delayMs: 300 }, { command: 'StartSession' });
    const first = created.login();
    const controller = new AbortController();
    const waiting = created.login({ signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'HttpClientError', code: 'ABORTED' });
    await expect(created.login({ signal: 'stop' } as never)).rejects.toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT' });
    expect((await first).code).toBe(200);
    expect(sessions.started - started).toBe(1);
    expect(created.loggedIn).toBe(true);
    await created.logout();

    // close() ends the wait at once; the login in flight finishes.
    const closing = client();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 300 }, { command: 'StartSession' });
    const inFlight = closing.login();
    const waiter = closing.login();
    const closed = closing.close();
    expect(await settledWithin(waiter.catch((error: unknown) => error), 100)).toMatchObject({ name: 'HttpClientError', code: 'CLOSED' });
    const login = await inFlight;
    expect(login.code).toBe(200);
    await closed;
    expect(sessions.started - started).toBe(2);
    await client().request({ COMMAND: 'EndSession' }, { sessionId: login.property('SESSION') ?? '' });
  });

  it('ends the session of a login() in flight when logout() is called meanwhile', async () => {
    const created = client();
    const { sessions } = sandbox.stats.commands;
    const active = sessions.active;
    sandbox.commands.injectFault({ type: 'slow', delayMs: 200 }, { command: 'StartSession' });
    const login = created.login();
    // It used to answer 530 SESSION NOT FOUND at once, and the session then started stayed open.
    const logout = await created.logout();
    expect(logout).toMatchObject({ code: 200, synthetic: false });
    expect(sandbox.commands.recent.at(-1)?.command.COMMAND).toBe('EndSession');
    expect((await login).code).toBe(200);
    expect(created.loggedIn).toBe(false);
    expect(sessions.active - active).toBe(0);
    // Its own signal ends its wait; the login goes on.
    sandbox.commands.injectFault({ type: 'slow', delayMs: 200 }, { command: 'StartSession' });
    const again = created.login();
    await expect(created.logout({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    expect((await again).code).toBe(200);
    expect((await created.logout()).code).toBe(200);
    expect(sessions.active - active).toBe(0);
  });

  it('keeps the session of a login() that finished while a logout() of the one before was in flight', async () => {
    const created = client();
    const { sessions } = sandbox.stats.commands;
    const active = sessions.active;
    await created.login();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 300 }, { command: 'EndSession' });
    const logout = created.logout();
    // Sent with the credentials, as the session in use is being ended.
    const login = await created.login();
    expect(login.code).toBe(200);
    expect((await logout).code).toBe(200);
    // The logout ended the session before it; the new one stays in use, not left open unknown to the client.
    expect(created.loggedIn).toBe(true);
    expect(sessions.active - active).toBe(1);
    expect((await created.logout()).code).toBe(200);
    expect(sessions.active - active).toBe(0);
  });

  it('takes login() and logout() calls in call order: a login() after a logout() starts its own session after it', async () => {
    const created = client();
    sandbox.commands.resetStats();
    const { sessions } = sandbox.stats.commands;
    const active = sessions.active;
    sandbox.commands.injectFault({ type: 'slow', delayMs: 200 }, { command: 'StartSession' });
    const order: string[] = [];
    const first = tracked(order, 'login', created.login());
    const logout = tracked(order, 'logout', created.logout());
    // It used to share the first login, which the logout then ended: logged out after a login().
    const last = tracked(order, 'login again', created.login());
    const [started, ended, again] = await Promise.all([first, logout, last]);
    expect([started.code, ended.code, again.code]).toEqual([200, 200, 200]);
    expect(order).toEqual(['login', 'logout', 'login again']);
    expect(commandsSent()).toEqual(['StartSession', 'EndSession', 'StartSession']);
    expect(again.property('SESSION')).not.toBe(started.property('SESSION'));
    expect(created.saveSession()?.session).toBe(again.property('SESSION'));
    expect(sessions.active - active).toBe(1);
    expect((await created.logout()).code).toBe(200);
    expect(sessions.active - active).toBe(0);
  });

  it('takes logout(); login(); logout() in call order: the login waits for the first logout, the last logout ends its session', async () => {
    const created = client();
    const { sessions } = sandbox.stats.commands;
    const active = sessions.active;
    await created.login();
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 200 }, { command: 'EndSession' });
    const order: string[] = [];
    // The login used to be sent at once and to finish before the first logout.
    const calls = [tracked(order, 'logout', created.logout()), tracked(order, 'login', created.login()), tracked(order, 'logout again', created.logout())];
    expect((await Promise.all(calls)).map((response) => response.code)).toEqual([200, 200, 200]);
    expect(order).toEqual(['logout', 'login', 'logout again']);
    expect(commandsSent()).toEqual(['EndSession', 'StartSession', 'EndSession']);
    expect(created.loggedIn).toBe(false);
    expect(sessions.active - active).toBe(0);
  });

  it('takes login(); logout(); logout() in call order: the second logout finds no session and sends nothing', async () => {
    const created = client();
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 200 }, { command: 'StartSession' });
    const login = created.login();
    // Both used to wait for the login and send EndSession for its session.
    const [first, second] = await Promise.all([created.logout(), created.logout()]);
    expect((await login).code).toBe(200);
    expect(first).toMatchObject({ code: 200, synthetic: false });
    expect(second).toMatchObject({ code: 530, description: 'SESSION NOT FOUND', synthetic: true });
    expect(commandsSent()).toEqual(['StartSession', 'EndSession']);
    expect(created.loggedIn).toBe(false);
  });

  it('shares a StartSession only between login() calls with the same options: one with other options starts its own after it', async () => {
    const created = client();
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 100 }, { command: 'StartSession' });
    // They all used to share the first one, sent with TIMEOUT=120.
    const [first, second, third, fourth] = await Promise.all([
      created.login({ timeoutSeconds: 120 }),
      created.login({ timeoutSeconds: 60 }),
      created.login({ timeoutSeconds: 60 }),
      created.login({ timeoutSeconds: 60, maxTtlSeconds: 120 }),
    ]);
    expect(sandbox.commands.recent.map((record) => record.command)).toEqual([
      { COMMAND: 'StartSession', TIMEOUT: '120' },
      { COMMAND: 'StartSession', TIMEOUT: '60' },
      { COMMAND: 'StartSession', TIMEOUT: '60', MAXTTL: '120' },
    ]);
    expect(third).toBe(second);
    const ids = [first, second, fourth].map((response) => response.property('SESSION'));
    expect(new Set(ids).size).toBe(3);
    expect(created.saveSession()?.session).toBe(ids[2]);
    await created.logout();
    // The sessions replaced stay open on the server, as documented.
    for (const id of ids.slice(0, 2)) await client().request({ COMMAND: 'EndSession' }, { sessionId: id ?? '' });
  });

  it('ends the wait of a queued logout() or login() at once with its signal or close(), sends nothing for it, and keeps the order of the rest', async () => {
    const created = client();
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 200 }, { command: 'StartSession' });
    const first = created.login();
    const controller = new AbortController();
    const logout = created.logout({ signal: controller.signal });
    const again = created.login();
    controller.abort();
    expect(await settledWithin(logout.catch((error: unknown) => error), 50)).toMatchObject({ name: 'HttpClientError', code: 'ABORTED' });
    const [started, restarted] = await Promise.all([first, again]);
    // The second login is still sent after the first (it used to share it), and no EndSession is sent.
    expect(commandsSent()).toEqual(['StartSession', 'StartSession']);
    expect(restarted.property('SESSION')).not.toBe(started.property('SESSION'));
    expect(created.saveSession()?.session).toBe(restarted.property('SESSION'));
    await created.logout();
    await client().request({ COMMAND: 'EndSession' }, { sessionId: started.property('SESSION') ?? '' });

    // close(): the calls queued behind a login in flight stop at once; the login finishes; nothing more is sent.
    const closing = client();
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 200 }, { command: 'StartSession' });
    const inFlight = closing.login();
    const queued = [closing.logout(), closing.login({ timeoutSeconds: 60 })];
    const closed = closing.close();
    for (const call of queued) expect(await settledWithin(call.catch((error: unknown) => error), 50)).toMatchObject({ name: 'HttpClientError', code: 'CLOSED' });
    const login = await inFlight;
    expect(login.code).toBe(200);
    await closed;
    expect(commandsSent()).toEqual(['StartSession']);
    await client().request({ COMMAND: 'EndSession' }, { sessionId: login.property('SESSION') ?? '' });
  });

  it('does not share a login() whose signal has fired: a login() after it starts its own session', async () => {
    const created = client();
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 200 }, { command: 'StartSession' });
    const controller = new AbortController();
    const aborted = created.login({ signal: controller.signal }).catch((error: unknown) => error);
    controller.abort();
    // It used to share the aborted one and reject with ABORTED, nothing sent for it.
    const login = await created.login();
    expect(await aborted).toMatchObject({ code: 'ABORTED' });
    expect(login.code).toBe(200);
    expect(created.saveSession()?.session).toBe(login.property('SESSION'));
    expect((await created.logout()).code).toBe(200);
  });

  it('lets a queued login() whose request is running finish after close(), like any request in flight', async () => {
    const created = client();
    sandbox.commands.resetStats();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 50 }, { command: 'StartSession', times: 1 });
    const first = created.login();
    sandbox.commands.injectFault({ type: 'slow', delayMs: 300 }, { command: 'StartSession' });
    const second = created.login({ timeoutSeconds: 60 });
    await first;
    // Its own StartSession is on the way now.
    await sleep(100);
    const closed = created.close();
    // It used to reject with CLOSED at once while its StartSession went on and took effect.
    const response = await second;
    await closed;
    expect(response.code).toBe(200);
    expect(commandsSent()).toEqual(['StartSession', 'StartSession']);
    expect(created.saveSession()?.session).toBe(response.property('SESSION'));
    for (const id of [await first, response].map((started) => started.property('SESSION'))) await client().request({ COMMAND: 'EndSession' }, { sessionId: id ?? '' });
  });

  it('reports a failed login and stays on the credentials', async () => {
    const created = client({ credentials: { login: 'demo', password: 'nope' } });
    expect((await created.login()).code).toBe(530);
    expect(created.loggedIn).toBe(false);
    await expect(client({ credentials: undefined }).login()).rejects.toMatchObject({ code: 'INVALID_STATE' });
    expect((await client().login({ timeoutSeconds: 30 })).code).toBe(541);
  });

  it('expires a session after TIMEOUT seconds without use', async () => {
    const created = client();
    expect((await created.login({ timeoutSeconds: 60 })).code).toBe(200);
    now += 45_000;
    expect((await created.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    now += 45_000;
    expect((await created.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    now += 61_000;
    // The client forgets the expired session, and replays the read-only command with the credentials.
    expect(await created.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 200, attempt: 2 });
    expect(sandbox.commands.recent.slice(-2).map((sent) => [sent.usedSession, sent.login])).toEqual([[true, undefined], [false, 'demo']]);
    expect(created.loggedIn).toBe(false);
  });

  it('forgets a session the server no longer knows, and replays only a read-only command, once, with the credentials', async () => {
    const created = client();
    expect((await created.login()).code).toBe(200);
    sandbox.commands.expireSessions();
    // It used to keep the dead session: every later request was sent with it and failed with 530.
    expect(await created.request({ COMMAND: 'ConvertIDN', DOMAIN: 'example.com' })).toMatchObject({ code: 530, attempt: 1 });
    expect(created.loggedIn).toBe(false);
    expect(created.saveSession()).toBeUndefined();
    expect(await created.request({ COMMAND: 'ConvertIDN', DOMAIN: 'example.com' })).toMatchObject({ code: 200, attempt: 1 });
    expect(sandbox.commands.recent.slice(-2).map((sent) => sent.usedSession)).toEqual([true, false]);

    // Without credentials there is nothing to replay with; wrong credentials are not replayed either.
    expect((await created.login()).code).toBe(200);
    const saved = created.saveSession()!;
    sandbox.commands.expireSessions();
    const reused = client({ credentials: undefined });
    reused.reuseSession(saved);
    const requests = sandbox.stats.commands.requests;
    expect(await reused.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 530, attempt: 1 });
    expect(reused.loggedIn).toBe(false);
    expect(await client({ credentials: { login: 'demo', password: 'nope' } }).request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 530, attempt: 1 });
    expect(sandbox.stats.commands.requests - requests).toBe(2);
    // The session a login() set meanwhile is kept, and the replay uses it.
    expect((await created.login()).code).toBe(200);
    const live = created.saveSession()!;
    reused.reuseSession(saved);
    const replaced = reused.request({ COMMAND: 'StatusAccount' });
    reused.reuseSession(live);
    expect(await replaced).toMatchObject({ code: 200, attempt: 2 });
    expect(sandbox.commands.recent.at(-1)?.usedSession).toBe(true);
    expect(reused.saveSession()?.session).toBe(live.session);
  });

  it('replays every read-only request that was in flight when the server forgot the session', async () => {
    const created = client();
    expect((await created.login()).code).toBe(200);
    sandbox.commands.expireSessions();
    // Only the first answer used to be replayed: the others found the session already forgotten.
    const answers = await Promise.all([1, 2, 3].map(() => created.request({ COMMAND: 'StatusAccount' })));
    expect(answers.map(({ code, attempt }) => [code, attempt])).toEqual([[200, 2], [200, 2], [200, 2]]);
    expect(created.loggedIn).toBe(false);
  });

  it('ends a session after MAXTTL seconds even while it is in use', async () => {
    const created = client();
    expect((await created.login({ timeoutSeconds: 60, maxTtlSeconds: 120 })).code).toBe(200);
    expect(sandbox.commands.recent.at(-1)?.command).toEqual({ COMMAND: 'StartSession', TIMEOUT: '60', MAXTTL: '120' });
    for (let used = 0; used < 2; used += 1) {
      now += 50_000;
      expect((await created.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    }
    now += 25_000;
    expect(await created.request({ COMMAND: 'StatusAccount' }, { idempotent: false })).toMatchObject({ code: 530, description: 'SESSION NOT FOUND' });
    expect(created.loggedIn).toBe(false);
  });

  it('saves a session and reuses it elsewhere, entity included', async () => {
    const ote = client({ system: 'ote' });
    await ote.login();
    const amount = (await ote.request({ COMMAND: 'StatusAccount' })).property('AMOUNT');
    expect(amount).not.toBe((await client().request({ COMMAND: 'StatusAccount' })).property('AMOUNT'));
    const saved = ote.saveSession();
    expect(saved).toEqual({ entity: '1234', session: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown });
    const elsewhere = client({ credentials: undefined });
    expect(elsewhere.entity).toBe('54cd');
    elsewhere.reuseSession(saved!);
    expect(elsewhere.entity).toBe('1234');
    expect((await elsewhere.request({ COMMAND: 'StatusAccount' })).property('AMOUNT')).toBe(amount);
    expect(() => { elsewhere.reuseSession({ entity: '', session: 'x' }); }).toThrow(HttpClientError);
    // null (plain JavaScript) too, rather than with a TypeError.
    expect(thrownBy(() => { elsewhere.reuseSession(null as never); })).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT' });
    expect(client().saveSession()).toBeUndefined();
  });

  it('goes back to its own system\'s entity once a reused session of another ends (logout, or a 530), so its credentials are not sent to that system', async () => {
    const ote = client({ system: 'ote' });
    await ote.login();
    const saved = ote.saveSession()!;
    // A client of the live system that reuses an OT&E session, then logs out.
    const live = client();
    live.reuseSession(saved);
    expect((await live.logout()).code).toBe(200);
    expect(live.entity).toBe('54cd');
    await live.request({ COMMAND: 'StatusAccount' });
    expect(sandbox.commands.recent.at(-1)).toMatchObject({ entity: '54cd', usedSession: false });
    // The same after the server forgot the session: the read-only request is replayed on the live entity.
    await ote.login();
    live.reuseSession(ote.saveSession()!);
    sandbox.commands.expireSessions();
    expect(await live.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 200, attempt: 2 });
    expect(live.entity).toBe('54cd');
    expect(sandbox.commands.recent.slice(-2).map(({ entity, usedSession }) => [entity, usedSession])).toEqual([['1234', true], ['54cd', false]]);
    // A login() while a reused session of the other system is in use goes to this client's system,
    // and so does the session it starts.
    live.reuseSession(ote.saveSession()!);
    expect((await live.login()).code).toBe(200);
    expect(live.saveSession()?.entity).toBe('54cd');
    await live.request({ COMMAND: 'StatusAccount' });
    expect(sandbox.commands.recent.slice(-2).map(({ entity, usedSession }) => [entity, usedSession])).toEqual([['54cd', false], ['54cd', true]]);
    // A failed login keeps the reused session, and its entity.
    const failing = client({ credentials: { login: 'demo', password: 'wrong' } });
    failing.reuseSession(ote.saveSession()!);
    expect((await failing.login()).code).toBe(530);
    expect(failing.saveSession()).toEqual(ote.saveSession());
    expect(failing.entity).toBe('1234');
  });

  it('sends a per-request sessionId with the entity client.entity reports: its own system\'s once a reused session of another has ended', async () => {
    const other = client();
    await other.login();
    const liveSession = other.saveSession()!.session;
    const ote = client({ system: 'ote' });
    await ote.login();
    const live = client();
    live.reuseSession(ote.saveSession()!);
    expect((await live.logout()).code).toBe(200);
    expect(live.entity).toBe('54cd');
    // It was sent with the ended session's entity (1234): a live session refused with a 530.
    expect(await live.request({ COMMAND: 'StatusAccount' }, { sessionId: liveSession })).toMatchObject({ code: 200, attempt: 1 });
    expect(sandbox.commands.recent.at(-1)).toMatchObject({ entity: '54cd', usedSession: true });
  });

  it('refuses a reuseSession() while a login() or logout() is not over with INVALID_STATE, changing nothing', async () => {
    const live = client();
    expect((await live.login()).code).toBe(200);
    const saved = live.saveSession()!;
    const ote = client({ system: 'ote' });
    sandbox.commands.injectFault({ type: 'slow', delayMs: 200 }, { command: 'StartSession' });
    const login = ote.login();
    // It used to set the entity at once, and the login then put its own session (of entity 1234)
    // beside it: every request got 530, and saveSession() returned that unusable pair.
    expect(thrownBy(() => { ote.reuseSession(saved); })).toMatchObject({ name: 'HttpClientError', code: 'INVALID_STATE' });
    const started = await login;
    expect(ote.saveSession()).toEqual({ entity: '1234', session: started.property('SESSION') });
    expect((await ote.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    // A queued logout() would have ended the reused session (its owner's) instead.
    sandbox.commands.injectFault({ type: 'slow', delayMs: 200 }, { command: 'EndSession' });
    const logout = ote.logout();
    expect(thrownBy(() => { ote.reuseSession(saved); })).toMatchObject({ name: 'HttpClientError', code: 'INVALID_STATE' });
    expect((await logout).code).toBe(200);
    expect(ote.loggedIn).toBe(false);
    // A login() stopped by its signal while it waited behind a logout() is over with that logout():
    // right after both settle, reuseSession() is not refused.
    expect((await ote.login()).code).toBe(200);
    sandbox.commands.injectFault({ type: 'slow', delayMs: 200 }, { command: 'EndSession' });
    const controller = new AbortController();
    const settled = Promise.allSettled([ote.logout(), ote.login({ signal: controller.signal })]);
    controller.abort();
    const [ended, stopped] = await settled;
    expect([ended.status, stopped.status]).toEqual(['fulfilled', 'rejected']);
    expect((stopped as PromiseRejectedResult).reason).toMatchObject({ code: 'ABORTED' });
    // Once they are over, it is used.
    ote.reuseSession(saved);
    expect(ote.saveSession()).toEqual(saved);
    expect(await ote.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 200, attempt: 1 });
    expect(await live.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 200, attempt: 1 });
    await live.logout();
  });
});

describe('secrets the server echoes in a description', () => {
  // `!` and the blank are sent form-encoded (`%21`, `%20`): a server may echo either form.
  const PASSWORD = 'hunter2 Echo!';
  const ENCODED = 'hunter2%20Echo%21';
  const OTP = '493817';
  const SESSION = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';

  /** A logger at trace level writing JSON lines to `lines`, and its request entries. */
  function jsonLogger(): { logger: Logger; lines: string[]; entries: () => Record<string, unknown>[] } {
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', format: 'json', write: (line) => lines.push(line) });
    const entries = (): Record<string, unknown>[] => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'ispapi request');
    return { logger, lines, entries };
  }

  it('masks the password and otp, verbatim and form-encoded, in description, toJSON() and the log entries; the properties stay as received', async () => {
    const { logger, lines, entries } = jsonLogger();
    const created = client({ credentials: { login: 'demo', password: PASSWORD, otp: OTP }, logger });
    sandbox.commands.injectFault({
      type: 'respond',
      body: `[RESPONSE]\ncode = 530\ndescription = Authentication failed for password ${PASSWORD} (${ENCODED}) and otp ${OTP}\nproperty[echo][0] = ${PASSWORD}\nproperty[echo][1] = ${OTP}\nEOF\n`,
    });
    const response = await created.request({ COMMAND: 'StatusAccount' });
    const masked = 'Authentication failed for password *** (***) and otp ***';
    expect(response).toMatchObject({ code: 530, synthetic: false, description: masked });
    expect(response.toJSON().description).toBe(masked);
    expect(response.column('ECHO')).toEqual([PASSWORD, OTP]);
    expect(response.records).toEqual([{ ECHO: PASSWORD }, { ECHO: OTP }]);
    // The text as received, as documented.
    expect(response.raw).toContain(`password ${PASSWORD} (${ENCODED})`);

    expect(entries()).toHaveLength(1);
    expect(entries()[0]).toMatchObject({ code: 530, description: masked });
    expect(entries()[0]?.body).toContain(`description = ${masked}`);
    for (const secret of [PASSWORD, ENCODED, OTP]) {
      for (const line of lines) expect(line, `"${secret}" leaked in: ${line}`).not.toContain(secret);
    }
  });

  it('masks in toJSON() the secrets of the request that a record echoes; records and properties stay as received', async () => {
    const created = client({ credentials: { login: 'demo', password: PASSWORD, otp: OTP } });
    const properties = [`property[echo][0] = ${PASSWORD}`, `property[echo][1] = ${OTP}`, `property[message][0] = wrong password ${ENCODED}, new one Weak-New1 refused`, 'property[user][0] = demo', 'property[user][1] = 493'];
    sandbox.commands.injectFault({ type: 'respond', body: `[RESPONSE]\ncode = 504\ndescription = Parameter value policy error\n${properties.join('\n')}\nEOF\n` });
    const response = await created.request({ COMMAND: 'ModifyPassword', NEWPASSWORD: 'Weak-New1' });
    const records = [{ ECHO: PASSWORD, MESSAGE: `wrong password ${ENCODED}, new one Weak-New1 refused`, USER: 'demo' }, { ECHO: OTP, USER: '493' }];
    expect(response.records).toEqual(records);
    expect(response.column('ECHO')).toEqual([PASSWORD, OTP]);
    // toJSON() (and so JSON.stringify and a logger) used to show them as received.
    expect(response.toJSON().records).toEqual([{ ECHO: '***', MESSAGE: 'wrong password ***, new one *** refused', USER: 'demo' }, { ECHO: '***', USER: '493' }]);
    const json = JSON.stringify(response);
    for (const secret of [PASSWORD, ENCODED, OTP, 'Weak-New1']) expect(json).not.toContain(secret);
    // Only the request's secrets: a value that is not one stays.
    expect(response.records).toEqual(records);
  });

  it('masks the session id of the request in description, toJSON() and the log entries', async () => {
    const { logger, lines, entries } = jsonLogger();
    const created = client({ logger });
    sandbox.commands.injectFault({ type: 'respond', body: `[RESPONSE]\nCODE = 530\nDESCRIPTION = SESSION NOT FOUND: ${SESSION}\nEOF\n` });
    const response = await created.request({ COMMAND: 'StatusAccount' }, { sessionId: SESSION });
    expect(sandbox.commands.recent.at(-1)?.fieldNames).toContain('s_session');
    expect(response).toMatchObject({ code: 530, description: 'SESSION NOT FOUND: ***' });
    expect(JSON.stringify(response)).not.toContain(SESSION);
    expect(entries()[0]).toMatchObject({ code: 530, description: 'SESSION NOT FOUND: ***' });
    for (const line of lines) expect(line).not.toContain(SESSION);
  });

  it('keeps the new session id of a StartSession answer that echoes the password, and logs in with it', async () => {
    const { logger, lines } = jsonLogger();
    const created = client({ credentials: { login: 'demo', password: PASSWORD }, logger });
    sandbox.commands.injectFault(
      { type: 'respond', body: `[RESPONSE]\ncode = 200\ndescription = Welcome, ${PASSWORD}\nproperty[session][0] = ${SESSION}\nEOF\n` },
      { command: 'StartSession' },
    );
    const login = await created.login();
    expect(login).toMatchObject({ code: 200, description: 'Welcome, ***' });
    expect(login.property('SESSION')).toBe(SESSION);
    expect(created.saveSession()?.session).toBe(SESSION);
    // toJSON() masks the SESSION column as it always did.
    expect(login.toJSON().records).toEqual([{ SESSION: '***' }]);
    for (const line of lines) expect(line).not.toContain(PASSWORD);
  });

  /** The response to `command` (StatusAccount) when the server answers `code` with `description`, and the trace log. */
  async function answer(
    description: string,
    options: CommandClientOptions & { command?: Record<string, unknown>; sessionId?: string; code?: number } = {},
  ): Promise<{ response: CommandResponse; lines: string[]; entry: Record<string, unknown> | undefined }> {
    const { logger, lines, entries } = jsonLogger();
    const { command = { COMMAND: 'StatusAccount' }, sessionId, code = 530, ...clientOptions } = options;
    const created = client({ logger, ...clientOptions });
    sandbox.commands.injectFault({ type: 'respond', body: `[RESPONSE]\ncode = ${code}\ndescription = ${description}\nEOF\n` });
    const response = await created.request(command, sessionId === undefined ? undefined : { sessionId });
    return { response, lines, entry: entries()[0] };
  }

  /** Expects `description` masked as `masked` in the response, its toJSON() and the log entry, and `secrets` nowhere in the log. */
  function expectMasked({ response, lines, entry }: Awaited<ReturnType<typeof answer>>, masked: string, secrets: string[]): void {
    expect(response.description).toBe(masked);
    expect(response.toJSON().description).toBe(masked);
    expect(entry).toMatchObject({ description: masked });
    expect(entry?.body).toContain(`description = ${masked}`);
    for (const secret of secrets) {
      for (const line of lines) expect(line, `"${secret}" leaked in: ${line}`).not.toContain(secret);
    }
  }

  it('masks a password the server echoes only form-encoded, as sent', async () => {
    const echo = await answer(`Authentication failed for ${ENCODED}`, { credentials: { login: 'demo', password: PASSWORD } });
    expectMasked(echo, 'Authentication failed for ***', [ENCODED]);
  });

  it('masks a password echoed with + for a blank (URLSearchParams, x-www-form-urlencoded)', async () => {
    const plus = new URLSearchParams({ s_pw: 'hunter two' }).toString().slice('s_pw='.length);
    expect(plus).toBe('hunter+two');
    const echo = await answer(`Authentication failed, password ${plus} is wrong`, { credentials: { login: 'demo', password: 'hunter two' } });
    expectMasked(echo, 'Authentication failed, password *** is wrong', [plus]);
  });

  it('masks a password echoed encodeURIComponent style: some characters escaped, others (!) as they are', async () => {
    const component = encodeURIComponent(PASSWORD);
    expect(component).toBe('hunter2%20Echo!');
    expectMasked(await answer(`Authentication failed for ${component}`, { credentials: { login: 'demo', password: PASSWORD } }), 'Authentication failed for ***', [component]);
  });

  it('masks a password echoed with lower-case hex escapes', async () => {
    expectMasked(await answer('Authentication failed for a%2fb%2ac-Pass', { credentials: { login: 'demo', password: 'a/b*c-Pass' } }), 'Authentication failed for ***', ['a%2fb%2ac-Pass']);
  });

  it('masks a password whose characters are several escapes each (UTF-8), in either case', async () => {
    const echo = await answer(`Falsches Passwort ${encodeURIComponent('Grüße 5€')}, Gr%c3%bc%c3%9fe+5%e2%82%ac`, { credentials: { login: 'demo', password: 'Grüße 5€' } });
    expectMasked(echo, 'Falsches Passwort ***, ***', ['%C3%BC%C3%9Fe%205%E2%82%AC', '%c3%bc%c3%9fe+5%e2%82%ac']);
  });

  it('masks a password with regex and replacement syntax ($&, ., *), as it is and form-encoded', async () => {
    const echo = await answer('wrong password $&a.*b$1 (%24%26a.%2Ab%241), not $&aXXb$1', { credentials: { login: 'demo', password: '$&a.*b$1' } });
    expectMasked(echo, 'wrong password *** (***), not $&aXXb$1', ['$&a.*b$1', '%24%26a.%2Ab%241']);
  });

  it('masks a secret command value the server echoes (NEWPASSWORD)', async () => {
    const echo = await answer('Password too weak: Weak-New1', { command: { COMMAND: 'ModifyPassword', NEWPASSWORD: 'Weak-New1' }, code: 504 });
    expectMasked(echo, 'Password too weak: ***', ['Weak-New1']);
  });

  it('masks the new session id a StartSession answer names in its description; property(\'SESSION\') keeps it, and the client logs in with it', async () => {
    const { logger, lines, entries } = jsonLogger();
    const created = client({ logger });
    sandbox.commands.injectFault(
      { type: 'respond', body: `[RESPONSE]\ncode = 200\ndescription = Session ${SESSION} started\nproperty[session][0] = ${SESSION}\nEOF\n` },
      { command: 'StartSession' },
    );
    const login = await created.login();
    expect(login).toMatchObject({ code: 200, description: 'Session *** started' });
    expect(login.toJSON().description).toBe('Session *** started');
    expect(login.property('SESSION')).toBe(SESSION);
    expect(login.raw).toContain(`Session ${SESSION} started`);
    expect(created.saveSession()?.session).toBe(SESSION);
    expect(entries()[0]).toMatchObject({ description: 'Session *** started' });
    for (const line of lines) expect(line).not.toContain(SESSION);
  });

  it('masks the longest secret first: an otp that holds the password is masked whole', async () => {
    const echo = await answer('Authentication failed: otp 482193 expired', { credentials: { login: 'demo', password: '4821', otp: '482193' } });
    expectMasked(echo, 'Authentication failed: otp *** expired', ['93 expired']);
  });

  it('masks the longest secret first: a session id that holds the password is masked whole', async () => {
    const echo = await answer('SESSION ffabc123ee0011 NOT FOUND', { credentials: { login: 'demo', password: 'abc123' }, sessionId: 'ffabc123ee0011' });
    expectMasked(echo, 'SESSION *** NOT FOUND', ['ffabc123ee0011', 'ee0011']);
  });

  it('masks a password with a trailing blank that the server echoes at the end of the description (which is trimmed)', async () => {
    const echo = await answer('Authentication failed for password hunter2-Pass ', { credentials: { login: 'demo', password: 'hunter2-Pass ' } });
    expectMasked(echo, 'Authentication failed for password ***', ['hunter2-Pass']);
  });

  it('masks the trace body before redacting it: a password that redaction would change in part is masked whole', async () => {
    const password = 'Sunny token=42 Harbor-Light';
    const echo = await answer(`Authentication failed for ${password}`, { credentials: { login: 'demo', password } });
    expectMasked(echo, 'Authentication failed for ***', ['Sunny', 'Harbor-Light']);
  });

  it('masks a secret of many symbols without backtracking over a run of escapes', async () => {
    // With each symbol's escapes free to take any share of the run, this took 8 s (and 4× as long for each more).
    const password = `ab${'€'.repeat(10)}c`;
    const run = `ab${'%E2%82%AC'.repeat(12)}x`;
    const started = performance.now();
    const echo = await answer(`${run} ${encodeURIComponent(password)}`, { credentials: { login: 'demo', password } });
    expect(performance.now() - started).toBeLessThan(2000);
    expectMasked(echo, `${run} ***`, [encodeURIComponent(password)]);
  });

  it('leaves secrets shorter than 3 characters and the client’s own descriptions alone', async () => {
    const short = client({ credentials: { login: 'demo', password: 'demo-password', otp: '42' } });
    sandbox.commands.injectFault({ type: 'respond', body: '[RESPONSE]\ncode = 200\ndescription = 42 domains\nEOF\n' });
    expect((await short.request({ COMMAND: 'StatusAccount' })).description).toBe('42 domains');
    // A synthetic 423 names the endpoint, whatever the password.
    const api = client({ credentials: { login: 'demo', password: 'unreachable' } });
    sandbox.commands.injectFault({ type: 'empty-body' });
    expect(await api.request({ COMMAND: 'StatusAccount' })).toMatchObject({ code: 423, synthetic: true, description: `Empty API response. Probably unreachable API end point ${sandbox.commandUrl}` });
  });
});

describe('pages', () => {
  let fresh: Sandbox;
  beforeAll(async () => {
    fresh = await startSandbox();
  });
  afterAll(async () => {
    await fresh.close();
  });

  it('pages through every domain and stops after the last page', async () => {
    const created = client({ url: fresh.commandUrl, highPerformance: true });
    const command = Object.freeze({ COMMAND: 'QueryDomainList', LIMIT: 700, AUTH: 'not-masked-secret' });
    const domains: string[] = [];
    const firsts: number[] = [];
    for await (const page of created.pages(command)) {
      expect(page.code).toBe(200);
      firsts.push(page.pagination?.first ?? -1);
      for (const record of page.records) domains.push(record.DOMAIN ?? '');
    }
    expect(firsts).toEqual([0, 700, 1400, 2100, 2800]);
    expect(domains).toHaveLength(3000);
    expect(new Set(domains).size).toBe(3000);
    expect(fresh.stats.commands.requests).toBe(5);
    const sent = fresh.commands.recent.slice(-5).map((request) => request.command);
    expect(sent.map((request) => request.AUTH)).toEqual(Array(5).fill('not-masked-secret'));
    expect(sent.map((request) => request.FIRST)).toEqual(['0', '700', '1400', '2100', '2800']);
    expect(command).toEqual({ COMMAND: 'QueryDomainList', LIMIT: 700, AUTH: 'not-masked-secret' });
  });

  it('starts at the command’s FIRST', async () => {
    const pages = [];
    for await (const page of client({ url: fresh.commandUrl }).pages({ COMMAND: 'QueryDomainList', FIRST: 2500, LIMIT: 1000 })) pages.push(page);
    expect(pages.map((page) => page.records.length)).toEqual([500]);
  });

  async function collect(body: string | string[]): Promise<number[]> {
    for (const text of Array.isArray(body) ? body : [body]) sandbox.commands.injectFault({ type: 'respond', body: text }, { command: 'QueryDomainList' });
    const codes: number[] = [];
    for await (const page of client().pages({ COMMAND: 'QueryDomainList', LIMIT: 10 }, { maxPages: 5 })) codes.push(page.code);
    return codes;
  }
  const page = (first: number, last: number, total?: number, limit = 10, code = 200): string =>
    `[RESPONSE]\nCODE = ${code}\nDESCRIPTION = x\nPROPERTY[FIRST][0] = ${first}\nPROPERTY[LAST][0] = ${last}\nPROPERTY[LIMIT][0] = ${limit}\n${total === undefined ? '' : `PROPERTY[TOTAL][0] = ${total}\n`}PROPERTY[DOMAIN][0] = a.com\nEOF\n`;

  it('stops without TOTAL, with LIMIT <= 0, when the window does not advance, and on an error', async () => {
    expect(await collect(page(0, 9))).toEqual([200]);
    expect(await collect(page(0, 9, 100, 0))).toEqual([200]);
    // A page that repeats the window is not yielded (it used to be, its records a second time).
    expect(await collect([page(0, 9, 100), page(0, 9, 100)])).toEqual([200]);
    expect(await collect([page(0, 9, 100), page(5, 14, 100)])).toEqual([200]);
    expect(await collect([page(0, 9, 100), page(10, 19, 100, 10, 421)])).toEqual([200, 421]);
    // A page without FIRST is not taken for one that ignored it.
    const withoutFirst = (last: number): string => page(last - 9, last, 20).replace(/PROPERTY\[FIRST\]\[0\] = \d+\n/, '');
    expect(await collect([page(0, 9, 20), withoutFirst(19)])).toEqual([200, 200]);
    expect(await collect([page(0, 9, 100), '[RESPONSE]\nCODE = 421\nDESCRIPTION = busy\nEOF\n'])).toEqual([200, 421]);
    expect(await collect([page(0, 9, 100), page(10, 19, 100), page(20, 29, 100), page(30, 39, 100), page(40, 49, 100)])).toEqual([200, 200, 200, 200, 200]);
    sandbox.commands.clearFaults();
  });

  it('reads a page without FIRST as starting at 0, whatever FIRST was sent, so that a server ignoring FIRST ends the paging after two pages', async () => {
    // COUNT, LIMIT and TOTAL only, and the same records whatever FIRST asked for.
    const same = '[RESPONSE]\nCODE = 200\nDESCRIPTION = ok\nPROPERTY[DOMAIN][0] = d0.com\nPROPERTY[DOMAIN][1] = d1.com\nPROPERTY[COUNT][0] = 2\nPROPERTY[LIMIT][0] = 2\nPROPERTY[TOTAL][0] = 1000000\nEOF\n';
    sandbox.commands.injectFault({ type: 'respond', body: same }, { command: 'QueryDomainList', times: Infinity });
    sandbox.commands.resetStats();
    const created = client();
    const pages: CommandResponse[] = [];
    for await (const each of created.pages({ COMMAND: 'QueryDomainList', LIMIT: 2 }, { maxPages: 5 })) pages.push(each);
    // Read as starting at the FIRST sent, every page looked new: it went on up to maxPages.
    expect(pages.map((each) => each.pagination?.first)).toEqual([0, 0]);
    expect(sandbox.commands.recent.map((sent) => sent.command.FIRST)).toEqual(['0', '2']);
    // request() too, however FIRST is written.
    for (const first of [20, '20', ' 20 ']) {
      expect((await created.request({ COMMAND: 'QueryDomainList', FIRST: first, LIMIT: 2 })).pagination).toMatchObject({ first: 0, last: 1, nextFirst: 2 });
    }
    sandbox.commands.clearFaults();
  });
});

describe('redactResponseText', () => {
  it('masks secret lines and takes linear time on a long line without "="', () => {
    expect(redactResponseText('[RESPONSE]\r\nPROPERTY[SESSION][0] = abc123\nCODE = 200\rdescription = password=hunter2\n')).toBe('[RESPONSE]\r\nPROPERTY[SESSION][0] = ***\nCODE = 200\rdescription = password=[REDACTED]\n');
    // Tried from every character, this took about 40 s (quadratic); vitest's 5 s timeout fails it.
    const line = 'a'.repeat(200_000);
    expect(redactResponseText(`${line}\nPASSWORD = x`)).toBe(`${line}\nPASSWORD = [REDACTED]`);
  });

  it('masks secrets in values URL-encoded up to four times, past a bad escape, and stays linear on deep nesting', () => {
    const url = 'https://x.example/cb?token=encoded-secret';
    let encoded = url;
    for (let layers = 1; layers <= 4; layers++) {
      encoded = encodeURIComponent(encoded);
      const masked = redactResponseText(`PROPERTY[URL][0]=${encoded}`);
      expect(masked).not.toContain('encoded-secret');
      expect(masked).toMatch(/^PROPERTY\[URL\]\[0\]=https%/);
    }
    // A stray `%` elsewhere in the value does not keep the rest from being decoded.
    expect(redactResponseText(`PROPERTY[URL][0]=${encodeURIComponent(url)}%26pct%3D100%`)).not.toContain('encoded-secret');
    // A value without a secret stays exactly as it was.
    const plain = `PROPERTY[URL][0]=${encodeURIComponent('https://x.example/cb?a=1&b=%zz')}%`;
    expect(redactResponseText(plain)).toBe(plain);
    // Nested escapes peel one layer per decoding: they recursed once per layer, and 5,000 layers
    // aborted the process (V8 ran out of memory compiling a pattern on a full stack).
    const nested = `PROPERTY[URL][0]=%25${'25'.repeat(100_000)}`;
    expect(redactResponseText(nested)).toBe(nested);
  });
});
