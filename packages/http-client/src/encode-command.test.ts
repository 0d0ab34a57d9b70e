import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCommandRequestBody, type Sandbox, startSandbox } from '@sessionkit/sandbox';
import { CommandClient, encodeCommand, HttpClientError } from '@sessionkit/http-client';
// Internals the client is built from (not exported by the package).
import { flattenCommand, plainDecimal } from './encode-command.js';
import { encodeFormComponent, encodeRequestBody } from './request-body.js';

describe('encodeCommand', () => {
  it('encodes the spec example', () => {
    const text = encodeCommand({ AUTH: 'gwrgwqg%&\\44t3*', COMMAND: 'ModifyDomain' });
    expect(text).toBe('COMMAND=ModifyDomain\nAUTH=gwrgwqg%&\\44t3*');
    const body = encodeRequestBody({ entity: '54cd' }, text);
    expect(body).toBe('s_entity=54cd&s_command=COMMAND%3DModifyDomain%0AAUTH%3Dgwrgwqg%25%26%5C44t3%2A');
    expect(decodeCommandRequestBody(body)).toEqual({
      fields: { s_entity: '54cd' },
      command: { COMMAND: 'ModifyDomain', AUTH: 'gwrgwqg%&\\44t3*' },
    });
  });

  it('puts COMMAND first, upper-cases keys and keeps insertion order', () => {
    expect(encodeCommand({ domain: 'a.com', command: 'CheckDomain', Period: 2 })).toBe('COMMAND=CheckDomain\nDOMAIN=a.com\nPERIOD=2');
  });

  it('drops null and undefined, expands arrays, writes booleans as 1/0 and numbers in plain decimal', () => {
    expect(
      encodeCommand({
        COMMAND: 'X',
        GONE: null,
        ALSO_GONE: undefined,
        DOMAIN: ['a.com', 'b.com'],
        HOLES: ['x', null, 'z'],
        YES: true,
        NO: false,
        BIG: 1e21,
        SMALL: 1.5e-7,
        NEGATIVE: -2.5e-8,
        MINUS_ZERO: -0,
        HUGE: 12345678901234567890n,
      }),
    ).toBe(
      [
        'COMMAND=X',
        'DOMAIN0=a.com',
        'DOMAIN1=b.com',
        'HOLES0=x',
        'HOLES2=z',
        'YES=1',
        'NO=0',
        'BIG=1000000000000000000000',
        'SMALL=0.00000015',
        'NEGATIVE=-0.000000025',
        'MINUS_ZERO=0',
        'HUGE=12345678901234567890',
      ].join('\n'),
    );
  });

  it('removes every \\r and \\n from values so no parameter can be injected', () => {
    const text = encodeCommand({ COMMAND: 'ModifyDomain', DOMAIN: 'a.com\nCOMMAND=DeleteDomain', NOTE: 'x\r\ny' });
    expect(text).toBe('COMMAND=ModifyDomain\nDOMAIN=a.comCOMMAND=DeleteDomain\nNOTE=xy');
    expect(text.split('\n')).toHaveLength(3);
  });

  it('rejects commands that cannot be sent, with HttpClientError INVALID_ARGUMENT', () => {
    const cases: unknown[] = [
      {},
      { COMMAND: '' },
      { COMMAND: 7 },
      { COMMAND: 'X', command: 'Y' },
      { COMMAND: 'X', 'A=B': 1 },
      { COMMAND: 'X', 'A B': 1 },
      { COMMAND: 'X', '': 1 },
      { COMMAND: 'X', a: 1, A: 2 },
      { COMMAND: 'X', DOMAIN: ['a'], DOMAIN0: 'b' },
      { COMMAND: 'X', NESTED: [['a']] },
      { COMMAND: 'X', OBJECT: { a: 1 } },
      { COMMAND: 'X', WHEN: new Date(0) },
      { COMMAND: 'X', N: Number.NaN },
      { COMMAND: 'X', N: Number.POSITIVE_INFINITY },
      null,
      ['COMMAND', 'X'],
    ];
    for (const command of cases) {
      let caught: unknown;
      try {
        encodeCommand(command as Record<string, unknown>);
      } catch (error) {
        caught = error;
      }
      expect(HttpClientError.isInstance(caught), JSON.stringify(command)).toBe(true);
      expect((caught as HttpClientError).code).toBe('INVALID_ARGUMENT');
    }
  });

  it('names a parameter refused for an = or white space only up to it: a value written into the key is not shown', () => {
    for (const [key, shown] of [
      ['PASSWORD=hunter2-secret', 'PASSWORD…'],
      ['AUTH hunter2-secret', 'AUTH…'],
      ['PW\nhunter2-secret', 'PW…'],
      ['=hunter2-secret', '…'],
      ['', ''],
    ] as const) {
      expect(() => encodeCommand({ COMMAND: 'ModifyDomain', [key]: '' }), key).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: `Command parameter "${shown}" must not be empty or hold "=" or white space.` }),
      );
    }
  });

  it('never changes the command it is given', () => {
    const command = Object.freeze({ COMMAND: 'CheckDomains', DOMAIN: Object.freeze(['a.com']) });
    expect(flattenCommand(command)).toEqual([
      ['COMMAND', 'CheckDomains'],
      ['DOMAIN0', 'a.com'],
    ]);
  });

  it('writes numbers in plain decimal', () => {
    expect(plainDecimal(123)).toBe('123');
    expect(plainDecimal(0.1)).toBe('0.1');
    expect(plainDecimal(1.23e25)).toBe('12300000000000000000000000');
    expect(plainDecimal(-1e-10)).toBe('-0.0000000001');
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        const text = plainDecimal(value);
        expect(text).toMatch(/^-?\d+(?:\.\d+)?$/);
        expect(Number(text)).toBe(value === 0 ? 0 : value);
      }),
    );
  });
});

describe('encodeRequestBody', () => {
  it('sends the connection fields in the protocol order, each only with a value', () => {
    const body = encodeRequestBody(
      { user: 'sub', remoteAddress: '1.2.3.4', password: 'p w', otp: '123', login: 'demo!ops', entity: '1234' },
      'COMMAND=StatusAccount',
    );
    expect(body).toBe('s_entity=1234&s_login=demo%21ops&s_otp=123&s_pw=p%20w&s_remoteaddr=1.2.3.4&s_user=sub&s_command=COMMAND%3DStatusAccount');
    expect(encodeRequestBody({ entity: '', login: undefined }, 'COMMAND=X')).toBe('s_command=COMMAND%3DX');
  });

  it('leaves login, password and otp out when a session is set', () => {
    const body = encodeRequestBody({ entity: '54cd', login: 'demo', password: 'x', otp: '1', session: 'abc' }, 'COMMAND=X');
    expect(body).toBe('s_entity=54cd&s_session=abc&s_command=COMMAND%3DX');
  });

  it("escapes ! ' ( ) * as the public SDKs do", () => {
    expect(encodeFormComponent("a!b'c(d)e*f g")).toBe('a%21b%27c%28d%29e%2Af%20g');
    expect(encodeFormComponent('€ü')).toBe('%E2%82%AC%C3%BC');
  });
});

const wellFormed = (text: string): string => text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');

// What the sandbox must read back for a command: the flattening rules applied by hand.
function expected(command: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  const text = (value: unknown): string | undefined => {
    if (value === null || value === undefined) return undefined;
    if (typeof value === 'boolean') return value ? '1' : '0';
    if (typeof value === 'number') return plainDecimal(value);
    if (typeof value === 'bigint') return value.toString();
    return wellFormed((value as string).replace(/[\r\n]/g, ''));
  };
  for (const [key, value] of Object.entries(command)) {
    if (Array.isArray(value)) {
      value.forEach((item: unknown, index) => {
        const itemText = text(item);
        if (itemText !== undefined) out[`${key.toUpperCase()}${index}`] = itemText;
      });
    } else {
      const valueText = text(value);
      if (valueText !== undefined) out[key.toUpperCase()] = valueText;
    }
  }
  return out;
}

describe('encode → sandbox decode', () => {
  const key = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.\-[\]]{0,11}$/).filter((name) => !/^command$/i.test(name) && !/\d$/.test(name));
  const scalar = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: 'grapheme' }),
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constantFrom(null, undefined),
  );
  const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }));
  const command = fc
    .dictionary(key, value, { maxKeys: 8 })
    .filter((params) => new Set(Object.keys(params).map((name) => name.toUpperCase())).size === Object.keys(params).length);
  const connection = fc.record(
    {
      entity: fc.constantFrom('54cd', '1234'),
      login: fc.string({ unit: 'binary' }),
      password: fc.string({ unit: 'binary' }),
      otp: fc.string(),
      remoteAddress: fc.string(),
      user: fc.string({ unit: 'grapheme' }),
    },
    { requiredKeys: ['entity'] },
  );

  it('round-trips any command and connection through the sandbox decoder', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: 'binary' }).filter((name) => name.replace(/[\r\n]/g, '').trim() !== ''), command, connection, (name, params, fields) => {
        const full = { COMMAND: name, ...params };
        const expectedCommand = expected(full);
        const body = encodeRequestBody(fields, encodeCommand(full));
        const decoded = decodeCommandRequestBody(body);
        expect(decoded.command).toEqual(expectedCommand);
        const sent: Record<string, string> = {};
        const names: Record<string, string> = { entity: 's_entity', login: 's_login', otp: 's_otp', password: 's_pw', remoteAddress: 's_remoteaddr', user: 's_user' };
        for (const [field, fieldValue] of Object.entries(fields)) if (fieldValue !== '') sent[names[field]!] = wellFormed(fieldValue);
        expect(decoded.fields).toEqual(sent);
      }),
      { numRuns: 500 },
    );
  });

  describe('over a real socket', () => {
    let sandbox: Sandbox;
    let client: CommandClient;
    beforeAll(async () => {
      sandbox = await startSandbox({ commands: { domainCount: 1, recentRequests: 1 } });
      client = new CommandClient({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, highPerformance: { connections: 1 }, retry: false });
    });
    afterAll(async () => {
      await client.close();
      await sandbox.close();
    });

    it('the sandbox reads back any command CommandClient sends, with its per-request fields', async () => {
      const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }));
      await fc.assert(
        fc.asyncProperty(
          fc.string({ minLength: 1, unit: 'binary' }).filter((name) => name.replace(/[\r\n]/g, '').trim() !== ''),
          command,
          fc.record({ remoteAddress: text, subuser: text }, { requiredKeys: [] }),
          async (name, params, fields) => {
            const full = { COMMAND: name, ...params };
            const response = await client.request(full, fields);
            expect(response.synthetic).toBe(false);
            const seen = sandbox.commands.recent.at(-1);
            expect(seen?.command).toEqual(expected(full));
            expect(seen?.entity).toBe('54cd');
            expect(seen?.login).toBe('demo');
            expect(seen?.remoteAddress).toBe(fields.remoteAddress === undefined || fields.remoteAddress === '' ? undefined : wellFormed(fields.remoteAddress));
            expect(seen?.user).toBe(fields.subuser === undefined || fields.subuser === '' ? undefined : wellFormed(fields.subuser));
          },
        ),
        { numRuns: 150 },
      );
    });
  });
});
