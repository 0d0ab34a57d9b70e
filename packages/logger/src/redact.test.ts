import { inspect } from 'node:util';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import { createRedactor, REDACTED, redact } from './redact.js';
import { createLogger } from './create-logger.js';

/**
 * The CPU time, in ms, this process spends in `run`: the linear-time checks bound work, which a
 * wall clock overstates when other processes (the suite's other worker, its child processes)
 * share the cores. One process per test file's worker (vitest's default `forks` pool); V8's own
 * helper threads (the collector's) count too.
 */
function cpuMs(run: () => unknown): number {
  const start = process.cpuUsage();
  run();
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

const SECRET = 'hunter2-very-secret';

describe('redact: values under secret keys', () => {
  it.each([
    'password', 'PASSWORD', 'Password', 'pw', 's_pw', 'S_PW', 'secret', 'client_secret', 'clientSecret',
    'token', 'access_token', 'accessToken', 'refresh_token', 'refreshToken', 'authorization', 'Authorization',
    'cookie', 'session', 's_session', 'sessionid', 'sessionId', 'otp', 's_otp', 'auth', 'AUTH', 'newpassword',
  ])('redacts %s', (key) => {
    const out = redact({ [key]: SECRET, user: 'demo' });
    expect(out).toEqual({ [key]: REDACTED, user: 'demo' });
  });

  it('redacts at any depth, inside arrays, and keeps other values', () => {
    const input = { a: { b: [{ c: { password: SECRET, n: 1 } }, { token: SECRET }] }, ok: true, nothing: null };
    expect(redact(input)).toEqual({ a: { b: [{ c: { password: REDACTED, n: 1 } }, { token: REDACTED }] }, ok: true, nothing: null });
  });

  it('redacts a whole object under a secret key', () => {
    expect(redact({ auth: { user: 'demo', pass: SECRET } })).toEqual({ auth: REDACTED });
  });

  it('never mutates its input', () => {
    const input = { password: SECRET, nested: { token: SECRET }, list: [`password=${SECRET}`] };
    const snapshot = structuredClone(input);
    const out = redact(input);
    expect(input).toEqual(snapshot);
    expect(out).not.toBe(input);
    expect(out.nested).not.toBe(input.nested);
  });

  it('redacts Error objects, their messages and their causes', () => {
    const cause = Object.assign(new Error(`upstream said Bearer ${SECRET}`), { password: SECRET });
    const error = new Error(`login failed for url https://x.test/t?password=${SECRET}&user=demo`, { cause });
    const out = redact({ error }) as unknown as { error: Record<string, unknown> };
    const text = JSON.stringify(out);
    expect(text).not.toContain(SECRET);
    expect(out.error.name).toBe('Error');
    expect(out.error.message).toContain('user=demo');
    expect((out.error.cause as Record<string, unknown>).password).toBe(REDACTED);
  });

  it('follows a chain of causes and the errors of an AggregateError', () => {
    const root = new Error(`root: Authorization: Bearer ${SECRET}`);
    const middle = new TypeError('middle', { cause: root });
    const aggregate = new AggregateError([Object.assign(new Error('one'), { token: SECRET }), new Error(`two?token=${SECRET}`)], 'several failed', { cause: middle });
    const out = redact({ error: aggregate }) as unknown as { error: { errors: Record<string, unknown>[]; cause: { name: string; cause: { message: string } } } };
    expect(JSON.stringify(out)).not.toContain(SECRET);
    expect(out.error.cause.name).toBe('TypeError');
    expect(out.error.cause.cause.message).toContain(REDACTED);
    expect(out.error.errors).toHaveLength(2);
    expect(out.error.errors[0]!.token).toBe(REDACTED);
    expect(aggregate.errors[0]).toHaveProperty('token', SECRET);
  });

  it('keeps an Error whose cause getter throws, with only its cause [Unreadable]', () => {
    const error = Object.defineProperty(new TypeError(`failed: token=${SECRET}`), 'cause', { get: (): never => { throw new Error(SECRET); } });
    const out = redact({ error }) as unknown as { error: Record<string, unknown> };
    expect(out.error).toEqual({ name: 'TypeError', message: `failed: token=${REDACTED}`, stack: expect.stringContaining(`TypeError: failed: token=${REDACTED}\n`) as unknown, cause: '[Unreadable]' });
    expect(JSON.stringify(out)).not.toContain(SECRET);
  });

  it('turns an error that is its own cause into [Circular]', () => {
    const error: Error = new Error('loop');
    error.cause = error;
    expect((redact(error) as unknown as { cause: unknown }).cause).toBe('[Circular]');
  });

  it('copies shared (non-circular) references in full', () => {
    const shared = { token: SECRET, id: 1 };
    expect(redact({ a: shared, b: shared })).toEqual({ a: { token: REDACTED, id: 1 }, b: { token: REDACTED, id: 1 } });
  });

  it('survives circular structures and BigInt', () => {
    const a: Record<string, unknown> = { name: 'a', big: 10n, password: SECRET };
    a.self = a;
    const out = redact(a);
    expect(out.big).toBe(10n);
    expect(out.password).toBe(REDACTED);
    expect(out.self).toBe('[Circular]');
  });

  it('copies fetch\'s Headers as an object and URLSearchParams as [name, value] pairs, with their secrets redacted (they were {})', () => {
    const out = redact({
      headers: new Headers({ Authorization: `Bearer ${SECRET}`, 'Content-Type': 'text/plain', 'Set-Cookie': `sid=${SECRET}` }),
      query: new URLSearchParams([['access_token', SECRET], ['page', '2']]),
    });
    expect(out).toEqual({ headers: { authorization: REDACTED, 'content-type': 'text/plain', 'set-cookie': REDACTED }, query: [['access_token', REDACTED], ['page', '2']] });
  });

  it('redacts a boxed string as the string it holds, not character by character', () => {
    const boxed: unknown = new String(`token=${SECRET}`);
    expect(redact({ q: boxed })).toEqual({ q: `token=${REDACTED}` });
    expect(redact({ n: new Number(7), b: new Boolean(false) })).toEqual({ n: 7, b: false });
    // From another realm too; one that only has String's prototype is an object.
    expect(redact({ q: runInNewContext(`new String('token=${SECRET}')`) as unknown })).toEqual({ q: `token=${REDACTED}` });
    expect(redact({ fake: Object.create(String.prototype) as unknown })).toEqual({ fake: {} });
  });

  it('keeps identifiers that only end in sid: AccountSid, user_sid', () => {
    expect(redact({ AccountSid: 'AC1', user_sid: 'S-1-5-21' })).toEqual({ AccountSid: 'AC1', user_sid: 'S-1-5-21' });
  });

  it('handles Maps, Sets, Dates, URLs and binary data', () => {
    const when = new Date(0);
    const out = redact({
      map: new Map([['password', SECRET], ['user', 'demo']]),
      set: new Set([`token=${SECRET}`]),
      when,
      url: new URL(`https://api.test/x?access_token=${SECRET}&page=2`),
      bytes: Buffer.from(SECRET),
    });
    expect(out.map.get('password')).toBe(REDACTED);
    expect(out.map.get('user')).toBe('demo');
    expect([...out.set]).toEqual([`token=${REDACTED}`]);
    expect(out.when).toEqual(when);
    expect(out.when).not.toBe(when);
    expect(out.url).toBe(`https://api.test/x?access_token=${REDACTED}&page=2`);
    expect(JSON.stringify(out.bytes)).not.toContain(SECRET);
  });

  it('stops copying at depth 12 and labels binary data without its bytes', () => {
    let deep: Record<string, unknown> = { password: SECRET };
    for (let level = 0; level < 13; level += 1) deep = { next: deep };
    let out: unknown = redact(deep);
    for (let level = 0; level < 12; level += 1) out = (out as Record<string, unknown>).next;
    expect(out).toBe('[Truncated]');
    expect(redact({ bytes: new Uint8Array(3), view: new DataView(new ArrayBuffer(4)) })).toEqual({ bytes: '[Uint8Array 3 bytes]', view: '[DataView 4 bytes]' });
  });

  it('copies Map keys that are not strings, Sets of objects and an Error\'s own fields over its members', () => {
    const key = { id: 1 };
    const out = redact({ map: new Map<unknown, unknown>([[1, `token=${SECRET}`], [key, { pw: SECRET }]]), set: new Set([{ token: SECRET }]) });
    expect([...out.map]).toEqual([[1, `token=${REDACTED}`], [key, { pw: REDACTED }]]);
    expect([...out.set]).toEqual([{ token: REDACTED }]);
    const error = Object.defineProperty(Object.assign(new Error('original'), { code: 'E1' }), 'name', { value: 'CustomError', enumerable: true });
    expect(redact(error)).toEqual({ name: 'CustomError', message: 'original', stack: expect.any(String) as unknown, code: 'E1' });
  });

  it('copies a "__proto__" key as an own field, not as the prototype of the copy', () => {
    const out = redact(JSON.parse(`{"__proto__":{"token":"${SECRET}","admin":true}}`) as Record<string, unknown>);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(JSON.stringify(out)).toBe(`{"__proto__":{"token":"${REDACTED}","admin":true}}`);
  });

  it('takes extra keys, and can replace the defaults', () => {
    expect(redact({ pin: SECRET, password: SECRET }, { keys: ['pin'] })).toEqual({ pin: REDACTED, password: REDACTED });
    expect(redact({ pin: SECRET, password: 'x' }, { keys: ['pin'], replaceDefaultKeys: true })).toEqual({ pin: REDACTED, password: 'x' });
  });
});

describe('redact: secrets inside text', () => {
  const redactor = createRedactor();
  const text = (input: string): string => redactor.text(input);

  it('redacts URL query parameters', () => {
    expect(text(`GET https://api.test/a?user=demo&password=${SECRET}&x=1`)).toBe(`GET https://api.test/a?user=demo&password=${REDACTED}&x=1`);
    expect(text(`/cb?code=1&access_token=${SECRET}`)).toBe(`/cb?code=1&access_token=${REDACTED}`);
  });

  it('redacts Authorization headers and bearer credentials inside messages', () => {
    expect(text(`sent Authorization: Bearer ${SECRET} to api`)).not.toContain(SECRET);
    expect(text(`header was bearer ${SECRET}.more`)).not.toContain(SECRET);
    expect(text(`Basic ${Buffer.from(`u:${SECRET}`).toString('base64')}`)).toBe(`Basic ${REDACTED}`);
  });

  it('redacts KEY=value command text, to the end of the line', () => {
    const command = `COMMAND=ModifyDomain\nDOMAIN=example.com\nAUTH=gwrgwqg%&\\44t3*\npassword = ${SECRET} with blanks\nNEWPASSWORD=${SECRET}`;
    const out = text(command);
    expect(out).toBe(`COMMAND=ModifyDomain\nDOMAIN=example.com\nAUTH=${REDACTED}\npassword = ${REDACTED}\nNEWPASSWORD=${REDACTED}`);
  });

  it('redacts form-encoded bodies, including URL-encoded command text', () => {
    const body = `s_entity=54cd&s_login=demo&s_pw=${SECRET}&s_session=${SECRET}&s_otp=123456&s_command=COMMAND%3DModifyDomain%0AAUTH%3Dgw%26r${SECRET}%0ADOMAIN%3Dexample.com`;
    const out = text(body);
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain('123456');
    expect(out).toContain('s_login=demo');
    expect(out).toContain('DOMAIN%3Dexample.com');
  });

  it('redacts JSON text such as raw token responses', () => {
    const raw = `{"access_token":"${SECRET}","token_type":"Bearer","expires_in":3600,"refresh_token":"${SECRET}x"}`;
    const out = text(raw);
    expect(out).not.toContain(SECRET);
    expect(JSON.parse(out)).toEqual({ access_token: REDACTED, token_type: 'Bearer', expires_in: 3600, refresh_token: REDACTED });
  });

  it('redacts members nested in JSON text', () => {
    const raw = `{"data":{"access_token":"${SECRET}","expires_in":3600},"list":[{"token":"x\\"${SECRET}"}]}`;
    const out = text(raw);
    expect(out).not.toContain(SECRET);
    expect(JSON.parse(out)).toEqual({ data: { access_token: REDACTED, expires_in: 3600 }, list: [{ token: REDACTED }] });
  });

  it('redacts a quoted key="value" whole, blanks included', () => {
    expect(text(`login user=demo password="${SECRET} and more" failed`)).toBe(`login user=demo password="${REDACTED}" failed`);
  });

  it('redacts header lines such as Cookie', () => {
    expect(text(`Cookie: sid=${SECRET}; theme=dark\nAccept: */*`)).toBe(`Cookie: ${REDACTED}\nAccept: */*`);
  });

  it('redacts key=value and key: value after { or , to the end of the line', () => {
    expect(text(`options {password=${SECRET} more}`)).toBe(`options {password=${REDACTED}`);
    expect(text(`request failed, Authorization: Digest x=${SECRET}`)).toBe(`request failed, Authorization: ${REDACTED}`);
  });

  it('keeps searching a line after a key that is not secret', () => {
    expect(text(`status: 401, token: ${SECRET}`)).toBe(`status: 401, token: ${REDACTED}`);
    expect(text(`{Accept: */*, Authorization: Digest x=${SECRET}, y=1}`)).toBe(`{Accept: */*, Authorization: ${REDACTED}`);
    expect(text(`DOMAIN=example.com, password: ${SECRET}\nCOMMAND=x`)).toBe(`DOMAIN=example.com, password: ${REDACTED}\nCOMMAND=x`);
    expect(text(`retry: 2, password=\nnext: 1`)).toBe(`retry: 2, password=${REDACTED}\nnext: 1`);
  });

  it('searches the values of keys that are not secret: nested queries, quoted text, JSON in JSON', () => {
    expect(text(`redirect=https://x.test/cb?access_token=${SECRET}&state=1`)).toBe(`redirect=https://x.test/cb?access_token=${REDACTED}&state=1`);
    expect(text(`GET /a?next=/b?token=${SECRET}`)).toBe(`GET /a?next=/b?token=${REDACTED}`);
    expect(text(`msg="retry password=${SECRET}" n=2`)).toBe(`msg="retry password=${REDACTED}" n=2`);
    const doubled = JSON.stringify({ body: JSON.stringify({ token: SECRET, n: 1 }) });
    const out = text(doubled);
    expect(out).not.toContain(SECRET);
    expect(JSON.parse((JSON.parse(out) as { body: string }).body)).toEqual({ token: REDACTED, n: 1 });
    // Deeper than four values inside values, a value is redacted whatever its key.
    expect(text('a=b?c=d?e=f?g=h?i=j?k=l')).toBe(`a=b?c=d?e=f?g=h?i=${REDACTED}`);
  });

  it('redacts quoted values cut short and single-quoted values', () => {
    expect(text(`token="${SECRET}`)).toBe(`token="${REDACTED}"`);
    expect(text(`x token="${SECRET} and more`)).toBe(`x token="${REDACTED}"`);
    expect(text(`{"token": "${SECRET}`)).toBe(`{"token": "${REDACTED}"`);
    expect(text(`x token='${SECRET} more' y`)).toBe(`x token='${REDACTED}' y`);
  });

  it('redacts key: value and key = value in the middle of a line, a colon one to the end of the line', () => {
    expect(text(`login failed password = ${SECRET} x`)).toBe(`login failed password = ${REDACTED} x`);
    expect(text(`login failed password: ${SECRET} ${SECRET}\nnext`)).toBe(`login failed password: ${REDACTED}\nnext`);
    expect(text(`root cause Authorization: Bearer ${SECRET} more`)).toBe(`root cause Authorization: ${REDACTED}`);
  });

  it('redacts the password in a URL', () => {
    expect(text(`store redis://:${SECRET}@127.0.0.1:6379/0 ready`)).toBe(`store redis://:${REDACTED}@127.0.0.1:6379/0 ready`);
    expect(text(`https://user:${SECRET}@h.test/p`)).toBe(`https://user:${REDACTED}@h.test/p`);
    expect(redact(new URL(`https://user:${SECRET}@h.test/p`))).toBe(`https://user:${REDACTED}@h.test/p`);
  });

  it('redacts a URL\'s user name when it has no password: a token goes there (git over https, DSNs)', () => {
    expect(text(`git clone https://${SECRET}@github.test/o/r.git`)).toBe(`git clone https://${REDACTED}@github.test/o/r.git`);
    expect(redact({ dsn: `https://${SECRET}@o1.ingest.test/1` })).toEqual({ dsn: `https://${REDACTED}@o1.ingest.test/1` });
    expect(redact(new URL(`https://${SECRET}@h.test/p`))).toBe(`https://${REDACTED}@h.test/p`);
    // Not an address after a path, nor an e-mail address in a query or fragment, with or without a path before it.
    const plain = 'see https://h.test/u/bob@h.test and https://h.test/?to=bob@h.test https://h.test?to=bob@h.test http://h.test#x@y';
    expect(text(plain)).toBe(plain);
  });

  it('redacts a double-quoted secret value that spans lines (a .env file) whole, to its closing quote', () => {
    const env = `DB_PASSWORD="line1\n${SECRET}\nline3"\nPORT=8080\nNOTE="a\nb"`;
    expect(text(env)).toBe(`DB_PASSWORD="${REDACTED}"\nPORT=8080\nNOTE="a\nb"`);
    // After a key that is not secret, to the end of its line, as on one line.
    expect(text(`cfg: password="first\n${SECRET}" rest\nnext: 1`)).toBe(`cfg: password=${REDACTED}\nnext: 1`);
    expect(text(`x password="first\n${SECRET}" rest`)).toBe(`x password="${REDACTED}" rest`);
    // Never closed: to the end of the text (closed, as a quoted value cut short on its line is).
    expect(text(`TOKEN="a\n${SECRET}`)).toBe(`TOKEN="${REDACTED}"`);
    // A key inside a quoted value that is not secret is still found.
    expect(text(`NOTE="x\npassword=${SECRET}\n"`)).toBe(`NOTE="x\npassword=${REDACTED}\n"`);
  });

  it('redacts a PEM private key under any key, in any text', () => {
    const pem = `-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw${SECRET}\nAbCdEf==\n-----END PRIVATE KEY-----`;
    expect(redact({ tls: { key: pem, cert: 'c' } })).toEqual({ tls: { key: REDACTED, cert: 'c' } });
    expect(text(`loaded ${pem.replace(/PRIVATE/g, 'RSA PRIVATE')}\nnext line`)).toBe(`loaded ${REDACTED}\nnext line`);
    // Cut short: to the end of the text.
    expect(text(`key ${pem.slice(0, 60)}`)).toBe(`key ${REDACTED}`);
    // A certificate is public.
    const cert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
    expect(text(cert)).toBe(cert);
  });

  it('recognises keys that start with _ or - in text, as it does object keys', () => {
    expect(redact({ _token: SECRET, '--password': SECRET })).toEqual({ _token: REDACTED, '--password': REDACTED });
    expect(text(`GET /cb?x=1&_token=${SECRET}&y=2`)).toBe(`GET /cb?x=1&_token=${REDACTED}&y=2`);
    expect(text(`_token: ${SECRET} more\nnext: 1`)).toBe(`_token: ${REDACTED}\nnext: 1`);
    expect(text(`{"_token":"${SECRET}","__pw__":1}`)).toBe(`{"_token":"${REDACTED}","__pw__":${REDACTED}}`);
    expect(text(`run cli --password=${SECRET} --user=demo`)).toBe(`run cli --password=${REDACTED} --user=demo`);
    expect(text(`s_command=COMMAND%3DX%0A_AUTH%3D${SECRET}%0ADOMAIN%3Dd.com`)).toBe(`s_command=COMMAND%3DX%0A_AUTH%3D${REDACTED}%0ADOMAIN%3Dd.com`);
  });

  it('reads escapes in a JSON member key before checking it', () => {
    expect(text(`{"\\u0074oken":"${SECRET}","n":1}`)).toBe(`{"\\u0074oken":"${REDACTED}","n":1}`);
    expect(text(`{"data":{"client\\u005Fsecret": "${SECRET}"}}`)).toBe(`{"data":{"client\\u005Fsecret": "${REDACTED}"}}`);
    // A key with an escaped quote is a key too; the one after it is still found.
    expect(JSON.parse(text(`{"a\\"b":1,"\\u0070assword":"${SECRET}"}`))).toEqual({ 'a"b': 1, password: REDACTED });
  });

  it('redacts single-quoted keys, as in Python and JavaScript literals', () => {
    expect(text(`{'token': '${SECRET}'}`)).toBe(`{'token': '${REDACTED}'}`);
    expect(text(`{'password': "${SECRET}"}`)).toBe(`{'password': "${REDACTED}"}`);
    expect(text(`{'user': 'demo', 'client_secret': '${SECRET} x', 'n': 1}`)).toBe(`{'user': 'demo', 'client_secret': '${REDACTED}', 'n': 1}`);
    // A quoted value that runs on does not hide a key right after its closing quote.
    expect(text(`{'cookie': "a'b, 'x': "password=${SECRET}\nnext`)).toBe(`{'cookie': "${REDACTED}"password=${REDACTED}\nnext`);
  });

  it('redacts JSON whose quotes are escaped: JSON inside a string, logged as it is', () => {
    expect(text(`body={\\"token\\":\\"${SECRET}\\"}`)).toBe(`body={\\"token\\":\\"${REDACTED}\\"}`);
    expect(text(`"{\\"client_secret\\":\\"${SECRET}\\"}"`)).toBe(`"{\\"client_secret\\":\\"${REDACTED}\\"}"`);
    // An escaped quote inside the escaped string (`\\\"`) does not end it.
    expect(text(`{\\"pw\\": \\"a\\\\\\"${SECRET}\\", \\"n\\":1}`)).toBe(`{\\"pw\\": \\"${REDACTED}\\", \\"n\\":1}`);
    expect(text(`{\\"n\\":1,\\"otp\\":123456}`)).toBe(`{\\"n\\":1,\\"otp\\":${REDACTED}}`);
  });

  it('redacts a whole object or array under a secret key in JSON text', () => {
    expect(text(`{"token":{"x":"${SECRET}"}}`)).toBe(`{"token":"${REDACTED}"}`);
    expect(text(`{"password":["${SECRET}"],"n":1}`)).toBe(`{"password":"${REDACTED}","n":1}`);
    // Brackets inside strings do not count; what follows the value is still searched.
    expect(text(`{"auth": {"a":"}]\\"{","b":[["${SECRET}"]]}, "n":[1], "pw":"${SECRET}"}`)).toBe(`{"auth": "${REDACTED}", "n":[1], "pw":"${REDACTED}"}`);
    // A value cut short is redacted to the end of the text.
    expect(text(`{"token":{"a":["${SECRET}"`)).toBe(`{"token":"${REDACTED}"`);
    expect(text(`{"token":{"a":"]}${SECRET}`)).toBe(`{"token":"${REDACTED}"`);
    expect(text(`x={\\"token\\":{\\"x\\":\\"}${SECRET}\\"},\\"n\\":1}`)).toBe(`x={\\"token\\":\\"${REDACTED}\\",\\"n\\":1}`);
  });

  it('redacts an object or array under a secret key in util.inspect output and literals, over all its lines', () => {
    // On one line, the line is cut at the key's value.
    expect(text(inspect({ a: 1, token: { x: SECRET } }))).toBe(`{ a: 1, token: ${REDACTED}`);
    expect(text(`{'token': {'x': '${SECRET}'}, 'user': 'u'}`)).toBe(`{'token': ${REDACTED}`);
    expect(text(`{'auth': ['${SECRET}', '${SECRET}'], 'user': 'u'}`)).toBe(`{'auth': ${REDACTED}`);
    // Spread over lines (util.inspect breaks lines past 72 characters), the lines indented below
    // the key go too, and its closing bracket; what follows is kept.
    const long = { a: 1, auth: { user: 'demo', key: SECRET, note: 'x'.repeat(60) }, user: 'demo' };
    expect(inspect(long)).toContain('\n');
    expect(text(inspect(long))).toBe(`{\n  a: 1,\n  auth: ${REDACTED}\n  user: 'demo'\n}`);
    // Whatever its strings hold (backticks, a lone apostrophe, brackets), and whatever the value
    // is: a class instance, a Map, a Set, an object without a prototype.
    class Credentials {
      value = SECRET;
      note = 'x'.repeat(70);
    }
    const tricky = {
      token: { a: `it's "q" }`, b: ']', c: Symbol("it's"), d: SECRET, e: 'x'.repeat(40) },
      auth: new Credentials(),
      cookie: Object.assign(Object.create(null) as object, { a: SECRET, b: 'x'.repeat(70) }),
      secret: new Map([['k', { v: SECRET, w: 'x'.repeat(70) }]]),
      password: new Set([SECRET, 'x'.repeat(70)]),
      user: 'demo',
    };
    const out = text(inspect(tricky));
    expect(out).not.toContain(SECRET);
    expect(out).toBe(`{\n  token: ${REDACTED}\n  auth: ${REDACTED}\n  cookie: ${REDACTED}\n  secret: ${REDACTED}\n  password: ${REDACTED}\n  user: 'demo'\n}`);
    // Under a key that is not secret, the members are searched (`, key: value` cuts its line).
    expect(text(`{ user: { name: 'demo', password: '${SECRET}' } }`)).toBe(`{ user: { name: 'demo', password: ${REDACTED}`);
    // Lines indented below a secret `key:` line without a bracket (YAML) go as well.
    expect(text(`auth:\n  user: demo\n  key: ${SECRET}\nnext: 1`)).toBe(`auth:${REDACTED}\nnext: 1`);
  });

  it('redacts Map entries in util.inspect output', () => {
    expect(text(inspect(new Map([['token', SECRET], ['user', 'demo']])))).toBe(`Map(2) { 'token' => '${REDACTED}', 'user' => 'demo' }`);
    expect(text(inspect(new Map([['auth', { k: SECRET }]])))).toBe(`Map(1) { 'auth' => ${REDACTED}`);
  });

  it('redacts the value of a secret --flag given after a blank, as on a command line', () => {
    expect(text(`mysql --password ${SECRET} --user root`)).toBe(`mysql --password ${REDACTED} --user root`);
    expect(text(`curl --token '${SECRET} x' -v`)).toBe(`curl --token '${REDACTED}' -v`);
    expect(text(`tool --client-secret\t${SECRET}`)).toBe(`tool --client-secret\t${REDACTED}`);
    // The value of a flag that is not secret is searched.
    expect(text(`run --name token=${SECRET} --x 1`)).toBe(`run --name token=${REDACTED} --x 1`);
    // A value starting with `-` is the next option: the flag has no value (the program asks for it).
    expect(text('mysql --password --host db')).toBe('mysql --password --host db');
    // Only a `--` flag takes a blank as its separator.
    expect(text('a -- b, password was reset, token refreshed')).toBe('a -- b, password was reset, token refreshed');
    expect(text('run --verbose --dry-run ---- x')).toBe('run --verbose --dry-run ---- x');
  });

  it('redacts the value of a secret --flag on the line after a shell line continuation', () => {
    expect(text(`mysql --password \\\n  ${SECRET} --user root`)).toBe(`mysql --password \\\n  ${REDACTED} --user root`);
    expect(text(`mysql --password \\\r\n${SECRET}`)).toBe(`mysql --password \\\r\n${REDACTED}`);
    // The next option after the continuation: the flag has no value on that line (the backslash
    // is taken for one, as it was before continuations were read, and kept, as a value's closing
    // backslashes are: they may escape a quote).
    expect(text('mysql --password \\\n  --host db')).toBe(`mysql --password ${REDACTED}\\\n  --host db`);
  });

  it('finds a secret key right after another key and its separator (`a: token: …`)', () => {
    // The first key's value is not taken to be the second key: that one and its value are found.
    expect(text(`a: token: ${SECRET} x`)).toBe(`a: token: ${REDACTED}`);
    expect(text(`took 12ms: token: ${SECRET}`)).toBe(`took 12ms: token: ${REDACTED}`);
    expect(text(`error 0x80070005: password: ${SECRET} rejected`)).toBe(`error 0x80070005: password: ${REDACTED}`);
    expect(text(`HTTP 5xx: secret: ${SECRET}`)).toBe(`HTTP 5xx: secret: ${REDACTED}`);
    // A value that only looks like a key (no blank after its colon) is still a value.
    expect(text('url: http://h/x?a=1 next: https://h/')).toBe('url: http://h/x?a=1 next: https://h/');
    expect(text('mac 0c:4d:e9:a1:b2:c3 ip 2a01:4f8:c0c:1a2b:3c4d::1')).toBe('mac 0c:4d:e9:a1:b2:c3 ip 2a01:4f8:c0c:1a2b:3c4d::1');
  });

  it('redacts the word after a secret flag in an argument list, as in process.argv', () => {
    expect(redact({ argv: ['node', 'app.js', '--password', SECRET, '--user', 'root'] })).toEqual({ argv: ['node', 'app.js', '--password', REDACTED, '--user', 'root'] });
    expect(redact(['-pw', SECRET, '--client-secret', { value: SECRET }, '--api_key', 7])).toEqual(['-pw', REDACTED, '--client-secret', REDACTED, '--api_key', REDACTED]);
    // The next option is not a value; a word without a dash is no flag; other flags' values are searched.
    expect(redact(['--token', '--verbose', 'password', 'x', '--name', `token=${SECRET}`])).toEqual(['--token', '--verbose', 'password', 'x', '--name', `token=${REDACTED}`]);
    // Logged through a logger too.
    const lines: string[] = [];
    createLogger({ level: 'info', write: (line) => lines.push(line) }).info('started', { argv: ['--password', SECRET] });
    expect(lines.join('\n')).not.toContain(SECRET);
  });

  it('redacts the value after a secret header name in Node\'s rawHeaders (names and values in turn)', () => {
    const rawHeaders = ['Host', 'api.test', 'Authorization', `Bearer ${SECRET}`, 'cookie', `sid=${SECRET}`, 'X-Api-Key', SECRET, 'Accept', '*/*'];
    const out = [...rawHeaders];
    for (const index of [3, 5, 7]) out[index] = REDACTED;
    expect(redact({ res: { statusCode: 200, rawHeaders } })).toEqual({ res: { statusCode: 200, rawHeaders: out } });
    // A name at a value's place (the value of Host here) is a value: the name after it is kept.
    expect(redact({ rawHeaders: ['Host', 'token', 'Accept', 'x', 7, 'y'] })).toEqual({ rawHeaders: ['Host', 'token', 'Accept', 'x', 7, 'y'] });
    // Logged through a logger too.
    const lines: string[] = [];
    createLogger({ format: 'json', write: (line) => lines.push(line) }).info('request', { rawHeaders });
    expect(lines.join('\n')).not.toContain(SECRET);
    expect(JSON.parse(lines[0]!)).toMatchObject({ rawHeaders: out });
    // Under other keys a list of names has the same shape and is kept: a CORS header list, columns.
    const lists = { allowedHeaders: ['Authorization', 'Content-Type'], columns: ['token', 'expires_in', 'password', 'user'] };
    expect(redact(lists)).toEqual(lists);
  });

  it('searches a JSON string value that holds an escape as the text it encodes', () => {
    expect(text(`{"a":"token\\u003d${SECRET}"}`)).toBe(`{"a":"token=${REDACTED}"}`);
    expect(text(`{"a":"x\\npassword\\u003D${SECRET} y","n":1}`)).toBe(`{"a":"x\\npassword=${REDACTED}","n":1}`);
    expect(text('{"a":"x\\ny"}')).toBe('{"a":"x\\ny"}');
  });

  it('takes U+E000 in the input for what it is: it does not cut the line', () => {
    expect(text('a \uE000 b, password=x y\nnext')).toBe('a \uFFFD b, password=[REDACTED]\nnext');
    expect(text('note \uE000 kept')).toBe('note \uE000 kept');
  });

  it('leaves ordinary text alone', () => {
    const plain = 'CODE = 200\nDESCRIPTION = Command completed successfully\nPROPERTY[DOMAIN][0] = example.com';
    expect(text(plain)).toBe(plain);
    expect(text('tokens acquired: 1, user=demo')).toBe('tokens acquired: 1, user=demo');
    expect(text('token acquired; bearer tokens expire')).toBe('token acquired; bearer tokens expire');
  });
});

describe('redact: secret keys after a prefix', () => {
  const redactor = createRedactor();
  const text = (input: string): string => redactor.text(input);

  it.each([
    'SESSIONKIT_CLIENT_SECRET', 'SESSIONKIT_PASSWORD', 'SESSIONKIT_ISPAPI_PASSWORD', 'X-Auth-Token', 'X-Amz-Security-Token',
    'MY_API_KEY', 'db.password', 'spring.datasource.password', 'X-CSRF-Token', 'user.session',
  ])('redacts %s: a secret key at its end, after a separator', (key) => {
    expect(redact({ [key]: SECRET, user: 'demo' })).toEqual({ [key]: REDACTED, user: 'demo' });
    expect(text(`${key}=${SECRET}\nDOMAIN=example.com`)).toBe(`${key}=${REDACTED}\nDOMAIN=example.com`);
    expect(text(`env ${key}=${SECRET} node app.js`)).toBe(`env ${key}=${REDACTED} node app.js`);
    expect(text(`${key}: ${SECRET} x\nAccept: */*`)).toBe(`${key}: ${REDACTED}\nAccept: */*`);
    expect(text(`{"${key}":"${SECRET}","n":1}`)).toBe(`{"${key}":"${REDACTED}","n":1}`);
    expect(text(`GET /a?${key}=${SECRET}&page=2`)).toBe(`GET /a?${key}=${REDACTED}&page=2`);
  });

  it('redacts sessionkit\'s own environment variables and prefixed headers', () => {
    const env = { SESSIONKIT_CLIENT_SECRET: SECRET, SESSIONKIT_PASSWORD: SECRET, SESSIONKIT_ISPAPI_PASSWORD: SECRET, SESSIONKIT_LOG_LEVEL: 'debug' };
    expect(redact({ env })).toEqual({ env: { SESSIONKIT_CLIENT_SECRET: REDACTED, SESSIONKIT_PASSWORD: REDACTED, SESSIONKIT_ISPAPI_PASSWORD: REDACTED, SESSIONKIT_LOG_LEVEL: 'debug' } });
    expect(text(`SESSIONKIT_CLIENT_SECRET=${SECRET}\nSESSIONKIT_LOG_LEVEL=debug`)).toBe(`SESSIONKIT_CLIENT_SECRET=${REDACTED}\nSESSIONKIT_LOG_LEVEL=debug`);
    expect(text(`X-Auth-Token: ${SECRET}\nX-Amz-Security-Token: ${SECRET}\nX-Request-Id: 7`)).toBe(`X-Auth-Token: ${REDACTED}\nX-Amz-Security-Token: ${REDACTED}\nX-Request-Id: 7`);
    expect(redact({ headers: new Map([['X-Auth-Token', SECRET], ['X-Request-Id', '7']]) }).headers.get('X-Auth-Token')).toBe(REDACTED);
    expect(text(`run --db-password ${SECRET} --db-host h`)).toBe(`run --db-password ${REDACTED} --db-host h`);
    expect(redact(['--db-password', SECRET, '--db-host', 'h'])).toEqual(['--db-password', REDACTED, '--db-host', 'h']);
  });

  it.each([
    'STRIPE_SECRET_KEY', 'AWS_SECRET_ACCESS_KEY', 'SECRET_KEY_BASE', 'ENCRYPTION_KEY', 'jwt_signing_key', 'PGPASSWORD', 'MYSQL_PWD',
    'SMTP_PASS', 'pwd', 'passwordConfirm', 'credentials', 'db credential', 'session id', 'connect.sid', 'JSESSIONID', 'PHPSESSID', 'cookies',
    'X-Amz-Signature', 'sig', 'code_verifier', 'client_assertion',
  ])('redacts %s, a common name of a secret', (key) => {
    expect(redact({ [key]: SECRET, user: 'demo' })).toEqual({ [key]: REDACTED, user: 'demo' });
    if (!key.includes(' ')) expect(text(`${key}=${SECRET}\nDOMAIN=example.com`)).toBe(`${key}=${REDACTED}\nDOMAIN=example.com`);
  });

  it('keeps keys whose end is not a secret key, and words without a separator', () => {
    const plain = 'token_type=Bearer&expires_in=3600 session_count=3 auth_method=basic mytoken=a tokens=b passwordless=true SESSIONKIT_LOG_LEVEL=debug';
    expect(text(plain)).toBe(plain);
    expect(redact({ token_type: 'Bearer', sessionCount: 3, password_hint: 'pet', 'x-request-id': '7', secretary: 'x' })).toEqual({ token_type: 'Bearer', sessionCount: 3, password_hint: 'pet', 'x-request-id': '7', secretary: 'x' });
    // A file name or a host is no key: its end after the last `.` is no secret key.
    const trace = 'at Session.start (src/session.ts:12:5) via auth.example.com:443 token.js:1';
    expect(text(trace)).toBe(trace);
  });

  it('errs towards hiding: a key that only ends in a secret key loses its value too', () => {
    expect(redact({ has_session: true, next_page_token: 'p2', use_auth: false })).toEqual({ has_session: REDACTED, next_page_token: REDACTED, use_auth: REDACTED });
    expect(text('GET /items?next_page_token=p2&page_size=50')).toBe(`GET /items?next_page_token=${REDACTED}&page_size=50`);
  });

  it('looks a key up at its ends: cheap for keys without a separator, bounded for long ones', () => {
    const isSecretKey = (key: string): boolean => redactor.isSecretKey(key);
    expect(isSecretKey('MY_API_KEY')).toBe(true);
    expect(isSecretKey('my-api.key')).toBe(true);
    expect(isSecretKey('apikey')).toBe(true);
    expect(isSecretKey('KEY')).toBe(false);
    expect(isSecretKey('token_')).toBe(true);
    expect(isSecretKey(`${'a_'.repeat(50_000)}token`)).toBe(true);
    expect(isSecretKey(`token_${'a_'.repeat(50_000)}`)).toBe(false);
    expect(isSecretKey('_'.repeat(100_000))).toBe(false);
    // Custom keys work the same way, with or without the defaults.
    expect(createRedactor({ keys: ['pin'] }).isSecretKey('card.pin')).toBe(true);
    expect(createRedactor({ keys: ['card_number'], replaceDefaultKeys: true }).isSecretKey('billing.card-number')).toBe(true);
    expect(createRedactor({ keys: ['card_number'], replaceDefaultKeys: true }).isSecretKey('number')).toBe(false);
    expect(createRedactor({ keys: [], replaceDefaultKeys: true }).isSecretKey('x_token')).toBe(false);
  });
});

describe('redact: JWTs, URL fragments and flags after a key', () => {
  const redactor = createRedactor();
  const text = (input: string): string => redactor.text(input);
  const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.sig';
  const REAL = 'eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJodHRwczovL2lkcC50ZXN0Iiwic3ViIjoiZGVtbyJ9.M2Vq-d_4x';

  it('redacts a bare JWT under any key, in any text', () => {
    expect(redact({ value: JWT, type: 'Bearer', expiresAt: 1_700_000_000 })).toEqual({ value: REDACTED, type: 'Bearer', expiresAt: 1_700_000_000 });
    expect(redact({ value: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.sig' })).toEqual({ value: REDACTED });
    expect(text(`issued ${REAL} for demo`)).toBe(`issued ${REDACTED} for demo`);
    expect(text(`token issued: ${REAL}, expires in 3600`)).toBe(`token issued: ${REDACTED}, expires in 3600`);
    expect(text(`{"value":"${REAL}","type":"Bearer"}`)).toBe(`{"value":"${REDACTED}","type":"Bearer"}`);
    expect(text(`cb#id_token=${REAL}&state=1`)).toBe(`cb#id_token=${REDACTED}&state=1`);
    // After a percent-escape, in an encoded query; with an empty signature (`alg: none`).
    expect(text(`next=%2Fcb%3Fx%3D${REAL}`)).toBe(`next=%2Fcb%3Fx%3D${REDACTED}`);
    expect(text('none eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vIn0. ok')).toBe(`none ${REDACTED} ok`);
  });

  it('keeps what only looks like part of a JWT', () => {
    for (const plain of [
      'header eyJhbGciOiJIUzI1NiJ9 alone', 'two parts eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0', 'eyJhbGciOiJIUzI1NiJ9.notjson.sig',
      `inside a word x${JWT}`, `after a dash a-${JWT}`, 'keyJa.eyJb.c', 'version 1.2.3 eyJ',
    ]) expect(text(plain)).toBe(plain);
  });

  it('redacts parameters in a URL fragment', () => {
    expect(text('https://app/cb#access_token=abc123&state=1')).toBe(`https://app/cb#access_token=${REDACTED}&state=1`);
    expect(text(`redirect to https://app/cb#state=1&id_token=${SECRET}&expires_in=3600 done`)).toBe(`redirect to https://app/cb#state=1&id_token=${REDACTED}&expires_in=3600 done`);
    for (const plain of ['https://h.test/docs#token-lifetime', 'color: #fff; see issue #12', 'a#main:hover', 'https://h.test/#section=intro']) expect(text(plain)).toBe(plain);
  });

  it('redacts the value of a secret --flag that is the value of a key', () => {
    expect(text('spawn args: --password hunter2')).toBe(`spawn args: --password ${REDACTED}`);
    expect(text('args=--password hunter2')).toBe(`args=--password ${REDACTED}`);
    expect(text('args: --client-secret s3cr3t --verbose')).toBe(`args: --client-secret ${REDACTED} --verbose`);
    expect(text('--client-secret s3cr3t --verbose')).toBe(`--client-secret ${REDACTED} --verbose`);
    expect(text(`args: --token '${SECRET} x' --verbose`)).toBe(`args: --token '${REDACTED}' --verbose`);
    expect(text(`args: --password \\\n  ${SECRET} --verbose`)).toBe(`args: --password \\\n  ${REDACTED} --verbose`);
    expect(text(`args: --verbose --password ${SECRET}`)).toBe(`args: --verbose --password ${REDACTED}`);
    expect(text(`args=--password=${SECRET} --verbose`)).toBe(`args=--password=${REDACTED} --verbose`);
    // A word that is itself a key is found as one, as before.
    expect(text(`args: --name token: ${SECRET}`)).toBe(`args: --name token: ${REDACTED}`);
    expect(text(`args: --name token = ${SECRET}`)).toBe(`args: --name token = ${REDACTED}`);
    // A flag that is not secret, or without a value, changes nothing.
    for (const plain of ['args: --verbose --dry-run', 'args: --name demo --verbose', 'args: --password --host db', 'args=--name demo']) expect(text(plain)).toBe(plain);
  });

  it('redacts Rails- and PHP-style bracketed form keys, also URL-encoded', () => {
    expect(text(`POST /users user[name]=bob&user[password]=${SECRET}&user[remember]=1`)).toBe(`POST /users user[name]=bob&user[password]=${REDACTED}&user[remember]=1`);
    expect(text(`GET /a?user%5Bpassword%5D=${SECRET}&x=1`)).toBe(`GET /a?user%5Bpassword%5D=${REDACTED}&x=1`);
    expect(text(`GET /a?user%5bpassword%5d=${SECRET}&x=1`)).toBe(`GET /a?user%5bpassword%5d=${REDACTED}&x=1`);
    expect(text(`a[b][api_key]=${SECRET}&c=1 tokens[]=x token[]=${SECRET}`)).toBe(`a[b][api_key]=${REDACTED}&c=1 tokens[]=x token[]=${REDACTED}`);
    expect(text(`{"user[password]":"${SECRET}","n":1}`)).toBe(`{"user[password]":"${REDACTED}","n":1}`);
    expect(redact({ 'user[password]': SECRET, 'user%5Btoken%5D': SECRET, 'user[name]': 'bob' })).toEqual({ 'user[password]': REDACTED, 'user%5Btoken%5D': REDACTED, 'user[name]': 'bob' });
    // A key whose last name is no secret key keeps its value, and a bracket alone is no key.
    const plain = 'PROPERTY[DOMAIN][0] = example.com user[password_hint]=pet items[0]: 5 see [token]=x a[token';
    expect(text(plain)).toBe(plain);
  });

  it('keeps the rest of the line after an empty secret value', () => {
    expect(text('GET /cb?token=&state=x')).toBe(`GET /cb?token=${REDACTED}&state=x`);
    expect(text('x?code=1&access_token=&state=2 user=bob')).toBe(`x?code=1&access_token=${REDACTED}&state=2 user=bob`);
    expect(text('login password=, user=bob')).toBe(`login password=${REDACTED}, user=bob`);
    expect(text('login password= ; user=bob')).toBe(`login password= ${REDACTED}; user=bob`);
    expect(text('s_command=COMMAND%3DX%0APASSWORD%3D%0ADOMAIN%3Dd.com&s_login=u')).toBe(`s_command=COMMAND%3DX%0APASSWORD%3D${REDACTED}%0ADOMAIN%3Dd.com&s_login=u`);
    // Inside the value of another key: the rest of that value and of its line are kept.
    expect(text('redirect=/cb?token=&state=x user=bob')).toBe(`redirect=/cb?token=${REDACTED}&state=x user=bob`);
    expect(text('redirect=/cb?token=,next=1')).toBe(`redirect=/cb?token=${REDACTED},next=1`);
    // Unless it ends that value and the value ends at a blank or quote: what follows may be it, as
    // after `token= ` outside a value (`console.log('url=/login?password=', password)`).
    expect(text(`url=/login?password= ${SECRET} x`)).toBe(`url=/login?password=${REDACTED}`);
    expect(text(`x a=b?token="${SECRET} x" y`)).toBe(`x a=b?token=${REDACTED}`);
    // An empty value that ends its line may be the lines indented below it, as after `key:`.
    expect(text(`x password=\n  ${SECRET}\nnext: 1`)).toBe(`x password=${REDACTED}\nnext: 1`);
    expect(text(`x password=\r\n  ${SECRET}\r\nnext: 1`)).toBe(`x password=${REDACTED}\r\nnext: 1`);
  });

  it('hides the lines indented below an empty secret value inside a quoted value, whatever follows the quote', () => {
    // A `,`, `&` or `;` after the closing quote does not end the empty value inside it.
    expect(text(`msg="x password=\n    ${SECRET}",level=info`)).toBe(`msg="x password=${REDACTED}",level=info`);
    expect(text(`a=1&b='login token=\n  ${SECRET}';c=2`)).toBe(`a=1&b='login token=${REDACTED}';c=2`);
  });

  it('keeps the structure around a value it redacts', () => {
    // A redacted value keeps the backslash it ends with: it escapes the quote after it.
    expect(text(`x password=abc\\"token\\":\\"${SECRET}\\" n=1`)).toBe(`x password=${REDACTED}\\"token\\":\\"${REDACTED}\\" n=1`);
    // A secret `key:` inside a value cuts the rest of the line, as it does outside one.
    expect(text(`redirect=https://h.test/cb?token: ${SECRET} ${SECRET}\nnext: 1`)).toBe(`redirect=https://h.test/cb?token:${REDACTED}\nnext: 1`);
    // An unquoted JSON value reads on past a value redacted inside it.
    expect(text(`{"pw": a?token=b&c${SECRET}}`)).toBe(`{"pw": ${REDACTED}}`);
    // A flag after a blank is any `--`, `_` and `-`, then a letter, as the patterns read it.
    expect(text(`x ----client-secret ${SECRET}`)).toBe(`x ----client-secret ${REDACTED}`);
    // A cut inside a quoted value stays inside it: the rest of a logfmt line is kept.
    expect(text(`level=info msg="Authorization: ${SECRET}" user=bob status=200`)).toBe(`level=info msg="Authorization: ${REDACTED}" user=bob status=200`);
    expect(text(`err='token: ${SECRET}' user=bob`)).toBe(`err='token: ${REDACTED}' user=bob`);
  });
});

describe('redact: objects with a toJSON method', () => {
  it('copies what toJSON returns, redacted, not the method (which would give the secrets back when written)', () => {
    const value = { a: { toJSON: () => ({ password: SECRET, user: 'bob' }) }, b: 1 };
    const copy = redact(value);
    expect(copy).toEqual({ a: { password: REDACTED, user: 'bob' }, b: 1 });
    expect(JSON.stringify(copy)).not.toContain(SECRET);
    // A class whose toJSON gives text: that text, searched as text.
    class Credential {
      toJSON(): string {
        return `token=${SECRET}`;
      }
    }
    expect(redact({ login: new Credential() })).toEqual({ login: `token=${REDACTED}` });
    // One that returns itself is copied as an object.
    const self = { user: 'bob', password: SECRET, toJSON(): unknown { return this; } };
    expect(JSON.stringify(redact(self))).toBe(`{"user":"bob","password":"${REDACTED}"}`);
  });
});

describe('redact: index and spaced bracket keys, Ruby hashes, argument arrays in text, values after a separator', () => {
  const redactor = createRedactor();
  const text = (input: string): string => redactor.text(input);

  it('takes an index at the end of a bracketed key for no name: password[0] is password', () => {
    expect(text(`POST /x password[0]=${SECRET}&password[1]=${SECRET}&n=1`)).toBe(`POST /x password[0]=${REDACTED}&password[1]=${REDACTED}&n=1`);
    expect(text(`x user[password][0]=${SECRET}&a%5Btoken%5D%5B12%5D=${SECRET}&y=1`)).toBe(`x user[password][0]=${REDACTED}&a%5Btoken%5D%5B12%5D=${REDACTED}&y=1`);
    expect(redact({ 'password[0]': SECRET, 'items[0]': 1 })).toEqual({ 'password[0]': REDACTED, 'items[0]': 1 });
    // An index is no name, but a name that holds digits is one: its end is no secret key.
    expect(text('x items[0]=1&password[0x]=2&passwords[0]=3')).toBe('x items[0]=1&password[0x]=2&passwords[0]=3');
  });

  it('reads a bracketed key with blanks before its = or :, unless its last name is an index', () => {
    expect(text(`user[password] = ${SECRET} x`)).toBe(`user[password] = ${REDACTED} x`);
    expect(text(`x user[password]\t=${SECRET}&y=1`)).toBe(`x user[password]\t=${REDACTED}&y=1`);
    expect(text(`x user%5Bpassword%5D = ${SECRET}&y=1`)).toBe(`x user%5Bpassword%5D = ${REDACTED}&y=1`);
    expect(text(`x user[password]: ${SECRET} ${SECRET}\nnext: 1`)).toBe(`x user[password]: ${REDACTED}\nnext: 1`);
    // ISPAPI response lines (`PROPERTY[…][0] = …`, masked by the command client) are left as they are.
    const response = '[RESPONSE]\nCODE = 200\nPROPERTY[DOMAIN][0] = example.com\nPROPERTY[SESSION][0] = ***\nEOF';
    expect(text(response)).toBe(response);
  });

  it('redacts password_confirmation as a key of its own, in objects and text, bracketed or not', () => {
    expect(redact({ password_confirmation: SECRET, passwordConfirmation: SECRET, user: { password_confirmation: SECRET } }))
      .toEqual({ password_confirmation: REDACTED, passwordConfirmation: REDACTED, user: { password_confirmation: REDACTED } });
    expect(text(`POST /users user[password]=${SECRET}&user[password_confirmation]=${SECRET}&user[name]=bob`))
      .toBe(`POST /users user[password]=${REDACTED}&user[password_confirmation]=${REDACTED}&user[name]=bob`);
    expect(text(`x password_confirmation=${SECRET} y=1`)).toBe(`x password_confirmation=${REDACTED} y=1`);
    expect(text(`{"user":{"password_confirmation":"${SECRET}"}}`)).toBe(`{"user":{"password_confirmation":"${REDACTED}"}}`);
    // Other words after a secret key are still another key.
    expect(text('x password_hint=pet user[password_reset_at]=1')).toBe('x password_hint=pet user[password_reset_at]=1');
  });

  it('redacts double-quoted and symbol keys of Ruby hashes (`"key"=>value`, `:key=>value`)', () => {
    expect(text(`params {"user"=>"bob", "password"=>"${SECRET}", "n"=>1}`)).toBe(`params {"user"=>"bob", "password"=>"${REDACTED}", "n"=>1}`);
    expect(text(`{"token" => "${SECRET} x", "api_key"=>${SECRET}, "n"=>1}`)).toBe(`{"token" => "${REDACTED}", "api_key"=>${REDACTED}, "n"=>1}`);
    expect(text(`opts {:user=>"bob", :password=>"${SECRET}", :client_secret => '${SECRET}'}`)).toBe(`opts {:user=>"bob", :password=>"${REDACTED}", :client_secret => '${REDACTED}'}`);
    // A double-quoted key followed by anything but `=>` is left to the JSON patterns, as before.
    expect(text(`{"password":"${SECRET}","user":"bob"}`)).toBe(`{"password":"${REDACTED}","user":"bob"}`);
  });

  it('redacts the element after a secret flag in an argument array written as text (JSON, util.inspect)', () => {
    expect(text(`spawn args=["--password","${SECRET}","--user","root"]`)).toBe(`spawn args=["--password","${REDACTED}","--user","root"]`);
    expect(text(`{"argv":["node","-pw", "${SECRET}"]}`)).toBe(`{"argv":["node","-pw", "${REDACTED}"]}`);
    expect(text(inspect(['app.js', '--client-secret', SECRET]))).toBe(`[ 'app.js', '--client-secret', '${REDACTED}' ]`);
    // Spread over lines by util.inspect.
    const long = inspect(['node', 'x'.repeat(30), '--password', SECRET, '--note', 'y'.repeat(30)]);
    expect(long).toContain('\n');
    expect(text(long)).toBe(long.replace(SECRET, REDACTED));
    // The next option is no value; a flag that is not secret, or a word without a dash, takes none.
    for (const plain of ['args=["--password","--host","db"]', `args=["--name","bob"]`, `["password","x"]`, `['token', 'x']`]) expect(text(plain)).toBe(plain);
  });

  it('takes a value that starts with &, , or ; for the value, unless a key or a blank follows that separator', () => {
    expect(text(`x password=&${SECRET}`)).toBe(`x password=${REDACTED}`);
    expect(text(`GET /?password=&${SECRET}&user=bob`)).toBe(`GET /?password=${REDACTED}&user=bob`);
    expect(text(`x token=,${SECRET} y=1`)).toBe(`x token=${REDACTED} y=1`);
    expect(text(`x password= ,${SECRET} y=1`)).toBe(`x password= ${REDACTED} y=1`);
    expect(text(`x password=;${SECRET} y=1`)).toBe(`x password=${REDACTED} y=1`);
    expect(text(`mysql --password ;${SECRET} --user root`)).toBe(`mysql --password ${REDACTED} --user root`);
    // An empty value stays empty before a key (`&user=`, `,next=1`, `;b:`), a blank, another separator or the end.
    expect(text('x ?password=&user=bob&token=,next=1&pw=;b:1&otp=& z')).toBe(`x ?password=${REDACTED}&user=bob&token=${REDACTED},next=1&pw=${REDACTED};b:1&otp=${REDACTED}& z`);
    expect(text('Cookie: a=1; x\nSet: token=; Path=/; pw=&&x=1')).toBe(`Cookie: ${REDACTED}\nSet: token=${REDACTED}; Path=/; pw=${REDACTED}&&x=1`);
  });

  it('takes what follows an empty secret value that starts the value of another key, as outside a value', () => {
    expect(text(`x user= token= ${SECRET} more`)).toBe(`x user= token=${REDACTED}`);
    expect(text(`x user[a]=token= ${SECRET}`)).toBe(`x user[a]=token=${REDACTED}`);
    // A value after the secret key, or a separator that ends the outer value, keeps the rest of the line.
    expect(text('x user=token=abc more')).toBe(`x user=token=${REDACTED} more`);
    expect(text('x user=token=&b=1 more')).toBe(`x user=token=${REDACTED}&b=1 more`);
  });

  it('hides the lines indented below an empty secret value in URL-encoded command text', () => {
    expect(text(`s_command=COMMAND%3DX%0APASSWORD%3D%0A%20%20${SECRET}%0A%20%20${SECRET}%0ADOMAIN%3Dd.com&s_login=u`))
      .toBe(`s_command=COMMAND%3DX%0APASSWORD%3D${REDACTED}%0ADOMAIN%3Dd.com&s_login=u`);
    expect(text(`s_command=X%0D%0AAUTH%3D%0D%0A%09${SECRET}&y=1`)).toBe(`s_command=X%0D%0AAUTH%3D${REDACTED}&y=1`);
    // Lines that are not indented are kept, and so are the lines indented below a key that is not secret.
    expect(text('s_command=X%0APASSWORD%3D%0ADOMAIN%3Dd.com')).toBe(`s_command=X%0APASSWORD%3D${REDACTED}%0ADOMAIN%3Dd.com`);
    expect(text('s_command=X%0ANOTE%3D%0A%20%20kept%0AY%3D1')).toBe('s_command=X%0ANOTE%3D%0A%20%20kept%0AY%3D1');
    expect(text('s_command=X%0ANOTE%3Dabc%0A%20%20kept%0AY%3D1')).toBe('s_command=X%0ANOTE%3Dabc%0A%20%20kept%0AY%3D1');
  });

  it('hides the lines indented below a secret value that is not empty in URL-encoded command text, as below a plain one', () => {
    expect(text(`s_command=X%0APASSWORD%3Dabc%0A%20%20${SECRET}`)).toBe(`s_command=X%0APASSWORD%3D${REDACTED}`);
    expect(text(`s_command=X%0APASSWORD%3Dabc%0A%20%20${SECRET}%0A+${SECRET}%0ADOMAIN%3Dd.com&s_login=u`)).toBe(`s_command=X%0APASSWORD%3D${REDACTED}%0ADOMAIN%3Dd.com&s_login=u`);
    // A value that is a blank (`%20`) is no empty value either.
    expect(text(`s_command=X%0APASSWORD%3D%20%0A%20%20${SECRET}%0AY%3D1`)).toBe(`s_command=X%0APASSWORD%3D${REDACTED}%0AY%3D1`);
    // The plain text it encodes, for comparison.
    expect(text(`X\nPASSWORD=abc\n  ${SECRET}`.replaceAll('\\n', '\n'))).toBe(`X\nPASSWORD=${REDACTED}`);
  });

  it('reads encoded blanks before the = of a key in URL-encoded command text', () => {
    expect(text(`s_command=X%0AOTP%20%3D%20${SECRET}%0AY%3D1`)).toBe(`s_command=X%0AOTP%20%3D${REDACTED}%0AY%3D1`);
    expect(text(`s_command=X%0APASSWORD+%3D+${SECRET}&s_login=u`)).toBe(`s_command=X%0APASSWORD+%3D${REDACTED}&s_login=u`);
    expect(text('s_command=X%0ANOTE%20%3D%20kept%0AY%3D1')).toBe('s_command=X%0ANOTE%20%3D%20kept%0AY%3D1');
  });

  it('never takes the next key in a JSON object, Ruby hash or Map for the value of a flag that is a value there', () => {
    const hidden = (json: string): string => json.replace(SECRET, REDACTED);
    for (const input of [
      `{"flag":"--password","password":"${SECRET}"}`,
      `{"option":"--token","token":"${SECRET}"}`,
      `{"arg":"-pw","x-api-key":"${SECRET}"}`,
      JSON.stringify({ flag: '--password', password: SECRET }, null, 2),
      `body={"flag":"--password","password":"${SECRET}"}`,
      `{"opts":{"flag":"--password","password":"${SECRET}"},"n":1}`,
    ]) expect(text(input), input).toBe(hidden(input));
    expect(redact({ body: `{"flag":"--password","password":"${SECRET}"}` })).toEqual({ body: `{"flag":"--password","password":"${REDACTED}"}` });
    // The key after such a value keeps its name.
    for (const kept of ['{"flag":"--password","user":"bob"}', '{"a":"-pw", "n": 1}', `{"a"=>"--password", "user"=>"bob"}`]) expect(text(kept)).toBe(kept);
    // A Map whose value is a flag, as util.inspect writes it on one line or on several.
    expect(text(`Map(2) { 'flag' => '--password', 'session' => { a: '${SECRET}' } }`)).toBe(`Map(2) { 'flag' => '--password', 'session' => ${REDACTED}`);
    const long = inspect(new Map<string, unknown>([['flag', '--password'], ['session', { a: SECRET, b: 'x'.repeat(60) }], ['n', 1]]));
    expect(long).toContain('\n');
    expect(text(long)).toBe(`Map(3) {\n  'flag' => '--password',\n  'session' => ${REDACTED},\n  'n' => 1\n}`);
    const bracketed = inspect(new Map<string, unknown>([['user[password]', '--password'], ['session', { a: SECRET }]]));
    expect(text(bracketed)).toBe(`Map(2) {\n  'user[password]' => '${REDACTED}',\n  'session' => ${REDACTED}\n}`);
  });

  it('never takes a key for the element after a flag in an argument array written as text, even where no key belongs', () => {
    expect(text(`x ["--password", "token": "${SECRET}"]`)).toBe(`x ["--password", "token": "${REDACTED}"]`);
    expect(text(`x ["--password", "token"=>"${SECRET}"]`)).toBe(`x ["--password", "token"=>"${REDACTED}"]`);
    expect(text(`x ['-pw', 'auth' => '${SECRET}']`)).toBe(`x ['-pw', 'auth' => '${REDACTED}']`);
    // A value that is followed by anything else is the flag's, also in a call's arguments.
    expect(text(`x ["--password", "${SECRET}", "--host", "h:1"]`)).toBe(`x ["--password", "${REDACTED}", "--host", "h:1"]`);
    expect(text(`spawn('--password', '${SECRET}')`)).toBe(`spawn('--password', '${REDACTED}')`);
  });

  it('takes the element after a flag with blanks before the comma', () => {
    expect(text(`args=["--password" , "${SECRET}"]`)).toBe(`args=["--password" , "${REDACTED}"]`);
    expect(text(`args=[ '--token'\n  , '${SECRET}' ]`)).toBe(`args=[ '--token'\n  , '${REDACTED}' ]`);
  });

  it('reads bracketed keys of Ruby hashes and util.inspect Map entries (`"user[password]"=>…`)', () => {
    expect(text(`params {"user[password]"=>"${SECRET}", "user[name]"=>"bob"}`)).toBe(`params {"user[password]"=>"${REDACTED}", "user[name]"=>"bob"}`);
    expect(text(`{"password[0]"=>"${SECRET}", "password[1]" => "${SECRET}"}`)).toBe(`{"password[0]"=>"${REDACTED}", "password[1]" => "${REDACTED}"}`);
    expect(text(`Map(2) { 'user[password]' => '${SECRET}', 'user[name]' => 'bob' }`)).toBe(`Map(2) { 'user[password]' => '${REDACTED}', 'user[name]' => 'bob' }`);
    // And single-quoted ones of Python and JavaScript literals.
    expect(text(`{'user[password]': '${SECRET}', 'user[name]': 'bob'}`)).toBe(`{'user[password]': '${REDACTED}', 'user[name]': 'bob'}`);
    // ISPAPI's `PROPERTY[…][0] = …` lines are still no keys.
    expect(text('PROPERTY[PASSWORD][0] = x')).toBe('PROPERTY[PASSWORD][0] = x');
  });

  it('copies an object Map key that holds a secret, redacted, so that a console prints no secret in it', () => {
    const key = { token: SECRET, id: 1 };
    const out = redact({ map: new Map<unknown, unknown>([[key, 1], ['k', 2]]) });
    expect([...out.map]).toEqual([[{ token: REDACTED, id: 1 }, 1], ['k', 2]]);
    expect(key.token).toBe(SECRET);
    expect(inspect(out)).not.toContain(SECRET);
    // Each copy is a key of its own, even where the copy is text (a URL).
    const url = new URL(`https://h/?token=${SECRET}`);
    const two = redact(new Map<unknown, unknown>([[{ token: SECRET }, 1], [{ token: SECRET }, 2], [url, 3], [`https://h/?token=${REDACTED}`, 4]]));
    expect(two.size).toBe(4);
    expect(inspect(two)).not.toContain(SECRET);
    expect(String([...two.keys()][2])).toBe(`https://h/?token=${REDACTED}`);
  });

  it('keeps the other object Map keys as they are: no two become one, and the formats write them as before', () => {
    class Id {
      constructor(readonly n: number) {}
      toString(): string { return `id-${this.n}`; }
    }
    const ids = new Map([[new Id(1), 'a'], [new Id(2), 'b']]);
    const out = redact({ ids }).ids;
    expect([...out.keys()]).toEqual([...ids.keys()]);
    expect([...out.keys()][0]).toBe([...ids.keys()][0]);
    const bytes = new Map([[new Uint8Array(3), 1], [new Uint8Array(3), 2]]);
    expect(redact({ bytes }).bytes.size).toBe(2);
    const url = new Map<unknown, number>([[new URL('https://h/'), 1], ['https://h/', 2]]);
    expect(redact({ url }).url.size).toBe(2);
    // A key whose own getter throws is written as before (its `toString`), not the whole field as [Unreadable].
    const getter = Object.defineProperty({}, 'x', { enumerable: true, get: (): never => { throw new Error('thrown'); } });
    const lines: string[] = [];
    for (const format of ['json', 'pretty'] as const) createLogger({ format, write: (line) => lines.push(line) }).info('x', { ids, getter: new Map([[getter, 1]]) });
    expect(lines[0]).toContain('"ids":{"id-1":"a","id-2":"b"},"getter":{"[object Object]":1}}');
    // The pretty format writes object values as JSON strings (they hold quotes).
    expect(lines[1]!.endsWith(` ids=${JSON.stringify('{"id-1":"a","id-2":"b"}')} getter=${JSON.stringify('{"[object Object]":1}')}`)).toBe(true);
  });

  it('hides a secret in the text of a key: a Map or an object keyed by tokens, no entry lost', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJl';
    const other = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvdGhlciJ9.c2lnbmF0dXJl';
    const tokens = new Map<unknown, unknown>([[jwt, 'session 1'], [other, 'session 2'], ['plain', 3]]);
    const byToken = { [jwt]: 1, [other]: 2, [`password=${SECRET}`]: 3, [`token=${SECRET}`]: 4, [REDACTED]: 5, 'user.name': 'demo', 'a b': 6 };
    const out = redact({ tokens, sessions: byToken });
    // A Map's keys stay apart (each hidden one an object of its own, as a hidden object key is);
    // an object's hidden keys are numbered where another key has that text, as the formats number a Map's.
    expect([...out.tokens].map(([key, value]) => [String(key), value])).toEqual([[REDACTED, 'session 1'], [REDACTED, 'session 2'], ['plain', 3]]);
    expect(out.sessions).toEqual({ [REDACTED]: 5, [`${REDACTED}#2`]: 1, [`${REDACTED}#3`]: 2, [`password=${REDACTED}`]: REDACTED, [`token=${REDACTED}`]: REDACTED, 'user.name': 'demo', 'a b': 6 });
    const lines: string[] = [];
    for (const format of ['json', 'pretty'] as const) createLogger({ format, write: (line) => lines.push(line) }).info('sessions', { tokens, byToken });
    for (const line of lines) {
      for (const secret of [jwt, other, SECRET]) expect(line).not.toContain(secret);
    }
    expect(lines[0]).toContain(`"tokens":{"${REDACTED}":"session 1","${REDACTED}#2":"session 2","plain":3}`);
    // Linear in the number of keys that share a hidden text (each numbered from the last one).
    const many = Object.fromEntries(Array.from({ length: 50_000 }, (_, index) => [`token=${index}`, index]));
    let copied: Record<string, unknown> = {};
    expect(cpuMs(() => (copied = redact(many)))).toBeLessThan(3_000);
    expect(Object.keys(copied)).toHaveLength(50_000);
    expect(copied[`token=${REDACTED}#50000`]).toBe(49_999);
  });

  it('writes every entry of a Map in the formats, a key whose text an earlier key has with a number', () => {
    const lines: string[] = [];
    // A Symbol key is skipped, not the end: the entries after it are written.
    const map = new Map<unknown, unknown>([[1, 'number'], ['1', 'string'], [Symbol('s'), 'not written'], [{ token: SECRET }, 'a'], [{ token: SECRET }, 'b'], ['[object Object]#3', 'c'], [{}, 'd'], ['__proto__', 'p']]);
    for (const format of ['json', 'pretty'] as const) createLogger({ format, write: (line) => lines.push(line) }).info('x', { map });
    expect(lines[0]).not.toContain(SECRET);
    const written = '{"1":"number","1#2":"string","[object Object]":"a","[object Object]#2":"b","[object Object]#3":"c","[object Object]#4":"d","__proto__":"p"}';
    expect(lines[0]).toContain(`"map":${written}}`);
    expect(lines[1]!.endsWith(` map=${JSON.stringify(written)}`)).toBe(true);
  });

  it('takes linear time on long runs of the new key forms', () => {
    const runs = ['"a[0]"=>', "'a[a]' =>", "'a[a]': ", 'a[a]"', '%0Aa%20%3D', '%0Aa%20', '%0Aa%3Db%0A%20', '%0Aa+', '"-a"  ,', '["-a", "a"', '["-a", "a":', '["-a" , "a"=>', '"-a",', '["-a",\'', '&a[a]=', 'password=', 'password=&', 'a=&a', 'a=,', 'a=;a', 'x a[a] = ', 'x a[0] = ', 'a[0]', 'a[0][0]', '%5B0%5D', 'password[0]=', '"a"=>', '"a"', ':a=>', ':a', ':a ', '"--a",', "'--a', ", '"--password","', 'a= token= ', '%0Aa%3D%0A%20', '%0A%20', 'x=&a[a'];
    for (const run of runs) {
      for (const input of [run.repeat(100_000 / run.length), `x ${run.repeat(100_000 / run.length)}x`]) {
        // Tens of ms on a quiet machine; quadratic time would be tens of seconds (one rejected pattern took 37 s).
        expect(cpuMs(() => text(input)), JSON.stringify(run)).toBeLessThan(3_000);
      }
    }
    // Encoded command text ended by a raw line break: each `s_command=` scanned to it (7 s for 200 kB).
    for (const input of ['x=&' + 'a'.repeat(100_000), `${'s_command=a%3D'.repeat(14_000)}\nx`, `${'s_command=COMMAND%3DX '.repeat(5_000)}\n`, `:${'a'.repeat(100_000)}`, `:a${' '.repeat(100_000)}`, '["--a",' + ' '.repeat(100_000), '["--a"' + ' '.repeat(100_000), '["--a", "' + 'a'.repeat(100_000), '["--a", "a"' + ' '.repeat(100_000), `a[a]"${' '.repeat(100_000)}`, `s_command=a${'%20'.repeat(30_000)}`, `s_command=a%3D${'%0A%20'.repeat(30_000)}`, `"--${'a'.repeat(100_000)}"`, `x a[a]${' '.repeat(100_000)}`]) {
      expect(cpuMs(() => text(input))).toBeLessThan(3_000);
    }
  });

  it('takes linear time on a line of many leading blanks in text stored two bytes a character (one above U+00FF, or a secret marked)', () => {
    // Each shorter indentation was tried again to the line's end (V8 skips that search in Latin-1
    // text, which cannot hold the mark): 200,000 blanks took tens of seconds.
    for (const input of [`${' '.repeat(200_000)}token=x`, `${' '.repeat(200_000)}a=b \u20ac`, `${'\t'.repeat(200_000)}status: ok \u2713`, `x\n${' '.repeat(200_000)}password: ${SECRET}\n  y`]) {
      let out = '';
      expect(cpuMs(() => (out = text(input))), JSON.stringify(input.slice(-20))).toBeLessThan(3_000);
      expect(out).not.toContain(SECRET);
    }
    // What it cuts is as before: the mark's line and the lines indented below it, the blanks kept.
    expect(text(`  a: 1\n  password: {\n    x: '${SECRET}'\n  }\n  b: 2`)).toBe(`  a: 1\n  password: ${REDACTED}\n  b: 2`);
  });
});

describe('redact: secrets in percent-encoded values', () => {
  const redactor = createRedactor();
  const text = (input: string): string => redactor.text(input);
  // `times` layers of encodeURIComponent.
  const encode = (value: string, times: number): string => {
    for (let layer = 0; layer < times; layer++) value = encodeURIComponent(value);
    return value;
  };

  it('masks a secret in a value encoded one to four times, keeping the rest as it was; five encodings are the limit', () => {
    for (let times = 1; times <= 5; times++) {
      const input = `GET /login?next=${encode(`https://x.example/cb?state=1&access_token=${SECRET}&z=~`, times)}&lang=en`;
      // The mask itself is left readable, as in encoded command text (`PASSWORD%3D[REDACTED]`).
      const masked = `GET /login?next=${encode('https://x.example/cb?state=1&access_token=', times)}${REDACTED}${encode('&z=~', times)}&lang=en`;
      expect(text(input), `${times} encodings`).toBe(times <= 4 ? masked : input);
    }
    // A form body (searchParams, URLSearchParams: `+` for a blank), and strings inside values.
    const form = new URLSearchParams({ scope: 'a b', redirect_uri: `https://app.test/cb?code=1&id_token=${SECRET}` }).toString();
    expect(text(form)).toBe(`scope=a+b&redirect_uri=https%3A%2F%2Fapp.test%2Fcb%3Fcode%3D1%26id_token%3D${REDACTED}`);
    expect(redact({ error: { message: `POST /t failed: ${form}` }, next: encodeURIComponent(`/cb?password=${SECRET}`) }))
      .toEqual({ error: { message: `POST /t failed: scope=a+b&redirect_uri=https%3A%2F%2Fapp.test%2Fcb%3Fcode%3D1%26id_token%3D${REDACTED}` }, next: `%2Fcb%3Fpassword%3D${REDACTED}` });
    // The other secrets the redactor knows: a password in a URL, an auth header, command text.
    expect(text(`u=${encodeURIComponent(`redis://app:${SECRET}@db:6379`)}`)).toBe(`u=redis%3A%2F%2Fapp%3A${REDACTED}%40db%3A6379`);
    expect(text(`h=${encode(`Authorization: Bearer ${SECRET}`, 2)}`)).toBe(`h=Authorization%253A%2520${REDACTED}`);
    expect(text(`s_command=${encode(`COMMAND=X\nAUTH=${SECRET}\nDOMAIN=d.com`, 2)}`)).toBe(`s_command=COMMAND%253DX%250AAUTH%253D${REDACTED}%250ADOMAIN%253Dd.com`);
  });

  it('keeps the escapes around a mask as they were written, and values without a secret byte for byte', () => {
    // Lower-case escapes, `+`, a raw `/`: the rest of the value is not encoded anew.
    expect(text(`next=/cb%3fstate%3d1+2%26token%3d${SECRET}%26z%3d%7e`)).toBe(`next=/cb%3fstate%3d1+2%26token%3d${REDACTED}%26z%3d%7e`);
    // Each secret at its own depth; what follows a nested value stays where it was.
    expect(text(`x=%3Fnext%3D%252Fcb%253Ftoken%253D${SECRET}%26b%3D1`)).toBe(`x=%3Fnext%3D%252Fcb%253Ftoken%253D${REDACTED}%26b%3D1`);
    expect(text(`x=%2Fcb%253Ftoken%253D${SECRET}%26token%3D${SECRET}`)).toBe(`x=%2Fcb%253Ftoken%253D${REDACTED}%26token%3D${REDACTED}`);
    // Bad escapes (not hex, not UTF-8, cut short) next to a secret stay as they are.
    expect(text(`next=%2Fcb%3Ftoken%3D${SECRET}%26x%3D%zz%E0%A4%FF%`)).toBe(`next=%2Fcb%3Ftoken%3D${REDACTED}%26x%3D%zz%E0%A4%FF%`);
    const plain = [
      `a=${encode('https://x.example/cb?a=1&b=2+3&c=€', 3)}`, 'q=a+b%26c%3Dd&price=100%25&odd=%25zz', `x=${encode('/a?b=%zz&c=%E0%A4', 2)}%`,
      'p=%2fcb%3fx%3d1', 'bad=%E0%A4%zz%%FF%C0%AF', `n=${encode('token_type=Bearer&scope=a b', 4)}`, '%3D%3D', '100% done',
    ];
    expect(text(`${plain.join('&')}&next=%2Fcb%3Ftoken%3D${SECRET}`)).toBe(`${plain.join('&')}&next=%2Fcb%3Ftoken%3D${REDACTED}`);
    for (const input of plain) expect(text(input)).toBe(input);
  });

  it('masks a secret key after any other character in a decoded value, its value read as a query reads it', () => {
    // The key after a `/`, `|` or `+` (a blank), or with blanks around its `=`; its value to the next `&`: a `,` or `;` does not end it.
    expect(text('next=%2Fcb%2Ftoken%3Dabc123')).toBe(`next=%2Fcb%2Ftoken%3D${REDACTED}`);
    expect(text('next=a%7Cpassword%3Dabc123')).toBe(`next=a%7Cpassword%3D${REDACTED}`);
    expect(text('next=%2Fcb%3Fmsg%3Dbad%2Bpassword%253Dabc123')).toBe(`next=%2Fcb%3Fmsg%3Dbad%2Bpassword%253D${REDACTED}`);
    expect(text(`x=${encode('a:token = abc', 2)}`)).toBe(`x=a%253Atoken%2520%253D%2520${REDACTED}`);
    expect(text(`next=${encode('/cb?token=ab,cd;ef&x=1', 1)}`)).toBe(`next=%2Fcb%3Ftoken%3D${REDACTED}%26x%3D1`);
    // Other keys, and a secret key's name in a value, stay.
    for (const input of [`next=${encode('/cb/user=abc|page=2&q=token', 2)}`, `x=${encode('/tokens=1&mytoken=2&token_type=Bearer', 1)}`]) expect(text(input)).toBe(input);
  });

  it('reads a `+` in an encoded value as a blank, as a form writes one', () => {
    expect(text('data=%7B%22password%22%3A+%22hunter2xx%22%7D')).toBe(`data=%7B%22password%22%3A+%22${REDACTED}%22%7D`);
    expect(text('next=a+b+token%3Dabc123&c=1')).toBe(`next=a+b+token%3D${REDACTED}&c=1`);
    // Also after an auth scheme in a value without escapes.
    expect(text('h=Bearer+abcdefgh123&c=1')).toBe(`h=Bearer+${REDACTED}&c=1`);
    // Between two masks it is encoded anew as a blank, not as `%2B` (a `+`).
    expect(text('next=%2Fcb%3Ftoken%3Da%26q%3Da+b%26password%3Dc')).toBe(`next=%2Fcb%3Ftoken%3D${REDACTED}%26q%3Da%20b%26password%3D${REDACTED}`);
  });

  it('masks a form value with blanks written as `+` whole, and finds a key written with brackets', () => {
    expect(text('next=https%3A%2F%2Fa%2Fcb%3Fpassword%3Dhunter+two%26x%3D1')).toBe(`next=https%3A%2F%2Fa%2Fcb%3Fpassword%3D${REDACTED}%26x%3D1`);
    expect(text('x=%2Fcb%3Ftoken%3DAbC+dEf%2Fgh%3D%3D')).toBe(`x=%2Fcb%3Ftoken%3D${REDACTED}`);
    expect(text('next=%7B%22api%5Bkey%5D%22%3A%22abc%22%7D')).toBe(`next=%7B%22api%5Bkey%5D%22%3A%22${REDACTED}%22%7D`);
    expect(text('next=api%255Bkey%255D%253Dabc')).toBe(`next=api%255Bkey%255D%253D${REDACTED}`);
  });

  it('leaves the mask readable when the secret starts or ends with a character of the mask', () => {
    expect(text('next=%2Fcb%3Ftoken%3Dab%5D')).toBe(`next=%2Fcb%3Ftoken%3D${REDACTED}`);
    expect(text('next=%2Fcb%3Ftoken%3D%5Bab%26x%3D1')).toBe(`next=%2Fcb%3Ftoken%3D${REDACTED}%26x%3D1`);
    expect(text(`next=${encode('/cb?token=[RED]&x=1', 2)}`)).toBe(`next=%252Fcb%253Ftoken%253D${REDACTED}%2526x%253D1`);
    // A mask an outer layer put in stays where it is, its `&` as written.
    expect(text(`x=${encode(`/cb?password=${SECRET}&next=${encode(`/t?token=${SECRET}`, 1)}`, 1)}`)).toBe(`x=%2Fcb%3Fpassword%3D${REDACTED}%26next%3D%252Ft%253Ftoken%253D${REDACTED}`);
  });

  it('searches each decoded layer that may hold a secret: a key however written, a JSON escape, an auth scheme, a JWT, a password in a URL, a marker', () => {
    // A layer without any of these is not searched: nothing else in it is a key's name.
    const custom = createRedactor({ keys: ['x-code'] });
    const value = 'Qv7xyzZ123';
    const jwt = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.';
    for (const [plain, masked] of [
      [`/cb?a=1&X.Code=${value}`, `/cb?a=1&X.Code=${REDACTED}`],
      [`{"\\u0078code":"${value}"}`, `{"\\u0078code":"${REDACTED}"}`],
      [`h: Bearer ${value}`, `h: Bearer ${REDACTED}`],
      [`/cb#a ${jwt}`, `/cb#a ${REDACTED}`],
      ['redis://app:-_.@db', `redis://app:${REDACTED}@db`],
      // The redactor's marker, written as U+FFFD in text with a separator.
      ['a=\uE000&b=1', 'a=\uFFFD&b=1'],
    ] as const) expect(custom.text(`next=${encode(plain, 2)}`)).toBe(`next=${encode(masked, 2).replaceAll('%255BREDACTED%255D', REDACTED)}`);
  });

  it('takes linear time on deep and long nesting of escapes, without recursion', () => {
    const secret = `next=${encode(`/cb?token=${SECRET}`, 4)}`;
    const masked = `next=${encode('/cb?token=', 4)}${REDACTED}`;
    // 100,000 layers of `%25`; a long run of them; bad runs and characters encoding would escape, four layers down.
    for (const long of [`x=%25${'25'.repeat(100_000)}`, `x=${'%25'.repeat(66_000)}`, `x=%25252541${'%FFa'.repeat(50_000)}`, `x=%25252541${'/'.repeat(200_000)}`, `x=${'%2541'.repeat(40_000)}`]) {
      // Tens of ms on a quiet machine; a recursive decoding ran out of stack at thousands of layers.
      expect(cpuMs(() => {
        expect(text(`${long}&${secret}`)).toBe(`${long}&${masked}`);
      })).toBeLessThan(3_000);
    }
    // Thousands of short encoded values, 200 kB of each; 3 MB of the two that took longest when each
    // layer of each value was searched (about 2 s a MB; now about 0.2-0.4 s a MB).
    for (const [value, size] of [[' %253D', 3e6], ['=%3D', 3e6], ['a=%3D&', 2e5], [' %2525253D', 2e5], ['=%41', 2e5], ["'%3A", 2e5], [' %7B%22a%22%3A1%7D', 2e5], [' %FF', 2e5], [' +%41', 2e5], ['a=,', 2e5]] as const) {
      const long = value.repeat(size / value.length);
      expect(cpuMs(() => {
        expect(text(`${long} ${secret}`)).toBe(`${long} ${masked}`);
      }), JSON.stringify(value)).toBeLessThan(3_000);
    }
  });
});

describe('redact: text patterns, pinned', () => {
  // Exact outputs of the text patterns for inputs at the edges of each pattern: the line leads,
  // blanks and separators, encoded commands, query and form separators, quoted values, JSON
  // members, auth schemes and text that must stay as it is. A change to a pattern must keep all.
  const redactor = createRedactor();
  it.each([
    ["password=abc def", "password=[REDACTED]"],
    ["  \tpassword \t= \tabc def", "  \tpassword \t= \t[REDACTED]"],
    ["token:abc", "token:[REDACTED]"],
    ["a=1\npassword=x y\nb=2", "a=1\npassword=[REDACTED]\nb=2"],
    ["a=1\r\npassword=x y\r\nb=2", "a=1\r\npassword=[REDACTED]\r\nb=2"],
    ["x, token: abc def\nnext: 1", "x, token: [REDACTED]\nnext: 1"],
    ["x,\ntoken: abc", "x,\ntoken: [REDACTED]"],
    ["{token=abc}", "{token=[REDACTED]"],
    ["note={ pw: abc }, ok", "note={ pw: [REDACTED]"],
    ["password=\"quoted value\" tail", "password=\"[REDACTED]\""],
    ["password=", "password=[REDACTED]"],
    ["password=\n", "password=[REDACTED]\n"],
    ["Set-Cookie: a=b; c=d", "Set-Cookie: [REDACTED]"],
    ["x-api-key: k1 k2", "x-api-key: [REDACTED]"],
    // `.` separates a key's parts, as `-` and `_` do: a secret key at its end makes it secret.
    ["proxy.authorization: x", "proxy.authorization: [REDACTED]"],
    ["1password=abc", "1password=abc"],
    // Plain text is not read as a query (only a decoded layer of an encoded value is): a key after
    // a `/` or `|` stays with its value, as do paths and bracketed fields of ordinary log lines.
    ["/cb/user=abc|page=2 path/tokens=1 x:token_type = Bearer", "/cb/user=abc|page=2 path/tokens=1 x:token_type = Bearer"],
    ["[req=abc123][session=9f8e] handled path /var/lib/app/session=1/file", "[req=abc123][session=9f8e] handled path /var/lib/app/session=1/file"],
    // After an auth scheme that ends a line, the next header's name is no credential (its value is left
    // to its own key), but a credential on its own line is.
    ["WWW-Authenticate: Bearer\nAuthorization: abcdefgh123", "WWW-Authenticate: Bearer\nAuthorization: [REDACTED]"],
    ["Bearer +\nAuthorization: abcdefgh123", "Bearer +\nAuthorization: [REDACTED]"],
    ["auth: Bearer \nQv7secretZ(", "auth: [REDACTED]\n[REDACTED]("],
    ["x Bearer \nQv7secretZ(", "x Bearer \n[REDACTED]("],
    // A number before a separator is no key: the secret key after it is found.
    ["HTTP 401: token: abc def", "HTTP 401: token: [REDACTED]"],
    ["step 3: --password abc --host db", "step 3: --password [REDACTED] --host db"],
    ["mac 00:1a:2b:3c:4d:5e", "mac 00:1a:2b:3c:4d:5e"],
    ["a=1=2=3=4=5 2001:db8:0:0:0:0:2:1", "a=1=2=3=4=5 2001:db8:0:0:0:0:2:1"],
    ["status: 401, note: ok, secret: abc, more: 1", "status: 401, note: ok, secret: [REDACTED]"],
    ["url: http://h/?a=1&token=abc&b=2", "url: http://h/?a=1&token=[REDACTED]&b=2"],
    ["s_command=COMMAND%3DX%0APASSWORD%3Dab%26cd%0ADOMAIN%3Dd.com", "s_command=COMMAND%3DX%0APASSWORD%3D[REDACTED]%0ADOMAIN%3Dd.com"],
    ["S_COMMAND=auth%3Dabc&s_login=x", "S_COMMAND=auth%3D[REDACTED]&s_login=x"],
    ["cmd=x%0Dpassword%3dabc%0Dnext%3D1", "cmd=x%0Dpassword%3d[REDACTED]%0Dnext%3D1"],
    ["body %0Aotp%3D123456", "body %0Aotp%3D[REDACTED]"],
    ["%0Apassword%3D", "%0Apassword%3D[REDACTED]"],
    ["https://h.test/p?user=u&password=abc&x=1", "https://h.test/p?user=u&password=[REDACTED]&x=1"],
    ["a=1;token=abc;b=2", "a=1;token=[REDACTED];b=2"],
    ["f(token=abc) g", "f(token=[REDACTED] g"],
    ["say 'token=abc' done", "say 'token=[REDACTED]' done"],
    ["x \"pw=abc\" y", "x \"pw=[REDACTED]\" y"],
    ["password%3Dabc&x=1", "password%3D[REDACTED]&x=1"],
    ["login token=\"a \\\" b\" c", "login token=\"[REDACTED]\" c"],
    ["token=abc,next=1", "token=[REDACTED]"],
    ["mytoken=abc", "mytoken=abc"],
    ["tokens=abc", "tokens=abc"],
    ["client-secret=abc clientSecret=def CLIENT_SECRET=ghi", "client-secret=[REDACTED]"],
    ["id.token=abc", "id.token=[REDACTED]"],
    ["_token=abc def", "_token=[REDACTED]"],
    ["x?__access-token__=abc&y=1", "x?__access-token__=[REDACTED]&y=1"],
    ["a -5:3 _1=2 -x=3 __=4", "a -5:3 _1=2 -x=3 __=4"],
    ["{\"-token\" : \"abc\"}", "{\"-token\" : \"[REDACTED]\"}"],
    ["{\"\\u0074oken\":\"abc\"}", "{\"\\u0074oken\":\"[REDACTED]\"}"],
    ["{\"\\x74oken\":\"abc\"}", "{\"\\x74oken\":\"abc\"}"],
    ["[\"a\", \":\", {\"token\":\"abc\"}]", "[\"a\", \":\", {\"token\":\"[REDACTED]\"}]"],
    ["{\"password\":\"abc\",\"user\":\"u\"}", "{\"password\":\"[REDACTED]\",\"user\":\"u\"}"],
    ["{\"password\" : 123, \"n\": [1,2]}", "{\"password\" : [REDACTED], \"n\": [1,2]}"],
    ["{\"token\":{\"inner\":\"x\",\"access_token\":\"y\"}}", "{\"token\":\"[REDACTED]\"}"],
    ["{\"token\":[\"a\",\"b\"]}", "{\"token\":\"[REDACTED]\"}"],
    ["{\"data\":{\"inner\":\"x\",\"access_token\":\"y\"}}", "{\"data\":{\"inner\":\"x\",\"access_token\":\"[REDACTED]\"}}"],
    ["{\"token\":null,\"pw\":true}", "{\"token\":[REDACTED],\"pw\":[REDACTED]}"],
    // A JSON string is searched as the text it encodes, so JSON inside it is redacted too.
    ["{\"a\":\"b\\\"token\\\":\\\"c\"}", "{\"a\":\"b\\\"token\\\":\\\"[REDACTED]\\\"\"}"],
    ["[\"token\",\"abc\"]", "[\"token\",\"abc\"]"],
    ["Authorization: Bearer abcdefgh.ijk", "Authorization: [REDACTED]"],
    ["header bearer abcdefgh", "header bearer [REDACTED]"],
    ["bearer abcdefg", "bearer abcdefg"],
    ["Basic dXNlcjpwYXNz==", "Basic [REDACTED]"],
    ["h=Bearer+abcdefgh123&a=1", "h=Bearer+[REDACTED]&a=1"],
    ["DIGEST   abcdefghijkl rest", "DIGEST   [REDACTED] rest"],
    ["xBearer abcdefghijk", "xBearer abcdefghijk"],
    ["Bearer\tabcdefghijk", "Bearer\t[REDACTED]"],
    ["Bearer abc~def+ghi/j=", "Bearer [REDACTED]"],
    ["CODE = 200\nDESCRIPTION = Command completed successfully", "CODE = 200\nDESCRIPTION = Command completed successfully"],
    ["time: 12:00:00 ok", "time: 12:00:00 ok"],
    ["tokens acquired: 1, user=demo", "tokens acquired: 1, user=demo"],
    ["no separators at all", "no separators at all"],
    ["ratio 3:4 and a=b", "ratio 3:4 and a=b"],
    ["e-mail: a@b.c", "e-mail: a@b.c"],
    // A key that ends in a secret key after `-`, `_` or `.`; a JWT anywhere; a URL fragment; a
    // secret flag as the value of a key; an empty secret value, the rest of its line kept.
    ["SESSIONKIT_PASSWORD=abc def", "SESSIONKIT_PASSWORD=[REDACTED]"],
    ["x X-Auth-Token=abc&y=1", "x X-Auth-Token=[REDACTED]&y=1"],
    ["{\"db.password\":\"abc\"}", "{\"db.password\":\"[REDACTED]\"}"],
    ["token_type=Bearer&tokenizer=x", "token_type=Bearer&tokenizer=x"],
    ["x eyJa.eyJb.c y", "x [REDACTED] y"],
    ["x=eyJa.eyJb", "x=eyJa.eyJb"],
    ["https://h/cb#access_token=abc&state=1", "https://h/cb#access_token=[REDACTED]&state=1"],
    ["args: --password abc --v", "args: --password [REDACTED] --v"],
    ["args=--pw 'a b' --v", "args=--pw '[REDACTED]' --v"],
    ["args: --pw key=abc", "args: --pw key=abc"],
    ["x ?password=&user=u", "x ?password=[REDACTED]&user=u"],
  ])('%j', (input, expected) => {
    expect(redactor.text(input)).toBe(expected);
  });
});

describe('redact: camelCase keys, Errors as text, long strings, [name, value] pairs', () => {
  const redactor = createRedactor();
  const text = (input: string): string => redactor.text(input);

  // A camelCase key is secret exactly when its snake_case form is, in objects and in text alike.
  it.each([
    ['sessionToken', 'session_token', true], ['authToken', 'auth_token', true], ['dbPassword', 'db_password', true],
    ['currentPassword', 'current_password', true], ['ispapiPassword', 'ispapi_password', true], ['s3Secret', 's3_secret', true],
    ['oauth2Token', 'oauth2_token', true], ['sessionId', 'session_id', true], ['nextPageToken', 'next_page_token', true],
    ['tokenType', 'token_type', false], ['passwordPolicy', 'password_policy', false], ['expiresIn', 'expires_in', false],
    ['tokenUrl', 'token_url', false], ['authorizationEndpoint', 'authorization_endpoint', false], ['passwordHint', 'password_hint', false],
    ['refreshTokenExpiresIn', 'refresh_token_expires_in', false], ['sessionCount', 'session_count', false],
    // After a run of capitals, its last one starts the next word (`APIToken` is `API_Token`); a
    // single capital before a word stays in it (`OAuth` is one word, not `o_auth`).
    ['APIToken', 'API_Token', true], ['DBPassword', 'DB_Password', true], ['OAuthSecret', 'OAuth_Secret', true], ['getSSOToken', 'get_SSO_Token', true],
    ['useOAuth', 'use_OAuth', false], ['OAuthProvider', 'OAuth_Provider', false], ['APITokenType', 'API_Token_Type', false],
  ])('takes %s as it takes %s (secret: %s)', (camel, snake, secret) => {
    expect(redactor.isSecretKey(camel)).toBe(secret);
    expect(redactor.isSecretKey(snake)).toBe(secret);
    expect(redact({ [camel]: SECRET, user: 'demo' })).toEqual({ [camel]: secret ? REDACTED : SECRET, user: 'demo' });
    for (const form of ['%k=%s&x=1', '{"%k":"%s","x":1}', 'x %k: %s y\nnext', "{'%k': '%s'}", 'GET /a?b=1&%k=%s#f', 'next=%2Fcb%3F%k%3D%s', '--%k %s --v', 'user[%k]=%s']) {
      const written = (key: string): string => form.replace('%k', key).replace('%s', SECRET);
      expect(text(written(camel)), form).toBe(text(written(snake)).replace(snake, camel));
      expect(text(written(camel)).includes(SECRET), form).toBe(!secret);
    }
  });

  it('reads a case change between a small letter or digit and a capital, or before the last of a run of capitals, and not inside an escape', () => {
    for (const key of ['X-Session-Token', 'MY_API_KEY', 'user%5BdbPassword%5D', 'password%5B0%5D', 'user[authToken]', 'db.userPassword']) expect(redactor.isSecretKey(key), key).toBe(true);
    // The last capital of a run starts the next word when a small letter follows it.
    for (const key of ['APIToken', 'OAuthSecret', 'DBPassword', 'JWTSecret', 'user[APIToken]', 'user%5BDBPassword%5D', 'X_APIToken']) expect(redactor.isSecretKey(key), key).toBe(true);
    // Capitals alone are one word (`SESSIONTOKEN`), and so is a single capital before a word (`OAuth`).
    for (const key of ['SESSIONTOKEN', 'Tokenizer', 'passwordless', 'OAuth', 'useOAuth', 'IDs', 'OTPs', 'URLSessionCount']) expect(redactor.isSecretKey(key), key).toBe(false);
  });

  // `String(error)` and an Error's stack start with `Name: message`; after that `Name: ` the
  // patterns took a secret key of the message for the value of a key `Name`.
  it.each([
    `'password': '${SECRET}'`, `password => '${SECRET}'`, `(password => ${SECRET}`, `'token' = "${SECRET}"`,
    `"api_key"=>'${SECRET}'`, `'cookie'%3D${SECRET}`, `user[password] => ${SECRET}`,
  ])('hides in an Error\'s stack and text what its message hides: %s', (message) => {
    class AuthError extends Error {
      override name = 'AuthError';
    }
    for (const error of [new Error(message), new TypeError(message), new AuthError(message)]) {
      const out = redact({ error }).error as unknown as { message: string; stack: string };
      expect(out.message).not.toContain(SECRET);
      expect(out.stack).not.toContain(SECRET);
      expect(out.stack.startsWith(`${error.name}: ${out.message}`)).toBe(true);
      expect(text(String(error))).toBe(`${error.name}: ${text(message)}`);
      expect(text(error.stack!)).not.toContain(SECRET);
    }
    expect(text(`TypeError [ERR_X]: ${message}`)).toBe(`TypeError [ERR_X]: ${text(message)}`);
    // A message that is not a string (untyped code) is written as its text: `Error: …`.
    const lines: string[] = [];
    createLogger({ format: 'json', write: (line) => lines.push(line) }).error(new Error(message) as unknown as string);
    expect(lines[0]).not.toContain(SECRET);
  });

  it('hides in the stack what the message hides whatever the Error\'s name, the frames below kept', () => {
    class Failure extends Error {
      override name = 'Failure';
    }
    for (const message of [`'password': '${SECRET}'`, `password => ${SECRET}`, `'token' = "${SECRET}"`]) {
      const out = redact({ error: new Failure(message) }).error as unknown as { message: string; stack: string };
      expect(out.stack.startsWith(`Failure: ${out.message}\n    at `)).toBe(true);
      expect(out.stack).not.toContain(SECRET);
    }
  });

  it('searches an Error\'s stack once: the frames after `name: message`, not the whole stack again', () => {
    const error = new Error('request failed', { cause: new Error('socket hang up') });
    const frames = error.stack!.slice(error.stack!.indexOf('\n'));
    // Each search of a text starts with a `replace` on it: those on text holding the frames.
    const searches = (value: unknown): number => {
      const spy = vi.spyOn(String.prototype, 'replace');
      try {
        redact(value);
        return spy.mock.contexts.filter((context) => String(context).includes(frames)).length;
      } finally {
        spy.mockRestore();
      }
    };
    expect(searches(frames)).toBeGreaterThan(0);
    expect(searches({ error })).toBe(searches(frames));
    // A stack under a secret key of the options stays hidden whole.
    expect(redact({ error }, { keys: ['stack'] }).error).toMatchObject({ message: 'request failed', stack: REDACTED });
  });

  // INLINE reads `Error: 'password'` as a key `Error` and its value: the secret after it was no
  // key's where the Error's text is not at the start of the string.
  it.each([
    [`login failed: ${String(new Error(`'password': '${SECRET}'`))}`, `login failed: Error: 'password': '${REDACTED}'`],
    [`Error: outer\n    at f (a.js:1:1)\ncaused by: Error: 'token' => '${SECRET}'\n    at g (a.js:2:2)`, `Error: outer\n    at f (a.js:1:1)\ncaused by: Error: 'token' => '${REDACTED}'\n    at g (a.js:2:2)`],
    [`Failure: 'api_key' = "${SECRET}" x`, `Failure: 'api_key' = "${REDACTED}" x`],
    [`[custom] Error: 'user[password]': ${SECRET}, 'user': 'bob'`, `[custom] Error: 'user[password]': ${REDACTED}, 'user': 'bob'`],
    [`x: 'cookie'%3D${SECRET}&a=1`, `x: 'cookie'%3D${REDACTED}&a=1`],
    // Not a secret key: kept as it was.
    [`failed: Error: 'status': 'E1'`, `failed: Error: 'status': 'E1'`],
  ])('hides the value of a quoted secret key after a separator: %s', (input, output) => {
    expect(text(input)).toBe(output);
  });

  // Texts a fuzz found where reading such a string as a key instead (in INLINE, or inside a value
  // too) kept what was hidden before.
  it.each([
    [`Failure: 'name'::api_key\t=>\t'${SECRET}'`, `Failure: 'name'::api_key\t=>\t'${REDACTED}'`],
    [`k='x-y:"otp" = { | "sessionToken": '${SECRET}'`, `k='x-y:"otp" = ${REDACTED}`],
    [`q=a%3A%20%22secret%22%253DsessionToken%3D%20name%3D${SECRET}`, `q=a%3A%20%22secret%22%253DsessionToken%3D%20${REDACTED}`],
    [`q=Error%3A%20%22X-Auth-Token%22%253Dotp%20%3D%20${SECRET}&z=1`, `q=Error%3A%20%22X-Auth-Token%22%253Dotp%20%3D%20${REDACTED}&z=1`],
  ])('still hides what it hid before around a quoted key after a separator: %s', (input, output) => {
    expect(text(input)).toBe(output);
  });

  it('hides what an inner Error hides in a message, stack or util.inspect output that holds its text', () => {
    const inner = new Error(`'password': '${SECRET}'`);
    const outer = new Error(`login failed: ${String(inner)}`);
    expect(JSON.stringify(redact({ outer }))).not.toContain(SECRET);
    expect(text(inspect(new Error('outer', { cause: inner })))).not.toContain(SECRET);
    expect(text(`Error: outer\n    at f (a.js:1:1)\ncaused by: ${inner.stack!}`)).not.toContain(SECRET);
    const lines: string[] = [];
    createLogger({ format: 'json', write: (line) => lines.push(line) }).error(`login failed: ${String(inner)}`);
    expect(lines[0]).toContain(`login failed: Error: 'password': '${REDACTED}'`);
  });

  it('keeps the frames of a stack below a message it redacts', () => {
    const out = redact(new Error(`'password': '${SECRET}'`)) as unknown as { stack: string };
    expect(out.stack.startsWith(`Error: 'password': '${REDACTED}'\n    at `)).toBe(true);
    // Also below a secret on the message's last line, which read with the stack as one text takes
    // the indented frames for the rest of its value.
    const { stack } = redact(new Error(`login failed\npassword: ${SECRET}`)) as unknown as { stack: string };
    expect(stack.startsWith(`Error: login failed\npassword: ${REDACTED}\n    at `)).toBe(true);
  });

  it('searches megabytes of one string without throwing (the patterns take runs of characters, not one at a time)', () => {
    // An upload response with a large base64 member, as the text of a message and as a field.
    const body = JSON.stringify({ name: 'report.pdf', content: Buffer.alloc(6.5e6, 1).toString('base64') });
    expect(body.length).toBeGreaterThan(8e6);
    expect(text(`upload response: ${body}`)).toBe(`upload response: ${body}`);
    expect(redact({ body })).toEqual({ body });
    const long = 'QUJD'.repeat(2.2e6);
    expect(text(`x="${long}" y`)).toBe(`x="${long}" y`);
    expect(text(`{\\"x\\":\\"${long}\\"}`)).toBe(`{\\"x\\":\\"${long}\\"}`);
    expect(text(`{"n":${'1'.repeat(8e6)}}`)).toHaveLength(8e6 + 6);
    expect(text(`{"token":"${long}","n":1}`)).toBe(`{"token":"${REDACTED}","n":1}`);
    expect(text(`login --password "${long}" --v`)).toBe(`login --password "${REDACTED}" --v`);
    const lines: string[] = [];
    createLogger({ format: 'json', write: (line) => lines.push(line) }).info(`upload response: ${body}`);
    expect(lines).toHaveLength(1);
  });

  it('answers [REDACTED] for text whose search a pattern cannot finish, and never throws', () => {
    // Millions of lines indented below a secret key: cutting them is more than the regexp stack
    // holds (a RangeError from 2.5 million lines on Node 20). Nothing of the text is kept.
    const input = `token: x\n  ${SECRET}\n${'  a\n'.repeat(5e6)}`;
    let out = '';
    expect(() => (out = text(input))).not.toThrow();
    expect(out).not.toContain(SECRET);
    expect(out.length).toBeLessThan(100);
  });

  it('redacts the value of a [name, value] pair in a list, as of a Map entry', () => {
    const headers: [string, string][] = [['x-api-key', SECRET], ['Authorization', `Basic ${SECRET}`], ['accept', 'application/json']];
    const hidden = [['x-api-key', REDACTED], ['Authorization', REDACTED], ['accept', 'application/json']];
    // fetch's `headers` as tuples, `Object.entries()`, `[...new Headers()]` (names in lower case, sorted).
    expect(redact({ init: { method: 'POST', headers } })).toEqual({ init: { method: 'POST', headers: hidden } });
    expect(redact(Object.entries({ password: SECRET, user: 'demo', session: { id: SECRET } }))).toEqual([['password', REDACTED], ['user', 'demo'], ['session', REDACTED]]);
    expect(redact({ headers: [...new Headers(headers)] })).toEqual({ headers: [['accept', 'application/json'], ['authorization', REDACTED], ['x-api-key', REDACTED]] });
    const lines: string[] = [];
    createLogger({ format: 'json', write: (line) => lines.push(line) }).info('fetch', { headers });
    expect(lines[0]).not.toContain(SECRET);
    // Only a pair in a list: a list of two names under a key is kept, as a longer one is.
    const lists = { allowedHeaders: ['Authorization', 'Content-Type'], pair: ['token', 'x'] };
    expect(redact(lists)).toEqual(lists);
    expect(redact([['token', 'a', 'b'], ['user', 'demo']])).toEqual([['token', 'a', 'b'], ['user', 'demo']]);
  });

  it('redacts the value of a { name, value } entry under a secret name: HAR headers, a Kubernetes env list, { Key, Value } tags', () => {
    const input = {
      headers: [{ name: 'X-Api-Key', value: SECRET }, { name: 'Cookie', value: `sid=${SECRET}` }, { name: 'Accept', value: 'application/json' }],
      env: [{ name: 'DB_PASSWORD', value: SECRET }, { name: 'DB_HOST', value: 'db' }],
      form: [{ key: 'password', value: SECRET, type: 'text' }],
      tags: [{ Key: 'api_token', Value: SECRET }, { Key: 'team', Value: 'ops' }],
      nested: { name: 'client_secret', value: { raw: SECRET } },
    };
    expect(redact(input)).toEqual({
      headers: [{ name: 'X-Api-Key', value: REDACTED }, { name: 'Cookie', value: REDACTED }, { name: 'Accept', value: 'application/json' }],
      env: [{ name: 'DB_PASSWORD', value: REDACTED }, { name: 'DB_HOST', value: 'db' }],
      form: [{ key: 'password', value: REDACTED, type: 'text' }],
      tags: [{ Key: 'api_token', Value: REDACTED }, { Key: 'team', Value: 'ops' }],
      nested: { name: 'client_secret', value: REDACTED },
    });
    const lines: string[] = [];
    createLogger({ format: 'json', write: (line) => lines.push(line) }).info('request', input);
    createLogger({ format: 'pretty', write: (line) => lines.push(line) }).info('request', input);
    expect(lines.join('\n')).not.toContain(SECRET);
    // A name without a value, and an Error (its name is no key's), are as before.
    const error = new Error('refused');
    expect(redact({ name: 'password', label: 'x' })).toEqual({ name: 'password', label: 'x' });
    expect(redact({ error })).toMatchObject({ error: { name: 'Error', message: 'refused' } });
  });
});

describe('redact: auth schemes, parentheses and escaped quotes after a quoted key, Error names without `Error`', () => {
  const redactor = createRedactor();
  const text = (input: string): string => redactor.text(input);
  // Shorter than the eight characters a credential needs to be found without a key, and one with
  // characters a credential pattern does not take.
  const SHORT = 's3cr3t';

  // The scheme and its credential are one value, hidden whole, as after an unquoted key
  // (`authorization: Bearer …` is `authorization: [REDACTED]`); the rest of a literal is kept.
  it.each([
    [`'token': Bearer ${SHORT}`, `'token': ${REDACTED}`],
    [`{'authorization': Basic ${SHORT}, 'user': 'bob'}`, `{'authorization': ${REDACTED}, 'user': 'bob'}`],
    [`"authorization": Basic ${SHORT}, "user": "bob"`, `"authorization": ${REDACTED}, "user": "bob"`],
    [`{\\"authorization\\": Bearer ${SHORT}}`, `{\\"authorization\\": ${REDACTED}}`],
    [`Map(1) { 'authorization' => Bearer ${SHORT} }`, `Map(1) { 'authorization' => ${REDACTED} }`],
    [`login failed: 'token': BEARER ${SHORT}`, `login failed: 'token': ${REDACTED}`],
    [`'auth': Digest a:b@c, 'n': 1`, `'auth': ${REDACTED}, 'n': 1`],
    [`x authorization=Bearer ${SHORT}, y=1`, `x authorization=${REDACTED}, y=1`],
    [`'token': Bearer ${SECRET}`, `'token': ${REDACTED}`],
    [`authorization: Bearer ${SHORT}`, `authorization: ${REDACTED}`],
    // Not under a secret key: kept.
    [`{'kind': Bearer ${SHORT}}`, `{'kind': Bearer ${SHORT}}`],
  ])('hides an auth scheme\'s credential after a secret key: %s', (input, output) => {
    expect(text(input)).toBe(output);
  });

  // `(` before a quoted value opens a bracket, as `[` and `{` do: the line is cut after the key.
  // A value in escaped quotes (`\"…\"`: JSON inside a string) is one value, hidden whole.
  it.each([
    [`'password': ("${SHORT}")`, `'password': ${REDACTED}`],
    [`x 'password': ( '${SHORT}', 'two' ), 'user': 'bob'`, `x 'password': ${REDACTED}`],
    [`{"password": ("${SHORT}")}`, `{"password": ${REDACTED}`],
    [`{"password": (\\"${SHORT}\\")}`, `{"password": ${REDACTED}`],
    [`'password' => ("${SHORT}")`, `'password' => ${REDACTED}`],
    [`'password': \\"${SHORT}\\"`, `'password': \\"${REDACTED}\\"`],
    [`{'password': \\"${SHORT} two\\", 'user': 'bob'}`, `{'password': \\"${REDACTED}\\", 'user': 'bob'}`],
    [`'password': \\"a\\\\\\"b ${SHORT}\\", 'n': 1`, `'password': \\"${REDACTED}\\", 'n': 1`],
    [`x 'password': \\"${SHORT}`, `x 'password': \\"${REDACTED}\\"`],
    [`"password"=>\\"${SHORT}\\"`, `"password"=>\\"${REDACTED}\\"`],
    [`{"password": \\"${SHORT}\\"}`, `{"password": "${REDACTED}"}`],
    // Not under a secret key: kept, and searched.
    [`'name': ("bob"), 'n': 1`, `'name': ("bob"), 'n': 1`],
    [`'msg': \\"token=${SHORT}\\" ok`, `'msg': \\"token=${REDACTED}\\" ok`],
  ])('hides a value in parentheses or escaped quotes after a secret key: %s', (input, output) => {
    expect(text(input)).toBe(output);
  });

  it('reads a stack logged as text as a stack whatever the Error\'s name, but no secret key as a name', () => {
    class AuthFailure extends Error {
      override name = 'AuthFailure';
    }
    for (const message of [`password => ${SHORT}`, `password = ${SHORT}`, `(password => ${SHORT}`]) {
      const { stack } = new AuthFailure(message) as { stack: string };
      expect(text(stack)).not.toContain(SHORT);
      // The frames are kept, searched on their own: a line cut in the message does not take them.
      expect(text(stack)).toContain('\n    at ');
      expect(text(stack).startsWith(`AuthFailure: ${text(message)}\n    at `)).toBe(true);
    }
    // A secret key starting a line is not taken for a name, frames below it or not.
    expect(text(`Token: ${SHORT}\n    at f (a.js:1:1)`)).toBe(`Token: ${REDACTED}`);
    // Without frames, `Name: ` is not read as an Error's (a `Status: …` line is as it was).
    expect(text('Result: session=abc; path=/')).toBe(`Result: session=${REDACTED}; path=/`);
  });

  // After any key, an auth scheme takes the word after it only when that word is not a key and its
  // separator: `Bearer token => …` is the scheme, then the key `token`, whose value is hidden.
  it.each([
    [`x type=Bearer token => '${SHORT}'`, `x type=Bearer token => '${REDACTED}'`],
    [`x type: basic token => ${SHORT}`, `x type: basic token => ${REDACTED}`],
    [`{'scheme': Basic 'password': '${SHORT}'}`, `{'scheme': Basic 'password': '${REDACTED}'}`],
    // Not over-redacted: the key after the scheme and its value stay.
    ['smtp auth=basic user=alice host=mail.example.com', `smtp auth=${REDACTED} user=alice host=mail.example.com`],
    ['proxy auth=digest realm="corp" retries=3', `proxy auth=${REDACTED} realm="corp" retries=3`],
    [`{'auth': basic user=bob, 'id': 1}`, `{'auth': ${REDACTED} user=bob, 'id': 1}`],
    // A credential that is no key and separator is still taken: `a:b` has no blank after the `:`.
    [`'auth': Digest a:b@c, 'n': 1`, `'auth': ${REDACTED}, 'n': 1`],
  ])('takes no key after an auth scheme as its credential: %s', (input, output) => {
    expect(text(input)).toBe(output);
  });

  it('takes no key and `=` after an auth scheme anywhere in text as the credential, and still takes a padded one', () => {
    // It hid the key's name and showed its value.
    expect(text(`x kind=Bearer Authorization=${SHORT}`)).toBe(`x kind=Bearer Authorization=${REDACTED}`);
    expect(text(`x scheme=Basic client_secret=${SHORT}`)).toBe(`x scheme=Basic client_secret=${REDACTED}`);
    // A credential followed by a colon is still one (a key there is left to its own reading).
    expect(text('rejected Bearer abcdefgh12345: try again')).toBe(`rejected Bearer ${REDACTED}: try again`);
    // Base64 padding is no separator.
    expect(text('x: Basic dXNlcjpwYXNzd29yZA=, next')).toBe(`x: Basic ${REDACTED}, next`);
    expect(text('x: Basic dXNlcjpwYXNzd29yZA== next')).toBe(`x: Basic ${REDACTED} next`);
  });

  it.each([
    // A word after a secret key's `=>` or ` = ` is its value, and the rest of the line is kept.
    ['auth flow login => password => mfa => session ok', `auth flow login => password => mfa => session ok`],
    ['x password = changed = yes, user=bob; id=2', `x password = ${REDACTED} = yes, user=bob; id=2`],
    ['x token => refresh => access, status=200', `x token => ${REDACTED} => access, status=200`],
  ])('keeps the rest of a line after a secret key in a chain of separators: %s', (input, output) => {
    expect(text(input)).toBe(output);
  });

  it('hides in a stack under a name that does not end in Error what the text read whole hides, the frames kept', () => {
    const frames = '\n    at login (/app/auth.js:10:5)\n    at main (/app/main.js:3:1)';
    expect(text(`AuthFailure: user => password => ${SHORT}${frames}`)).toBe(`AuthFailure: user => password => ${REDACTED}${frames}`);
  });

  it('hides in a stack what the text read whole hides, and keeps the frames a line cut in the message would take', () => {
    const frames = '\n    at f (a.js:1:1)\n    at g (b.js:2:2)';
    // Read whole, `token=` starts a key here, whose value runs past the `;`.
    expect(text(`AbortSignal: x => token=;status]${SHORT}${frames}`)).not.toContain(SHORT);
    expect(text(`HttpException: } \\",msg: token=${SHORT}Error: ${frames}`)).not.toContain(SHORT);
    expect(text(`X: password: '${SHORT}[cause]: \n":${SHORT}(x${frames}`)).not.toContain(SHORT);
    // A cut in the message (an empty value at the end of its line) leaves the frames.
    expect(text(`Status: token => \n  msg${frames}`)).toBe(`Status: token =${REDACTED}${frames}`);
  });

  // A name that is a secret key only with a run of capitals read as the start of a word
  // (`HTTPSession` as `HTTP_Session`) is a class's name in a stack: the message and frames stay.
  it.each(['HTTPSession', 'DBSession', 'URLSession', 'JWTAuth', 'CSRFToken', 'TOTPSecret', 'APIToken'])('reads %s as an Error\'s name in a stack', (name) => {
    const stack = `${name}: request failed (status 503)\n    at refresh (/app/session.js:10:5)\n    at run (/app/main.js:3:1)`;
    expect(text(stack)).toBe(stack);
    // Its message is still searched.
    expect(text(`${name}: password = ${SHORT}\n    at f (a.js:1:1)`)).toBe(`${name}: password = ${REDACTED}\n    at f (a.js:1:1)`);
    // Still a secret key as a line's key without frames, and as an object's key.
    expect(text(`${name}: ${SHORT}`)).toBe(`${name}: ${REDACTED}`);
    expect(redact({ [name]: SHORT })).toEqual({ [name]: REDACTED });
  });

  // The scheme after a double-quoted (JSON) key is matched in any case, as after other keys.
  it.each([
    [`{"authorization": BEARER ${SHORT}}`, `{"authorization": ${REDACTED}}`],
    [`"token": BASIC ${SHORT}, "user": "bob"`, `"token": ${REDACTED}, "user": "bob"`],
    [`{\\"authorization\\": DIGEST ${SHORT}}`, `{\\"authorization\\": ${REDACTED}}`],
    [`"authorization": bEARER ${SHORT}`, `"authorization": ${REDACTED}`],
  ])('hides the credential after a scheme in any case after a JSON key: %s', (input, output) => {
    expect(text(input)).toBe(output);
  });
});

describe('redact: double-quoted keys before `=`, keys in escaped single quotes, secret keys right after an auth scheme word', () => {
  const redactor = createRedactor();
  const text = (input: string): string => redactor.text(input);
  // Shorter than the eight characters a credential needs to be found without a key.
  const SHORT = 's3cr3t';

  it('redacts the value of a double-quoted key before `=`, as in TOML and HCL (`"password" = "…"`)', () => {
    expect(text(`"password" = "${SHORT}"`)).toBe(`"password" = "${REDACTED}"`);
    expect(text(`"password"= "${SHORT}"`)).toBe(`"password"= "${REDACTED}"`);
    expect(text(`"password" ="${SHORT}"`)).toBe(`"password" ="${REDACTED}"`);
    expect(text(`"password" = ${SHORT}`)).toBe(`"password" = ${REDACTED}`);
    expect(text(`"client_secret" = "${SHORT} two"`)).toBe(`"client_secret" = "${REDACTED}"`);
    expect(text(`"db.password" = "${SHORT}"`)).toBe(`"db.password" = "${REDACTED}"`);
    // The rest of the line and the lines after it are kept.
    expect(text(`[db]\n"password" = "${SHORT}"\n"host" = "db.internal"`)).toBe(`[db]\n"password" = "${REDACTED}"\n"host" = "db.internal"`);
    expect(text(`"user" = "bob", "password" = "${SHORT}", "port" = 5432`)).toBe(`"user" = "bob", "password" = "${REDACTED}", "port" = 5432`);
    // Near misses stay as they are: keys that only start with a secret key, and keys that are not secret.
    for (const kept of ['"passwordHint" = "first pet"', '"password_hint" = "x"', '"token_type" = "bearer"', '"name" = "app"', 'variable "region" { default = "eu-west-1" }', 'msg="the password" = wrong', 'if (kind == "token") return']) {
      expect(text(kept)).toBe(kept);
    }
  });

  it('redacts the value of a key in escaped single quotes, as in a JavaScript string logged as it is (`\\\'password\\\': …`)', () => {
    expect(text(`\\'password\\': ${SHORT}`)).toBe(`\\'password\\': ${REDACTED}`);
    expect(text(`'{\\'password\\': \\'${SHORT}\\', \\'user\\': \\'bob\\'}'`)).toBe(`'{\\'password\\': \\'${REDACTED}\\', \\'user\\': \\'bob\\'}'`);
    // A value in escaped single quotes is hidden whole, blanks included, and to the end of the text if cut short.
    expect(text(`{\\'token\\': \\'${SHORT} two\\'}`)).toBe(`{\\'token\\': \\'${REDACTED}\\'}`);
    expect(text(`{\\'password\\': \\'${SHORT}`)).toBe(`{\\'password\\': \\'${REDACTED}\\'`);
    expect(text(`\\'password\\' => \\'${SHORT}\\'`)).toBe(`\\'password\\' => \\'${REDACTED}\\'`);
    expect(text(`x \\'api_key\\':\\'${SHORT}\\',\\'n\\':1`)).toBe(`x \\'api_key\\':\\'${REDACTED}\\',\\'n\\':1`);
    // Near misses: a key that is not secret, and a key with no escaped quote before it.
    for (const kept of ["\\'passwordHint\\': x", "{\\'user\\': \\'bob\\', \\'id\\': 1}", "it\\'s password\\': x", "don\\'t: panic"]) {
      expect(text(kept)).toBe(kept);
    }
  });

  it('reads no key in these quotes whose value is a key and its separator: the key after it is found, as before', () => {
    expect(text(`"user" = password = ${SHORT}`)).toBe(`"user" = password = ${REDACTED}`);
    expect(text(`\\'user\\': token = ${SHORT}`)).toBe(`\\'user\\': token = ${REDACTED}`);
    expect(text(`\\'user\\': \\'token\\': ${SHORT}`)).toBe(`\\'user\\': \\'token\\': ${REDACTED}`);
    expect(text(`"user" = "password" = ${SHORT}`)).toBe(`"user" = "password" = ${REDACTED}`);
  });

  it('takes no secret key and `=` before a quoted value after an auth scheme word for the credential (`kind=Bearer Authorization="…"`)', () => {
    // It hid the key's name as the credential and showed the quoted value.
    expect(text(`kind=Bearer Authorization="${SHORT}"`)).toBe(`kind=Bearer Authorization="${REDACTED}"`);
    expect(text(`kind=Bearer password='${SHORT}' user=bob`)).toBe(`kind=Bearer password='${REDACTED}' user=bob`);
    expect(text(`x scheme=Basic client_secret=\\"${SHORT}\\"`)).toBe(`x scheme=Basic client_secret=\\"${REDACTED}\\"`);
    expect(text(`scheme=Digest Authorization="${SHORT} two", n=1`)).toBe(`scheme=Digest Authorization="${REDACTED}", n=1`);
    expect(text(`got Bearer password="${SHORT}"`)).toBe(`got Bearer password="${REDACTED}"`);
    // Keys that are not secret stay, and a padded credential before a closing quote is still one.
    expect(text('WWW-Authenticate: Bearer realm="example", error="invalid_token"')).toBe('WWW-Authenticate: Bearer realm="example", error="invalid_token"');
    expect(text('h="Basic dXNlcjpwYXNzd29yZA1="')).toBe(`h="Basic ${REDACTED}"`);
    expect(text('send "Bearer abcdefgh123=" now')).toBe(`send "Bearer ${REDACTED}" now`);
  });

  it('takes no secret --flag with a value after it after an auth scheme word for the credential (`type=Bearer --password …`)', () => {
    // It hid the flag as the credential and showed the flag's value.
    expect(text(`x type=Bearer --password ${SHORT}`)).toBe(`x type=Bearer --password ${REDACTED}`);
    expect(text(`x type=Bearer --api-key ${SHORT} --user bob`)).toBe(`x type=Bearer --api-key ${REDACTED} --user bob`);
    expect(text(`Bearer --password "${SHORT} two"`)).toBe(`Bearer --password "${REDACTED}"`);
    expect(text(`x type=Basic --client-secret \\\n  ${SHORT}`)).toBe(`x type=Basic --client-secret \\\n  ${REDACTED}`);
    // Still a credential: a word starting with `--` that is no secret flag, or one that no value follows.
    expect(text('type=Bearer --verbose x')).toBe(`type=Bearer ${REDACTED} x`);
    expect(text('Bearer --abcdefgh12')).toBe(`Bearer ${REDACTED}`);
    expect(text('Bearer --password --host db')).toBe(`Bearer ${REDACTED} --host db`);
  });

  it('takes a credential that only ends like a secret key, before its padding and a closing quote, for a credential (`"Bearer …Pw=" was …`)', () => {
    // 32 random bytes in base64: the end reads as a secret key (`…Pw`, `…_pw`, `…-auth`) before an `=` and a quote.
    const token = 'CwtInOdTImgtXsZSfHjKLdYzPxD5exWnAoC9T1p09Pw=';
    expect(text(`upstream said: Authorization header "Bearer ${token}" was rejected`)).toBe(`upstream said: Authorization header "Bearer ${REDACTED}" was rejected`);
    expect(text(`{"level":"debug","msg":"retry with Bearer ${token}","attempt":2,"user":"bob"}`)).toBe(`{"level":"debug","msg":"retry with Bearer ${REDACTED}","attempt":2,"user":"bob"}`);
    expect(text(`psql -H "X-Upstream: Bearer ${token}" --token \\\n  ${SHORT}`)).toBe(`psql -H "X-Upstream: Bearer ${REDACTED}" --token \\\n  ${REDACTED}`);
    expect(text(`401 for 'Bearer _82K90ChLMadaZdEywtZJ5LBrsbGEoqJSWvvEdjopPw='`)).toBe(`401 for 'Bearer ${REDACTED}'`);
    // A word is left to the key patterns only as a key name (letters, `_`, `.` and `-`, up to 32 of
    // them) before a value that opens as one and closes on its line with no backslash before its quote.
    for (const word of ['abc1Token', `${'Ab'.repeat(16)}Token`]) {
      expect(text(`Bearer ${word}="q" "x"`), word).toBe(`Bearer ${REDACTED}"q" "x"`);
    }
    expect(text('Bearer --x2-password next')).toBe(`Bearer ${REDACTED} next`);
    expect(text('"Bearer WnAoCgTxPw=" was rejected by "api"')).toBe(`"Bearer ${REDACTED}" was rejected by "api"`);
    expect(text('{"msg":"Bearer WnAoCgTxPw=","n":"2"}')).toBe(`{"msg":"Bearer ${REDACTED}","n":"2"}`);
    expect(text(`type=Bearer newpassword="x\\" private_key="${SHORT}"`)).toBe(`type=Bearer ${REDACTED}"x\\" private_key="${REDACTED}"`);
    // Key names still are.
    expect(text(`kind=Bearer SESSIONKIT_CLIENT_SECRET="${SHORT}" n=1`)).toBe(`kind=Bearer SESSIONKIT_CLIENT_SECRET="${REDACTED}" n=1`);
    expect(text(`kind=Bearer X-Api-Key='${SHORT}'`)).toBe(`kind=Bearer X-Api-Key='${REDACTED}'`);
  });

  it('reads no double-quoted key before `==`, `===` or `=~`, a comparison (`assert "password" == x`)', () => {
    for (const kept of ['assert "password" == expected, "wrong field"', 'if ("token" === name) return cached', 'WHERE "api_key" == ? AND "user" = ?', 'if "password" =~ /^[a-z]+$/ then ok']) {
      expect(text(kept)).toBe(kept);
    }
    expect(text(`"token" => ${SHORT}`)).toBe(`"token" => ${REDACTED}`);
    expect(text(`"password" =${SHORT}`)).toBe(`"password" =${REDACTED}`);
  });

  it('reads a value in escaped single quotes with its own escapes escaped again (`\\\'it\\\\\\\'s\\\'`), else as escaped once', () => {
    // A Python or JavaScript literal inside a string: `\\\'` is a quote inside the value.
    expect(text(`log: '{\\'password\\': \\'it\\\\\\'s-${SHORT}\\', \\'user\\': \\'bob\\'}'`)).toBe(`log: '{\\'password\\': \\'${REDACTED}\\', \\'user\\': \\'bob\\'}'`);
    expect(text(`'{\\'token\\': \\'a\\\\\\\\\\', \\'user\\': \\'bob\\'}'`)).toBe(`'{\\'token\\': \\'${REDACTED}\\', \\'user\\': \\'bob\\'}'`);
    expect(text(`{\\'password\\': \\'${SHORT}\\\\\\'s two\\', \\'token\\': \\'${SHORT}\\'}`)).toBe(`{\\'password\\': \\'${REDACTED}\\', \\'token\\': \\'${REDACTED}\\'}`);
    // A value escaped once that ends in a backslash: no closing quote on its line the first way.
    expect(text(`Error: \\'api_key\\': \\'${SHORT}\\\\\\'\n    at login (/app/a.js:1:1)`)).toBe(`Error: \\'api_key\\': \\'${REDACTED}\\'\n    at login (/app/a.js:1:1)`);
    expect(text(`'{\\'password\\': \\'${SHORT}\\\\\\'}'`)).toBe(`'{\\'password\\': \\'${REDACTED}\\'}'`);
  });

  it('takes linear time on long runs of these shapes', () => {
    const runs = ['"password" = "x" ', '"password" = ', '"a" = ', '"a"=', "\\'password\\': x ", "\\'password\\': \\'x\\', ", "x: \\'", "\\'a", 'kind=Bearer Authorization="x" ', 'Bearer Authorization="', 'x type=Bearer --password x ', 'Bearer --aaaaaaaa ', ' Bearer aaaaaaPw="a"', ' Bearer aaaaaaPw="a', "x: \\'a\\\\\\'", "\\'a\\\\\\' x: \\'", '"password" == '];
    for (const run of runs) {
      for (const input of [run.repeat(100_000 / run.length), `x ${run.repeat(100_000 / run.length)}x`]) {
        expect(cpuMs(() => text(input)), JSON.stringify(run)).toBeLessThan(3_000);
      }
    }
    for (const input of [`"${'a'.repeat(100_000)}" = x`, `x: \\'${'\\\\'.repeat(50_000)}`, `Bearer --${'a.'.repeat(50_000)}="x"`, ` Bearer ${'--aaaaaaaa'.repeat(10_000)} x`, `\\'${'a'.repeat(100_000)}\\': x`]) {
      expect(cpuMs(() => text(input))).toBeLessThan(3_000);
    }
  });
});

describe('redact: Digest parameters, `=>` chains, parenthesized values and escaped quoted keys after a separator', () => {
  const redactor = createRedactor();
  const text = (input: string): string => redactor.text(input);
  const HASH = '6629fae49393a05397450978507c4ef1';
  const SHORT = 's3cr3t';

  it('hides the response, cnonce and nonce of Digest parameters anywhere in text, and keeps the others', () => {
    const params = `username="bob", realm="x", nonce="dcd98b7102dd", uri="/", response="${HASH}", cnonce="0a4f113b"`;
    const hidden = `username="bob", realm="x", nonce="${REDACTED}", uri="/", response="${REDACTED}", cnonce="${REDACTED}"`;
    expect(text(`Digest ${params}`)).toBe(`Digest ${hidden}`);
    expect(text(`request failed: Digest ${params}`)).toBe(`request failed: Digest ${hidden}`);
    expect(text('WWW-Authenticate: Digest realm="x", nonce="dcd98b7102dd", qop="auth"')).toBe(`WWW-Authenticate: Digest realm="x", nonce="${REDACTED}", qop="auth"`);
    expect(text(`Digest username=bob, response=${HASH}, nc=00000001`)).toBe(`Digest username=bob, response=${REDACTED}, nc=00000001`);
    // An escaped quote inside a value, and the parameters in escaped quotes (JSON inside a string).
    expect(text(`401: Digest username="a\\"b", response="${HASH}"`)).toBe(`401: Digest username="a\\"b", response="${REDACTED}"`);
    expect(text(`{"msg":"Digest username=\\"bob\\", response=\\"${HASH}\\""}`)).toBe(`{"msg":"Digest username=\\"bob\\", response=\\"${REDACTED}\\""}`);
    expect(text(`'authorization': Digest username="bob", response="${HASH}"`)).not.toContain(HASH);
    expect(redact(new Error(`login failed: Digest username="bob", response="${HASH}"`)).stack).not.toContain(HASH);
    // Not a Digest parameter list: left alone.
    expect(text('sha256 digest is abc, response=200')).toBe('sha256 digest is abc, response=200');
  });

  it('takes no word after a blank for an empty Digest value, and leaves a credential that ends in = before a quote to the scheme', () => {
    expect(text('auth retry: Digest realm="api", nonce= Bearer abcdef1234567890')).not.toContain('abcdef1234567890');
    expect(text('Digest realm="api", nonce= --password hunter2pass')).not.toContain('hunter2pass');
    expect(text('challenge Digest realm=api, nonce= password: hunter2pass')).not.toContain('hunter2pass');
    expect(text('Digest realm=api,nonce=Bearer abcdef1234567890')).not.toContain('abcdef1234567890');
    for (const input of ['Digest realm=api, nonce=abc123;password="hunter2pass" retry', 'Digest nonce=abc&token="hunter2pass"', 'auth failed: Digest nonce=password="hunter2pass"', 'Digest realm=api, response=ab12&api_key=\\"hunter2pass\\"', 'Digest nonce=--password "hunter2pass"', 'Digest realm=api, nonce=Bearer\nhunter2pass']) {
      expect(text(input), input).not.toContain('hunter2pass');
    }
    expect(text('Digest realm="x", nonce="ab cd==", response=ab12=, nc=1')).toBe(`Digest realm="x", nonce="${REDACTED}", response=${REDACTED}, nc=1`);
    expect(text('upstream rejected header "Digest c2VjcmV0dG9rZW4x="')).toBe(`upstream rejected header "Digest ${REDACTED}"`);
    expect(text('set X-Upstream-Auth to "Digest QWxhZGRpbjpvcGVuc2VzYW1lMQ=" for proxy')).toBe(`set X-Upstream-Auth to "Digest ${REDACTED}" for proxy`);
  });

  it('finds a secret key after `=>` where the key before it took it for its value (`user => password => …`)', () => {
    expect(text(`user => password => ${SHORT}`)).toBe(`user => password => ${REDACTED}`);
    expect(text(`x { 'a' => 'b', user => token => '${SHORT}', n => 1 }`)).toBe(`x { 'a' => 'b', user => token => '${REDACTED}', n => 1 }`);
    expect(text('auth flow login => password => mfa => session ok')).toBe('auth flow login => password => mfa => session ok');
  });

  it('hides a value in parentheses that holds a blank whole (`\'password\': (a b)`)', () => {
    expect(text(`{'password': (${SHORT} two), 'user': 'bob'}`)).toBe(`{'password': ${REDACTED}, 'user': 'bob'}`);
    expect(text(`login failed: Error: 'password': (${SHORT} two), n=1`)).toBe(`login failed: Error: 'password': ${REDACTED}, n=1`);
    expect(text(`x password=(${SHORT} two) user=bob`)).toBe(`x password=${REDACTED} user=bob`);
    expect(text('x status=(pending retry) n=1')).toBe('x status=(pending retry) n=1');
    // Parentheses that only start a value: the whole value is hidden, as before.
    for (const input of ['docker run -e DB_PASSWORD=(k9)Xm2pQ7 app:latest', 'GET /login?user=bob&password=(k9)Xm2pQ7&next=/', 'spawn mysql --password (k9)Xm2pQ7 --user app', 'retry with token => (a1)Xm2pQ7 ok', 'connect api_key = ()Xm2pQ7']) {
      expect(text(input), input).not.toContain('Xm2pQ7');
    }
    expect(text(`{'password': (${SHORT} two)}`)).toBe(`{'password': ${REDACTED}}`);
    for (const input of ['docker run -e DB_PASSWORD=(k9)]Xm2pQ7 app:latest', 'GET /login?user=bob&password=(k9))Xm2pQ7&next=/', 'connect api_key = ()}Xm2pQ7', "login failed: Error: 'password': (k9)]Xm2pQ7"]) {
      expect(text(input), input).not.toContain('Xm2pQ7');
    }
  });

  it('finds a key in escaped single quotes after another key\'s separator (`Error: \\\'password\\\': …`)', () => {
    expect(text(`login failed: Error: \\'password\\': ${SHORT}`)).toBe(`login failed: Error: \\'password\\': ${REDACTED}`);
    expect(text(`login failed: Error: \\'password\\': \\'${SHORT}\\', \\'user\\': \\'bob\\'`)).toBe(`login failed: Error: \\'password\\': \\'${REDACTED}\\', \\'user\\': \\'bob\\'`);
    expect(text(`x => \\'token\\' => ${SHORT}`)).toBe(`x => \\'token\\' => ${REDACTED}`);
  });

  it('takes linear time on long runs of these shapes', () => {
    const runs = ['=> ', ' => a', 'a => ', 'x => a => ', 'Digest a="', 'Digest a=b, ', 'Digest ', 'Digest a=\\"', 'Digest a="\\', 'a: (', 'a: (b ', ': \\\'', '=\\\'a\\\': \\\''];
    for (const run of runs) {
      for (const input of [run.repeat(100_000 / run.length), `x: ${run}${' '.repeat(100_000)}`, `${run}${'a'.repeat(100_000)}`]) {
        expect(cpuMs(() => text(input)), JSON.stringify(run)).toBeLessThan(3_000);
      }
    }
  });
});
