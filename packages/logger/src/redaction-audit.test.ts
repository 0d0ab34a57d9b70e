import { describe, expect, it } from 'vitest';
import { adaptLogger } from './adapt-logger.js';
import { createLogger, type LoggerOptions } from './create-logger.js';
import { createRedactor } from './redact.js';
import type { LogFields } from './types.js';

// Found by an audit that logged secrets in every shape it could think of through a real logger.
const SECRET = 'audit-Secret-7Qx';

// What each format writes for one entry (as the sink writes them: one line each).
function lines(msg: string, fields: LogFields, options: LoggerOptions = {}): string[] {
  return (['json', 'pretty'] as const).map((format) => {
    const out: string[] = [];
    createLogger({ ...options, format, write: (line) => out.push(line) }).info(msg, fields);
    return out.join('\n');
  });
}

describe('redaction audit: URL user information with an unencoded @', () => {
  // A password with a raw `@` (a DSN typed by hand), or a user name that is an e-mail address or
  // Azure's `user@server`: the user information runs to the last `@` of the authority.
  it.each([
    [`postgres://app:p@ss${SECRET}@db.internal:5432/app`, 'postgres://app:[REDACTED]@db.internal:5432/app'],
    [`postgres://me@server:${SECRET}@server.postgres.database.azure.com/db`, 'postgres://[REDACTED]@server.postgres.database.azure.com/db'],
    [`smtp://john@example.com:${SECRET}@smtp.example.com`, 'smtp://[REDACTED]@smtp.example.com'],
    [`redis://:a@b@${SECRET}@cache:6379/0`, 'redis://:[REDACTED]@cache:6379/0'],
  ])('%s', (url, redacted) => {
    for (const line of lines(`connecting to ${url}`, { url, config: { databaseUrl: url } })) {
      expect(line).not.toContain(SECRET);
      expect(line).toContain(`connecting to ${redacted}`);
    }
  });

  it('does not reach past a quote, a blank or the path for a later @', () => {
    const redactor = createRedactor();
    expect(redactor.text('{"u":"https://u:pw@h","e":"a@b.c"}')).toBe('{"u":"https://u:[REDACTED]@h","e":"a@b.c"}');
    expect(redactor.text('https://u:pw@h/x?e=a@b mail a@b')).toBe('https://u:[REDACTED]@h/x?e=a@b mail a@b');
    expect(redactor.text('https://registry.npmjs.org/@scope/pkg')).toBe('https://registry.npmjs.org/@scope/pkg');
  });
});

describe('redaction audit: custom keys given as paths', () => {
  // pino's `redact` takes paths (`user.ssn`, `*.pin`, `headers["x-token"]`); a key named so is
  // also its last name, wherever it is.
  it('hides the last name of a path at any depth, and still the dotted name itself', () => {
    const keys = ['user.ssn', '*.pin', 'req.headers["x-custom"]', 'a[0].card'];
    const fields = { user: { ssn: SECRET }, card: { pin: SECRET }, req: { headers: { 'x-custom': SECRET } }, a: [{ card: SECRET }], 'user.ssn': SECRET, userSsn: SECRET };
    for (const line of lines(`ssn=${SECRET} x-custom: ${SECRET}`, fields, { redact: { keys } })) {
      expect(line).not.toContain(SECRET);
      expect(line).toContain('ssn=[REDACTED]');
    }
    // Plain names are taken as before.
    expect(lines('m', { ssn: SECRET, ssn_count: 2 }, { redact: { keys: ['ssn'] } })[0]).toContain('"ssn":"[REDACTED]","ssn_count":2');
  });
});

describe('redaction audit: a function with a toJSON method', () => {
  // JSON (the JSON format, pino) writes what a function's `toJSON` returns, as it does an
  // object's: that is what is redacted and written.
  const fn = (): LogFields => ({ f: Object.assign(() => SECRET, { toJSON: () => ({ password: SECRET, n: 1 }) }) });

  it('is written as what toJSON returns, redacted, in both formats', () => {
    const [json, pretty] = lines('m', fn());
    expect(json).toContain('"f":{"password":"[REDACTED]","n":1}');
    expect(pretty).toContain('f="{\\"password\\":\\"[REDACTED]\\",\\"n\\":1}"');
  });

  it('reaches a sink as that copy, which JSON writes redacted', () => {
    const entries: unknown[] = [];
    adaptLogger({ log: (entry) => entries.push(entry) }).info('m', fn());
    expect(JSON.stringify(entries)).toContain('"f":{"password":"[REDACTED]","n":1}');
  });
});
