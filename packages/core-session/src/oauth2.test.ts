import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { createLogger, silentLogger } from '@sessionkit/logger';
import { runChild } from '@sessionkit/vitest-config/child';
import { startSandbox, type Sandbox } from '@sessionkit/sandbox';
import { AuthError, oauth2, type OAuth2Options, parseRetryAfter, Session, storeKeyFor, type Token } from '@sessionkit/core-session';
import { MemoryStore } from '@sessionkit/token-store';
import { caught, manualClock } from './testing/helpers.js';

let sandbox: Sandbox;

beforeEach(async () => {
  sandbox = await startSandbox();
});

afterEach(async () => {
  await sandbox.close();
});

describe('oauth2', () => {
  it('authenticates with HTTP Basic by default and with form fields on request', async () => {
    for (const clientAuthentication of ['basic', 'body'] as const) {
      const session = new Session({
        authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret', scope: 'read', clientAuthentication }),
      });
      const token = await session.getToken();
      expect(token).toMatchObject({ type: 'Bearer', scope: 'read' });
      expect(sandbox.idp.verifyAccessToken(token.value)?.clientId).toBe('sessionkit-demo');
    }
  });

  it('keeps using its refresh token when refreshes answer none (a sandbox that does not rotate them)', async () => {
    const keeping = await startSandbox({ rotateRefreshTokens: false, ess: { generator: false } });
    onTestFinished(() => keeping.close());
    const clock = manualClock();
    const session = new Session({
      authenticator: oauth2({ tokenUrl: keeping.tokenUrl, grant: 'password', clientId: 'GrantValidatorClient', username: 'demo', password: 'demo-password' }),
      clock,
    });
    const first = await session.getToken();
    for (let refresh = 0; refresh < 2; refresh += 1) {
      clock.advance(3_600_000);
      const next = await session.getToken();
      expect(next.value).not.toBe(first.value);
      expect(next.refreshToken).toBe(first.refreshToken);
    }
    expect(keeping.stats.idp.byGrant).toEqual({ password: 1, refresh_token: 2 });
  });

  it('sends no client credential for a public client whose clientSecret is null (plain JavaScript)', async () => {
    const sent: (string | null)[] = [];
    // The real fetch, recording what it sends.
    const recording: typeof fetch = (input, init) => {
      sent.push(new Headers(input instanceof Request ? input.headers : init?.headers).get('authorization'));
      return fetch(input, init);
    };
    const options = { tokenUrl: sandbox.tokenUrl, grant: 'password', clientId: 'GrantValidatorClient', clientSecret: null, username: 'demo', password: 'demo-password', fetch: recording };
    const token = await new Session({ authenticator: oauth2(options as unknown as OAuth2Options) }).getToken();
    expect(token.type).toBe('Bearer');
    // Not `Basic base64("GrantValidatorClient:null")`.
    expect(sent).toEqual([null]);
  });

  it('takes every optional option given as null (plain JavaScript) as not set, revocationUrl included', async () => {
    const optional: Record<Exclude<keyof OAuth2Options, 'tokenUrl' | 'grant' | 'clientId'>, null> = {
      clientSecret: null,
      username: null,
      password: null,
      scope: null,
      clientAuthentication: null,
      allowInsecure: null,
      timeoutMs: null,
      revocationUrl: null,
      fetch: null,
    };
    for (const name of Object.keys(optional)) {
      // Each where the grant does not need it: a public client for clientSecret.
      const base =
        name === 'clientSecret'
          ? { grant: 'password', clientId: 'GrantValidatorClient', username: 'demo', password: 'demo-password' }
          : { grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' };
      const authenticator = oauth2({ tokenUrl: sandbox.tokenUrl, ...base, [name]: null } as unknown as OAuth2Options);
      const session = new Session({ authenticator });
      expect(sandbox.idp.verifyAccessToken((await session.getToken()).value), name).toBeDefined();
      // No revocation endpoint: end() only forgets the token.
      expect('revoke' in authenticator, name).toBe(false);
      await session.end();
    }
    expect(sandbox.stats.idp).toMatchObject({ requests: Object.keys(optional).length, revocations: 0 });
  });

  it('maps refusals to INVALID_CREDENTIALS with the OAuth error code', async () => {
    const session = new Session({
      authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'wrong-secret' }),
    });
    const error = await caught(session.getToken());
    expect(error).toMatchObject({ name: 'AuthError', code: 'INVALID_CREDENTIALS', status: 401, oauthError: 'invalid_client' });
    // The server's description ends with a full stop: not doubled.
    expect((error as Error).message).toMatch(/^The token endpoint answered HTTP 401 \(invalid_client\): [^.]+\. Check the credentials\.$/);
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it("names clientAuthentication: 'body' when a client whose id or secret form encoding changes is refused through HTTP Basic", async () => {
    // Many servers compare Basic credentials without form-decoding them (RFC 6749 section 2.3.1 has them
    // encoded): such a client is refused however right its secret is. The sandbox decodes them, so a
    // wrong secret stands in for that refusal here.
    const refusal = async (options: Partial<OAuth2Options>): Promise<string> => {
      const authenticator = oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'wrong-secret', ...options });
      const error = await caught(new Session({ authenticator }).getToken());
      expect(error).toMatchObject({ code: 'INVALID_CREDENTIALS', oauthError: 'invalid_client' });
      return (error as Error).message;
    };
    const hint = " The client id or secret has characters HTTP Basic sends form-encoded (RFC 6749 section 2.3.1), which some servers do not decode: if it is right, try clientAuthentication: 'body'.";
    for (const clientSecret of ['wr+ng/secret=', 'wrong secret', 'wröng']) {
      const message = await refusal({ clientSecret });
      expect(message.endsWith(`Check the credentials.${hint}`), clientSecret).toBe(true);
      expect(message).not.toContain(clientSecret);
    }
    expect(await refusal({ clientId: 'sessionkit demo' })).toContain(hint);
    // Nothing for encoding to change, or no Basic at all: the message as before.
    for (const options of [{}, { clientSecret: 'wr+ng/secret=', clientAuthentication: 'body' as const }, { clientSecret: 'wrong-secret_.*' }]) {
      expect(await refusal(options)).toMatch(/\. Check the credentials\.$/);
    }
  });

  it('gives that hint for a refusal of the client only: invalid_client, or a 401 without an OAuth error', async () => {
    let answer: [number, string] = [401, ''];
    const server = createServer((request, response) => {
      request.resume();
      response.writeHead(answer[0], { 'content-type': 'application/json' }).end(answer[1]);
    });
    const tokenUrl = `${await listen(server)}/token`;
    onTestFinished(() => closeServer(server));
    const cases: [number, string, boolean, string][] = [
      [401, '', true, 'INVALID_CREDENTIALS'],
      [401, JSON.stringify({ error: 'invalid_client' }), true, 'INVALID_CREDENTIALS'],
      [400, JSON.stringify({ error: 'invalid_client' }), true, 'INVALID_CREDENTIALS'],
      // A refresh token or password refused: the client was not.
      [401, JSON.stringify({ error: 'invalid_grant' }), false, 'INVALID_CREDENTIALS'],
      [400, JSON.stringify({ error: 'invalid_grant' }), false, 'INVALID_CREDENTIALS'],
      [403, JSON.stringify({ error: 'access_denied' }), false, 'INVALID_CREDENTIALS'],
      // No OAuth error: a proxy's or firewall's page, no refusal of the credentials.
      [403, '', false, 'INVALID_RESPONSE'],
    ];
    for (const [status, body, hinted, code] of cases) {
      answer = [status, body];
      const authenticator = oauth2({ tokenUrl, grant: 'client_credentials', clientId: 'client', clientSecret: 'se+cret/=' });
      const error = await caught(new Session({ authenticator }).getToken());
      expect(error, `${status} ${body}`).toMatchObject({ code, status });
      expect((error as Error).message.includes("try clientAuthentication: 'body'"), `${status} ${body}`).toBe(hinted);
    }
  });

  it('form-encodes the client id and secret in HTTP Basic as RFC 6749 section 2.3.1 (appendix B) has them: a space as +, !\'()~ escaped', async () => {
    const seen: (string | undefined)[] = [];
    const server = createServer((request, response) => {
      request.resume();
      seen.push(request.headers.authorization);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'a', token_type: 'Bearer', expires_in: 60 }));
    });
    const tokenUrl = `${await listen(server)}/token`;
    onTestFinished(() => closeServer(server));
    // The RFC's own example, ' %&+£€', and the characters encodeURIComponent leaves as they are.
    await oauth2({ tokenUrl, grant: 'client_credentials', clientId: 'my client', clientSecret: " %&+£€!'()~*-._" }).authenticate({ signal: new AbortController().signal, now: Date.now, logger: silentLogger, attempt: 1 });
    const [scheme, credentials] = (seen[0] ?? '').split(' ');
    expect(scheme).toBe('Basic');
    expect(Buffer.from(credentials ?? '', 'base64').toString()).toBe('my+client:+%25%26%2B%C2%A3%E2%82%AC%21%27%28%29%7E*-._');
  });

  it('keeps a refresh token a proxy\'s page answered (a 400 or 403 without an OAuth error), and presents it again', async () => {
    let answer: [number, string] = [200, ''];
    const grants: (string | null)[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        grants.push(new URLSearchParams(body).get('grant_type'));
        response.writeHead(answer[0], { 'content-type': answer[0] === 200 ? 'application/json' : 'text/html' }).end(answer[1]);
      });
    });
    const tokenUrl = `${await listen(server)}/token`;
    onTestFinished(() => closeServer(server));
    const clock = manualClock();
    answer = [200, JSON.stringify({ access_token: 'a1', token_type: 'Bearer', expires_in: 3600, refresh_token: 'r1' })];
    const session = new Session({ authenticator: oauth2({ tokenUrl, grant: 'password', clientId: 'c', username: 'u', password: 'p' }), clock, retry: { retries: 0 } });
    await session.getToken();
    clock.advance(3_600_000);
    answer = [403, '<html><body>Request blocked by the firewall</body></html>'];
    const blocked = await caught(session.getToken());
    expect(blocked).toMatchObject({ name: 'AuthError', code: 'INVALID_RESPONSE', status: 403 });
    answer = [200, JSON.stringify({ access_token: 'a2', token_type: 'Bearer', expires_in: 3600 })];
    expect((await session.getToken()).value).toBe('a2');
    // The refresh, the login it fell back to (both blocked), then the refresh token again: not dropped as refused.
    expect(grants).toEqual(['password', 'refresh_token', 'password', 'refresh_token']);
  });

  it("refuses a clientAuthentication other than 'basic' or 'body' (the secret went in the form unasked)", () => {
    const base = { tokenUrl: 'https://id.example.com/token', grant: 'client_credentials', clientId: 'c', clientSecret: 's' } as const;
    for (const clientAuthentication of ['client_secret_basic', 'Basic', '', 'none']) {
      expect(() => oauth2({ ...base, clientAuthentication } as unknown as OAuth2Options), clientAuthentication).toThrow(
        expect.objectContaining({ name: 'AuthError', code: 'CONFIGURATION', message: "clientAuthentication must be 'basic' or 'body'." }) as Error,
      );
    }
    for (const clientAuthentication of ['basic', 'body', undefined] as const) expect(() => oauth2({ ...base, clientAuthentication })).not.toThrow();
  });

  it('requires https except on loopback unless allowed explicitly', () => {
    const base = { grant: 'client_credentials', clientId: 'c', clientSecret: 's' } as const;
    expect(() => oauth2({ ...base, tokenUrl: 'http://id.example.com/token' })).toThrow(/plain http/);
    expect(() => oauth2({ ...base, tokenUrl: 'http://id.example.com/token' })).toThrow(expect.objectContaining({ code: 'CONFIGURATION' }) as Error);
    expect(() => oauth2({ ...base, tokenUrl: 'http://id.example.com/token', allowInsecure: true })).not.toThrow();
    for (const tokenUrl of ['https://id.example.com/token', 'http://127.0.0.1:1/t', 'http://127.1/t', 'http://LocalHost:1/t', 'http://[::1]:1/t']) {
      expect(() => oauth2({ ...base, tokenUrl })).not.toThrow();
    }
    // Names under localhost are looked up in DNS by Node, like any other name: not loopback for sure.
    for (const tokenUrl of ['http://idp.localhost/t', 'http://127.0.0.1.localhost/t', 'http://localhost.example.com/t', 'http://127.0.0.1.example.com/t']) {
      expect(() => oauth2({ ...base, tokenUrl }), tokenUrl).toThrow(/plain http/);
    }
    expect(() => oauth2({ ...base, tokenUrl: 'https://user:pw@id.example.com/token' })).toThrow(/credentials/);
    expect(() => oauth2({ grant: 'client_credentials', clientId: 'c', tokenUrl: 'https://id.example.com/t' })).toThrow(/clientSecret/);
    expect(() => oauth2({ grant: 'password', clientId: 'c', username: 'u', tokenUrl: 'https://id.example.com/t' })).toThrow(/password/);
    // null, from plain JavaScript, is missing too.
    expect(() => oauth2({ grant: 'client_credentials', clientId: 'c', clientSecret: null, tokenUrl: 'https://id.example.com/t' } as unknown as OAuth2Options)).toThrow(/clientSecret/);
    expect(() => oauth2({ grant: 'password', clientId: null, username: 'u', password: 'p', tokenUrl: 'https://id.example.com/t' } as unknown as OAuth2Options)).toThrow(/clientId/);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('reads Retry-After strictly (seconds or an HTTP date) and caps it at 1 hour', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter(' 30 ', now)).toBe(30_000);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
    expect(parseRetryAfter('Wednesday, 01-Jan-25 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
    for (const header of ['-1', '+1', '1e3', '.5', '60 seconds', 'in 2050', 'in 2050 GMT', '']) expect(parseRetryAfter(header, now)).toBeUndefined();
    for (const header of ['7200', '9'.repeat(400), 'Wed, 21 Oct 2037 07:28:00 GMT']) expect(parseRetryAfter(header, now)).toBe(3_600_000);
  });

  it('reads all three HTTP-date forms of Retry-After, asctime too, as GMT whatever the local time zone', () => {
    const now = Date.parse('1994-11-06T08:49:30Z');
    const timeZone = process.env.TZ;
    onTestFinished(() => {
      if (timeZone === undefined) delete process.env.TZ;
      else process.env.TZ = timeZone;
    });
    for (const zone of ['UTC', 'America/New_York', 'Asia/Kolkata']) {
      process.env.TZ = zone;
      // RFC 9110 section 5.6.7: IMF-fixdate, the obsolete RFC 850 form and asctime (day padded with a space, or not).
      for (const header of ['Sun, 06 Nov 1994 08:49:37 GMT', 'Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994', 'Sun Nov 6 08:49:37 1994']) {
        expect(parseRetryAfter(header, now)).toBe(7000);
      }
      expect(parseRetryAfter('Sun Nov 16 08:49:37 1994', now)).toBe(3_600_000);
      expect(parseRetryAfter('Sat Nov  5 08:49:37 1994', now)).toBe(0);
      // Only the asctime shape gets GMT added: other text before a time and a year is not a date.
      for (const header of ['in 08:49:37 1994', 'Sun Nov  6 08:49:37 94', 'Sun Nov  6 08:49 1994', 'Sun Nov  6 08:49:37 1994 EST']) expect(parseRetryAfter(header, now)).toBeUndefined();
    }
  });

  it('throttles for an asctime Retry-After from the token endpoint, not the 5 s default', async () => {
    const clock = manualClock(Math.floor(Date.now() / 1000) * 1000);
    // asctime from the IMF-fixdate parts: "Sun, 06 Nov 1994 08:49:37 GMT" -> "Sun Nov  6 08:49:37 1994".
    const [weekday = '', day = '', month, year, time] = new Date(clock() + 42_000).toUTCString().split(' ');
    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: `${weekday.slice(0, 3)} ${month} ${day.replace(/^0/, ' ')} ${time} ${year}` });
    const session = new Session({ clock, authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }) });
    await expect(session.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterMs: 42_000 });
    clock.advance(41_999);
    await expect(session.getToken()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 1 });
    expect(sandbox.stats.idp.requests).toBe(1);
  });

  it('derives a store key from the identity that reveals no secret', () => {
    const first = oauth2({ tokenUrl: 'https://id.example.com/t', grant: 'password', clientId: 'c', username: 'alice', password: 'hunter2-secret' });
    const second = oauth2({ tokenUrl: 'https://id.example.com/t', grant: 'password', clientId: 'c', username: 'alice', password: 'other-password' });
    const third = oauth2({ tokenUrl: 'https://id.example.com/t', grant: 'password', clientId: 'c', username: 'bob', password: 'hunter2-secret' });
    expect(first.identity).not.toContain('hunter2');
    expect(storeKeyFor(first.identity)).toBe(storeKeyFor(second.identity));
    expect(storeKeyFor(first.identity)).not.toBe(storeKeyFor(third.identity));
    expect(storeKeyFor(first.identity)).toMatch(/^sessionkit-session-[0-9a-f]{32}$/);
  });
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
}

describe('oauth2 redirects', () => {
  it('never follows a redirect of the token endpoint: the credentials reach no other server', async () => {
    const received: string[] = [];
    const elsewhere = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        received.push(`${request.method ?? ''} ${request.headers.authorization ?? ''} ${body}`);
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token":"stolen","expires_in":60}');
      });
    });
    const elsewhereUrl = await listen(elsewhere);
    let status = 307;
    const redirector = createServer((request, response) => {
      request.resume();
      response.writeHead(status, { location: `${elsewhereUrl}/collect` }).end();
    });
    const redirectorUrl = await listen(redirector);
    try {
      for (status of [307, 308, 302]) {
        for (const grant of ['client_credentials', 'password'] as const) {
          const session = new Session({
            authenticator: oauth2({ tokenUrl: `${redirectorUrl}/token`, grant, clientId: 'client-a', clientSecret: 'redirect-secret', username: 'alice', password: 'redirect-password', clientAuthentication: 'body' }),
            retry: { retries: 0 },
          });
          const error = await caught(session.getToken());
          expect(error).toMatchObject({ name: 'AuthError', code: 'INVALID_RESPONSE', status });
          expect(String(error)).toContain(`redirect to ${elsewhereUrl}`);
          expect(inspect(error, { depth: 10 })).not.toMatch(/redirect-secret|redirect-password/);
        }
      }
      expect(received).toEqual([]);
    } finally {
      await closeServer(redirector);
      await closeServer(elsewhere);
    }
  });
});

describe('oauth2 token responses', () => {
  /** A token endpoint on a loopback port that answers every request with the JSON `body` of the moment. */
  async function tokenEndpoint(): Promise<{ url: string; answer: (body: unknown) => void; answerText: (text: string) => void; requests: () => number; close: () => Promise<void> }> {
    let text = '';
    let requests = 0;
    const server = createServer((request, response) => {
      requests += 1;
      request.resume();
      response.writeHead(200, { 'content-type': 'application/json' }).end(text);
    });
    const url = `${await listen(server)}/token`;
    return { url, answer: (next) => (text = JSON.stringify(next)), answerText: (next) => (text = next), requests: () => requests, close: () => closeServer(server) };
  }

  function sessionFor(tokenUrl: string): Session {
    return new Session({ authenticator: oauth2({ tokenUrl, grant: 'client_credentials', clientId: 'client-t', clientSecret: 'response-secret' }), retry: { retries: 0 } });
  }

  it('uses token_type Bearer in any case, or none; refuses any other type with INVALID_RESPONSE that holds no secret', async () => {
    const endpoint = await tokenEndpoint();
    onTestFinished(endpoint.close);
    for (const type of ['Bearer', 'bearer', 'BEARER', undefined, null, '']) {
      endpoint.answer({ access_token: 'typed-access-token', token_type: type, expires_in: 3600 });
      const session = sessionFor(endpoint.url);
      expect(await session.getToken()).toMatchObject({ type: 'Bearer' });
      expect(await session.authorization()).toBe('Bearer typed-access-token');
    }
    for (const type of ['mac', 'DPoP', 'Bearer\r\nX-Injected: 1', 'typed-access-token', 42, { scheme: 'Bearer' }]) {
      endpoint.answer({ access_token: 'typed-access-token', token_type: type, expires_in: 3600 });
      const error = await caught(sessionFor(endpoint.url).getToken());
      expect(error).toMatchObject({ name: 'AuthError', code: 'INVALID_RESPONSE', message: expect.stringContaining('only Bearer is supported') as unknown });
      expect(String(error)).not.toMatch(/[\r\n]/);
      expect(inspect(error, { depth: 10, showHidden: true })).not.toMatch(/typed-access-token|response-secret/);
    }
  });

  it('keeps the refresh token of the same answer out of a token_type it refuses', async () => {
    const endpoint = await tokenEndpoint();
    onTestFinished(endpoint.close);
    // Short enough to fit in the 24 characters of the type shown.
    endpoint.answer({ access_token: 'typed-access-token', refresh_token: 'rt-73920514', token_type: { e: 'rt-73920514' } });
    const error = await caught(sessionFor(endpoint.url).getToken());
    expect(error).toMatchObject({ code: 'INVALID_RESPONSE', message: expect.stringContaining('only Bearer is supported') as unknown });
    expect(inspect(error, { depth: 10, showHidden: true })).not.toContain('73920514');
  });

  it('keeps a secret echoed by the server out of the error in its JSON-escaped form too', async () => {
    const endpoint = await tokenEndpoint();
    onTestFinished(endpoint.close);
    const secret = 'se"cr\\et-value';
    // The type is shown as JSON, where the secret's `"` and `\` are escaped.
    endpoint.answer({ access_token: 'escaped-access-token', token_type: secret });
    const authenticator = oauth2({ tokenUrl: endpoint.url, grant: 'client_credentials', clientId: 'client-t', clientSecret: secret });
    const error = await caught(new Session({ authenticator, retry: { retries: 0 } }).getToken());
    expect(error).toMatchObject({ name: 'AuthError', code: 'INVALID_RESPONSE', message: expect.stringContaining('only Bearer is supported') as unknown });
    expect(String(error)).not.toContain('et-value');
  });

  it('keeps a secret echoed by the server out of the error when HTML-escaped or in another case', async () => {
    const endpoint = await tokenEndpoint();
    onTestFinished(endpoint.close);
    // The type is cut to 24 characters in the message: what tells the secret apart comes first.
    const secret = `Zq9&<wö>"it's`;
    const html = 'Zq9&amp;&lt;wö&gt;&quot;it&#39;s';
    for (const echoed of [html, secret.toUpperCase(), html.toUpperCase()]) {
      endpoint.answer({ access_token: 'escaped-access-token', token_type: echoed });
      const authenticator = oauth2({ tokenUrl: endpoint.url, grant: 'client_credentials', clientId: 'client-t', clientSecret: secret });
      const error = await caught(new Session({ authenticator, retry: { retries: 0 } }).getToken());
      expect(error).toMatchObject({ name: 'AuthError', code: 'INVALID_RESPONSE', message: expect.stringContaining('only Bearer is supported') as unknown });
      expect(String(error).toLowerCase(), echoed).not.toContain('zq9');
    }
  });

  it('reads an expires_in that is empty, 0 or too large to be a time as no known expiry: one request, not one per call', async () => {
    const endpoint = await tokenEndpoint();
    onTestFinished(endpoint.close);
    let expected = 0;
    for (const expiresIn of ['', ' \t', 0, '0', 1e306, `1${'0'.repeat(306)}`, null]) {
      endpoint.answer({ access_token: 'lifetime-token', token_type: 'Bearer', expires_in: expiresIn });
      const session = sessionFor(endpoint.url);
      expect((await session.getToken()).expiresAt).toBeUndefined();
      for (let call = 0; call < 5; call += 1) await session.getToken();
      expect(endpoint.requests()).toBe((expected += 1));
    }
    const clock = manualClock();
    endpoint.answer({ access_token: 'lifetime-token', token_type: 'Bearer', expires_in: '120' });
    expect((await new Session({ authenticator: oauth2({ tokenUrl: endpoint.url, grant: 'client_credentials', clientId: 'c', clientSecret: 's' }), clock }).getToken()).expiresAt).toBe(
      clock() + 120_000,
    );
    endpoint.answer({ access_token: 'lifetime-token', token_type: 'Bearer', expires_in: -1 });
    await expect(sessionFor(endpoint.url).getToken()).rejects.toMatchObject({ code: 'INVALID_RESPONSE', message: expect.stringContaining('expires_in') as unknown });
  });

  it('reads expires_in as a JSON number or a plain decimal string only: "0x10", "1e3", "Infinity" and the like are INVALID_RESPONSE', async () => {
    const endpoint = await tokenEndpoint();
    onTestFinished(endpoint.close);
    const clock = manualClock();
    const sessionAt = (): Session => new Session({ authenticator: oauth2({ tokenUrl: endpoint.url, grant: 'client_credentials', clientId: 'c', clientSecret: 's' }), clock, retry: { retries: 0 } });
    // Digits with an optional fraction, whitespace around them allowed.
    for (const [expiresIn, ms] of [['120', 120_000], [' 120 ', 120_000], ['\t90\n', 90_000], ['1.5', 1500], ['007', 7000]] as const) {
      endpoint.answer({ access_token: 'lifetime-token', token_type: 'Bearer', expires_in: expiresIn });
      expect((await sessionAt().getToken()).expiresAt, expiresIn).toBe(clock() + ms);
    }
    // Number() would read each of these as a lifetime (16 s, 1000 s, none, ...).
    for (const expiresIn of ['0x10', '0b11', '0o17', '1e3', '1E3', 'Infinity', '-Infinity', '+60', '-1', '-0', '.5', '5.', '1 000', '1_000', '60s', '3600 3600', [60], true, { seconds: 60 }]) {
      endpoint.answer({ access_token: 'lifetime-token', token_type: 'Bearer', expires_in: expiresIn });
      await expect(sessionAt().getToken(), JSON.stringify(expiresIn)).rejects.toMatchObject({
        name: 'AuthError',
        code: 'INVALID_RESPONSE',
        message: 'The token endpoint answered 200 with an expires_in that is not a number of seconds. Check tokenUrl.',
      });
    }
  });

  it('reads a refresh_token that is null or empty as none: the token is used, and a refresh answered so keeps the refresh token it used', async () => {
    const endpoint = await tokenEndpoint();
    onTestFinished(endpoint.close);
    for (const refreshToken of [null, '']) {
      endpoint.answer({ access_token: 'no-refresh-token', token_type: 'Bearer', expires_in: 3600, refresh_token: refreshToken, scope: null });
      const session = sessionFor(endpoint.url);
      const token = await session.getToken();
      expect(token).toMatchObject({ value: 'no-refresh-token' });
      expect(token.refreshToken).toBeUndefined();
    }
    endpoint.answer({ access_token: 'first-access', token_type: 'Bearer', expires_in: 3600, refresh_token: 'kept-refresh-token' });
    const session = sessionFor(endpoint.url);
    session.invalidate(await session.getToken());
    endpoint.answer({ access_token: 'refreshed-access', token_type: 'Bearer', expires_in: 3600, refresh_token: null });
    expect(await session.getToken()).toMatchObject({ value: 'refreshed-access', refreshToken: 'kept-refresh-token' });
    // Anything else that is not a string is still refused.
    endpoint.answer({ access_token: 'no-refresh-token', token_type: 'Bearer', refresh_token: 42 });
    await expect(sessionFor(endpoint.url).getToken()).rejects.toMatchObject({ code: 'INVALID_RESPONSE', message: expect.stringContaining('refresh_token') as unknown });
  });

  it('keeps the granted scope across a refresh whose answer has none (RFC 6749 sections 5.1 and 6), with or without a new refresh token', async () => {
    const endpoint = await tokenEndpoint();
    onTestFinished(endpoint.close);
    const session = new Session({ authenticator: oauth2({ tokenUrl: endpoint.url, grant: 'client_credentials', clientId: 'c', clientSecret: 's', scope: 'read write' }), retry: { retries: 0 } });
    // Granted narrower than requested.
    endpoint.answer({ access_token: 'first', token_type: 'Bearer', expires_in: 3600, refresh_token: 'r1', scope: 'read' });
    expect(await session.getToken()).toMatchObject({ value: 'first', scope: 'read' });
    for (const [value, refreshToken] of [['kept', null], ['rotated', 'r2']] as const) {
      session.invalidate(await session.getToken());
      endpoint.answer({ access_token: value, token_type: 'Bearer', expires_in: 3600, refresh_token: refreshToken });
      expect(await session.getToken()).toMatchObject({ value, scope: 'read' });
    }
    // A login's answer without one: the scope requested.
    endpoint.answer({ access_token: 'login', token_type: 'Bearer', expires_in: 3600 });
    expect(await new Session({ authenticator: oauth2({ tokenUrl: endpoint.url, grant: 'client_credentials', clientId: 'c', clientSecret: 's', scope: 'read write' }) }).getToken()).toMatchObject({ scope: 'read write' });
    // Given as a list, the same scope and identity (a TypeError from split() before).
    const listed = oauth2({ tokenUrl: endpoint.url, grant: 'client_credentials', clientId: 'c', clientSecret: 's', scope: ['read', 'write'] });
    expect(listed.identity).toBe(oauth2({ tokenUrl: endpoint.url, grant: 'client_credentials', clientId: 'c', clientSecret: 's', scope: 'read write' }).identity);
    endpoint.answer({ access_token: 'listed', token_type: 'Bearer', expires_in: 3600 });
    expect(await new Session({ authenticator: listed }).getToken()).toMatchObject({ value: 'listed', scope: 'read write' });
  });

  it('reads an expires_in under 1 second, infinite, or too large for a Date as no known expiry; every expiresAt is a valid Date', async () => {
    const endpoint = await tokenEndpoint();
    onTestFinished(endpoint.close);
    const clock = manualClock();
    const sessionAt = (): Session => new Session({ authenticator: oauth2({ tokenUrl: endpoint.url, grant: 'client_credentials', clientId: 'c', clientSecret: 's' }), clock, retry: { retries: 0 } });
    const largest = Math.floor((8.64e15 - clock()) / 1000); // the longest lifetime in seconds whose end is still a Date
    let expected = 0;
    // Under 1 s every token would be expired when handed out: a new token request on every call.
    for (const raw of ['1e400', `"${'9'.repeat(400)}"`, '-0', '5e-324', '0.0001', '"0.999"', '0.999', '1e13', String(largest + 1)]) {
      endpoint.answerText(`{"access_token":"lifetime-token","token_type":"Bearer","expires_in":${raw}}`);
      const session = sessionAt();
      expect((await session.getToken()).expiresAt, raw).toBeUndefined();
      for (let call = 0; call < 5; call += 1) await session.getToken();
      expect(endpoint.requests(), raw).toBe((expected += 1));
    }
    for (const [seconds, expiresAt] of [[1, clock() + 1000], [largest, clock() + largest * 1000]]) {
      endpoint.answer({ access_token: 'lifetime-token', token_type: 'Bearer', expires_in: seconds });
      const token = await sessionAt().getToken();
      expect(token.expiresAt).toBe(expiresAt);
      expect(Number.isNaN(new Date(token.expiresAt!).getTime())).toBe(false);
    }
  });
});

describe('oauth2 identity', () => {
  it('tells apart identities that differ in the token URL query, or only in where a space falls', () => {
    const identity = (options: { tokenUrl: string; clientId: string; username?: string; scope?: string }): string =>
      oauth2({ grant: 'password', password: 'pw-secret', ...options, username: options.username ?? 'u' }).identity;
    const tenantA = identity({ tokenUrl: 'https://id.example.com/token?tenant=a', clientId: 'c' });
    const tenantB = identity({ tokenUrl: 'https://id.example.com/token?tenant=b', clientId: 'c' });
    expect(storeKeyFor(tenantA)).not.toBe(storeKeyFor(tenantB));
    expect(tenantA).not.toContain('tenant=a');
    expect(identity({ tokenUrl: 'https://id.example.com/token', clientId: 'a b', username: 'c' })).not.toBe(
      identity({ tokenUrl: 'https://id.example.com/token', clientId: 'a', username: 'b c' }),
    );
    expect(identity({ tokenUrl: 'https://id.example.com/token', clientId: 'c', username: 'u', scope: 'x' })).not.toBe(
      identity({ tokenUrl: 'https://id.example.com/token', clientId: 'c', username: 'u x' }),
    );
    expect(identity({ tokenUrl: 'https://id.example.com/token#a', clientId: 'c' })).toBe(identity({ tokenUrl: 'https://id.example.com/token', clientId: 'c' }));
    expect(identity({ tokenUrl: 'https://id.example.com/token', clientId: 'c' })).not.toContain('pw-secret');
  });
});

describe('Session.fromEnv', () => {
  it('names the missing variable', () => {
    expect(() => Session.fromEnv({})).toThrow(/SESSIONKIT_TOKEN_URL/);
    expect(() => Session.fromEnv({ SESSIONKIT_TOKEN_URL: sandbox.tokenUrl })).toThrow(/SESSIONKIT_CLIENT_ID/);
    expect(() => Session.fromEnv({ SESSIONKIT_TOKEN_URL: sandbox.tokenUrl, SESSIONKIT_CLIENT_ID: 'sessionkit-demo' })).toThrow(/SESSIONKIT_CLIENT_SECRET/);
    expect(() => Session.fromEnv({ SESSIONKIT_TOKEN_URL: sandbox.tokenUrl, SESSIONKIT_CLIENT_ID: 'GrantValidatorClient', SESSIONKIT_USERNAME: 'demo' })).toThrow(
      /SESSIONKIT_PASSWORD/,
    );
    expect(() => Session.fromEnv({ SESSIONKIT_TOKEN_URL: sandbox.tokenUrl, SESSIONKIT_CLIENT_ID: 'x', SESSIONKIT_PASSWORD: 'p' })).toThrow(/SESSIONKIT_USERNAME/);
    const error = (() => {
      try {
        Session.fromEnv({});
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();
    expect(AuthError.isInstance(error) && error.code).toBe('CONFIGURATION');
  });

  it('names SESSIONKIT_TOKEN_URL when it is not a URL or uses plain http off loopback', () => {
    const env = { SESSIONKIT_CLIENT_ID: 'sessionkit-demo', SESSIONKIT_CLIENT_SECRET: 'demo-secret' };
    for (const [tokenUrl, problem] of [
      ['not a url', /SESSIONKIT_TOKEN_URL is not a valid URL/],
      ['http://id.example.com/token', /SESSIONKIT_TOKEN_URL uses plain http on id\.example\.com/],
      ['ftp://id.example.com/token', /SESSIONKIT_TOKEN_URL must be an https URL/],
    ] as const) {
      const error = (() => {
        try {
          Session.fromEnv({ ...env, SESSIONKIT_TOKEN_URL: tokenUrl });
        } catch (thrown) {
          return thrown;
        }
        return undefined;
      })();
      expect(error).toMatchObject({ name: 'AuthError', code: 'CONFIGURATION', message: expect.stringMatching(problem) as unknown });
    }
    expect(() => Session.fromEnv({ ...env, SESSIONKIT_TOKEN_URL: 'http://id.example.com/token' }, { allowInsecure: true })).not.toThrow();
    // An invalid URL holding a secret does not carry it along in the error's cause.
    const invalid = (() => {
      try {
        Session.fromEnv({ ...env, SESSIONKIT_TOKEN_URL: 'https://user:url-secret@exa mple.com/token' });
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();
    expect(inspect(invalid, { depth: 10, showHidden: true })).not.toContain('url-secret');
  });

  it('checks apiUrl, naming where it came from: the option or SESSIONKIT_API_URL', () => {
    const env = { SESSIONKIT_TOKEN_URL: sandbox.tokenUrl, SESSIONKIT_CLIENT_ID: 'sessionkit-demo', SESSIONKIT_CLIENT_SECRET: 'demo-secret' };
    const authenticator = oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' });
    const thrown = (build: () => unknown): unknown => {
      try {
        build();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const invalid = 'https://user:api-secret@exa mple.com/v1';
    for (const [build, message] of [
      [() => Session.fromEnv(env, { apiUrl: invalid }), 'apiUrl is not a valid URL.'],
      [() => Session.fromEnv({ ...env, SESSIONKIT_API_URL: 'https://api.example.com/v1' }, { apiUrl: 'not a url' }), 'apiUrl is not a valid URL.'],
      [() => new Session({ authenticator, apiUrl: invalid }), 'apiUrl is not a valid URL.'],
      [() => Session.fromEnv({ ...env, SESSIONKIT_API_URL: invalid }), 'The environment variable SESSIONKIT_API_URL is not a valid URL.'],
    ] as const) {
      const error = thrown(build);
      expect(error).toMatchObject({ name: 'AuthError', code: 'CONFIGURATION', message });
      expect(inspect(error, { depth: 10, showHidden: true })).not.toContain('api-secret');
    }
    // The option wins over the variable, which is then not read.
    expect(Session.fromEnv({ ...env, SESSIONKIT_API_URL: 'not a url' }, { apiUrl: 'https://api.example.com/v2' }).apiUrl).toBe('https://api.example.com/v2');
    expect(new Session({ authenticator, apiUrl: 'http://127.0.0.1:8080/' }).apiUrl).toBe('http://127.0.0.1:8080/');
  });

  it('says it needs an options object when it is given none, or a URL in its place (plain JavaScript)', () => {
    for (const options of [undefined, null, 'https://idp.example.com/token', 42]) {
      expect(() => oauth2(options as never), String(options)).toThrow(new TypeError('oauth2() needs an options object: { tokenUrl, grant, clientId, ... }.'));
    }
  });

  it('uses client_credentials without a user name and the password grant with one', async () => {
    const clientSession = Session.fromEnv({
      SESSIONKIT_TOKEN_URL: sandbox.tokenUrl,
      SESSIONKIT_CLIENT_ID: 'sessionkit-demo',
      SESSIONKIT_CLIENT_SECRET: 'demo-secret',
      SESSIONKIT_API_URL: 'https://api.example.com/v1',
    });
    expect(clientSession.apiUrl).toBe('https://api.example.com/v1');
    expect(sandbox.idp.verifyAccessToken((await clientSession.getToken()).value)?.identity).toBe('client:sessionkit-demo');

    const userSession = Session.fromEnv({
      SESSIONKIT_TOKEN_URL: sandbox.tokenUrl,
      SESSIONKIT_CLIENT_ID: 'GrantValidatorClient',
      SESSIONKIT_USERNAME: 'demo',
      SESSIONKIT_PASSWORD: 'demo-password',
      SESSIONKIT_SCOPE: 'api',
    });
    const token = await userSession.getToken();
    expect(sandbox.idp.verifyAccessToken(token.value)).toMatchObject({ identity: 'user:demo', scope: 'api' });
    expect(sandbox.stats.idp.byGrant).toEqual({ client_credentials: 1, password: 1 });
  });
});

describe('secrets never reach logs or errors', () => {
  it('keeps the HTTP Basic credential out of an error when the server echoes its bare base64', async () => {
    const server = createServer((request, response) => {
      request.resume();
      const credential = request.headers.authorization?.split(' ')[1] ?? '';
      response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_client', error_description: `unknown client ${credential}` }));
    });
    const tokenUrl = `${await listen(server)}/token`;
    onTestFinished(() => closeServer(server));
    const clientSecret = 'basic-secret+/=!';
    // Form-encoded inside Basic (RFC 6749 section 2.3.1), as oauth2() sends it.
    const base64 = Buffer.from('client-b:basic-secret%2B%2F%3D%21').toString('base64');
    for (const grant of ['client_credentials', 'password'] as const) {
      const authenticator = oauth2({ tokenUrl, grant, clientId: 'client-b', clientSecret, username: 'u', password: 'basic-password' });
      const error = await caught(new Session({ authenticator }).getToken());
      expect(error).toMatchObject({ name: 'AuthError', code: 'INVALID_CREDENTIALS', message: expect.stringContaining('unknown client [REDACTED]') as unknown });
      expect(inspect(error, { depth: 10, showHidden: true })).not.toContain(base64);
    }
  });

  it('logs at trace level through every path without a password, client secret, access or refresh token', async () => {
    const lines: string[] = [];
    // Redaction switched off: the session itself must never hand a secret to the logger.
    const logger = createLogger({ level: 'trace', format: 'json', write: (line) => lines.push(line), redact: { keys: [], replaceDefaultKeys: true } });
    const secrets = new Set(['demo-secret', 'demo-password', 'wrong-password', 'wrong-secret']);
    const remember = (token: Token): void => {
      secrets.add(token.value);
      if (token.refreshToken !== undefined) secrets.add(token.refreshToken);
    };
    const errors: unknown[] = [];
    const clock = manualClock();
    const retry = { baseDelayMs: 1, maxDelayMs: 2 };

    const user = new Session({
      authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'password', clientId: 'GrantValidatorClient', username: 'demo', password: 'demo-password', timeoutMs: 100 }),
      logger,
      clock,
      retry,
    });
    user.on('token', remember);
    user.on('refresh-failed', ({ error }) => errors.push(error));
    const first = await user.getToken();
    clock.advance(3_600_000); // refresh-token grant
    await user.getToken();
    sandbox.idp.revokeAll();
    clock.advance(3_600_000); // refused refresh, fallback to password
    await user.getToken();
    user.invalidate(await user.authorization());
    user.invalidate(first);
    sandbox.idp.injectFault({ kind: 'error', count: 1 });
    sandbox.idp.injectFault({ kind: 'hang', count: 1 });
    sandbox.idp.injectFault({ kind: 'malformed-json', count: 1 });
    await user.getToken(); // the refresh fails (500, hang, malformed JSON); the password grant succeeds
    user.invalidate(await user.authorization());
    sandbox.idp.injectFault({ kind: 'rate-limit', retryAfter: 1 });
    errors.push(await caught(user.getToken()));
    clock.advance(1000);
    await user.getToken();
    await user.end();

    const client = new Session({
      authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret', clientAuthentication: 'body' }),
      logger,
      retry,
    });
    client.on('token', remember);
    await client.getToken();
    const wrong = new Session({
      authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'password', clientId: 'GrantValidatorClient', username: 'demo', password: 'wrong-password' }),
      logger,
    });
    errors.push(await caught(wrong.getToken()));
    const wrongSecret = new Session({
      authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'wrong-secret' }),
      logger,
    });
    errors.push(await caught(wrongSecret.getToken()));

    expect(secrets.size).toBeGreaterThan(8);
    expect(lines.length).toBeGreaterThan(20);
    expect(lines.some((line) => line.includes('"fingerprint"'))).toBe(true);
    expect(errors.map((error) => (error as AuthError).code)).toEqual(
      expect.arrayContaining(['INVALID_CREDENTIALS', 'INVALID_RESPONSE', 'RATE_LIMITED']),
    );
    const everything = [...lines, ...errors.map((error) => `${String(error)}\n${inspect(error, { depth: 10, showHidden: true })}`)].join('\n');
    for (const secret of secrets) expect(everything).not.toContain(secret);
  });
});

describe('oauth2 requests that fail', () => {
  it('names why the request failed: the error code, else the reason fetch gives (a port fetch refuses to use)', async () => {
    const server = createServer();
    const closed = await listen(server);
    await closeServer(server);
    const attempt = (tokenUrl: string): Promise<unknown> =>
      caught(oauth2({ tokenUrl, grant: 'client_credentials', clientId: 'client-t', clientSecret: 'port-secret', allowInsecure: true }).authenticate({ signal: new AbortController().signal, now: Date.now, logger: silentLogger, attempt: 1 }));
    expect(await attempt(`${closed}/token`)).toMatchObject({ code: 'NETWORK', message: `The token endpoint request to ${new URL(closed).host} failed (ECONNREFUSED): fetch failed.` });
    // Port 1 is on fetch's list of bad ports: its error has no code, only a reason.
    expect(await attempt('http://127.0.0.1:1/token')).toMatchObject({ code: 'NETWORK', message: 'The token endpoint request to 127.0.0.1:1 failed (bad port): fetch failed.' });
  });

  it('says the server does not speak TLS there, not that its certificate is not trusted, for an https:// URL to a plain http port', async () => {
    const server = createServer((_request, response) => {
      response.end('plain');
    });
    const plain = await listen(server);
    onTestFinished(() => closeServer(server));
    const tokenUrl = `${plain.replace('http://', 'https://')}/token`;
    const error = await caught(oauth2({ tokenUrl, grant: 'client_credentials', clientId: 'client-t', clientSecret: 'tls-secret' }).authenticate({ signal: new AbortController().signal, now: Date.now, logger: silentLogger, attempt: 1 }));
    expect(error).toMatchObject({ name: 'AuthError', code: 'CONFIGURATION', retryable: false });
    expect((error as Error).message).toBe(`The token endpoint request to ${new URL(tokenUrl).host} failed (ERR_SSL_WRONG_VERSION_NUMBER): it does not speak TLS there (plain http?). Retrying cannot help: check the URL's scheme and port.`);
  });

  it('fails at the first attempt with CONFIGURATION, not retryable, when the token endpoint\'s certificate is not trusted', async () => {
    const tls = await startSandbox({ tls: true, ess: { generator: false } });
    onTestFinished(() => tls.close());
    let requests = 0;
    const counting: typeof fetch = (input, init) => {
      requests += 1;
      return fetch(input, init);
    };
    const authenticator = oauth2({ tokenUrl: tls.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'cert-secret', fetch: counting });
    const error = await caught(new Session({ authenticator, retry: { retries: 3, baseDelayMs: 1 } }).getToken());
    expect(error).toMatchObject({ name: 'AuthError', code: 'CONFIGURATION', retryable: false });
    // Node's code for a self-signed certificate, and what to do.
    expect((error as Error).message).toMatch(/^The token endpoint request to 127\.0\.0\.1:\d+ failed \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\): its TLS certificate is not trusted or not valid\. Retrying cannot help: trust its CA \(NODE_EXTRA_CA_CERTS, or the fetch option of oauth2\(\)\) or fix the certificate\.$/);
    expect((error as Error).message).not.toContain('cert-secret');
    expect(requests).toBe(1);
    // The control: a network failure (nothing listens) stays NETWORK, retried.
    const server = createServer();
    const closed = await listen(server);
    await closeServer(server);
    requests = 0;
    const refused = oauth2({ tokenUrl: `${closed}/token`, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'cert-secret', fetch: counting });
    expect(await caught(new Session({ authenticator: refused, retry: { retries: 3, baseDelayMs: 1 } }).getToken())).toMatchObject({ code: 'NETWORK', retryable: true });
    expect(requests).toBe(4);
  });

  it('scrubs the reason of the request\'s secrets', async () => {
    const secret = 'reason-secret-4711';
    const echoing: typeof fetch = () => Promise.reject(new TypeError('fetch failed', { cause: new Error(`upstream refused client ${secret}`) }));
    const authenticator = oauth2({ tokenUrl: 'http://127.0.0.1:9/token', grant: 'client_credentials', clientId: 'client-t', clientSecret: secret, allowInsecure: true, fetch: echoing });
    const error = await caught(authenticator.authenticate({ signal: new AbortController().signal, now: Date.now, logger: silentLogger, attempt: 1 }));
    expect(error).toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/^The token endpoint request to 127\.0\.0\.1:9 failed \(upstream refused client .+\): fetch failed\.$/) as unknown });
    expect((error as Error).message).not.toContain(secret);
  });

  it('throws an abort\'s reason as it is when it is an AuthError (the session\'s own), while the answer is read', async () => {
    const server = createServer((request, response) => {
      request.resume();
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"access_token":"');
    });
    const url = await listen(server);
    onTestFinished(() => closeServer(server));
    const controller = new AbortController();
    const reason = new AuthError('NETWORK', 'The authenticator did not answer within attemptTimeoutMs (100 ms).');
    const pending = caught(oauth2({ tokenUrl: `${url}/token`, grant: 'client_credentials', clientId: 'client-t', clientSecret: 'abort-secret', allowInsecure: true }).authenticate({ signal: controller.signal, now: Date.now, logger: silentLogger, attempt: 1 }));
    setTimeout(() => {
      controller.abort(reason);
    }, 100);
    expect(await pending).toBe(reason);
  });
});

describe('oauth2 answers that do not end', () => {
  /**
   * A token endpoint that answers with `status` (and `headers`) and then sends a body for ever, 64 KiB at a time (or `chunk`
   * every `everyMs`); `closed` settles when the client lets the connection go. `{url}?closed` answers `closed` once it has.
   */
  async function endlessEndpoint(status: number, chunk = 'x'.repeat(65_536), everyMs = 0, headers: Record<string, string> = {}): Promise<{ url: string; closed: Promise<void>; close: () => Promise<void> }> {
    let letGo!: () => void;
    const closed = new Promise<void>((resolve) => (letGo = resolve));
    const server = createServer((request, response) => {
      request.resume();
      // Asked by a child process: whether the token request's connection was let go (within 5 s).
      if (request.url?.endsWith('?closed')) {
        const timer = setTimeout(() => response.end('open'), 5000);
        void closed.then(() => {
          clearTimeout(timer);
          response.end('closed');
        });
        return;
      }
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.write('{"access_token":"');
      const timer = setInterval(() => {
        // Written only as fast as the client reads (or the socket takes it).
        if (!response.writableNeedDrain) response.write(chunk);
      }, everyMs);
      response.once('close', () => {
        clearInterval(timer);
        letGo();
      });
    });
    return { url: `${await listen(server)}/token`, closed, close: () => closeServer(server) };
  }

  it('refuses an answer of more than 1 MiB without reading it all, and lets its connection go', async () => {
    for (const [status, code] of [[200, 'INVALID_RESPONSE'], [400, 'INVALID_RESPONSE']] as const) {
      const endpoint = await endlessEndpoint(status);
      onTestFinished(endpoint.close);
      const authenticator = oauth2({ tokenUrl: endpoint.url, grant: 'client_credentials', clientId: 'client-t', clientSecret: 'endless-secret', timeoutMs: 60_000 });
      const session = new Session({ authenticator, retry: { retries: 0 } });
      const error = await caught(session.getToken());
      expect(error).toMatchObject({ name: 'AuthError', code, status, message: `The token endpoint answered HTTP ${status} with more than 1 MiB.` });
      await endpoint.closed;
    }
  });

  it('judges a 429 or 5xx by its status and Retry-After without reading its body, however large or slow', async () => {
    for (const [status, code, headers, retryAfterMs, message] of [
      [429, 'RATE_LIMITED', { 'retry-after': '7' }, 7000, 'The token endpoint is throttling this identity (429); retry after 7000 ms.'],
      [429, 'RATE_LIMITED', {}, 5000, 'The token endpoint is throttling this identity (429); retry after 5000 ms.'],
      [503, 'SERVER', { 'retry-after': '7' }, 7000, 'The token endpoint failed with HTTP 503; retry after 7000 ms.'],
      [503, 'SERVER', {}, undefined, 'The token endpoint failed with HTTP 503.'],
    ] as const) {
      // Endless, and trickled: a body read until timeoutMs would make the answer a NETWORK failure.
      for (const [chunk, everyMs] of [[undefined, undefined], ['x', 50]] as const) {
        const endpoint = await endlessEndpoint(status, chunk, everyMs, headers);
        onTestFinished(endpoint.close);
        const authenticator = oauth2({ tokenUrl: endpoint.url, grant: 'client_credentials', clientId: 'client-t', clientSecret: 'endless-secret', timeoutMs: 300 });
        const error = await caught(authenticator.authenticate({ signal: new AbortController().signal, now: Date.now, logger: silentLogger, attempt: 1 }));
        expect(error).toMatchObject({ name: 'AuthError', code, status, retryAfterMs, message });
        await endpoint.closed;
      }
    }
  });

  it('has every session wait out a 429 whose body trickles without end, asking once', async () => {
    let requests = 0;
    const server = createServer((request, response) => {
      requests += 1;
      request.resume();
      response.writeHead(429, { 'retry-after': '60', 'content-type': 'application/json' });
      const timer = setInterval(() => response.write(' '), 20);
      response.once('close', () => { clearInterval(timer); });
    });
    onTestFinished(() => closeServer(server));
    const tokenUrl = `${await listen(server)}/token`;
    const store = new MemoryStore();
    const options = { tokenUrl, grant: 'client_credentials', clientId: 'client-t', clientSecret: 'trickle-secret', timeoutMs: 300 } as const;
    const first = new Session({ authenticator: oauth2(options), store });
    const second = new Session({ authenticator: oauth2(options), store });
    for (const session of [first, second, first]) {
      const error = await caught(session.getToken());
      expect(error).toMatchObject({ name: 'AuthError', code: 'RATE_LIMITED' });
      expect((error as AuthError).retryAfterMs).toBeGreaterThan(55_000);
    }
    expect(requests).toBe(1);
  });

  it('refuses a revocation answer over 1 MiB; a 5xx one, unread, is retried as a short one is, its Retry-After not waited out', async () => {
    for (const [status, code, message] of [
      [200, 'INVALID_RESPONSE', 'The revocation endpoint answered HTTP 200 with more than 1 MiB.'],
      [503, 'SERVER', 'The revocation endpoint answered HTTP 503.'],
    ] as const) {
      const endpoint = await endlessEndpoint(status, undefined, undefined, { 'retry-after': '7' });
      onTestFinished(endpoint.close);
      const authenticator = oauth2({ tokenUrl: sandbox.tokenUrl, revocationUrl: endpoint.url, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' });
      const token = await authenticator.authenticate({ signal: new AbortController().signal, now: Date.now, logger: silentLogger, attempt: 1 });
      const error = await caught(authenticator.revoke?.(token, { signal: new AbortController().signal, now: Date.now, logger: silentLogger, attempt: 1 }) ?? Promise.resolve());
      expect(error).toMatchObject({ name: 'AuthError', code, status, retryAfterMs: undefined, message });
      expect((error as AuthError).retryable).toBe(status === 503);
      await endpoint.closed;
    }
  });

  it('sends the access token for revocation when the refresh token\'s is refused or not answered (not after a 429), and names the OAuth error of the refusal', async () => {
    const context = { signal: new AbortController().signal, now: Date.now, logger: silentLogger, attempt: 1 };
    /** Revoke a token with both tokens at an endpoint that answers each hint as `answer` does: the hints it got, and the error. */
    const revokeAt = async (answer: (hint: string | null, request: IncomingMessage, response: ServerResponse) => void): Promise<[(string | null)[], unknown]> => {
      const hints: (string | null)[] = [];
      const server = createServer((request, response) => {
        let body = '';
        request.on('data', (chunk: Buffer) => (body += chunk.toString()));
        request.on('end', () => {
          const hint = new URLSearchParams(body).get('token_type_hint');
          hints.push(hint);
          answer(hint, request, response);
        });
      });
      const revocationUrl = `${await listen(server)}/revoke`;
      onTestFinished(() => closeServer(server));
      const authenticator = oauth2({ tokenUrl: sandbox.tokenUrl, revocationUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' });
      const error = await caught(authenticator.revoke?.({ value: 'access-1', refreshToken: 'refresh-1', obtainedAt: Date.now() }, context) ?? Promise.resolve());
      return [hints, error];
    };
    const refused = await revokeAt((hint, _request, response) => {
      if (hint === 'refresh_token') response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'unsupported_token_type' }));
      else response.writeHead(200).end();
    });
    expect(refused).toEqual([['refresh_token', 'access_token'], expect.objectContaining({ name: 'AuthError', code: 'INVALID_RESPONSE', status: 400, oauthError: 'unsupported_token_type', message: 'The revocation endpoint answered HTTP 400 (unsupported_token_type).' })]);
    // The refresh token's revocation not answered at all (its connection cut): the access token is still sent.
    const cut = await revokeAt((hint, request, response) => {
      if (hint === 'refresh_token') request.socket.destroy();
      else response.writeHead(200).end();
    });
    expect(cut).toEqual([['refresh_token', 'access_token'], expect.objectContaining({ name: 'AuthError', code: 'NETWORK' })]);
    // A 429: the endpoint asked to be left alone, so the access token is not sent after it.
    const throttled = await revokeAt((_hint, _request, response) => {
      response.writeHead(429, { 'retry-after': '30' }).end();
    });
    expect(throttled).toEqual([['refresh_token'], expect.objectContaining({ name: 'AuthError', code: 'RATE_LIMITED' })]);
  });

  it('ends the wait at timeoutMs while a body trickles, even with garbage collections meanwhile (in a child process)', async () => {
    const endpoint = await endlessEndpoint(200, 'x', 50);
    onTestFinished(endpoint.close);
    const script = fileURLToPath(new URL('./testing/slow-answer-child.ts', import.meta.url));
    // Without an answer in 10 s the child is stopped, and the test fails below.
    const { exitCode, stdout, stderr } = await runChild(script, { nodeFlags: ['--expose-gc'], env: { TOKEN_URL: endpoint.url, TIMEOUT_MS: '500' } });
    expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: '' });
    const outcome = JSON.parse(stdout) as { ok: boolean; code?: string; message?: string; ms: number; connection: string };
    // `connection`: asked by the child before it exited (its exit would close the connection anyway).
    expect(outcome).toMatchObject({ ok: false, code: 'NETWORK', message: 'The token endpoint did not answer within timeoutMs (500 ms).', connection: 'closed' });
  });
});
