import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCommandRequestBody, type Sandbox, type SandboxOptions, startSandbox } from '@sessionkit/sandbox';

// These tests speak the protocol with their own small encoder and parser (URLSearchParams and a
// regular expression), so that they check the sandbox rather than any client.

interface Parsed {
  code: number;
  description: string;
  properties: Map<string, string[]>;
  text: string;
}

function parse(text: string): Parsed {
  const properties = new Map<string, string[]>();
  let code = Number.NaN;
  let description = '';
  for (const line of text.split('\n')) {
    const property = /^PROPERTY\[([A-Z0-9]+)\]\[(\d+)\] = (.*)$/.exec(line);
    if (property !== null) {
      const values = properties.get(property[1]!) ?? [];
      values[Number(property[2])] = property[3]!;
      properties.set(property[1]!, values);
    } else if (line.startsWith('CODE = ')) code = Number(line.slice(7));
    else if (line.startsWith('DESCRIPTION = ')) description = line.slice(14);
  }
  return { code, description, properties, text };
}

/** The error `startSandbox(options)` rejects with, or undefined after closing a sandbox that started. */
function startError(options: SandboxOptions): Promise<unknown> {
  return startSandbox(options).then(async (started) => {
    await started.close();
    return undefined;
  }, (error: unknown) => error);
}

const DEMO = { s_entity: '54cd', s_login: 'demo', s_pw: 'demo-password' };
const OTE = { s_entity: '1234', s_login: 'demo', s_pw: 'demo-password' };

function body(fields: Record<string, string>, command: Record<string, string | number>): string {
  const text = Object.entries(command)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
  return new URLSearchParams({ ...fields, s_command: text }).toString();
}

async function call(
  sandbox: Sandbox,
  fields: Record<string, string>,
  command: Record<string, string | number>,
  init: { contentType?: string; signal?: AbortSignal } = {},
): Promise<Parsed> {
  const response = await fetch(sandbox.commandUrl, {
    method: 'POST',
    headers: { 'content-type': init.contentType ?? 'application/x-www-form-urlencoded' },
    body: body(fields, command),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  });
  expect(response.status).toBe(200);
  return parse(await response.text());
}

/** POSTs `body` with node:http; resolves with the status and `connection` header, or the error code. */
function postRaw(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number | undefined; connection: string | undefined } | string> {
  return new Promise((resolve) => {
    const outgoing = httpRequest(url, { method: 'POST', headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (incoming) => {
      incoming.resume();
      incoming.on('end', () => { resolve({ status: incoming.statusCode, connection: incoming.headers.connection }); });
    });
    outgoing.on('error', (error: NodeJS.ErrnoException) => { resolve(error.code ?? error.message); });
    outgoing.end(body);
  });
}

describe('command API', () => {
  let sandbox: Sandbox;
  let now = Date.UTC(2025, 0, 1);

  beforeAll(async () => {
    sandbox = await startSandbox({
      commands: {
        clock: () => now,
        users: [
          { login: 'otp-user', password: 'otp-password', otp: '123456', domains: 3 },
          { login: 'filtered', password: 'filtered-password', allowedAddresses: ['203.0.113.7'], domains: 2 },
        ],
      },
    });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('answers in the exact protocol format', async () => {
    const response = await fetch(sandbox.commandUrl, { method: 'POST', body: body(DEMO, { COMMAND: 'StatusAccount' }) });
    expect(response.headers.get('content-type')).toBe('text/plain; charset=UTF-8');
    const text = await response.text();
    expect(text).toMatch(
      /^\[RESPONSE\]\nCODE = 200\nDESCRIPTION = Command completed successfully\n(?:PROPERTY\[[A-Z]+\]\[\d+\] = [^\n]*\n)+QUEUETIME = 0\nRUNTIME = \d+\.\d{3}\nEOF\n$/,
    );
    expect(text).toContain('PROPERTY[AMOUNT][0] = 10000.00\nPROPERTY[CREDIT][0] = 1000.00\nPROPERTY[CURRENCY][0] = EUR\n');
  });

  it('reads the body as a form whatever the content type, and accepts GET with a query', async () => {
    const plain = await call(sandbox, DEMO, { COMMAND: 'StatusAccount' }, { contentType: 'text/plain;charset=UTF-8' });
    expect(plain.code).toBe(200);
    const none = await fetch(sandbox.commandUrl, { method: 'POST', body: new Blob([body(DEMO, { COMMAND: 'StatusAccount' })]) });
    expect(parse(await none.text()).code).toBe(200);
    const get = await fetch(`${sandbox.commandUrl}?${body(DEMO, { COMMAND: 'ConvertIDN', DOMAIN: 'müller.de' })}`);
    expect(parse(await get.text()).properties.get('ACE')).toEqual(['xn--mller-kva.de']);
    // The query string's field names are recorded too, before the body's.
    expect(sandbox.commands.recent.at(-1)?.fieldNames).toEqual(['s_entity', 's_login', 's_pw', 's_command']);
    await fetch(`${sandbox.commandUrl}?s_entity=54cd`, { method: 'POST', body: body(DEMO, { COMMAND: 'StatusAccount' }).replace('s_entity=54cd&', '') });
    expect(sandbox.commands.recent.at(-1)?.fieldNames).toEqual(['s_entity', 's_login', 's_pw', 's_command']);
  });

  it('keeps the live and OT&E systems apart', async () => {
    const live = await call(sandbox, DEMO, { COMMAND: 'StatusAccount' });
    const ote = await call(sandbox, OTE, { COMMAND: 'StatusAccount' });
    expect(live.properties.get('AMOUNT')).toEqual(['10000.00']);
    expect(ote.properties.get('AMOUNT')).toEqual(['50000.00']);

    const added = await call(sandbox, DEMO, { COMMAND: 'AddDomain', DOMAIN: 'only-on-live-system.com' });
    expect(added.code).toBe(200);
    expect((await call(sandbox, DEMO, { COMMAND: 'CheckDomain', DOMAIN: 'only-on-live-system.com' })).code).toBe(211);
    expect((await call(sandbox, OTE, { COMMAND: 'CheckDomain', DOMAIN: 'only-on-live-system.com' })).code).toBe(210);
    expect((await call(sandbox, OTE, { COMMAND: 'StatusDomain', DOMAIN: 'only-on-live-system.com' })).code).toBe(545);

    const liveFirst = await call(sandbox, DEMO, { COMMAND: 'QueryDomainList', LIMIT: 3 });
    const oteFirst = await call(sandbox, OTE, { COMMAND: 'QueryDomainList', LIMIT: 3 });
    expect(liveFirst.properties.get('DOMAIN')).not.toEqual(oteFirst.properties.get('DOMAIN'));
    expect((await call(sandbox, { ...DEMO, s_entity: 'ffff' }, { COMMAND: 'StatusAccount' })).code).toBe(530);
    expect((await call(sandbox, { s_login: 'demo', s_pw: 'demo-password' }, { COMMAND: 'StatusAccount' })).code).toBe(530);
  });

  describe('authentication', () => {
    it('refuses wrong or missing credentials with 530', async () => {
      expect((await call(sandbox, { ...DEMO, s_pw: 'wrong' }, { COMMAND: 'StatusAccount' })).code).toBe(530);
      expect((await call(sandbox, { s_entity: '54cd', s_login: 'demo' }, { COMMAND: 'StatusAccount' })).code).toBe(530);
      expect((await call(sandbox, { ...DEMO, s_login: 'nobody' }, { COMMAND: 'StatusAccount' })).code).toBe(530);
    });

    it('lets role users log in as account!role, and read-only roles only read', async () => {
      const ops = { s_entity: '54cd', s_login: 'demo!ops', s_pw: 'ops-password' };
      const viewer = { s_entity: '54cd', s_login: 'demo!viewer', s_pw: 'viewer-password' };
      expect((await call(sandbox, ops, { COMMAND: 'AddDomain', DOMAIN: 'added-by-role.net' })).code).toBe(200);
      expect((await call(sandbox, DEMO, { COMMAND: 'StatusDomain', DOMAIN: 'added-by-role.net' })).code).toBe(200);
      expect((await call(sandbox, viewer, { COMMAND: 'StatusAccount' })).code).toBe(200);
      const refused = await call(sandbox, viewer, { COMMAND: 'DeleteDomain', DOMAIN: 'added-by-role.net' });
      expect(refused.code).toBe(531);
      expect(refused.description).toContain('viewer');
      expect((await call(sandbox, { ...ops, s_pw: 'demo-password' }, { COMMAND: 'StatusAccount' })).code).toBe(530);
      expect((await call(sandbox, { ...ops, s_login: 'demo!nobody' }, { COMMAND: 'StatusAccount' })).code).toBe(530);
    });

    it('checks the one-time password of accounts that have one', async () => {
      const user = { s_entity: '54cd', s_login: 'otp-user', s_pw: 'otp-password' };
      expect((await call(sandbox, user, { COMMAND: 'StatusAccount' })).code).toBe(530);
      expect((await call(sandbox, { ...user, s_otp: '000000' }, { COMMAND: 'StatusAccount' })).code).toBe(530);
      expect((await call(sandbox, { ...user, s_otp: '123456' }, { COMMAND: 'StatusAccount' })).code).toBe(200);
    });

    it('applies an IP filter to s_remoteaddr', async () => {
      const user = { s_entity: '54cd', s_login: 'filtered', s_pw: 'filtered-password' };
      expect((await call(sandbox, user, { COMMAND: 'StatusAccount' })).code).toBe(531);
      expect((await call(sandbox, { ...user, s_remoteaddr: '198.51.100.1' }, { COMMAND: 'StatusAccount' })).code).toBe(531);
      expect((await call(sandbox, { ...user, s_remoteaddr: '203.0.113.7' }, { COMMAND: 'StatusAccount' })).code).toBe(200);
      // Sent empty is not sent: the connection's own address is checked, not "".
      for (const fields of [user, { ...user, s_remoteaddr: '' }]) {
        expect(await call(sandbox, fields, { COMMAND: 'StatusAccount' })).toMatchObject({ code: 531, description: expect.stringContaining('IP address 127.0.0.1 not allowed') as unknown });
      }
    });

    it('shows a subuser view with s_user', async () => {
      const own = await call(sandbox, DEMO, { COMMAND: 'QueryDomainList', LIMIT: 1 });
      const sub = await call(sandbox, { ...DEMO, s_user: 'demo-sub' }, { COMMAND: 'QueryDomainList', LIMIT: 1 });
      expect(own.properties.get('TOTAL')?.[0]).not.toBe('40');
      expect(sub.properties.get('TOTAL')).toEqual(['40']);
      expect((await call(sandbox, { ...DEMO, s_user: 'someone-else' }, { COMMAND: 'StatusAccount' })).code).toBe(531);
    });
  });

  describe('sessions', () => {
    async function start(command: Record<string, string | number> = {}, fields = DEMO): Promise<Parsed> {
      return call(sandbox, fields, { COMMAND: 'StartSession', ...command });
    }

    it('starts a session that replaces login and password, on its own system only', async () => {
      const started = await start();
      expect(started.code).toBe(200);
      const id = started.properties.get('SESSION')?.[0] ?? '';
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(started.properties.get('TIMEOUT')).toEqual(['600']);
      expect(started.properties.get('MAXTTL')).toEqual(['86400']);
      expect((await call(sandbox, { s_entity: '54cd', s_session: id }, { COMMAND: 'StatusAccount' })).code).toBe(200);
      expect((await call(sandbox, { s_entity: '1234', s_session: id }, { COMMAND: 'StatusAccount' })).code).toBe(530);
      expect((await call(sandbox, { s_entity: '54cd', s_session: id }, { COMMAND: 'EndSession' })).code).toBe(200);
      const ended = await call(sandbox, { s_entity: '54cd', s_session: id }, { COMMAND: 'StatusAccount' });
      expect(ended).toMatchObject({ code: 530, description: 'SESSION NOT FOUND' });
      expect((await call(sandbox, { s_entity: '54cd', s_session: 'made-up' }, { COMMAND: 'StatusAccount' })).code).toBe(530);
    });

    it('answers an EndSession sent without a session 530 SESSION NOT FOUND, with or without login and password', async () => {
      const id = (await start()).properties.get('SESSION')?.[0] ?? '';
      expect(await call(sandbox, DEMO, { COMMAND: 'EndSession' })).toMatchObject({ code: 530, description: 'SESSION NOT FOUND' });
      expect(await call(sandbox, { ...DEMO, s_session: '' }, { COMMAND: 'EndSession' })).toMatchObject({ code: 530, description: 'SESSION NOT FOUND' });
      expect((await call(sandbox, { s_entity: '54cd' }, { COMMAND: 'EndSession' })).code).toBe(530);
      // The session started before is not touched; ended, it is not found.
      expect((await call(sandbox, { s_entity: '54cd', s_session: id }, { COMMAND: 'StatusAccount' })).code).toBe(200);
      expect((await call(sandbox, { s_entity: '54cd', s_session: id }, { COMMAND: 'EndSession' })).code).toBe(200);
      expect(await call(sandbox, { s_entity: '54cd', s_session: id }, { COMMAND: 'EndSession' })).toMatchObject({ code: 530, description: 'SESSION NOT FOUND' });
    });

    it('checks TIMEOUT and MAXTTL', async () => {
      expect((await start({ TIMEOUT: 59 })).code).toBe(541);
      expect((await start({ TIMEOUT: 3601 })).code).toBe(541);
      expect((await start({ TIMEOUT: 'ten' })).code).toBe(505);
      expect((await start({ MAXTTL: 86_401 })).code).toBe(541);
      expect((await start({ TIMEOUT: 60, MAXTTL: 60 })).code).toBe(200);
      expect((await start({ TIMEOUT: 3600, MAXTTL: 86_400 })).code).toBe(200);
    });

    it('expires a session after TIMEOUT seconds without use, sliding with each use', async () => {
      const id = (await start({ TIMEOUT: 60 })).properties.get('SESSION')?.[0] ?? '';
      const use = async (): Promise<number> => (await call(sandbox, { s_entity: '54cd', s_session: id }, { COMMAND: 'StatusAccount' })).code;
      now += 59_000;
      expect(await use()).toBe(200);
      now += 59_000;
      expect(await use()).toBe(200);
      const expiredBefore = sandbox.stats.commands.sessions.expired;
      now += 60_000;
      expect(await use()).toBe(530);
      expect(sandbox.stats.commands.sessions.expired).toBe(expiredBefore + 1);
    });

    it('expires a session after MAXTTL seconds even when in use', async () => {
      const id = (await start({ TIMEOUT: 60, MAXTTL: 100 })).properties.get('SESSION')?.[0] ?? '';
      const use = async (): Promise<number> => (await call(sandbox, { s_entity: '54cd', s_session: id }, { COMMAND: 'StatusAccount' })).code;
      now += 50_000;
      expect(await use()).toBe(200);
      now += 49_000;
      expect(await use()).toBe(200);
      now += 1000;
      expect(await use()).toBe(530);
    });

    it('counts an idle or MAXTTL-expired session as expired, not active, without it being used again', async () => {
      let time = Date.UTC(2025, 0, 1);
      const own = await startSandbox({ commands: { clock: () => time, domainCount: 5 } });
      try {
        const sessions = own.stats.commands.sessions;
        const idle = (await call(own, DEMO, { COMMAND: 'StartSession', TIMEOUT: 60 })).properties.get('SESSION')?.[0] ?? '';
        await call(own, DEMO, { COMMAND: 'StartSession', TIMEOUT: 3600, MAXTTL: 120 });
        await call(own, DEMO, { COMMAND: 'StartSession', TIMEOUT: 3600 });
        expect([sessions.active, sessions.expired, own.commands.activeSessions]).toEqual([3, 0, 3]);
        time += 59_999;
        expect([sessions.active, sessions.expired]).toEqual([3, 0]);
        time += 1;
        expect([sessions.active, sessions.expired, own.commands.activeSessions]).toEqual([2, 1, 2]);
        time += 60_000;
        expect([own.commands.activeSessions, sessions.expired, sessions.active]).toEqual([1, 2, 1]);
        // Using the expired session afterwards does not count it twice.
        expect((await call(own, { s_entity: '54cd', s_session: idle }, { COMMAND: 'StatusAccount' })).code).toBe(530);
        expect([sessions.started, sessions.expired, sessions.active]).toEqual([3, 2, 1]);
        // A reset forgets sessions that expired before it.
        time += 3_600_000;
        own.commands.resetStats();
        expect([sessions.expired, sessions.active]).toEqual([0, 0]);
      } finally {
        await own.close();
      }
    });

    it('keeps the role of the login in the session', async () => {
      const id = (await start({}, { s_entity: '54cd', s_login: 'demo!viewer', s_pw: 'viewer-password' })).properties.get('SESSION')?.[0] ?? '';
      expect((await call(sandbox, { s_entity: '54cd', s_session: id }, { COMMAND: 'AddDomain', DOMAIN: 'viewer-try.com' })).code).toBe(531);
    });

    it('expires every session on demand', async () => {
      const id = (await start()).properties.get('SESSION')?.[0] ?? '';
      expect(sandbox.commands.activeSessions).toBeGreaterThan(0);
      expect(sandbox.commands.expireSessions()).toBeGreaterThan(0);
      expect((await call(sandbox, { s_entity: '54cd', s_session: id }, { COMMAND: 'StatusAccount' })).code).toBe(530);
      expect(sandbox.commands.activeSessions).toBe(0);
    });

    it('refuses options it cannot carry out at start with RangeError, before listening', async () => {
      for (const commands of [
        { minSessionSeconds: 0.5 },
        // Over the largest TIMEOUT: every StartSession with a TIMEOUT would be refused.
        { minSessionSeconds: 3601 },
        { defaultListLimit: 0 },
        { maxListLimit: Number.NaN },
        { recentRequests: -1 },
        { recentRequests: Number.NaN },
        { domainCount: 2.5 },
        { subuserDomainCount: Number.NaN },
        { users: [{ login: 'someone', password: 'pw', domains: -3 }] },
      ]) {
        expect(await startError({ commands, ess: { generator: false } }), JSON.stringify(commands)).toBeInstanceOf(RangeError);
      }
    });

    it('accepts shorter sessions when minSessionSeconds allows them', async () => {
      const quick = await startSandbox({ commands: { minSessionSeconds: 1, domainCount: 5 } });
      try {
        const response = await call(quick, DEMO, { COMMAND: 'StartSession', TIMEOUT: 1 });
        expect(response.code).toBe(200);
        expect(response.properties.get('TIMEOUT')).toEqual(['1']);
      } finally {
        await quick.close();
      }
    });

    it('gives a StartSession without TIMEOUT no less than minSessionSeconds (the default 600 was below a higher minimum)', async () => {
      const slow = await startSandbox({ commands: { minSessionSeconds: 1200, domainCount: 5 }, ess: { generator: false } });
      try {
        expect((await call(slow, DEMO, { COMMAND: 'StartSession' })).properties.get('TIMEOUT')).toEqual(['1200']);
        expect((await call(slow, DEMO, { COMMAND: 'StartSession', TIMEOUT: 3600 })).properties.get('TIMEOUT')).toEqual(['3600']);
      } finally {
        await slow.close();
      }
    });
  });

  describe('registrar', () => {
    it('checks domains one by one and in bulk', async () => {
      const first = (await call(sandbox, DEMO, { COMMAND: 'QueryDomainList', LIMIT: 1 })).properties.get('DOMAIN')?.[0] ?? '';
      expect((await call(sandbox, DEMO, { COMMAND: 'CheckDomain', DOMAIN: first })).code).toBe(211);
      expect((await call(sandbox, DEMO, { COMMAND: 'CheckDomain', DOMAIN: 'surely-free-name.io' })).code).toBe(210);
      expect((await call(sandbox, DEMO, { COMMAND: 'CheckDomain', DOMAIN: 'no spaces.com' })).code).toBe(505);
      expect((await call(sandbox, DEMO, { COMMAND: 'CheckDomain', DOMAIN: 'nodot' })).code).toBe(505);
      expect((await call(sandbox, DEMO, { COMMAND: 'CheckDomain' })).code).toBe(504);
      const bulk = await call(sandbox, DEMO, { COMMAND: 'CheckDomains', DOMAIN0: first, DOMAIN1: 'surely-free-name.io', DOMAIN2: '-bad-.com' });
      expect(bulk.code).toBe(200);
      expect(bulk.properties.get('DOMAINCHECK')?.map((value) => value.slice(0, 3))).toEqual(['211', '210', '505']);
    });

    it('refuses an indexed parameter beyond index 255 with 541 naming it, rather than ignoring it', async () => {
      const indexed = (key: string, count: number, value: (index: number) => string): Record<string, string> =>
        Object.fromEntries(Array.from({ length: count }, (_, index) => [`${key}${String(index)}`, value(index)]));
      const tooMany = await call(sandbox, DEMO, { COMMAND: 'CheckDomains', ...indexed('DOMAIN', 300, (index) => `free-${String(index)}.com`) });
      expect(tooMany).toMatchObject({ code: 541, description: 'Invalid attribute value; DOMAIN256: indexes go from 0 to 255' });
      expect(tooMany.properties.size).toBe(0);
      const most = await call(sandbox, DEMO, { COMMAND: 'CheckDomains', ...indexed('DOMAIN', 256, (index) => `free-${String(index)}.com`) });
      expect([most.code, most.properties.get('DOMAINCHECK')?.length]).toEqual([200, 256]);
      expect((await call(sandbox, DEMO, { COMMAND: 'ConvertIDN', DOMAIN0: 'a.com', DOMAIN999: 'b.com' })).description).toBe('Invalid attribute value; DOMAIN999: indexes go from 0 to 255');

      const domain = (await call(sandbox, DEMO, { COMMAND: 'QueryDomainList', LIMIT: 1 })).properties.get('DOMAIN')?.[0] ?? '';
      const nameservers = (await call(sandbox, DEMO, { COMMAND: 'StatusDomain', DOMAIN: domain })).properties.get('NAMESERVER');
      const modified = await call(sandbox, DEMO, { COMMAND: 'ModifyDomain', DOMAIN: domain, NAMESERVER256: 'ns1.example.net' });
      expect(modified).toMatchObject({ code: 541, description: 'Invalid attribute value; NAMESERVER256: indexes go from 0 to 255' });
      expect((await call(sandbox, DEMO, { COMMAND: 'StatusDomain', DOMAIN: domain })).properties.get('NAMESERVER')).toEqual(nameservers);
      expect((await call(sandbox, DEMO, { COMMAND: 'AddDomain', DOMAIN: 'indexes-checked.com', NAMESERVER0: 'ns1.example.net', NAMESERVER1000: 'ns2.example.net' })).code).toBe(541);
      expect((await call(sandbox, DEMO, { COMMAND: 'CheckDomain', DOMAIN: 'indexes-checked.com' })).code).toBe(210);
    });

    it('adds, shows, modifies and deletes a domain, and charges the account', async () => {
      const before = Number((await call(sandbox, DEMO, { COMMAND: 'StatusAccount' })).properties.get('AMOUNT')?.[0]);
      const added = await call(sandbox, DEMO, {
        COMMAND: 'AddDomain',
        DOMAIN: 'Bücher-Regal.de',
        PERIOD: 2,
        NAMESERVER0: 'ns1.example.net',
        NAMESERVER1: 'ns2.example.net',
        AUTH: 'a&b=c',
      });
      expect(added.code).toBe(200);
      expect(added.properties.get('CREATEDDATE')).toEqual([new Date(now).toISOString().slice(0, 19).replace('T', ' ')]);
      const after = Number((await call(sandbox, DEMO, { COMMAND: 'StatusAccount' })).properties.get('AMOUNT')?.[0]);
      expect(before - after).toBe(24);
      expect((await call(sandbox, DEMO, { COMMAND: 'AddDomain', DOMAIN: 'xn--bcher-regal-thb.de' })).code).toBe(549);

      const status = await call(sandbox, DEMO, { COMMAND: 'StatusDomain', DOMAIN: 'xn--bcher-regal-thb.de' });
      expect(status.code).toBe(200);
      expect(status.properties.get('IDN')).toEqual(['bücher-regal.de']);
      expect(status.properties.get('NAMESERVER')).toEqual(['ns1.example.net', 'ns2.example.net']);
      expect(status.properties.get('AUTH')).toEqual(['a&b=c']);

      const modified = await call(sandbox, DEMO, {
        COMMAND: 'ModifyDomain',
        DOMAIN: 'bücher-regal.de',
        NAMESERVER0: 'ns9.example.org',
        RENEWALMODE: 'AUTOEXPIRE',
        TRANSFERLOCK: 0,
      });
      expect(modified.code).toBe(200);
      const changed = await call(sandbox, DEMO, { COMMAND: 'StatusDomain', DOMAIN: 'bücher-regal.de' });
      expect(changed.properties.get('NAMESERVER')).toEqual(['ns9.example.org']);
      expect(changed.properties.get('RENEWALMODE')).toEqual(['AUTOEXPIRE']);
      expect(changed.properties.get('TRANSFERLOCK')).toEqual(['0']);
      expect((await call(sandbox, DEMO, { COMMAND: 'ModifyDomain', DOMAIN: 'bücher-regal.de', RENEWALMODE: 'SOMETIMES' })).code).toBe(541);
      expect((await call(sandbox, DEMO, { COMMAND: 'ModifyDomain', DOMAIN: 'bücher-regal.de', NAMESERVER0: 'not a host' })).code).toBe(505);

      expect((await call(sandbox, DEMO, { COMMAND: 'DeleteDomain', DOMAIN: 'bücher-regal.de' })).code).toBe(200);
      expect((await call(sandbox, DEMO, { COMMAND: 'StatusDomain', DOMAIN: 'bücher-regal.de' })).code).toBe(545);
      expect((await call(sandbox, DEMO, { COMMAND: 'DeleteDomain', DOMAIN: 'bücher-regal.de' })).code).toBe(545);
      expect((await call(sandbox, DEMO, { COMMAND: 'AddDomain', DOMAIN: 'period.com', PERIOD: 11 })).code).toBe(541);
      expect((await call(sandbox, DEMO, { COMMAND: 'AddDomain', DOMAIN: 'period.com', PERIOD: 'x' })).code).toBe(505);
    });

    it('does not show another account’s domain', async () => {
      const sub = (await call(sandbox, { ...DEMO, s_user: 'demo-sub' }, { COMMAND: 'QueryDomainList', LIMIT: 1 })).properties.get('DOMAIN')?.[0] ?? '';
      expect((await call(sandbox, DEMO, { COMMAND: 'StatusDomain', DOMAIN: sub })).code).toBe(545);
      expect((await call(sandbox, { ...DEMO, s_user: 'demo-sub' }, { COMMAND: 'StatusDomain', DOMAIN: sub })).code).toBe(200);
    });

    it('pages through every domain with FIRST and LIMIT', async () => {
      const paged = await startSandbox({ commands: { domainCount: 2345 } });
      try {
        const seen: string[] = [];
        let first = 0;
        let total = Number.POSITIVE_INFINITY;
        for (let page = 0; page < 10 && first < total; page += 1) {
          const response = await call(paged, DEMO, { COMMAND: 'QueryDomainList', FIRST: first, LIMIT: 1000 });
          const meta = (name: string): number => Number(response.properties.get(name)?.[0]);
          total = meta('TOTAL');
          expect(meta('FIRST')).toBe(first);
          expect(meta('LIMIT')).toBe(1000);
          expect(meta('COUNT')).toBe(response.properties.get('DOMAIN')?.length);
          expect(meta('LAST')).toBe(first + meta('COUNT') - 1);
          seen.push(...(response.properties.get('DOMAIN') ?? []));
          first = meta('LAST') + 1;
        }
        expect(total).toBe(2345);
        expect(seen).toHaveLength(2345);
        expect(new Set(seen).size).toBe(2345);
        expect([...seen].sort()).toEqual(seen);
        expect(seen.some((domain) => domain.startsWith('xn--'))).toBe(true);

        const beyond = await call(paged, DEMO, { COMMAND: 'QueryDomainList', FIRST: 5000 });
        expect(beyond.properties.get('COUNT')).toEqual(['0']);
        expect(beyond.properties.get('LAST')).toEqual(['4999']);
        const capped = await call(paged, DEMO, { COMMAND: 'QueryDomainList', LIMIT: 5000 });
        expect(capped.properties.get('LIMIT')).toEqual(['1000']);
        const fallback = await call(paged, DEMO, { COMMAND: 'QueryDomainList' });
        expect(fallback.properties.get('LIMIT')).toEqual(['100']);
        expect((await call(paged, DEMO, { COMMAND: 'QueryDomainList', LIMIT: 0 })).code).toBe(541);
        expect((await call(paged, DEMO, { COMMAND: 'QueryDomainList', FIRST: -1 })).code).toBe(541);
        expect((await call(paged, DEMO, { COMMAND: 'QueryDomainList', ORDERBY: 'PRICE' })).code).toBe(541);
      } finally {
        await paged.close();
      }
    });

    it('gives a demo user passed in (any case) domainCount domains, or 3000', async () => {
      const replaced = await startSandbox({ commands: { domainCount: 7, users: [{ login: 'Demo', password: 'new-password', otp: '123456' }] } });
      const byDefault = await startSandbox({ commands: { users: [{ login: 'demo', password: 'demo-password' }] } });
      try {
        const status = await call(replaced, { ...DEMO, s_pw: 'new-password', s_otp: '123456' }, { COMMAND: 'StatusAccount' });
        expect(status.properties.get('DOMAINCOUNT')).toEqual(['7']);
        expect((await call(byDefault, DEMO, { COMMAND: 'StatusAccount' })).properties.get('DOMAINCOUNT')).toEqual(['3000']);
      } finally {
        await Promise.all([replaced.close(), byDefault.close()]);
      }
    });

    it('generates the same domains on every start', async () => {
      const other = await startSandbox();
      try {
        const a = await call(sandbox, OTE, { COMMAND: 'QueryDomainList', LIMIT: 50, ORDERBY: 'CREATEDDATE' });
        const b = await call(other, OTE, { COMMAND: 'QueryDomainList', LIMIT: 50, ORDERBY: 'CREATEDDATE' });
        expect(a.properties.get('DOMAIN')).toEqual(b.properties.get('DOMAIN'));
        expect(a.properties.get('TOTAL')).toEqual(['3000']);
      } finally {
        await other.close();
      }
    });

    it('filters and widens lists', async () => {
      const wide = await call(sandbox, DEMO, { COMMAND: 'QueryDomainList', DOMAIN: '*.io', WIDE: 1, LIMIT: 5 });
      expect(wide.code).toBe(200);
      for (const domain of wide.properties.get('DOMAIN') ?? []) expect(domain.endsWith('.io')).toBe(true);
      expect(wide.properties.get('CREATEDDATE')).toHaveLength(Number(wide.properties.get('COUNT')?.[0]));
      const descending = await call(sandbox, DEMO, { COMMAND: 'QueryDomainList', ORDERBY: 'DOMAINDESC', LIMIT: 3 });
      const names = descending.properties.get('DOMAIN') ?? [];
      expect([...names].sort().reverse()).toEqual(names);
    });

    it('converts IDNs both ways', async () => {
      const converted = await call(sandbox, DEMO, { COMMAND: 'ConvertIDN', DOMAIN0: 'Straße.de', DOMAIN1: 'xn--mller-kva.de' });
      expect(converted.properties.get('ACE')).toEqual(['xn--strae-oqa.de', 'xn--mller-kva.de']);
      expect(converted.properties.get('IDN')).toEqual(['straße.de', 'müller.de']);
      expect((await call(sandbox, DEMO, { COMMAND: 'ConvertIDN', DOMAIN: 'xn--a.com' })).code).toBe(505);
    });

    it('answers 500 for unknown commands and 504 without one', async () => {
      expect((await call(sandbox, DEMO, { COMMAND: 'MakeCoffee' })).code).toBe(500);
      expect((await call(sandbox, DEMO, { DOMAIN: 'x.com' })).code).toBe(504);
    });
  });

  describe('faults', () => {
    it('answers slowly', async () => {
      sandbox.commands.injectFault({ type: 'slow', delayMs: 5000 });
      await expect(call(sandbox, DEMO, { COMMAND: 'StatusAccount' }, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
      expect((await call(sandbox, DEMO, { COMMAND: 'StatusAccount' })).code).toBe(200);
    });

    it('drops the connection', async () => {
      sandbox.commands.injectFault({ type: 'drop' });
      await expect(call(sandbox, DEMO, { COMMAND: 'StatusAccount' })).rejects.toThrow();
      expect((await call(sandbox, DEMO, { COMMAND: 'StatusAccount' })).code).toBe(200);
    });

    it('answers an HTTP error with Retry-After, an empty body, an invalid body, or any text', async () => {
      const post = (): Promise<Response> => fetch(sandbox.commandUrl, { method: 'POST', body: body(DEMO, { COMMAND: 'StatusAccount' }) });
      sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: 2 });
      sandbox.commands.injectFault({ type: 'empty-body' });
      sandbox.commands.injectFault({ type: 'invalid-body' });
      sandbox.commands.injectFault({ type: 'respond', body: '[RESPONSE]\ncode=421\ndescription=Try later\nEOF\n' });
      const unavailable = await post();
      expect(unavailable.status).toBe(503);
      expect(unavailable.headers.get('retry-after')).toBe('2');
      await unavailable.text();
      const empty = await post();
      expect(empty.status).toBe(200);
      expect(await empty.text()).toBe('');
      const invalid = await post();
      expect(await invalid.text()).not.toMatch(/CODE/i);
      expect(await (await post()).text()).toBe('[RESPONSE]\ncode=421\ndescription=Try later\nEOF\n');
      expect(parse(await (await post()).text()).code).toBe(200);
    });

    it('throws RangeError for a fault or times it cannot play, and queues nothing', async () => {
      const impossible: [string, () => void][] = [
        ['respond status 42', () => sandbox.commands.injectFault({ type: 'respond', status: 42, body: '' })],
        ['respond status 1000', () => sandbox.commands.injectFault({ type: 'respond', status: 1000, body: '' })],
        ['respond status 103', () => sandbox.commands.injectFault({ type: 'respond', status: 103, body: '' })],
        ['status 100', () => sandbox.commands.injectFault({ type: 'status', status: 100 })],
        ['slow delayMs Infinity', () => sandbox.commands.injectFault({ type: 'slow', delayMs: Number.POSITIVE_INFINITY })],
        ['times 0', () => sandbox.commands.injectFault({ type: 'drop' }, { times: 0 })],
        ['times 1.5', () => sandbox.commands.injectFault({ type: 'drop' }, { times: 1.5 })],
        ['times NaN', () => sandbox.commands.injectFault({ type: 'drop' }, { times: Number.NaN })],
      ];
      for (const [name, inject] of impossible) expect(inject, name).toThrow(RangeError);
      expect((await call(sandbox, DEMO, { COMMAND: 'StatusAccount' })).code).toBe(200);
      sandbox.commands.injectFault({ type: 'respond', status: 299, body: 'odd' });
      const odd = await fetch(sandbox.commandUrl, { method: 'POST', body: body(DEMO, { COMMAND: 'StatusAccount' }) });
      expect(odd.status).toBe(299);
      expect(await odd.text()).toBe('odd');
    });

    it('throws TypeError for a Retry-After or content type that cannot be sent as a header, and queues nothing', async () => {
      expect(() => sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: '1\nx: y' })).toThrow(TypeError);
      expect(() => sandbox.commands.injectFault({ type: 'respond', body: '', contentType: 'text/plain\u0000' })).toThrow(TypeError);
      expect((await call(sandbox, DEMO, { COMMAND: 'StatusAccount' })).code).toBe(200);
      sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: 'later' });
      const refused = await fetch(sandbox.commandUrl, { method: 'POST', body: body(DEMO, { COMMAND: 'StatusAccount' }) });
      expect([refused.status, refused.headers.get('retry-after')]).toEqual([503, 'later']);
    });

    it('throws TypeError for a fault type it does not know, and queues nothing', async () => {
      sandbox.commands.resetStats();
      // A misspelt type used to be queued, counted as played and answered normally.
      expect(() => sandbox.commands.injectFault({ type: 'timeout' } as never, { command: 'StatusAccount' })).toThrow(TypeError);
      expect(() => sandbox.commands.injectFault({ type: 'Drop' } as never)).toThrow(/type must be one of slow, drop, status/);
      // A path without its leading slash never matched a request: the fault never fired.
      expect(() => sandbox.commands.injectFault({ type: 'drop' }, { path: 'api/call.cgi' })).toThrow(new TypeError('A fault\'s path must start with "/", such as "/api/call.cgi", not "api/call.cgi".'));
      expect((await call(sandbox, DEMO, { COMMAND: 'StatusAccount' })).code).toBe(200);
      expect(sandbox.stats.commands.faults).toBe(0);
    });

    it('throws TypeError for a body that is no string: required by respond, optional for status and invalid-body', async () => {
      const wrong: [string, () => void][] = [
        ['respond without body', () => sandbox.commands.injectFault({ type: 'respond' } as never, { command: 'CheckDomain' })],
        ['respond body number', () => sandbox.commands.injectFault({ type: 'respond', body: 421 } as never)],
        ['status body object', () => sandbox.commands.injectFault({ type: 'status', status: 503, body: { code: 421 } } as never)],
        ['invalid-body body null', () => sandbox.commands.injectFault({ type: 'invalid-body', body: null } as never)],
      ];
      for (const [name, inject] of wrong) expect(inject, name).toThrow(TypeError);
      // Nothing queued: the request is answered by the API (it used to be a 500 from Node).
      const checked = await fetch(sandbox.commandUrl, { method: 'POST', body: body(DEMO, { COMMAND: 'CheckDomain', DOMAIN: 'free-two.com' }) });
      expect(checked.status).toBe(200);
      expect(parse(await checked.text()).code).toBe(210);
      // Optional bodies may still be left out, and an empty respond body is a body.
      sandbox.commands.injectFault({ type: 'status', status: 503, body: undefined });
      sandbox.commands.injectFault({ type: 'respond', body: '' });
      const post = (): Promise<Response> => fetch(sandbox.commandUrl, { method: 'POST', body: body(DEMO, { COMMAND: 'StatusAccount' }) });
      expect(await (await post()).text()).toBe('503 Service Unavailable');
      const empty = await post();
      expect([empty.status, await empty.text()]).toEqual([200, '']);
    });

    it('plays a fault for the next N requests, or only for one command', async () => {
      const handle = sandbox.commands.injectFault({ type: 'status', status: 500 }, { times: 2, command: 'querydomainlist' });
      expect((await call(sandbox, DEMO, { COMMAND: 'StatusAccount' })).code).toBe(200);
      expect(handle.remaining).toBe(2);
      const list = (): Promise<Response> => fetch(sandbox.commandUrl, { method: 'POST', body: body(DEMO, { COMMAND: 'QueryDomainList', LIMIT: 1 }) });
      expect((await list()).status).toBe(500);
      expect((await list()).status).toBe(500);
      expect(handle.remaining).toBe(0);
      expect((await list()).status).toBe(200);

      const forever = sandbox.commands.injectFault({ type: 'empty-body' }, { times: Number.POSITIVE_INFINITY });
      for (let index = 0; index < 3; index += 1) expect(await (await list()).text()).toBe('');
      forever.clear();
      expect((await list()).status).toBe(200);
      sandbox.commands.injectFault({ type: 'empty-body' });
      sandbox.commands.clearFaults();
      expect(parse(await (await list()).text()).code).toBe(200);
    });
  });

  it('answers 413 with connection: close to a body over 1 MiB, and serves the next request', async () => {
    const form = body(DEMO, { COMMAND: 'StatusAccount' });
    const answer = await postRaw(sandbox.commandUrl, `${form}&pad=${'x'.repeat(1_048_576 - form.length)}`);
    expect(answer).toEqual({ status: 413, connection: 'close' });
    expect((await call(sandbox, DEMO, { COMMAND: 'StatusAccount' })).code).toBe(200);
  });

  it('counts requests per command, entity and code, and keeps the latest requests', async () => {
    sandbox.commands.resetStats();
    await call(sandbox, DEMO, { COMMAND: 'StatusAccount' });
    await call(sandbox, OTE, { COMMAND: 'statusaccount' });
    await call(sandbox, OTE, { COMMAND: 'CheckDomain', DOMAIN: 'free-one.com' });
    sandbox.commands.injectFault({ type: 'empty-body' });
    await fetch(sandbox.commandUrl, { method: 'POST', body: body(DEMO, { COMMAND: 'StatusAccount' }) }).then((response) => response.text());
    const stats = sandbox.stats.commands;
    expect(stats.requests).toBe(4);
    expect(stats.byCommand).toEqual({ StatusAccount: 3, CheckDomain: 1 });
    expect(stats.byEntity).toEqual({ '54cd': 2, '1234': 2 });
    expect(stats.byCode).toEqual({ 200: 2, 210: 1 });
    expect(stats.faults).toBe(1);
    expect(stats.connections).toBeGreaterThanOrEqual(1);
    const latest = sandbox.commands.recent.at(-2);
    expect(latest).toMatchObject({ entity: '1234', login: 'demo', command: { COMMAND: 'CheckDomain', DOMAIN: 'free-one.com' }, code: 210 });
    expect(latest?.fieldNames).toEqual(['s_entity', 's_login', 's_pw', 's_command']);
    expect(sandbox.commands.recent.at(-1)?.code).toBeUndefined();
    // Entities (and commands) are what clients send: names of Object.prototype are counted too (a
    // plain object held strings for these, and took __proto__ for its prototype).
    sandbox.commands.resetStats();
    for (const entity of ['constructor', 'toString', '__proto__', 'constructor']) {
      await fetch(sandbox.commandUrl, { method: 'POST', body: body({ ...DEMO, s_entity: entity }, { COMMAND: 'StatusAccount' }) }).then((response) => response.text());
    }
    expect({ ...sandbox.stats.commands.byEntity }).toEqual({ constructor: 2, toString: 1, ['__proto__']: 1 });
  });

  it('serves the command API over TLS with the sandbox certificate', async () => {
    const secure = await startSandbox({ tls: true, commands: { domainCount: 5 } });
    try {
      const text = await new Promise<string>((resolve, reject) => {
        const outgoing = httpsRequest(secure.commandUrl, { method: 'POST', ca: secure.certificate }, (incoming) => {
          let received = '';
          incoming.setEncoding('utf8');
          incoming.on('data', (chunk: string) => (received += chunk));
          incoming.on('end', () => {
            resolve(received);
          });
        });
        outgoing.on('error', reject);
        outgoing.end(body(DEMO, { COMMAND: 'StatusAccount' }));
      });
      expect(parse(text).code).toBe(200);
    } finally {
      await secure.close();
    }
  });
});

describe('JSON endpoints', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ commands: { domainCount: 5 } });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  async function token(): Promise<string> {
    const response = await fetch(sandbox.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'sessionkit-demo', client_secret: 'demo-secret' }),
    });
    return ((await response.json()) as { access_token: string }).access_token;
  }

  it('wants a bearer token from the identity provider', async () => {
    const missing = await fetch(`${sandbox.url}/api/rest/v1/whoami`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    await missing.text();
    const wrong = await fetch(`${sandbox.url}/api/rest/v1/whoami`, { headers: { authorization: 'Bearer made-up' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="sessionkit-sandbox", error="invalid_token"');
    expect(await wrong.json()).toEqual({ error: 'invalid_token' });
    const ok = await fetch(`${sandbox.url}/api/rest/v1/whoami`, { headers: { authorization: `Bearer ${await token()}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ identity: 'client:sessionkit-demo' });
    expect(sandbox.stats.commands.rest).toEqual({ requests: 3, unauthorized: 2 });
  });

  it('sends no error code in the challenge to a request without bearer credentials (RFC 6750 section 3.1)', async () => {
    const challenge = async (headers: Record<string, string>): Promise<[number, string | null]> => {
      const response = await fetch(`${sandbox.url}/api/rest/v1/whoami`, { headers });
      await response.text();
      return [response.status, response.headers.get('www-authenticate')];
    };
    const plain = 'Bearer realm="sessionkit-sandbox"';
    expect(await challenge({})).toEqual([401, plain]);
    expect(await challenge({ authorization: 'Basic ZGVtbzpkZW1v' })).toEqual([401, plain]);
    // A Bearer header without a token is malformed, and a token unknown: those keep their codes.
    expect(await challenge({ authorization: 'bearer made-up' })).toEqual([401, `${plain}, error="invalid_token"`]);
  });

  it('answers a malformed Bearer header (no token, two tokens) 400 with error="invalid_request" in the challenge (RFC 6750 section 3.1)', async () => {
    const plain = 'Bearer realm="sessionkit-sandbox"';
    const unauthorized = sandbox.stats.commands.rest.unauthorized;
    for (const authorization of ['Bearer', 'Bearer ', 'Bearer a b', `Bearer ${await token()} ${await token()}`]) {
      const response = await fetch(`${sandbox.url}/api/rest/v1/whoami`, { headers: { authorization } });
      expect([response.status, response.headers.get('www-authenticate')], authorization).toEqual([400, `${plain}, error="invalid_request"`]);
      expect(await response.json()).toEqual({ error: 'invalid_request' });
    }
    // Still counted among the requests refused for their bearer credentials.
    expect(sandbox.stats.commands.rest.unauthorized - unauthorized).toBe(4);
  });

  it('answers 413 with connection: close to a body over 256 KiB', async () => {
    const authorization = `Bearer ${await token()}`;
    const pad = 'x'.repeat(262_144);
    const answer = await postRaw(`${sandbox.url}/api/rest/v1/echo`, JSON.stringify({ pad }), { authorization, 'content-type': 'application/json' });
    expect(answer).toEqual({ status: 413, connection: 'close' });
    const fits = await postRaw(`${sandbox.url}/api/rest/v1/echo`, JSON.stringify({ pad: pad.slice(10) }), { authorization, 'content-type': 'application/json' });
    expect(fits).toEqual({ status: 200, connection: 'keep-alive' });
  });

  it('echoes JSON and plays faults by path', async () => {
    const authorization = `Bearer ${await token()}`;
    const echo = await fetch(`${sandbox.url}/api/rest/v1/echo?x=1`, { method: 'POST', headers: { authorization }, body: JSON.stringify({ a: [1, 2] }) });
    expect(await echo.json()).toEqual({ identity: 'client:sessionkit-demo', method: 'POST', query: { x: '1' }, body: { a: [1, 2] } });
    sandbox.commands.injectFault({ type: 'status', status: 429, retryAfter: 1 }, { path: '/api/rest/v1/whoami' });
    const limited = await fetch(`${sandbox.url}/api/rest/v1/whoami`, { headers: { authorization } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((await fetch(`${sandbox.url}/api/rest/v1/whoami`, { headers: { authorization } })).status).toBe(200);
    expect((await fetch(`${sandbox.url}/api/rest/v1/nothing`, { headers: { authorization } })).status).toBe(404);
    // A fault with neither `command` nor `path` is played for the next request of either kind;
    // a `command` fault is never played for a JSON request.
    sandbox.commands.injectFault({ type: 'status', status: 503 }, { command: 'StatusAccount' });
    sandbox.commands.injectFault({ type: 'status', status: 502 });
    expect((await fetch(`${sandbox.url}/api/rest/v1/whoami`, { headers: { authorization } })).status).toBe(502);
    expect((await fetch(`${sandbox.url}/api/rest/v1/whoami`, { headers: { authorization } })).status).toBe(200);
    sandbox.commands.clearFaults();
  });
});

describe('decodeCommandRequestBody', () => {
  it('decodes forms leniently and command text line by line', () => {
    const decoded = decodeCommandRequestBody('S_Entity=54cd&s_login=a+b&s_pw=100%&s_command=COMMAND%3DX%0D%0Akey+one%3Dv%3Dw%0Anoequals%0A%3Dnokey%0Aauth%3D%E2%82%AC%FF');
    expect(decoded.fields).toEqual({ s_entity: '54cd', s_login: 'a b', s_pw: '100%' });
    expect(decoded.command).toEqual({ COMMAND: 'X', 'KEY ONE': 'v=w', AUTH: '€\uFFFD' });
  });

  it('lets the body win over the query string', () => {
    expect(decodeCommandRequestBody('s_entity=1234', 's_entity=54cd&s_login=q').fields).toEqual({ s_entity: '1234', s_login: 'q' });
  });
});
