import { afterEach, describe, expect, it, vi } from 'vitest';
import { adaptLogger } from './adapt-logger.js';
import { createLogger } from './create-logger.js';
import { createRedactor, REDACTED } from './redact.js';
import { silentLogger } from './silent-logger.js';
import { errorWithUnreadableCause, fieldsWith, revoked, THROWN, unreadable } from './testing/unreadable-fields.js';

function capture(): { lines: string[]; write: (line: string) => void } {
  const lines: string[] = [];
  return { lines, write: (line) => lines.push(line) };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('createLogger', () => {
  it('writes one JSON object per line with time, level, msg, bindings and fields', () => {
    const { lines, write } = capture();
    const logger = createLogger({ level: 'debug', format: 'json', write }).child({ component: 'session' });
    logger.debug('token acquired', { expiresInMs: 3_600_000 });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 'debug', msg: 'token acquired', component: 'session', expiresInMs: 3_600_000 });
    expect(new Date(entry.time as string).toISOString()).toBe(entry.time);
  });

  it('puts time, level and msg first, and keeps fields that share their names', () => {
    const { lines, write } = capture();
    createLogger({ format: 'json', write }).child({ level: 'binding' }).info('hello', { msg: 'field', a: 1 });
    expect(Object.keys(JSON.parse(lines[0]!) as object)).toEqual(['time', 'level', 'msg', '_level', '_msg', 'a']);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', msg: 'hello', _level: 'binding', _msg: 'field' });
  });

  it('never overwrites a field: a taken name gets _ prefixes until it is free', () => {
    for (const fields of [{ _msg: 'a', msg: 'b' }, { msg: 'b', _msg: 'a' }]) {
      const { lines, write } = capture();
      createLogger({ format: 'json', write }).child({ __msg: 'c' }).info('hello', fields);
      const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(Object.values(entry).slice(2).sort()).toEqual(['a', 'b', 'c', 'hello']);
      expect(entry.msg).toBe('hello');
    }
  });

  it('puts time, level and msg first also before fields and bindings named like array indexes', () => {
    const { lines, write } = capture();
    const logger = createLogger({ format: 'json', write });
    logger.child({ 1: 'binding' }).info('counts', { 200: 10, msg: 'field', time: 't' });
    logger.info('no fields');
    logger.info('none written', { a: undefined });
    expect(lines[0]).toMatch(/^\{"time":"[^"]+","level":"info","msg":"counts","1":"binding","200":10,"_msg":"field","_time":"t"\}$/);
    expect(lines[1]).toMatch(/^\{"time":"[^"]+","level":"info","msg":"no fields"\}$/);
    expect(lines[2]).toMatch(/^\{"time":"[^"]+","level":"info","msg":"none written"\}$/);
  });

  it('keeps a "__proto__" field in JSON lines', () => {
    const { lines, write } = capture();
    createLogger({ format: 'json', write }).info('x', JSON.parse('{"__proto__":{"a":1},"b":2}') as Record<string, unknown>);
    expect(lines[0]).toMatch(/"msg":"x","__proto__":\{"a":1\},"b":2\}$/);
  });

  it('filters by level and reports enabled levels', () => {
    const { lines, write } = capture();
    const logger = createLogger({ level: 'warn', format: 'json', write });
    logger.trace('t');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['w', 'e']);
    expect(logger.isLevelEnabled('info')).toBe(false);
    expect(logger.isLevelEnabled('warn')).toBe(true);
    expect(logger.isLevelEnabled('silent')).toBe(false);
  });

  it('writes nothing at level silent', () => {
    const { lines, write } = capture();
    const logger = createLogger({ level: 'silent', write });
    logger.error('nope');
    expect(lines).toEqual([]);
  });

  it('takes its level from SESSIONKIT_LOG_LEVEL when none is given', () => {
    vi.stubEnv('SESSIONKIT_LOG_LEVEL', 'TRACE');
    const { lines, write } = capture();
    createLogger({ write }).trace('hello');
    expect(lines).toHaveLength(1);
  });

  it('defaults to info without the variable', () => {
    vi.stubEnv('SESSIONKIT_LOG_LEVEL', '');
    const { lines, write } = capture();
    const logger = createLogger({ write });
    logger.debug('hidden');
    logger.info('shown');
    expect(lines).toHaveLength(1);
  });

  it('rejects unknown levels and formats with a clear message', () => {
    vi.stubEnv('SESSIONKIT_LOG_LEVEL', 'loud');
    expect(() => createLogger()).toThrow(/SESSIONKIT_LOG_LEVEL "loud" is not a log level/);
    expect(() => createLogger({ level: 'loud' as never })).toThrow(/level "loud" is not a log level/);
    expect(() => createLogger({ level: 'info', format: 'xml' as never })).toThrow(/Unknown log format/);
    // An empty one is no default: it is refused too.
    expect(() => createLogger({ level: '' as never })).toThrow(/level "" is not a log level/);
    expect(() => createLogger({ level: 'info', format: '' as never })).toThrow(/Unknown log format ""/);
  });

  it('does no work at all for a disabled level', () => {
    const { lines, write } = capture();
    const logger = createLogger({ level: 'info', write });
    const touched = vi.fn();
    const fields = {
      get expensive(): string {
        touched();
        return 'value';
      },
    };
    const date = vi.spyOn(Date.prototype, 'toISOString');
    logger.debug('not written', fields);
    logger.child({ a: 1 }).trace('not written either', fields);
    expect(touched).not.toHaveBeenCalled();
    expect(date).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
    date.mockRestore();
  });

  it('redacts messages, fields and bindings in both formats', () => {
    const secret = 's3cr3t-value-123';
    for (const format of ['json', 'pretty'] as const) {
      const { lines, write } = capture();
      const logger = createLogger({ level: 'trace', format, write }).child({ password: secret });
      logger.info(`calling with Authorization: Bearer ${secret}`, {
        request: { headers: { authorization: `Bearer ${secret}` }, url: `https://x.test/?token=${secret}` },
        command: `COMMAND=StartSession\ns_pw=${secret}`,
        error: new Error(`failed: client_secret=${secret}`),
      });
      expect(lines.join('\n')).not.toContain(secret);
      expect(lines.join('\n')).toContain(REDACTED);
    }
  });

  it('redacts a secret in a percent-encoded query value in both formats (an error message from core-session or ess-client)', () => {
    const secret = 's3cr3t-value-123';
    const url = `https://id.test/oauth/authorize?client_id=app&redirect_uri=${encodeURIComponent(`https://app.test/cb?access_token=${secret}`)}`;
    for (const format of ['json', 'pretty'] as const) {
      const { lines, write } = capture();
      const logger = createLogger({ format, write }).child({ component: 'session' });
      logger.warn('could not revoke the token', { code: 'NETWORK', message: `fetch failed: GET ${url}` });
      logger.warn(`connect attempt failed: ${url}`, { error: new Error(`unexpected redirect to ${url}`) });
      expect(lines.join('\n')).not.toContain(secret);
      expect(lines.join('\n').split(`redirect_uri=https%3A%2F%2Fapp.test%2Fcb%3Faccess_token%3D${REDACTED}`)).toHaveLength(5);
    }
  });

  it('refuses a write that is not a function when it is made (a stream threw at the first entry)', () => {
    for (const write of [process.stdout, 'stdout', '', 1]) {
      expect(() => createLogger({ write: write as never })).toThrow(new TypeError('write must be a function that takes a line, such as (line) => process.stdout.write(line + "\\n").'));
    }
    expect(() => createLogger({ write: null as never, level: 'silent' })).not.toThrow();
  });

  it('refuses a redact option that is not an object of keys and replaceDefaultKeys: the keys it meant were written in clear', () => {
    const message = 'redact must be an object such as { keys: ["pin"] }, with keys and replaceDefaultKeys only.';
    for (const redactOption of ['pin', ['pin'], { key: ['pin'] }, { keys: ['pin'], replaceDefaults: true }, 7]) {
      expect(() => createLogger({ redact: redactOption as never }), JSON.stringify(redactOption)).toThrow(new TypeError(message));
      expect(() => createRedactor(redactOption as never), JSON.stringify(redactOption)).toThrow(new TypeError(message));
    }
    const { lines, write } = capture();
    createLogger({ format: 'json', write, redact: { keys: ['pin'], replaceDefaultKeys: false } }).info('x', { pin: '1234' });
    expect(lines[0]).not.toContain('1234');
  });

  it('refuses redact keys that are not an array of strings (a string was read one character per key, leaving the secret it named in clear)', () => {
    for (const keys of ['iban', 42, ['iban', 7], { iban: true }]) {
      expect(() => createLogger({ redact: { keys: keys as never } }), JSON.stringify(keys)).toThrow(new TypeError('redact keys must be an array of strings.'));
      expect(() => createRedactor({ keys: keys as never }), JSON.stringify(keys)).toThrow(new TypeError('redact keys must be an array of strings.'));
    }
    // null counts as not given, as for every option, and so does redact null; a Set of strings is
    // taken, and typed so (no cast: the type was an array only).
    const { lines, write } = capture();
    createLogger({ format: 'json', write, redact: { keys: null as never } }).info('x', { password: 'hunter2' });
    createLogger({ format: 'json', write, redact: null as never }).info('x', { password: 'hunter2' });
    createLogger({ format: 'json', write, redact: { keys: new Set(['iban']) } }).info('x', { iban: 'DE89370400440532013000' });
    expect(lines.join('\n')).not.toMatch(/hunter2|DE89/);
    expect(lines).toHaveLength(3);
  });

  it('takes options null as none, and refuses options that are not an object', () => {
    vi.stubEnv('SESSIONKIT_LOG_LEVEL', '');
    const logger = createLogger(null as never);
    expect([logger.isLevelEnabled('info'), logger.isLevelEnabled('debug')]).toEqual([true, false]);
    for (const options of ['debug', 42, true]) expect(() => createLogger(options as never), String(options)).toThrow(new TypeError('createLogger() options must be an object.'));
  });

  it('redacts extra keys given in options', () => {
    const { lines, write } = capture();
    createLogger({ format: 'json', write, redact: { keys: ['pin'] } }).info('x', { pin: '4711' });
    expect(lines[0]).not.toContain('4711');
  });

  it('prints pretty lines for people', () => {
    const { lines, write } = capture();
    createLogger({ level: 'info', write }).child({ component: 'demo' }).warn('slow answer', { ms: 12, note: 'two words' });
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}slow answer component=demo ms=12 note="two words"$/);
  });

  it('quotes pretty keys as it quotes values, so that one field cannot pass for two', () => {
    const { lines, write } = capture();
    createLogger({ write }).info('m', { 'user=admin role': 'x', 'a"b': 1, '': 2, ok: 3 });
    expect(lines[0]!.slice(13)).toBe('INFO  m "user=admin role"=x "a\\"b"=1 ""=2 ok=3');
  });

  it('quotes an object or array value in pretty lines as it quotes a string, so that it cannot pass for two fields', () => {
    const { lines, write } = capture();
    createLogger({ write }).info('login', { user: { name: 'bob role=admin' }, list: ['a b'], empty: {}, ids: [1, 2] });
    expect(lines[0]!.slice(13)).toBe('INFO  login user="{\\"name\\":\\"bob role=admin\\"}" list="[\\"a b\\"]" empty={} ids=[1,2]');
  });

  it('quotes the text of a function or symbol value in pretty lines as it quotes a string', () => {
    const { lines, write } = capture();
    const onRetry = (attempt: number): number => attempt;
    createLogger({ write }).info('m', { onRetry, kind: Symbol('x user=admin'), plain: Symbol('s') });
    expect(lines[0]!.slice(13)).toBe(`INFO  m onRetry=${JSON.stringify(String(onRetry))} kind="Symbol(x user=admin)" plain=Symbol(s)`);
  });

  it('escapes line breaks and other control characters in the message, keys and values', () => {
    const { lines, write } = capture();
    createLogger({ write }).info('a\nFAKE INFO  b\r\u2028c\u2029d\u0085e\u001b[1Af\tg', {
      'k\r\nFAKE': 1,
      plain: 'x\u0085y\u001bz',
      spaced: 'x\u2028 y',
      nested: { 'k\u2029': 'v\n' },
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[^\t -~\xa0-\u2027\u202a-\uffff]/);
    expect(lines[0]!.slice(13)).toBe(
      'INFO  a\\nFAKE INFO  b\\r\\u2028c\\u2029d\\u0085e\\u001b[1Af\tg "k\\r\\nFAKE"=1 plain=x\\u0085y\\u001bz ' +
        'spaced="x\\u2028 y" nested="{\\"k\\u2029\\":\\"v\\\\n\\"}"',
    );
  });

  it('escapes the bidirectional controls that reorder what a terminal shows (U+202A-202E, U+2066-2069), in both formats', () => {
    const { lines, write } = capture();
    const spoof = 'report \u202egpj.exe\u202c \u2066x\u2069 \u202ay\u202b';
    createLogger({ write }).info(spoof, { file: spoof });
    createLogger({ format: 'json', write }).info(spoof, { file: spoof });
    for (const line of lines) expect(line).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    expect(lines[0]!.slice(13)).toBe('INFO  report \\u202egpj.exe\\u202c \\u2066x\\u2069 \\u202ay\\u202b file="report \\u202egpj.exe\\u202c \\u2066x\\u2069 \\u202ay\\u202b"');
    expect(JSON.parse(lines[1]!)).toMatchObject({ msg: spoof, file: spoof });
  });

  it('writes JSON lines without raw line separators, as valid JSON of the same text', () => {
    const { lines, write } = capture();
    const fields = { text: 'a\u2028b\u2029c\u0085d', 'k\u2028': 1 };
    createLogger({ format: 'json', write }).info('m\u2028n', fields);
    expect(lines[0]).not.toMatch(/[\u2028\u2029\u0085]/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'm\u2028n', ...fields });
  });

  it('never throws on BigInt or circular fields', () => {
    const { lines, write } = capture();
    const circular: Record<string, unknown> = { big: 2n ** 70n };
    circular.self = circular;
    const logger = createLogger({ format: 'json', write });
    logger.info('odd values', { circular });
    const entry = JSON.parse(lines[0]!) as { circular: { big: string; self: string } };
    expect(entry.circular.big).toBe((2n ** 70n).toString());
    expect(entry.circular.self).toBe('[Circular]');
  });

  it('keeps the caller field when it collides with a binding', () => {
    const { lines, write } = capture();
    createLogger({ format: 'json', write }).child({ attempt: 1 }).info('x', { attempt: 2 });
    expect(JSON.parse(lines[0]!)).toMatchObject({ attempt: 2 });
  });

  it('writes fields that are not an object (untyped code) as one field, redacted: not a field per character or item, nor nothing', () => {
    class Point {
      x = 1;
    }
    const cases: [unknown, unknown][] = [
      ['saved password=S3CRET-text', `saved password=${REDACTED}`],
      [42, 42],
      [false, false],
      [['--password', 'S3CRET-arg', 'x'], ['--password', REDACTED, 'x']],
      [new URL('https://api.example/v1?token=S3CRET-url'), `https://api.example/v1?token=${REDACTED}`],
      [new Map([['a', 1]]), { a: 1 }],
      [new Date(0), '1970-01-01T00:00:00.000Z'],
    ];
    for (const [given, written] of cases) {
      const { lines, write } = capture();
      createLogger({ format: 'json', write }).child({ component: 'c' }).info('x', given as never);
      const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(Object.keys(entry), String(given)).toEqual(['time', 'level', 'msg', 'component', 'fields']);
      expect(entry.fields, String(given)).toEqual(written);
      expect(lines[0], String(given)).not.toContain('S3CRET');
    }
    // Objects with fields of their own are fields, as before: a plain one, an Error, an instance of a class; none is none.
    const { lines, write } = capture();
    const logger = createLogger({ format: 'json', write });
    logger.info('plain', { a: 1 });
    logger.info('error', new Error('boom') as never);
    logger.info('instance', new Point() as never);
    logger.info('none', null as never);
    logger.info('none');
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries[0]).toMatchObject({ a: 1 });
    expect(entries[1]).toMatchObject({ name: 'Error', message: 'boom' });
    expect(entries[2]).toMatchObject({ x: 1 });
    expect(entries.slice(3).map((entry) => Object.keys(entry))).toEqual([['time', 'level', 'msg'], ['time', 'level', 'msg']]);
    expect(entries.some((entry) => 'fields' in entry)).toBe(false);
  });

  it('refuses bindings that are not an object of fields (untyped code): a name would be a field per character', () => {
    const logger = createLogger({ write: () => undefined });
    const cases: [unknown, string][] = [
      ['http', 'a string'],
      ['', 'a string'],
      [42, 'a number'],
      [['a'], 'an array'],
      [new URL('https://api.example/?token=S3CRET'), 'a URL'],
      [new Map(), 'a Map'],
      [() => undefined, 'a function'],
    ];
    for (const [bindings, kind] of cases) {
      const refused = new TypeError(`Bindings must be an object of fields, such as { component: 'http' }, not ${kind}.`);
      expect(() => logger.child(bindings as never), kind).toThrow(refused);
      expect(() => createLogger({ bindings: bindings as never }), kind).toThrow(refused);
    }
    // None is none, and an instance of a class is its fields.
    const { lines, write } = capture();
    createLogger({ format: 'json', write }).child(null as never).child(new (class { job = 'sync'; })() as never).info('x');
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'x', job: 'sync' });
  });
});


describe('createLogger with fields it cannot read', () => {
  it.each(['json', 'pretty'] as const)('writes an invalid Date as null, as JSON does (%s)', (format) => {
    const { lines, write } = capture();
    createLogger({ format, write }).info('token expires', { expiresAt: new Date('garbage'), nested: { at: new Date('garbage') } });
    expect(lines[0]).toMatch(format === 'json' ? /"expiresAt":null,"nested":\{"at":null\}\}$/ : / expiresAt=null nested="\{\\"at\\":null\}"$/);
  });

  describe.each(['json', 'pretty'] as const)('%s', (format) => {
    it.each(Object.keys(unreadable))('writes the entry with %s as [Unreadable], the other fields redacted', (name) => {
      const { lines, write } = capture();
      const logger = createLogger({ format, write }).child({ component: 'c' });
      expect(() => { logger.info('x', fieldsWith(name)); }).not.toThrow();
      expect(lines).toHaveLength(1);
      expect(lines[0]).not.toMatch(/s3cr3t|thrown|used already/);
      if (format === 'pretty') {
        expect(lines[0]!.slice(13)).toBe('INFO  x component=c ok=1 body=[Unreadable] password=[REDACTED]');
      } else {
        const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
        expect(entry).toEqual({ time: entry.time, level: 'info', msg: 'x', component: 'c', ok: 1, body: '[Unreadable]', password: REDACTED });
        expect(new Date(entry.time as string).toISOString()).toBe(entry.time);
      }
    });
  });

  it('keeps an Error whose cause getter throws, redacted, with only its cause [Unreadable]', () => {
    const { lines, write } = capture();
    const logger = createLogger({ format: 'json', write });
    logger.error('alone', { error: errorWithUnreadableCause() });
    // With a field that cannot be read at all: the fields are then taken one by one.
    logger.error('with another', { error: errorWithUnreadableCause(), body: revoked(), ok: 1 });
    expect(lines).toHaveLength(2);
    expect(lines.join('\n')).not.toMatch(new RegExp(`s3cr3t|${THROWN}`));
    const [alone, other] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const error = { name: 'Error', message: `failed: token=${REDACTED}`, stack: expect.stringMatching(/^Error: failed: token=\[REDACTED]\n/) as unknown, cause: '[Unreadable]' };
    expect(alone).toMatchObject({ msg: 'alone', error });
    expect(other).toMatchObject({ msg: 'with another', error, body: '[Unreadable]', ok: 1 });
  });

  it('writes a function field whose toString or Symbol.toPrimitive throws as [Unreadable] in the pretty format', () => {
    const { lines, write } = capture();
    const fn = Object.assign(() => 1, { toString: (): never => { throw new Error(THROWN); } });
    const primitive = Object.assign(() => 2, { [Symbol.toPrimitive]: (): never => { throw new Error(THROWN); } });
    expect(() => { createLogger({ write }).child({ component: 'c' }).info('x', { fn, ok: 1, primitive, password: 's3cr3t' }); }).not.toThrow();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.slice(13)).toBe('INFO  x component=c fn=[Unreadable] ok=1 primitive=[Unreadable] password=[REDACTED]');
  });

  it('redacts the readable fields together when one cannot be read: a name holding a secret renamed, a { name, value } pair hidden', () => {
    const url = 'https://api.example.com/v1/items?access_token=s3cr3t-in-a-name';
    const entries: unknown[] = [];
    for (const format of ['json', 'pretty'] as const) {
      const { lines, write } = capture();
      const logger = createLogger({ format, write });
      // Redacted one by one under their own names, the first was dropped (JSON, pretty) and the
      // pair's value written in clear.
      logger.info('x', { [url]: 200, name: 'password', value: 's3cr3t-value', body: revoked() });
      logger.child({ [url]: 1, name: 'token', value: 's3cr3t-binding', body: revoked() }).info('y');
      expect(lines.join('\n')).not.toMatch(/s3cr3t/);
      if (format === 'json') entries.push(...lines.map((line) => JSON.parse(line) as unknown));
      else expect(lines[0]!.slice(13)).toBe(`INFO  x "${url.replace('s3cr3t-in-a-name', REDACTED)}"=200 name=password value=${REDACTED} body=[Unreadable]`);
    }
    expect(entries).toMatchObject([
      { msg: 'x', [url.replace('s3cr3t-in-a-name', REDACTED)]: 200, name: 'password', value: REDACTED, body: '[Unreadable]' },
      { msg: 'y', [url.replace('s3cr3t-in-a-name', REDACTED)]: 1, name: 'token', value: REDACTED, body: '[Unreadable]' },
    ]);
    // An adapted logger's target gets the same fields, names redacted.
    const seen: unknown[] = [];
    adaptLogger({ log: (entry: { fields: unknown }) => seen.push(entry.fields) }).info('z', { [url]: 200, body: revoked() });
    expect(seen).toEqual([{ [url.replace('s3cr3t-in-a-name', REDACTED)]: 200, body: '[Unreadable]' }]);
    // A value that reads once alone and then throws: the fields as redacted alone, names too.
    let reads = 0;
    const flaky = { get n(): number { if (++reads === 3) throw new Error('s3cr3t'); return reads; } };
    const { lines, write } = capture();
    createLogger({ format: 'json', write }).info('w', { [url]: 200, flaky, body: revoked() });
    expect(reads).toBe(3);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'w', [url.replace('s3cr3t-in-a-name', REDACTED)]: 200, flaky: { n: 2 }, body: '[Unreadable]' });
    expect(lines[0]).not.toMatch(/s3cr3t/);
  });

  it.each(['json', 'pretty'] as const)('does not throw on fields whose toJSON answers itself once, then nothing (%s)', (format) => {
    const { lines, write } = capture();
    let calls = 0;
    const fields = { toJSON(): unknown { return calls++ === 0 ? this : undefined; }, a: 1 };
    expect(() => { createLogger({ format, write }).info('x', fields); }).not.toThrow();
    expect(lines).toHaveLength(1);
    if (format === 'json') expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', msg: 'x' });
  });

  it('writes fields: [Unreadable] when not even their names can be read, keeping the bindings', () => {
    const { lines, write } = capture();
    createLogger({ format: 'json', write }).child({ component: 'c' }).warn('x', revoked() as never);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', msg: 'x', component: 'c', fields: '[Unreadable]' });
  });

  it('takes unreadable bindings without throwing, and still writes their entries', () => {
    for (const name of Object.keys(unreadable)) {
      const { lines, write } = capture();
      const logger = createLogger({ format: 'json', write }).child(fieldsWith(name));
      logger.info('first', { more: 2 });
      logger.error('second');
      expect(lines.map((line) => JSON.parse(line) as unknown), name).toMatchObject([
        { msg: 'first', ok: 1, body: '[Unreadable]', password: REDACTED, more: 2 },
        { msg: 'second', ok: 1, body: '[Unreadable]', password: REDACTED },
      ]);
      expect(lines.join('\n')).not.toMatch(/s3cr3t|thrown/);
    }
  });

  it('writes an array of fields with one it cannot read as fields: [Unreadable], never its items one by one', () => {
    const { lines, write } = capture();
    const fields = ['--password', 'S3CRET-arg', { get boom(): never { throw new Error('boom'); } }];
    createLogger({ format: 'json', write }).info('spawn', fields as never);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'spawn', fields: '[Unreadable]' });
    expect(lines.join('\n')).not.toContain('S3CRET');
  });

  it('writes a message that is not a string (untyped code) as text, redacted, without throwing', () => {
    const { lines, write } = capture();
    const logger = createLogger({ format: 'json', write });
    logger.error(new Error('refused: token=abc123') as never);
    logger.warn(42 as never);
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual([`Error: refused: token=${REDACTED}`, '42']);
  });

  it('writes a message whose text cannot be read (untyped code) as [Unreadable], without throwing', () => {
    const { lines, write } = capture();
    const logger = createLogger({ format: 'json', write });
    for (const msg of [Object.create(null) as object, { toString: (): never => { throw new Error(THROWN); } }, revoked()]) {
      expect(() => { logger.error(msg as never); }).not.toThrow();
    }
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['[Unreadable]', '[Unreadable]', '[Unreadable]']);
  });

  it('lets an error thrown by the write function itself through', () => {
    const write = vi.fn((): never => { throw new Error('disk full'); });
    expect(() => { createLogger({ write }).info('x', { a: 1 }); }).toThrow('disk full');
  });

  it.each(['json', 'pretty'] as const)('calls a write function that throws once per entry (%s)', (format) => {
    const lines: string[] = [];
    const write = (line: string): never => {
      lines.push(line);
      throw new Error('disk full');
    };
    const logger = createLogger({ format, write }).child({ component: 'c' });
    expect(() => { logger.info('plain', { a: 1 }); }).toThrow('disk full');
    expect(() => { logger.info('unreadable', fieldsWith('a getter that throws')); }).toThrow('disk full');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('plain');
    expect(lines[1]).toContain('[Unreadable]');
    expect(lines.join('\n')).not.toMatch(/s3cr3t|thrown|used already/);
  });

  it.each(['json', 'pretty'] as const)('writes a field that fails only when serialized as [Unreadable], once (%s)', (format) => {
    const { lines, write } = capture();
    // A Map key that cannot be made a property name: redacted as it is, refused by serialization.
    createLogger({ format, write }).info('x', { map: new Map([[revoked(), 1]]), password: 's3cr3t', ok: 1 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(format === 'json' ? /"map":"\[Unreadable]","password":"\[REDACTED]","ok":1\}$/ : / map=\[Unreadable] password=\[REDACTED] ok=1$/);
  });
});

describe('silentLogger', () => {
  it('is disabled at every level and its children too', () => {
    expect(silentLogger.isLevelEnabled('error')).toBe(false);
    expect(silentLogger.child({ a: 1 })).toBe(silentLogger);
    expect(() => { silentLogger.error('nothing'); }).not.toThrow();
  });
});
