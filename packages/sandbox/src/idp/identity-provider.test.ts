import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox, type SandboxOptions } from '@sessionkit/sandbox';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

let sandbox: Sandbox | undefined;

afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function start(options: SandboxOptions = {}): Promise<Sandbox> {
  sandbox = await startSandbox(options);
  return sandbox;
}

/** POST a form: a record, or a body as written (to repeat a parameter). */
async function post(url: string, form: Record<string, string> | string, init: { headers?: Record<string, string>; contentType?: string } = {}): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': init.contentType ?? 'application/x-www-form-urlencoded', ...init.headers },
    body: typeof form === 'string' ? form : new URLSearchParams(form).toString(),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Malformed bodies are asserted through `text`.
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** The error `startSandbox(options)` rejects with, or undefined after closing a sandbox that started. */
function startError(options: SandboxOptions): Promise<unknown> {
  return startSandbox(options).then(async (started) => {
    await started.close();
    return undefined;
  }, (error: unknown) => error);
}

const clientCredentials = { grant_type: 'client_credentials', client_id: 'sessionkit-demo', client_secret: 'demo-secret' };
const passwordGrant = { grant_type: 'password', client_id: 'GrantValidatorClient', username: 'demo', password: 'demo-password' };

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

describe('identity provider: grants', () => {
  it('issues a client_credentials token from form fields that verifies for the client', async () => {
    const { tokenUrl, idp } = await start();
    const answer = await post(tokenUrl, { ...clientCredentials, scope: ' read  write ' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.json).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'read write' });
    expect(answer.json.refresh_token).toBeUndefined();
    const token = answer.json.access_token as string;
    expect(idp.verifyAccessToken(token)).toMatchObject({ identity: 'client:sessionkit-demo', clientId: 'sessionkit-demo', scope: 'read write' });
    expect(idp.verifyAccessToken(`${token}x`)).toBeUndefined();
  });

  it('accepts HTTP Basic client authentication and the /API alias, and reads the body as a form whatever the content type', async () => {
    const { url } = await start();
    const answer = await post(
      `${url}/API/IDP/connect/token`,
      { grant_type: 'client_credentials' },
      { headers: { authorization: basic('sessionkit-demo', 'demo-secret') }, contentType: 'text/plain' },
    );
    expect(answer.status).toBe(200);
    expect(typeof answer.json.access_token).toBe('string');
  });

  it('issues password tokens with a rotating refresh token; a spent refresh token is invalid_grant', async () => {
    const { tokenUrl, idp, stats } = await start({ tokenTtlSeconds: 120 });
    const first = await post(tokenUrl, passwordGrant);
    expect(first.status).toBe(200);
    expect(first.json.expires_in).toBe(120);
    expect(idp.verifyAccessToken(first.json.access_token as string)?.identity).toBe('user:demo');
    const refresh = { grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: first.json.refresh_token as string };
    const second = await post(tokenUrl, refresh);
    expect(second.status).toBe(200);
    expect(second.json.refresh_token).toEqual(expect.any(String));
    expect(second.json.refresh_token).not.toBe(first.json.refresh_token);
    expect(idp.verifyAccessToken(second.json.access_token as string)?.identity).toBe('user:demo');
    const replayed = await post(tokenUrl, refresh);
    expect(replayed.status).toBe(400);
    expect(replayed.json.error).toBe('invalid_grant');
    expect(stats.idp.byGrant).toEqual({ password: 1, refresh_token: 2 });
    expect(stats.idp.byIdentity).toEqual({ 'user:demo': 2, 'client:GrantValidatorClient': 1 });
  });

  it('with rotateRefreshTokens false, answers a refresh without a new refresh token and keeps the old one valid (RFC 6749 section 6)', async () => {
    const { tokenUrl, idp } = await start({ rotateRefreshTokens: false });
    const first = await post(tokenUrl, passwordGrant);
    const refresh = { grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: first.json.refresh_token as string };
    for (let round = 0; round < 2; round += 1) {
      const answer = await post(tokenUrl, refresh);
      expect(answer.status).toBe(200);
      expect(answer.json).not.toHaveProperty('refresh_token');
      expect(idp.verifyAccessToken(answer.json.access_token as string)?.identity).toBe('user:demo');
    }
    // A login still gets a refresh token; revoked, the kept one is spent.
    expect((await post(tokenUrl, passwordGrant)).json.refresh_token).toEqual(expect.any(String));
    idp.revoke(refresh.refresh_token);
    expect((await post(tokenUrl, refresh)).json.error).toBe('invalid_grant');
    for (const rotateRefreshTokens of ['no', 0, 'false']) {
      expect(await startError({ rotateRefreshTokens: rotateRefreshTokens as never, ess: { generator: false } }), String(rotateRefreshTokens)).toBeInstanceOf(TypeError);
    }
  });

  it('keeps the grant\'s scope on the new refresh token when a refresh asks a narrower scope (RFC 6749 section 6)', async () => {
    const { tokenUrl, idp } = await start();
    const first = await post(tokenUrl, { ...passwordGrant, scope: 'read write' });
    expect(first.json.scope).toBe('read write');
    const refresh = (token: unknown, scope?: string): Promise<Answer> =>
      post(tokenUrl, { grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: token as string, ...(scope !== undefined && { scope }) });
    const narrowed = await refresh(first.json.refresh_token, 'read');
    expect(narrowed.status).toBe(200);
    expect(narrowed.json.scope).toBe('read');
    expect(idp.verifyAccessToken(narrowed.json.access_token as string)?.scope).toBe('read');
    const widened = await refresh(narrowed.json.refresh_token, 'read write');
    expect(widened.status).toBe(200);
    expect(widened.json.scope).toBe('read write');
    const unchanged = await refresh(widened.json.refresh_token);
    expect(unchanged.json.scope).toBe('read write');
    expect((await refresh(unchanged.json.refresh_token, 'read admin')).json.error).toBe('invalid_scope');
  });

  it('refuses client_credentials to a public client with invalid_client (RFC 6749 sections 4.4, 5.2)', async () => {
    const { tokenUrl, stats } = await start({ clients: [{ clientId: 'public-robot', grants: ['client_credentials'] }] });
    const inForm = await post(tokenUrl, { grant_type: 'client_credentials', client_id: 'public-robot' });
    expect(inForm.status).toBe(401);
    expect(inForm.json.error).toBe('invalid_client');
    expect(inForm.headers.get('www-authenticate')).toMatch(/^Basic/);
    const inBasic = await post(tokenUrl, { grant_type: 'client_credentials' }, { headers: { authorization: basic('public-robot', 'anything') } });
    expect(inBasic.json.error).toBe('invalid_client');
    expect((await post(tokenUrl, { grant_type: 'client_credentials', client_id: 'GrantValidatorClient' })).json.error).toBe('invalid_client');
    expect(stats.idp.issued).toBe(0);
  });

  it('accepts extra users and clients', async () => {
    const { tokenUrl } = await start({
      users: [{ username: 'alice', password: 'alice-pw' }],
      clients: [{ clientId: 'robot', clientSecret: 'robot-secret', grants: ['client_credentials', 'refresh_token'] }],
    });
    expect((await post(tokenUrl, { ...passwordGrant, username: 'alice', password: 'alice-pw' })).status).toBe(200);
    const robot = await post(tokenUrl, { grant_type: 'client_credentials', client_id: 'robot', client_secret: 'robot-secret' });
    expect(robot.status).toBe(200);
  });

  it('gives client_credentials no refresh token, even to a client allowed the refresh_token grant (RFC 6749 section 4.4.3)', async () => {
    const { tokenUrl, idp } = await start({
      clients: [{ clientId: 'robot', clientSecret: 'robot-secret', grants: ['client_credentials', 'password', 'refresh_token'] }],
    });
    const robot = await post(tokenUrl, { grant_type: 'client_credentials', client_id: 'robot', client_secret: 'robot-secret' });
    expect(robot.status).toBe(200);
    expect(robot.json).not.toHaveProperty('refresh_token');
    expect(idp.issueToken({ clientId: 'robot' })).not.toHaveProperty('refresh_token');
    // The same client's password logins still get one.
    expect((await post(tokenUrl, { ...passwordGrant, client_id: 'robot', client_secret: 'robot-secret' })).json.refresh_token).toEqual(expect.any(String));
    expect(idp.issueToken({ clientId: 'robot', username: 'demo' }).refresh_token).toEqual(expect.any(String));
  });

  it('refuses a scope token outside the RFC 6749 section 3.3 syntax with 400 invalid_scope, and drops repeated scope tokens', async () => {
    const { tokenUrl, idp, stats } = await start();
    for (const scope of ['a"b c\\d', 'read a"b', 'c\\d', 'read\twrite', 'lesen-\u00fc', 'x\u007f']) {
      const refused = await post(tokenUrl, { ...clientCredentials, scope });
      expect(refused.status, JSON.stringify(scope)).toBe(400);
      expect(refused.json.error, JSON.stringify(scope)).toBe('invalid_scope');
    }
    expect(stats.idp.issued).toBe(0);
    // Every other printable ASCII character is allowed; a repeat is dropped, the order kept.
    const odd = await post(tokenUrl, { ...clientCredentials, scope: "!#$%&'()*+,-./:;<=>?@[]^_`{|}~" });
    expect([odd.status, odd.json.scope]).toEqual([200, "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"]);
    const repeated = await post(tokenUrl, { ...clientCredentials, scope: 'write read read write' });
    expect(repeated.json.scope).toBe('write read');
    expect(idp.verifyAccessToken(repeated.json.access_token as string)?.scope).toBe('write read');
    const login = await post(tokenUrl, { ...passwordGrant, scope: 'read read' });
    expect(login.json.scope).toBe('read');
    const refresh = { grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: login.json.refresh_token as string };
    expect((await post(tokenUrl, { ...refresh, scope: 'read"' })).json.error).toBe('invalid_scope');
    expect((await post(tokenUrl, { ...refresh, scope: 'read read' })).json.scope).toBe('read');
    expect(() => idp.issueToken({ scope: 'a"b' })).toThrow(RangeError);
    expect(idp.issueToken({ scope: 'a b a' }).scope).toBe('a b');
  });
});

describe('identity provider: errors', () => {
  it('answers RFC 6749 error bodies with the right statuses', async () => {
    const { tokenUrl, revocationUrl, stats } = await start();
    const wrongSecret = await post(tokenUrl, { ...clientCredentials, client_secret: 'nope' });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.json.error).toBe('invalid_client');
    expect(wrongSecret.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(wrongSecret.text).not.toContain('nope');

    const unknownClient = await post(tokenUrl, { ...clientCredentials, client_id: 'stranger' });
    expect(unknownClient.status).toBe(401);
    expect(unknownClient.json.error).toBe('invalid_client');

    const wrongPassword = await post(tokenUrl, { ...passwordGrant, password: 'wrong' });
    expect(wrongPassword.status).toBe(400);
    expect(wrongPassword.json.error).toBe('invalid_grant');

    const unknownGrant = await post(tokenUrl, { grant_type: 'implicit', client_id: 'sessionkit-demo' });
    expect(unknownGrant.status).toBe(400);
    expect(unknownGrant.json.error).toBe('unsupported_grant_type');

    const missingGrant = await post(tokenUrl, { client_id: 'sessionkit-demo' });
    expect(missingGrant.status).toBe(400);
    expect(missingGrant.json.error).toBe('invalid_request');

    const missingPassword = await post(tokenUrl, { grant_type: 'password', client_id: 'GrantValidatorClient', username: 'demo' });
    expect(missingPassword.json.error).toBe('invalid_request');

    const wrongClientForGrant = await post(tokenUrl, { ...passwordGrant, client_id: 'sessionkit-demo', client_secret: 'demo-secret' });
    expect(wrongClientForGrant.status).toBe(400);
    expect(wrongClientForGrant.json.error).toBe('unauthorized_client');

    const both = await post(tokenUrl, clientCredentials, { headers: { authorization: basic('sessionkit-demo', 'demo-secret') } });
    expect(both.json.error).toBe('invalid_request');

    const get = await fetch(tokenUrl);
    expect(get.status).toBe(405);
    expect(((await get.json()) as Record<string, unknown>).error).toBe('invalid_request');

    expect(stats.idp.issued).toBe(0);
    expect(stats.idp.refused).toBe(stats.idp.requests);

    // The revocation endpoint's refusals are its own: neither in requests nor in refused.
    const refusedBefore = stats.idp.refused;
    expect((await fetch(revocationUrl)).status).toBe(405);
    expect((await post(revocationUrl, `token=${'x'.repeat(70_000)}`)).status).toBe(413);
    expect((await post(revocationUrl, { token: 'x' })).status).toBe(401);
    expect(stats.idp.revocations).toBe(3);
    expect(stats.idp.refused).toBe(refusedBefore);
    expect(stats.idp.refused).toBe(stats.idp.requests);
  });
});

describe('identity provider: parameters (RFC 6749 section 3.2)', () => {
  it('treats a parameter sent without a value as omitted', async () => {
    const { tokenUrl, revocationUrl, idp } = await start();
    const authorization = basic('sessionkit-demo', 'demo-secret');
    const emptySecret = await post(tokenUrl, { grant_type: 'client_credentials', client_secret: '' }, { headers: { authorization } });
    expect(emptySecret.status).toBe(200);
    const emptyId = await post(tokenUrl, { grant_type: 'client_credentials', client_id: '', scope: '' }, { headers: { authorization } });
    expect(emptyId.status).toBe(200);
    expect(emptyId.json.scope).toBeUndefined();
    expect((await post(tokenUrl, { ...passwordGrant, password: '' })).json.error).toBe('invalid_request');
    expect((await post(tokenUrl, { ...passwordGrant, username: '' })).json.error).toBe('invalid_request');
    expect((await post(tokenUrl, { ...clientCredentials, grant_type: '' })).json.error).toBe('invalid_request');

    const token = emptySecret.json.access_token as string;
    const revoked = await post(revocationUrl, { token, token_type_hint: '', client_id: '', client_secret: '' }, { headers: { authorization } });
    expect(revoked.status).toBe(200);
    expect(idp.verifyAccessToken(token)).toBeUndefined();
  });

  it('refuses a repeated parameter with invalid_request naming it, never its values', async () => {
    const { tokenUrl, revocationUrl, idp, stats } = await start();
    const credentials = 'client_id=sessionkit-demo&client_secret=demo-secret';
    const grant = await post(tokenUrl, `grant_type=client_credentials&grant_type=password&${credentials}`);
    expect(grant.status).toBe(400);
    expect(grant.json).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('grant_type') as unknown });
    const secret = await post(tokenUrl, `grant_type=client_credentials&${credentials}&client_secret=other-secret`);
    expect(secret.json.error).toBe('invalid_request');
    expect(secret.json.error_description).toContain('client_secret');
    expect(secret.text).not.toMatch(/demo-secret|other-secret/);
    expect((await post(tokenUrl, `${new URLSearchParams(passwordGrant).toString()}&password=other`)).json.error).toBe('invalid_request');
    expect(stats.idp.issued).toBe(0);
    expect(stats.idp.refused).toBe(3);

    // Unrecognized parameters are ignored, repeated or not; an empty value is no value.
    const ignored = await post(tokenUrl, `grant_type=client_credentials&${credentials}&resource=a&resource=b&scope=&scope=read`);
    expect(ignored.status).toBe(200);
    expect(ignored.json.scope).toBe('read');

    const token = ignored.json.access_token as string;
    const revocation = await post(revocationUrl, `token=${token}&token=${token}&${credentials}`);
    expect(revocation.status).toBe(400);
    expect(revocation.json.error).toBe('invalid_request');
    expect(revocation.text).not.toContain(token);
    expect(idp.verifyAccessToken(token)).toBeDefined();
  });
});

describe('identity provider: rate limit', () => {
  it('answers 429 with Retry-After once an identity is over the login limit, per identity', async () => {
    const { tokenUrl, idp, stats } = await start({ authRateLimit: { max: 2, windowMs: 10_000 } });
    expect((await post(tokenUrl, passwordGrant)).status).toBe(200);
    expect((await post(tokenUrl, { ...passwordGrant, password: 'wrong' })).status).toBe(400);
    const limited = await post(tokenUrl, passwordGrant);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(9);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(10);
    expect(limited.json.error).toEqual(expect.any(String));
    expect((await post(tokenUrl, clientCredentials)).status).toBe(200);
    expect(stats.idp.rateLimited).toBe(1);
    idp.advanceClock(10_001);
    expect((await post(tokenUrl, passwordGrant)).status).toBe(200);
  });
});

describe('identity provider: faults and test controls', () => {
  it('fails the next N requests with 500, then serves again', async () => {
    const { tokenUrl, idp, stats } = await start();
    idp.injectFault({ kind: 'error', count: 2 });
    expect((await post(tokenUrl, clientCredentials)).status).toBe(500);
    expect((await post(tokenUrl, clientCredentials)).status).toBe(500);
    expect((await post(tokenUrl, clientCredentials)).status).toBe(200);
    expect(stats.idp).toMatchObject({ requests: 3, faults: 2, issued: 1 });
  });

  it('throws RangeError for a fault that cannot be played: a count below 1 or a status that is no HTTP error', async () => {
    const { tokenUrl, idp } = await start();
    for (const fault of [
      { kind: 'error', status: 42 },
      { kind: 'error', status: 1000 },
      { kind: 'error', status: 200 },
      { kind: 'error', status: 503.5 },
      { kind: 'hang', count: 0 },
      { kind: 'malformed-json', count: 1.5 },
    ] as const) {
      expect(() => { idp.injectFault(fault); }, JSON.stringify(fault)).toThrow(RangeError);
    }
    await expect(startSandbox({ faults: [{ kind: 'error', status: 99 }] })).rejects.toThrow(RangeError);
    // Nothing was queued by the refused faults; a valid status is played as given.
    expect((await post(tokenUrl, clientCredentials)).status).toBe(200);
    idp.injectFault({ kind: 'error', status: 418 });
    expect((await post(tokenUrl, clientCredentials)).status).toBe(418);
  });

  it('throws TypeError for a Retry-After that cannot be sent as a header, and queues nothing', async () => {
    const { tokenUrl, idp } = await start();
    expect(() => { idp.injectFault({ kind: 'rate-limit', retryAfter: '2\r\nx-injected: 1' }); }).toThrow(TypeError);
    expect((await post(tokenUrl, clientCredentials)).status).toBe(200);
    // Unparsable but sendable values stay possible: they test a client's parsing.
    idp.injectFault({ kind: 'rate-limit', retryAfter: 'soon' });
    const limited = await post(tokenUrl, clientCredentials);
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, 'soon']);
  });

  it('takes a fault\'s grant given as null (plain JavaScript) as none: it fires for any grant', async () => {
    const { tokenUrl, idp } = await start();
    idp.injectFault({ kind: 'error', status: 503, grant: null as never });
    expect((await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams(clientCredentials) })).status).toBe(503);
  });

  it('throws TypeError for a fault kind it does not know, at inject and at start, and queues nothing', async () => {
    const { tokenUrl, idp } = await start();
    // An unknown kind used to be queued and taken by the next request, which then never got an answer.
    expect(() => { idp.injectFault({ kind: 'bogus' } as never); }).toThrow(TypeError);
    expect(() => { idp.injectFault({ kind: 'timeout', count: 2 } as never); }).toThrow(/kind must be one of error, hang, malformed-json, rate-limit/);
    // A misspelt grant never matched a request: the fault never fired.
    expect(() => { idp.injectFault({ kind: 'error', grant: 'passwrd' as never }); }).toThrow(new TypeError('A fault\'s grant must be one of client_credentials, password, refresh_token, not "passwrd".'));
    expect(await startError({ faults: [{ kind: 'Error' } as never] })).toBeInstanceOf(TypeError);
    const answer = await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams(clientCredentials), signal: AbortSignal.timeout(2000) });
    expect(answer.status).toBe(200);
    expect(idp.stats.faults).toBe(0);
  });

  it('takes token lifetimes in whole seconds only, so expires_in is always 1*DIGIT (RFC 6749 appendix A.14)', async () => {
    for (const options of [{ tokenTtlSeconds: 0.5 }, { tokenTtlSeconds: 90.25 }, { refreshTokenTtlSeconds: 1.5 }, { tokenTtlSeconds: Number.NaN }]) {
      expect(await startError({ ...options, ess: { generator: false } }), JSON.stringify(options)).toBeInstanceOf(RangeError);
    }
    const { tokenUrl, idp } = await start({ tokenTtlSeconds: 120 });
    expect(() => { idp.setTokenTtlSeconds(90.25); }).toThrow(RangeError);
    expect(() => { idp.setTokenTtlSeconds(-1); }).toThrow(RangeError);
    // The refused values changed nothing; whole seconds, 0 included, are sent as they are.
    expect((await post(tokenUrl, clientCredentials)).json.expires_in).toBe(120);
    idp.setTokenTtlSeconds(0);
    expect((await post(tokenUrl, clientCredentials)).text).toMatch(/"expires_in":0[,}]/);
    idp.setTokenTtlSeconds(7);
    expect((await post(tokenUrl, clientCredentials)).text).toMatch(/"expires_in":7[,}]/);
  });

  it('returns malformed JSON and 429 with a chosen Retry-After, filtered by grant', async () => {
    const { tokenUrl, idp } = await start({ faults: [{ kind: 'rate-limit', retryAfter: 7, grant: 'password' }] });
    idp.injectFault({ kind: 'malformed-json' });
    const malformed = await post(tokenUrl, clientCredentials);
    expect(malformed.status).toBe(200);
    expect(() => JSON.parse(malformed.text) as unknown).toThrow();
    expect((await post(tokenUrl, clientCredentials)).status).toBe(200);
    const limited = await post(tokenUrl, passwordGrant);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
  });

  it('hangs until the client gives up, and close() releases hanging requests', async () => {
    const { tokenUrl, idp } = await start();
    idp.injectFault({ kind: 'hang', count: 2 });
    await expect(
      fetch(tokenUrl, { method: 'POST', body: new URLSearchParams(clientCredentials), signal: AbortSignal.timeout(200) }),
    ).rejects.toThrow();
    const released = new Promise<string>((resolve) => {
      const request = httpRequest(tokenUrl, { method: 'POST' }, () => { resolve('answered'); });
      request.on('error', () => { resolve('closed'); });
      request.end(new URLSearchParams(clientCredentials).toString());
    });
    // Wait until the request has arrived so that close() has something to release.
    const deadline = Date.now() + 5000;
    while (idp.stats.requests < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    idp.clearFaults();
    expect(await released).toBe('closed');
  });

  it('expires and revokes tokens for consumers to test 401 handling', async () => {
    const { tokenUrl, idp } = await start({ tokenTtlSeconds: 60 });
    const first = await post(tokenUrl, passwordGrant);
    const access = first.json.access_token as string;
    idp.advanceClock(59_000);
    expect(idp.verifyAccessToken(access)).toBeDefined();
    idp.advanceClock(1_000);
    expect(idp.verifyAccessToken(access)).toBeUndefined();

    const second = await post(tokenUrl, passwordGrant);
    idp.expireAll();
    expect(idp.verifyAccessToken(second.json.access_token as string)).toBeUndefined();
    const refreshed = await post(tokenUrl, { grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: second.json.refresh_token as string });
    expect(refreshed.status).toBe(200);

    expect(idp.verifyAccessToken(refreshed.json.access_token as string)).toBeDefined();
    expect(idp.revoke(refreshed.json.refresh_token as string)).toBe(true);
    const revoked = await post(tokenUrl, { grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: refreshed.json.refresh_token as string });
    expect(revoked.json.error).toBe('invalid_grant');
    // As through the revocation endpoint (RFC 7009 section 2.1): the access tokens of its grant go with it.
    expect(idp.verifyAccessToken(refreshed.json.access_token as string)).toBeUndefined();
    expect(idp.revoke(refreshed.json.access_token as string)).toBe(false);

    const minted = idp.issueToken({ username: 'demo' });
    expect(idp.verifyAccessToken(minted.access_token)?.identity).toBe('user:demo');
    idp.revokeAll();
    expect(idp.verifyAccessToken(minted.access_token)).toBeUndefined();
  });
});

describe('identity provider: revocation (RFC 7009)', () => {
  it('revokes a client\'s own access and refresh tokens and answers 200 for unknown ones', async () => {
    const { tokenUrl, revocationUrl, idp, stats } = await start();
    const issued = await post(tokenUrl, passwordGrant);
    const access = issued.json.access_token as string;
    const refresh = issued.json.refresh_token as string;
    const other = await post(tokenUrl, clientCredentials);

    expect((await post(revocationUrl, { token: access, token_type_hint: 'access_token', client_id: 'GrantValidatorClient' })).status).toBe(200);
    expect(idp.verifyAccessToken(access)).toBeUndefined();
    expect((await post(revocationUrl, { token: refresh, client_id: 'GrantValidatorClient' })).status).toBe(200);
    const refused = await post(tokenUrl, { grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: refresh });
    expect(refused.json.error).toBe('invalid_grant');
    expect((await post(revocationUrl, { token: 'unknown', client_id: 'GrantValidatorClient' })).status).toBe(200);
    // A hint the server does not know (or a wrong one) changes nothing: every type of token is searched (RFC 7009 section 2.1).
    expect((await post(revocationUrl, { token: 'x', token_type_hint: 'id_token', client_id: 'GrantValidatorClient' })).status).toBe(200);
    const hinted = idp.issueToken({ clientId: 'GrantValidatorClient' }).access_token;
    expect((await post(revocationUrl, { token: hinted, token_type_hint: 'id_token', client_id: 'GrantValidatorClient' })).status).toBe(200);
    expect(idp.verifyAccessToken(hinted)).toBeUndefined();
    expect((await post(revocationUrl, { token: 'x', client_id: 'sessionkit-demo', client_secret: 'bad' })).status).toBe(401);
    expect(idp.verifyAccessToken(other.json.access_token as string)).toBeDefined();
    expect(stats.idp.revocations).toBe(6);
    expect(stats.idp.requests).toBe(3);
  });

  it('refuses to revoke a token issued to another client with 400 invalid_grant and leaves it valid; an expired one is 200 (RFC 7009 section 2.1)', async () => {
    const { tokenUrl, revocationUrl, idp } = await start({ tokenTtlSeconds: 60 });
    const issued = await post(tokenUrl, passwordGrant);
    const access = issued.json.access_token as string;
    const refresh = issued.json.refresh_token as string;
    const otherClient = { client_id: 'sessionkit-demo', client_secret: 'demo-secret' };
    for (const token of [access, refresh]) {
      const refused = await post(revocationUrl, { token, ...otherClient });
      expect(refused.status).toBe(400);
      expect(refused.json).toEqual({ error: 'invalid_grant', error_description: expect.any(String) as unknown });
      expect(refused.text).not.toContain(token);
    }
    expect(idp.verifyAccessToken(access)).toBeDefined();
    const refreshed = await post(tokenUrl, { grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: refresh });
    expect(refreshed.status).toBe(200);
    // Expired, a token is invalid whoever it was issued to: 200, as for an unknown one.
    idp.advanceClock(60_000);
    expect((await post(revocationUrl, { token: refreshed.json.access_token as string, ...otherClient })).status).toBe(200);
  });

  it('names the endpoint that was asked in a 405', async () => {
    const { tokenUrl, revocationUrl } = await start();
    for (const [url, endpoint] of [[tokenUrl, 'token'], [revocationUrl, 'revocation']] as const) {
      const answer = await fetch(url);
      expect(answer.status).toBe(405);
      expect(answer.headers.get('allow')).toBe('POST');
      expect(await answer.json()).toEqual({ error: 'invalid_request', error_description: `The ${endpoint} endpoint accepts POST only.` });
    }
  });
});

describe('identity provider: revoking a grant (RFC 7009 section 2.1)', () => {
  it('revokes the access tokens of a refresh token\'s grant with it, and only those', async () => {
    const { tokenUrl, revocationUrl, idp } = await start();
    const first = await post(tokenUrl, passwordGrant);
    const refresh = (token: unknown): Promise<Answer> =>
      post(tokenUrl, { grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: token as string });
    const second = await refresh(first.json.refresh_token);
    const other = await post(tokenUrl, passwordGrant);
    const accessOf = (answer: Answer): string => answer.json.access_token as string;

    // Revoking an access token leaves its refresh token alone (RFC 7009 makes that optional).
    expect((await post(revocationUrl, { token: accessOf(other), client_id: 'GrantValidatorClient' })).status).toBe(200);
    const otherRefreshed = await refresh(other.json.refresh_token);
    expect(otherRefreshed.status).toBe(200);

    expect((await post(revocationUrl, { token: second.json.refresh_token as string, client_id: 'GrantValidatorClient' })).status).toBe(200);
    expect(idp.verifyAccessToken(accessOf(first))).toBeUndefined();
    expect(idp.verifyAccessToken(accessOf(second))).toBeUndefined();
    expect(idp.verifyAccessToken(accessOf(otherRefreshed))).toBeDefined();
    expect((await refresh(otherRefreshed.json.refresh_token)).status).toBe(200);
  });
});

describe('identity provider state file', () => {
  /** How many access tokens the state file holds (by their hashes). */
  const storedAccessTokens = async (stateFile: string): Promise<number> => (JSON.parse(await readFile(stateFile, 'utf8')) as { accessTokens: unknown[] }).accessTokens.length;

  it('is written at start, so that one that cannot be written fails the start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-idp-state-'));
    try {
      const stateFile = join(dir, 'idp-state.json');
      await (await startSandbox({ stateFile })).close();
      expect((await stat(stateFile)).mode & 0o777).toBe(0o600);

      const missing = join(dir, 'no-such-dir', 'idp-state.json');
      await expect(start({ stateFile: missing })).rejects.toThrow(`The state file ${missing} cannot be written: ENOENT`);
      // A directory in its place: the temporary file is written, the rename fails, and the
      // temporary file is removed again.
      const directory = join(dir, 'a-directory');
      await mkdir(directory);
      await expect(start({ stateFile: directory })).rejects.toThrow(`The state file ${directory} cannot be written`);
      expect((await readdir(dir)).sort()).toEqual(['a-directory', 'idp-state.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is neither created nor rewritten by a start refused for another option', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-idp-state-'));
    try {
      const stateFile = join(dir, 'idp-state.json');
      const refused: SandboxOptions[] = [
        { commands: { minSessionSeconds: 99_999 } },
        { ess: { replayBufferSize: -1 } },
        { faults: [{ kind: 'nope' as 'error' }] },
      ];
      for (const options of refused) {
        await expect(startSandbox({ stateFile, ...options })).rejects.toThrow();
        expect(await readdir(dir), JSON.stringify(options)).toEqual([]);
      }
      // One written before: left as it was (not rewritten, not swept).
      await writeFile(stateFile, 'kept as it was', { mode: 0o600 });
      for (const options of refused) await expect(startSandbox({ stateFile, ...options })).rejects.toThrow();
      expect(await readFile(stateFile, 'utf8')).toBe('kept as it was');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes the state file once for a burst of tokens, and what is pending at close() and when a process exits without closing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-idp-state-'));
    const stateFile = join(dir, 'idp-state.json');
    try {
      const sandbox = await startSandbox({ stateFile, ess: { generator: false } });
      const tokens = Array.from({ length: 200 }, () => sandbox.idp.issueToken().access_token);
      // Not rewritten for each token (that grew quadratically): the burst is pending, written together.
      expect(await storedAccessTokens(stateFile)).toBe(0);
      await sandbox.close();
      expect(await storedAccessTokens(stateFile)).toBe(200);
      const second = await startSandbox({ stateFile, ess: { generator: false } });
      expect(tokens.every((token) => second.idp.verifyAccessToken(token) !== undefined)).toBe(true);
      await second.close();
      // A process that issues a token and exits at once, never closing the sandbox.
      const script = `import { startSandbox } from '@sessionkit/sandbox';
        const sandbox = await startSandbox({ stateFile: process.argv[1], ess: { generator: false } });
        sandbox.idp.issueToken();
        process.exit(0);`;
      const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--conditions=@sessionkit/source', '--input-type=module', '-e', script, stateFile], { stdio: 'inherit', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
      expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
      expect(await storedAccessTokens(stateFile)).toBe(201);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps a state-file write that failed pending: written at close(), which rejects when it fails again; a closed sandbox writes no more', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-idp-state-'));
    const stateFile = join(dir, 'idp-state.json');
    const blocker = `${stateFile}.${String(process.pid)}.tmp`;
    try {
      const listeners = process.listenerCount('exit');
      const sandboxes = await Promise.all(Array.from({ length: 12 }, (_, index) => startSandbox({ stateFile: join(dir, `other-${String(index)}.json`), ess: { generator: false } })));
      // One exit listener for every open state file (12 of their own warned MaxListenersExceeded).
      expect(process.listenerCount('exit')).toBe(listeners + 1);
      await Promise.all(sandboxes.map((each) => each.close()));
      expect(process.listenerCount('exit')).toBe(listeners);

      const first = await startSandbox({ stateFile, ess: { generator: false } });
      // The timed write fails (its temporary path is taken by a directory) ...
      await mkdir(blocker);
      first.idp.issueToken();
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(await storedAccessTokens(stateFile)).toBe(0);
      // ... and close() writes it once it can.
      await rm(blocker, { recursive: true });
      await first.close();
      expect(await storedAccessTokens(stateFile)).toBe(1);

      const second = await startSandbox({ stateFile, ess: { generator: false } });
      second.idp.issueToken();
      await mkdir(blocker);
      await expect(second.close()).rejects.toThrow(/EISDIR|EEXIST|EPERM/);
      await rm(blocker, { recursive: true });
      // Closed: a later change writes nothing (it would overwrite a newer sandbox's file).
      second.idp.issueToken();
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(await storedAccessTokens(stateFile)).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('accepts tokens issued before a restart with the same state file, and stores only hashes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-idp-state-'));
    const stateFile = join(dir, 'idp-state.json');
    try {
      const first = await startSandbox({ stateFile });
      const response = await fetch(first.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=password&username=demo&password=demo-password&client_id=GrantValidatorClient',
      });
      const body = (await response.json()) as { access_token: string; refresh_token: string };
      await first.close();

      const text = await readFile(stateFile, 'utf8');
      expect(text).not.toContain(body.access_token);
      expect(text).not.toContain(body.refresh_token);
      expect((await stat(stateFile)).mode & 0o777).toBe(0o600);

      const second = await startSandbox({ stateFile });
      expect(second.idp.verifyAccessToken(body.access_token)).toMatchObject({ identity: 'user:demo' });
      expect(second.idp.verifyAccessToken('not-a-token')).toBeUndefined();
      await second.close();

      const third = await startSandbox();
      expect(third.idp.verifyAccessToken(body.access_token)).toBeUndefined();
      await third.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('revokes every access token a kept refresh token gave (rotateRefreshTokens false), one of a state file without grants too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-idp-state-'));
    const stateFile = join(dir, 'idp-state.json');
    try {
      const first = await startSandbox({ stateFile, rotateRefreshTokens: false, ess: { generator: false } });
      const login = await post(first.tokenUrl, passwordGrant);
      await first.close();
      // As an older version wrote it: records without a grant id.
      const content = JSON.parse(await readFile(stateFile, 'utf8')) as { accessTokens: [string, Record<string, unknown>][]; refreshTokens: [string, Record<string, unknown>][] };
      for (const [, record] of [...content.accessTokens, ...content.refreshTokens]) delete record.grantId;
      await writeFile(stateFile, JSON.stringify(content), { mode: 0o600 });

      const second = await startSandbox({ stateFile, rotateRefreshTokens: false, ess: { generator: false } });
      const refresh = { grant_type: 'refresh_token', client_id: 'GrantValidatorClient', refresh_token: login.json.refresh_token as string };
      const given = [await post(second.tokenUrl, refresh), await post(second.tokenUrl, refresh)].map((answer) => answer.json.access_token as string);
      expect(given.map((token) => second.idp.verifyAccessToken(token) !== undefined)).toEqual([true, true]);
      // Revoked by the client (RFC 7009): its grant's access tokens go with it.
      expect((await post(second.revocationUrl, { token: refresh.refresh_token, token_type_hint: 'refresh_token', client_id: 'GrantValidatorClient' })).status).toBe(200);
      expect(given.map((token) => second.idp.verifyAccessToken(token) !== undefined)).toEqual([false, false]);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
