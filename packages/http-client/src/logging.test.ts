import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session } from '@sessionkit/core-session';
import { createLogger, type Logger } from '@sessionkit/logger';
import { type Sandbox, startSandbox } from '@sessionkit/sandbox';
import { CommandClient, COMMAND_LOG_MESSAGE, ispapiSessionAuthenticator } from '@sessionkit/http-client';
import { adaptLegacyCommandLogger, type LegacyResponseView } from '@sessionkit/http-client/legacy-logger';
import { thrownBy } from './testing/thrown-by.js';

/** A JSON logger at trace level and a legacy logger, and what each wrote: JSON lines, plain bodies. */
function traceLoggers(): { json: string[]; plain: string[]; loggers: [ReturnType<typeof createLogger>, ReturnType<typeof adaptLegacyCommandLogger>] } {
  const json: string[] = [];
  const plain: string[] = [];
  const loggers: [ReturnType<typeof createLogger>, ReturnType<typeof adaptLegacyCommandLogger>] = [
    createLogger({ level: 'trace', format: 'json', write: (line) => json.push(line) }),
    adaptLegacyCommandLogger({ log: (_post, response) => { plain.push(response.getPlain()); } }),
  ];
  return { json, plain, loggers };
}

const PASSWORD = 'P4ss-Secret-Word';
const OTP = '918273';
const COMMAND_SECRETS = { PASSWORD: 'Cmd-Pw-Secret', NewPassword: 'New-Pw-Secret', auth: 'Auth-Code-Secret' };

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ commands: { users: [{ login: 'secret-user', password: PASSWORD, otp: OTP, domains: 3 }] } });
});
afterAll(async () => {
  await sandbox.close();
});

interface Captured {
  post: string;
  command: Record<string, string>;
  plain: string;
  code: number;
  error: string | null | undefined;
}

describe('debug logging', () => {
  it('writes one entry per attempt and never a secret, anywhere', async () => {
    const json: string[] = [];
    const pretty: string[] = [];
    const legacy: Captured[] = [];
    const jsonLogger = createLogger({ level: 'trace', format: 'json', write: (line) => json.push(line) });
    const prettyLogger = createLogger({ level: 'trace', format: 'pretty', write: (line) => pretty.push(line) });
    const legacyLogger = adaptLegacyCommandLogger({
      log: (post: string, response: LegacyResponseView, error?: string | null) => {
        legacy.push({ post, command: response.getCommand(), plain: response.getPlain(), code: response.getCode(), error });
      },
    });
    const options = { url: sandbox.commandUrl, credentials: { login: 'secret-user', password: PASSWORD, otp: OTP }, retry: { retries: 1, baseDelayMs: 1 } };
    const clients = [
      new CommandClient({ ...options, logger: jsonLogger }),
      new CommandClient({ ...options, logger: prettyLogger }),
      new CommandClient({ ...options, logger: legacyLogger }),
    ];
    const secrets = new Set([PASSWORD, OTP, ...Object.values(COMMAND_SECRETS)]);
    const outputs: string[] = [];
    try {
      for (const client of clients) {
        // Credentials with otp on every request, then a session.
        const account = await client.request({ COMMAND: 'StatusAccount' });
        expect(account.code).toBe(200);
        const domain = (await client.request({ COMMAND: 'QueryDomainList', LIMIT: 1 })).property('DOMAIN') ?? '';
        const status = await client.request({ COMMAND: 'StatusDomain', DOMAIN: domain });
        secrets.add(status.property('AUTH') ?? 'missing');
        const login = await client.login({ timeoutSeconds: 600 });
        const session = login.property('SESSION') ?? 'missing';
        secrets.add(session);
        // Secret command parameters in any case, an API error, and a write with a secret.
        outputs.push(JSON.stringify(await client.request({ COMMAND: 'ModifyAccount', ...COMMAND_SECRETS })));
        outputs.push(JSON.stringify(await client.request({ COMMAND: 'ModifyDomain', DOMAIN: domain, AUTH: COMMAND_SECRETS.auth })));
        // Transport failures: a dropped connection (retried), a 503, a body that echoes secrets.
        sandbox.commands.injectFault({ type: 'drop' });
        outputs.push(JSON.stringify(await client.request({ COMMAND: 'StatusAccount' })));
        sandbox.commands.injectFault({ type: 'status', status: 503, body: `s_session=${session}&s_pw=${PASSWORD}` }, { times: 2 });
        outputs.push(JSON.stringify(await client.request({ COMMAND: 'CheckDomain', DOMAIN: 'a.com' })));
        sandbox.commands.injectFault({ type: 'invalid-body', body: `<pre>s_pw=${PASSWORD}&s_otp=${OTP}\nPROPERTY[SESSION][0] = ${session}\nauth: ${COMMAND_SECRETS.auth}\n"password": "${PASSWORD}"</pre>` });
        outputs.push(JSON.stringify(await client.request({ COMMAND: 'StatusAccount' })));
        // A caller error whose command holds a secret.
        outputs.push(String(await client.request({ COMMAND: 'X', PASSWORD: PASSWORD, BAD: { PASSWORD } }).catch((error: unknown) => error)));
        outputs.push(JSON.stringify(login), JSON.stringify(status));
        expect((await client.logout()).code).toBe(200);
      }
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }

    const legacyText = legacy.map((entry) => JSON.stringify(entry));
    const everything = [...json, ...pretty, ...legacyText, ...outputs];
    expect(json.length).toBeGreaterThan(10);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(4);
      for (const line of everything) expect(line.includes(secret), `"${secret}" leaked in: ${line}`).toBe(false);
    }

    // One structured entry per attempt, with what a person debugging needs.
    const entries = json.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === COMMAND_LOG_MESSAGE);
    expect(entries.length).toBe(12);
    expect(entries[0]).toMatchObject({
      level: 'debug',
      system: 'live',
      command: { COMMAND: 'StatusAccount' },
      status: 200,
      code: 200,
      queuetime: 0,
      attempt: 1,
    });
    expect(typeof entries[0]?.runtime).toBe('number');
    expect(typeof entries[0]?.durationMs).toBe('number');
    expect(entries[0]?.post).toMatch(/^s_entity=54cd&s_login=secret-user&s_otp=\S+&s_pw=\S+&s_command=COMMAND%3DStatusAccount$/);
    const dropped = entries.filter((entry) => entry.error !== undefined);
    expect(dropped[0]).toMatchObject({ code: 421, attempt: 1, retryInMs: expect.any(Number) as unknown });
    expect(entries.filter((entry) => entry.status === 503).map((entry) => entry.attempt)).toEqual([1, 2]);

    // The legacy adapter gets (post, response, error) for each attempt.
    expect(legacy).toHaveLength(12);
    expect(legacy[0]?.post).toContain('s_command=COMMAND%3DStatusAccount');
    expect(legacy[0]?.plain).toMatch(/^\[RESPONSE\]\nCODE = 200\n/);
    expect(legacy[0]?.error).toBeNull();
    expect(legacy.some((entry) => typeof entry.error === 'string' && entry.code === 421)).toBe(true);
    expect(legacy.find((entry) => entry.command.COMMAND === 'ModifyAccount')?.command).toEqual({ COMMAND: 'ModifyAccount', PASSWORD: '***', NEWPASSWORD: '***', AUTH: '***' });
  });

  it('masks a secret value with a lone CR, U+2028 or U+2029 in the trace body, past the 64 echoed secrets and in bodies that are not parsed', async () => {
    const { json, plain, loggers } = traceLoggers();
    for (const inside of ['\r', '\u2028', '\u2029']) {
      // 70 secret values: the last ones are not among the 64 masked where echoed.
      const rows = Array.from({ length: 70 }, (_, i) => `PROPERTY[AUTH][${i}] = ${i === 69 ? `Xy${inside}LEAKED-AUTH-CODE-69` : `auth-code-${i}`}\r\nPROPERTY[DOMAIN][${i}] = d${i}.com`);
      const body = ['[RESPONSE]', 'CODE = 200', 'DESCRIPTION = Command completed successfully', ...rows, 'EOF', ''].join('\r\n');
      // Not parsed (no CODE, or not a 2xx): no secret of the response is known.
      const unparsed = `<pre>\r\nPASSWORD = Xy${inside}LEAKED-PASSWORD\r\nPROPERTY[SESSION][0] = s${inside}LEAKED-SESSION\r\n</pre>`;
      const faults = [{ type: 'respond', body }, { type: 'invalid-body', body: unparsed }, { type: 'respond', status: 403, body: unparsed }] as const;
      for (const logger of loggers) {
        const client = new CommandClient({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, logger });
        try {
          for (const fault of faults) {
            sandbox.commands.injectFault(fault, { command: 'QueryDomainList' });
            await client.request({ COMMAND: 'QueryDomainList', WIDE: 1 });
          }
        } finally {
          await client.close();
        }
      }
    }
    expect([...json, ...plain].filter((text) => text.includes('LEAKED'))).toEqual([]);
    // Each body was logged, the values that are not secret as they were.
    expect(json).toHaveLength(9);
    expect(plain).toHaveLength(9);
    expect(plain.filter((text) => text.includes('PROPERTY[AUTH][69] = ***\r\nPROPERTY[DOMAIN][69] = d69.com\r\nEOF'))).toHaveLength(3);
    expect(plain.filter((text) => text.includes('<pre>'))).toHaveLength(6);
  });

  it('masks in the trace body of a body cut off before its EOF line the secrets it holds, where it echoes them, as in the whole body', async () => {
    const { json, plain, loggers } = traceLoggers();
    // A StartSession answer that echoes its new session id in the description.
    const id = 'C0ffee5e55i0n1d0123456789abcdef';
    const whole = `[RESPONSE]\nCODE = 200\nDESCRIPTION = Session ${id} started\nPROPERTY[SESSION][0] = ${id}\nPROPERTY[TIMEOUT][0] = 600\nEOF\n`;
    const crlf = whole.replaceAll('\n', '\r\n');
    // Cut off after the SESSION line, and inside the TIMEOUT line of the CR LF body.
    const bodies = [whole, whole.slice(0, whole.indexOf('PROPERTY[TIMEOUT]')), crlf.slice(0, crlf.indexOf('= 600') + 3)];
    const codes: number[] = [];
    for (const logger of loggers) {
      const client = new CommandClient({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, logger });
      try {
        for (const body of bodies) {
          sandbox.commands.injectFault({ type: 'respond', body }, { command: 'StartSession' });
          codes.push((await client.login()).code);
        }
      } finally {
        await client.close();
      }
    }
    expect(codes).toEqual([200, 423, 423, 200, 423, 423]);
    // A cut body is a 423 now, whose own secrets are none: the id used to show in its description.
    expect([...json, ...plain].filter((text) => text.includes(id))).toEqual([]);
    // The whole body with its secrets masked; a cut one with every value masked (see the next test).
    const whole_ = '[RESPONSE]\nCODE = 200\nDESCRIPTION = Session *** started\nPROPERTY[SESSION][0] = ***\nPROPERTY[TIMEOUT][0] = 600\nEOF\n';
    const cut = '[RESPONSE]\nCODE = ***\nDESCRIPTION = ***\nPROPERTY[SESSION][0] = ***\n';
    expect(plain).toEqual([whole_, cut, `${cut.replaceAll('\n', '\r\n')}PROPERTY[TIMEOUT][0] = ***`]);
    expect(json.map((line) => (JSON.parse(line) as { body?: string }).body)).toEqual(plain);
  });

  it('keeps the values of an HTTP error body in the trace body, its secrets masked: only a 2xx body that is no valid answer has every value masked', async () => {
    const json: string[] = [];
    const logger = createLogger({ level: 'trace', format: 'json', write: (line) => json.push(line) });
    const client = new CommandClient({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, logger, retry: { retries: 0 } });
    const maintenance = '[RESPONSE]\ncode = 503\ndescription = Scheduled maintenance until 14:00 UTC\nEOF\n';
    const forbidden = '{"error":"forbidden","detail":"ip=203.0.113.7 is not on the allow list","password":"LEAKED-PASSWORD"}';
    try {
      for (const fault of [{ type: 'respond', status: 503, body: maintenance }, { type: 'respond', status: 403, body: forbidden }] as const) {
        sandbox.commands.injectFault(fault, { command: 'QueryDomainList' });
        expect((await client.request({ COMMAND: 'QueryDomainList' })).code).toBe(421);
      }
    } finally {
      await client.close();
    }
    const bodies = json.map((line) => (JSON.parse(line) as { body?: string }).body ?? '');
    // They used to read `description = ***` and `"detail":"ip= ***`.
    expect(bodies.some((body) => body.includes('description = Scheduled maintenance until 14:00 UTC'))).toBe(true);
    expect(bodies.some((body) => body.includes('"detail":"ip=203.0.113.7 is not on the allow list"'))).toBe(true);
    expect(bodies.filter((body) => body.includes('LEAKED'))).toEqual([]);
  });

  it('never shows a part of a secret in the trace body of a body cut off in or before the secret’s line, where the text before echoes it', async () => {
    const { json, plain, loggers } = traceLoggers();
    // A StartSession answer whose description and message echo its new session id and an auth code
    // given after them: cut inside or before their lines, the values are not known whole, or at all.
    const id = 'Zq8X7wJ4kV9mT2pB6yQ';
    const auth = 'Hj3Rk8Wd2Lp5Nc7';
    const lines = ['[RESPONSE]', 'CODE = 200', `DESCRIPTION = Session ${id} started, auth ${auth}`, `PROPERTY[MESSAGE][0] = session=${id}`, `PROPERTY[SESSION][0] = ${id}`, `PROPERTY[AUTH][0] = ${auth}`, 'PROPERTY[TIMEOUT][0] = 600', 'EOF', ''];
    const bodies: string[] = [];
    for (const end of ['\n', '\r\n']) {
      const whole = lines.join(end);
      for (let cut = whole.indexOf('PROPERTY[SESSION]'); cut <= whole.indexOf('PROPERTY[TIMEOUT]'); cut++) bodies.push(whole.slice(0, cut));
    }
    for (const logger of loggers) {
      const client = new CommandClient({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, logger });
      try {
        for (const body of bodies) {
          sandbox.commands.injectFault({ type: 'respond', body }, { command: 'StartSession' });
          expect((await client.login()).code).toBe(423);
        }
      } finally {
        await client.close();
      }
    }
    const logged = json.map((line) => (JSON.parse(line) as { body?: string }).body ?? '');
    expect(logged).toEqual(plain);
    expect(plain).toHaveLength(bodies.length);
    // Not even three characters in a row of either value (the description used to show the id
    // whole, or what follows the part of it that came before the cut).
    const pieces = [id, auth].flatMap((secret) => Array.from({ length: secret.length - 2 }, (_, i) => secret.slice(i, i + 3)));
    for (const body of plain) for (const piece of pieces) expect(body.includes(piece), `"${piece}" in ${JSON.stringify(body)}`).toBe(false);
    // Each line's value masked, the keys and where the body was cut as they were.
    expect(plain[2]).toBe('[RESPONSE]\nCODE = ***\nDESCRIPTION = ***\nPROPERTY[MESSAGE][0] = ***\nPR');
    expect(plain).toContain('[RESPONSE]\nCODE = ***\nDESCRIPTION = ***\nPROPERTY[MESSAGE][0] = ***\nPROPERTY[SESSION][0] = ***\nPROPERTY[AUTH][0] = ***\n');
  });

  it('with debug: true and no logger, writes the entries to standard error', async () => {
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    };
    const client = new CommandClient({ url: sandbox.commandUrl, credentials: { login: 'secret-user', password: PASSWORD, otp: OTP }, debug: true });
    try {
      expect((await client.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    } finally {
      process.stderr.write = write;
      await client.close();
    }
    expect(written.join('')).toContain(COMMAND_LOG_MESSAGE);
    expect(written.join('')).toContain('code=200');
    expect(written.join('')).not.toContain(PASSWORD);
  });

  it('adapts a legacy logger with options given as null like none, and refuses options that are not an object', async () => {
    const posts: string[] = [];
    const target = { log: (post: string) => { posts.push(post); } };
    // It used to throw a TypeError.
    const logger = adaptLegacyCommandLogger(target, null as never);
    // No fallback: other entries go nowhere.
    expect(logger.isLevelEnabled('info')).toBe(false);
    const client = new CommandClient({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, logger });
    try {
      expect((await client.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
    } finally {
      await client.close();
    }
    expect(posts).toHaveLength(1);
    expect(thrownBy(() => adaptLegacyCommandLogger(target, 'fallback' as never))).toMatchObject({ name: 'HttpClientError', code: 'INVALID_ARGUMENT', message: 'options must be an object, not string.' });
    // A null target is refused with the same TypeError as any other target without log().
    expect(thrownBy(() => adaptLegacyCommandLogger(null as never))).toMatchObject({ name: 'TypeError', message: 'adaptLegacyCommandLogger() needs an object with a log() method.' });
  });

  it('is its own built entry, which uses the root\'s HttpClientError rather than a copy of it', async () => {
    // Plain Node on the built files (no source condition): the package resolves itself by name.
    const script = [
      "import { HttpClientError } from '@sessionkit/http-client';",
      "import * as legacy from '@sessionkit/http-client/legacy-logger';",
      "const root = await import('@sessionkit/http-client');",
      'let error;',
      "try { legacy.adaptLegacyCommandLogger({ log() {} }, 'x'); } catch (caught) { error = caught; }",
      "console.log(JSON.stringify({ exports: Object.keys(legacy), inRoot: 'adaptLegacyCommandLogger' in root, same: error instanceof HttpClientError, code: error?.code }));",
    ].join('\n');
    const packageDir = fileURLToPath(new URL('..', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: packageDir });
    expect(JSON.parse(stdout)).toEqual({ exports: ['adaptLegacyCommandLogger'], inRoot: false, same: true, code: 'INVALID_ARGUMENT' });
  });

  it('costs nothing when the logger is off', async () => {
    let asked = 0;
    const off = {
      trace: () => { throw new Error('not expected'); },
      debug: () => { throw new Error('not expected'); },
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      child: () => off,
      isLevelEnabled: () => {
        asked += 1;
        return false;
      },
    };
    const client = new CommandClient({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, logger: off });
    try {
      expect((await client.request({ COMMAND: 'StatusAccount' })).code).toBe(200);
      expect(asked).toBe(1);
    } finally {
      await client.close();
    }
  });
});

/**
 * A logger that throws from `isLevelEnabled()`, from `debug()`, or from `isLevelEnabled('trace')`
 * (with debug on), and the legacy adapter of a `log()` that throws.
 */
function throwingLoggers(): [string, Logger][] {
  const fail = (): never => {
    throw new Error('the logger is down');
  };
  const base = (isLevelEnabled: Logger['isLevelEnabled'], debug: Logger['debug']): Logger => {
    const logger: Logger = { trace: fail, debug, info: fail, warn: fail, error: fail, child: () => logger, isLevelEnabled };
    return logger;
  };
  return [
    ['isLevelEnabled() throws', base(fail, fail)],
    ['debug() throws', base(() => true, fail)],
    ['isLevelEnabled(\'trace\') throws', base((level) => level === 'debug' || fail(), () => undefined)],
    ['a legacy log() throws', adaptLegacyCommandLogger({ log: fail })],
    // An async log() whose promise rejects: unhandled, it would end the process (Node's default).
    ['a legacy log() rejects', adaptLegacyCommandLogger({ log: () => Promise.reject(new Error('the audit database is down')) })],
  ];
}

describe('a logger that throws', () => {
  it('changes no outcome of a CommandClient: a write the server executed resolves, sent once; a retry, a login and a logout go on', async () => {
    for (const [index, [name, logger]] of throwingLoggers().entries()) {
      const client = new CommandClient({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, retry: { baseDelayMs: 1 }, logger });
      try {
        sandbox.commands.resetStats();
        // It used to reject, after the server had added the domain: a caller could send the write again.
        const added = await client.request({ COMMAND: 'AddDomain', DOMAIN: `throwing-logger-${String(index)}.com` });
        expect(added.code, name).toBe(200);
        expect(sandbox.stats.commands.byCommand.AddDomain, name).toBe(1);
        // The entry of the failed attempt is logged before the retry.
        sandbox.commands.injectFault({ type: 'status', status: 503 });
        expect(await client.request({ COMMAND: 'StatusAccount' }), name).toMatchObject({ code: 200, attempt: 2 });
        expect((await client.login()).code, name).toBe(200);
        expect(client.loggedIn, name).toBe(true);
        expect((await client.logout()).code, name).toBe(200);
        expect(client.loggedIn, name).toBe(false);
      } finally {
        await client.close();
      }
    }
  });

  it('changes no outcome of an ispapiSessionAuthenticator and of a CommandClient with its Session', async () => {
    for (const [name, logger] of throwingLoggers()) {
      const authenticator = ispapiSessionAuthenticator({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, logger });
      const session = new Session({ authenticator });
      const client = new CommandClient({ url: sandbox.commandUrl, session, logger });
      try {
        sandbox.commands.resetStats();
        expect(await client.request({ COMMAND: 'StatusAccount' }), name).toMatchObject({ code: 200, attempt: 1 });
        expect(sandbox.stats.commands.byCommand, name).toMatchObject({ StartSession: 1, StatusAccount: 1 });
      } finally {
        await session.end();
        await Promise.all([client.close(), authenticator.close()]);
      }
    }
  });
});
