import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CommandResponse, parseResponse } from '@sessionkit/http-client';

const SPEC_EXAMPLE = `[RESPONSE]
CODE = 200
DESCRIPTION = Command completed successfully
PROPERTY[AMOUNT][0] = 217458.12
PROPERTY[CURRENCY][0] = EUR
QUEUETIME = 0
RUNTIME = 0.023
EOF
`;

describe('parseResponse', () => {
  it('constructs a subclass that overrides property() (the paging window reads the properties themselves)', () => {
    class Cached extends CommandResponse {
      readonly #cache = new Map<string, string | undefined>();
      override property(name: string, index = 0): string | undefined {
        const key = `${name}/${index}`;
        if (!this.#cache.has(key)) this.#cache.set(key, super.property(name, index));
        return this.#cache.get(key);
      }
    }
    const properties = new Map([['DOMAIN', ['a.com']], ['FIRST', ['10']], ['TOTAL', ['50']], ['LIMIT', ['1']]]);
    const response = new Cached({ code: 200, description: 'ok', raw: '', properties });
    expect(response.pagination).toMatchObject({ first: 10, last: 10, nextFirst: 11, hasNext: true });
    expect(response.property('DOMAIN')).toBe('a.com');
  });

  it('parses the spec example', () => {
    const response = parseResponse(SPEC_EXAMPLE);
    expect(response.code).toBe(200);
    expect(response.description).toBe('Command completed successfully');
    expect(response.runtime).toBe(0.023);
    expect(response.queuetime).toBe(0);
    expect(response.pending).toBe(false);
    expect(response.isSuccess()).toBe(true);
    expect(response.isTemporaryError()).toBe(false);
    expect(response.isError()).toBe(false);
    expect(response.columns).toEqual(['AMOUNT', 'CURRENCY']);
    expect(response.records).toEqual([{ AMOUNT: '217458.12', CURRENCY: 'EUR' }]);
    expect(response.property('amount')).toBe('217458.12');
    expect(response.pagination).toBeUndefined();
    expect(response.synthetic).toBe(false);
    expect(response.raw).toBe(SPEC_EXAMPLE);
  });

  it('builds a CommandResponse with a detail given as null like none', () => {
    // It used to throw a TypeError.
    const response = new CommandResponse({ code: 200, description: 'ok', raw: '' }, null);
    expect(response).toMatchObject({ code: 200, description: 'ok', attempt: 1, durationMs: 0, httpStatus: undefined, url: undefined });
    expect(response.command).toBeUndefined();
    // Fields the init leaves out take their documented defaults.
    expect([response.pending, response.synthetic, response.runtime, response.queuetime, response.columns]).toEqual([false, false, undefined, undefined, []]);
  });

  it('accepts any case, \\r\\n or \\n, blanks around =, and keeps = inside values', () => {
    const response = parseResponse(
      '[response]\r\n  code=421  \r\ndescription   =  Try again = later  \r\nproperty[ Auth Code ][0]=a=b=c\nPendinG = 1\r\neof\r\nCODE = 200\r\n',
    );
    expect(response.code).toBe(421);
    expect(response.description).toBe('Try again = later');
    expect(response.isTemporaryError()).toBe(true);
    expect(response.property('AUTHCODE')).toBe('a=b=c');
    expect(response.property('auth code')).toBe('a=b=c');
    expect(response.columns).toEqual(['AUTHCODE']);
    expect(response.pending).toBe(true);
  });

  it('keeps a lone \\r inside its value: only \\r\\n and \\n end a line, so text after it is never read as a property', () => {
    const response = parseResponse('[RESPONSE]\r\nCODE = 200\r\nDESCRIPTION = OK\r\nPROPERTY[REMARK][0] = line1\rline2\r\nPROPERTY[NOTE][0] = a\rPROPERTY[DOMAIN][0] = injected.com\r\nEOF\r\n');
    expect(response.records).toEqual([{ REMARK: 'line1\rline2', NOTE: 'a\rPROPERTY[DOMAIN][0] = injected.com' }]);
    expect(response.columns).toEqual(['REMARK', 'NOTE']);
  });

  it('trims only blanks off a value, and CRs off its end: other white space at its edges is part of it', () => {
    const response = parseResponse(
      '[RESPONSE]\r\nCODE = 200\r\nDESCRIPTION = OK\r\nPROPERTY[ORG][0] = \u00a0Example\u3000\r\nPROPERTY[ORG][1] =\r\nPROPERTY[ORG][2] = \t \r\nPROPERTY[ORG][3] = \ufeffx\u2028\r\nEOF\r\n',
    );
    expect(response.column('ORG')).toEqual(['\u00a0Example\u3000', '', '', '\ufeffx\u2028']);
  });

  it('reads a body whose lines end in \\r\\r\\n (a CRLF converted once more) as it reads CRLF', () => {
    const lines = ['[RESPONSE]', 'CODE = 200', 'DESCRIPTION = OK', 'PROPERTY[SESSION][0] = abc123', 'PROPERTY[TOTAL][0] = 42', 'PENDING = 1', 'EOF'];
    const doubled = parseResponse(`${lines.join('\r\r\n')}\r\r\n`);
    expect({ code: doubled.code, description: doubled.description, session: doubled.property('SESSION'), total: doubled.pagination?.total, pending: doubled.pending }).toEqual({
      code: 200,
      description: 'OK',
      session: 'abc123',
      total: 42,
      pending: true,
    });
  });

  it('places values by their index, not in order of appearance', () => {
    const response = parseResponse(
      '[RESPONSE]\nCODE = 200\nDESCRIPTION = OK\nPROPERTY[DOMAIN][2] = c.com\nPROPERTY[DOMAIN][0] = a.com\nPROPERTY[STATUS][1] = ACTIVE\nPROPERTY[DOMAIN][1] = b.com\nEOF\n',
    );
    expect(response.column('DOMAIN')).toEqual(['a.com', 'b.com', 'c.com']);
    expect(response.column('STATUS')).toEqual([undefined, 'ACTIVE']);
    expect(response.records).toEqual([{ DOMAIN: 'a.com' }, { DOMAIN: 'b.com', STATUS: 'ACTIVE' }, { DOMAIN: 'c.com' }]);
    expect(response.property('STATUS', 0)).toBeUndefined();
    expect(response.column('NOPE')).toEqual([]);
  });

  it('keeps paging metadata out of the columns and reads the window', () => {
    const page = (first: number, count: number, total: number | undefined, limit: number | undefined, code = 200): ReturnType<typeof parseResponse> => {
      let text = `[RESPONSE]\nCODE = ${code}\nDESCRIPTION = x\nPROPERTY[FIRST][0] = ${first}\nPROPERTY[LAST][0] = ${first + count - 1}\nPROPERTY[COUNT][0] = ${count}\n`;
      if (limit !== undefined) text += `PROPERTY[LIMIT][0] = ${limit}\n`;
      if (total !== undefined) text += `PROPERTY[TOTAL][0] = ${total}\n`;
      for (let index = 0; index < count; index += 1) text += `PROPERTY[DOMAIN][${index}] = d${first + index}.com\n`;
      return parseResponse(`${text}EOF\n`);
    };
    const middle = page(100, 100, 250, 100);
    expect(middle.columns).toEqual(['DOMAIN']);
    expect(middle.records).toHaveLength(100);
    expect(middle.records[0]).toEqual({ DOMAIN: 'd100.com' });
    expect(middle.property('TOTAL')).toBe('250');
    expect(middle.pagination).toEqual({ first: 100, last: 199, count: 100, limit: 100, total: 250, page: 2, pages: 3, hasNext: true, nextFirst: 200 });
    expect(page(200, 50, 250, 100).pagination).toMatchObject({ hasNext: false, nextFirst: undefined, page: 3 });
    expect(page(0, 10, undefined, 10).pagination?.hasNext).toBe(false);
    expect(page(0, 10, 100, 0).pagination?.hasNext).toBe(false);
    expect(page(5, 0, 100, 10).pagination?.hasNext).toBe(false);
    expect(page(0, 10, 100, 10, 421).pagination?.hasNext).toBe(false);
    expect(page(0, 10, 100, undefined).pagination).toMatchObject({ hasNext: true, nextFirst: 10, page: undefined });
    // Without FIRST, the window starts at 0, whatever the command sent; the command is not read (a
    // function that makes it is not called, so that one that throws cannot make parseResponse throw).
    const withoutFirst = page(20, 10, 100, 10).raw.replace(/PROPERTY\[(FIRST|LAST)\]\[0\] = \d+\n/g, '');
    expect(parseResponse(withoutFirst, { command: { COMMAND: 'QueryDomainList', FIRST: '20' } }).pagination).toMatchObject({ first: 0, last: 9, page: 1, nextFirst: 10 });
    const throwing = (): never => {
      throw new Error('not expected');
    };
    expect(parseResponse(withoutFirst, { command: throwing }).pagination).toMatchObject({ first: 0, last: 9 });
  });

  it('makes empty text the synthetic 423 Empty API response, naming the URL without credentials', () => {
    const response = parseResponse(' \n ', { url: 'https://user:secret@api.example.com/api/call.cgi?token=x' });
    expect(response).toMatchObject({ code: 423, synthetic: true, description: 'Empty API response. Probably unreachable API end point https://api.example.com/api/call.cgi' });
    expect(response.isTemporaryError()).toBe(true);
  });

  it('makes text without CODE or DESCRIPTION the synthetic 423 Invalid API response', () => {
    for (const text of [
      '<html>Bad gateway</html>',
      '[RESPONSE]\nDESCRIPTION = no code\nEOF',
      '[RESPONSE]\nCODE = 200\nEOF',
      '[RESPONSE]\nCODE = 2000\nDESCRIPTION = x\nEOF',
      '[RESPONSE]\nCODE = abc\nDESCRIPTION = x\nEOF',
      '[RESPONSE]\nEOF\nCODE = 200\nDESCRIPTION = after EOF\n',
      // Cut off before EOF (it used to be a complete 200, with the records up to the cut).
      '[RESPONSE]\nCODE = 200\nDESCRIPTION = Command completed successfully\n',
      '[RESPONSE]\nCODE = 200\nDESCRIPTION = x\nPROPERTY[DOMAIN][0] = a.com\nPROPERTY[DOMAIN][1] = b.c',
      '[RESPONSE]\nCODE = 200\nDESCRIPTION = EOF\nPROPERTY[EOF][0] = EOF',
      '[RESPONSE]\nCODE = 200\nDESCRIPTION = x\nE',
    ]) {
      expect(parseResponse(text), text).toMatchObject({ code: 423, description: 'Invalid API response. Contact Support', synthetic: true });
    }
  });

  it('answers 423 for indexes that would allocate far more than the body holds, rather than drop values', () => {
    for (const far of ['PROPERTY[A][1999999] = far', 'PROPERTY[C][99999999] = too far', `PROPERTY[D][${'9'.repeat(400)}] = far`]) {
      const response = parseResponse(`[RESPONSE]\nCODE = 200\nDESCRIPTION = x\nPROPERTY[B][1] = near\n${far}\nEOF`);
      expect(response, far).toMatchObject({ code: 423, description: 'Invalid API response. Contact Support', synthetic: true });
    }
    expect(parseResponse('[RESPONSE]\nCODE = 200\nDESCRIPTION = x\nPROPERTY[B][1] = near\nPROPERTY[A][99999] = far\nEOF').column('B')).toEqual([undefined, 'near']);
    // A table with sparse columns: 50,000 rows, and 20 columns with a value in the last row only.
    const rows = Array.from({ length: 50_000 }, (_, row) => `PROPERTY[DOMAIN][${String(row)}] = d${String(row)}.com`);
    const sparse = Array.from({ length: 20 }, (_, column) => `PROPERTY[NOTE${String(column)}][49999] = n${String(column)}`);
    const table = parseResponse(`[RESPONSE]\nCODE = 200\nDESCRIPTION = x\n${[...rows, ...sparse].join('\n')}\nEOF`);
    expect(table.code).toBe(200);
    expect(table.column('NOTE19')[49_999]).toBe('n19');
  });

  it('places every value of a large table whatever the order of its lines', () => {
    const rows = 150_000;
    const order = Array.from({ length: rows }, (_, index) => rows - 1 - index);
    // Descending, then shuffled (a fixed seed): the far indexes come first.
    for (const shuffled of [false, true]) {
      if (shuffled) {
        let seed = 7;
        for (let index = rows - 1; index > 0; index--) {
          seed = (Math.imul(seed, 48271) + 1) >>> 0;
          const other = seed % (index + 1);
          [order[index], order[other]] = [order[other]!, order[index]!];
        }
      }
      const lines = order.flatMap((row) => [`PROPERTY[DOMAIN][${String(row)}] = d${String(row)}.com`, `PROPERTY[STATUS][${String(row)}] = ACTIVE`]);
      const response = parseResponse(`[RESPONSE]\nCODE = 200\nDESCRIPTION = x\n${lines.join('\n')}\nEOF\n`);
      expect(response.code).toBe(200);
      const domains = response.column('DOMAIN');
      expect(domains.length).toBe(rows);
      expect(domains.every((domain, row) => domain === `d${String(row)}.com`)).toBe(true);
      expect(response.column('STATUS').filter((status) => status === 'ACTIVE').length).toBe(rows);
    }
  });

  it('reads a huge body of lines without "=" in one pass', () => {
    // Searching for each line's "=" from the line's start again would be quadratic: about a
    // minute here, far beyond the test timeout; one pass takes a fraction of a second.
    const lines = 1_000_000;
    const response = parseResponse(`[RESPONSE]\n${'x\n'.repeat(lines)}CODE = 200\nDESCRIPTION = ${'y'.repeat(10)}\n${'\r\n'.repeat(lines)}PROPERTY[A][0] = a=b\nEOF\n`);
    expect(response).toMatchObject({ code: 200, description: 'yyyyyyyyyy', synthetic: false });
    expect(response.property('A')).toBe('a=b');
  });

  it('masks secret columns in toJSON and keeps the raw text out of it', () => {
    const response = parseResponse('[RESPONSE]\nCODE = 200\nDESCRIPTION = x\nPROPERTY[SESSION][0] = s3cr3t-session\nPROPERTY[AUTH][0] = s3cr3t-auth\n' +
      'PROPERTY[SESSIONID][0] = s3cr3t-id\nPROPERTY[TOKEN][0] = s3cr3t-token\nPROPERTY[Secret][0] = s3cr3t-secret\nPROPERTY[DOMAIN][0] = a.com\nEOF');
    const json = JSON.stringify(response);
    expect(json).not.toContain('s3cr3t');
    expect(json).toContain('a.com');
    expect(response.property('SESSION')).toBe('s3cr3t-session');
  });

  it('never throws on arbitrary text, and what it returns is consistent', () => {
    const line = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom('[RESPONSE]', 'EOF', 'CODE = 200', 'code=421', 'DESCRIPTION = ok', 'RUNTIME = x', 'QUEUETIME=1e999', 'PENDING=1'),
      fc.tuple(fc.string(), fc.nat(2_000_000), fc.string()).map(([name, index, value]) => `PROPERTY[${name}][${index}] = ${value}`),
      fc.tuple(fc.constantFrom('FIRST', 'LAST', 'COUNT', 'LIMIT', 'TOTAL'), fc.integer({ min: -5, max: 500 })).map(([name, value]) => `PROPERTY[${name}][0] = ${value}`),
    );
    const text = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.array(line, { maxLength: 30 }).chain((lines) => fc.constantFrom('\n', '\r\n', '\r').map((separator) => lines.join(separator))),
    );
    fc.assert(
      fc.property(text, (input) => {
        const response = parseResponse(input);
        expect(Number.isInteger(response.code) && response.code >= 100 && response.code <= 999).toBe(true);
        expect(typeof response.description).toBe('string');
        const predicates = [response.isSuccess(), response.isTemporaryError(), response.isError()].filter(Boolean);
        expect(predicates.length).toBeLessThanOrEqual(1);
        for (const column of response.columns) expect(['FIRST', 'LAST', 'COUNT', 'LIMIT', 'TOTAL']).not.toContain(column);
        expect(Array.isArray(response.records)).toBe(true);
        if (response.pagination?.hasNext === true) expect(response.pagination.nextFirst).toBeGreaterThan(response.pagination.first);
        expect(() => JSON.stringify(response)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });

  it('takes options given as null like none, without throwing', () => {
    // Both used to throw a TypeError.
    expect(parseResponse(' ', null as never)).toMatchObject({ code: 423, synthetic: true, url: undefined, attempt: 1 });
    expect(parseResponse('[RESPONSE]\nCODE = 200\nDESCRIPTION = Command completed successfully\nEOF\n', null as never)).toMatchObject({ code: 200, url: undefined, attempt: 1 });
  });

  it('does not throw for values that are not text at all', () => {
    expect(parseResponse(undefined as unknown as string).code).toBe(423);
    expect(parseResponse(42 as unknown as string).code).toBe(423);
  });
});
