import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseResponse } from '@sessionkit/http-client';
import { isSecretName, normalizeName } from './command-response.js';
import { errorSummary, redactResponseText, redactText } from './redaction.js';

/** The CPU time, in ms, this process spends in `run` (not stretched by other processes on the cores). */
function cpuMs(run: () => unknown): number {
  const start = process.cpuUsage();
  run();
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

const SECRET = 'Qv7secretZ';

// Each way `text` can be read back: as it is, and decoded once, twice, ... (a `+` as a blank, as a
// form writes one; a run of escapes that is not UTF-8 stays as it is).
const readings = (text: string): string[] => {
  const all = [text];
  for (let layer = 0; layer < 5; layer++) {
    text = text.replace(/\+/g, ' ').replace(/(?:%[\da-f]{2})+/gi, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
    all.push(text);
  }
  return all;
};

const encodings = {
  uri: encodeURIComponent,
  form: (text: string): string => new URLSearchParams({ a: text }).toString().slice(2),
};

describe('redactText', () => {
  it('masks our secret fields in an encoded value after any character, as it did before the logger decoded such values', () => {
    // Before, our own pattern ran on each decoded layer: a field after any character but a letter,
    // digit or `_`, with blanks around its `=` or not. The logger reads these since.
    const leads = [...Array.from(' !"#$%&\'()*+,-./:;<=>?@[\\]^`{|}~é'), '\t', '\n'];
    const inputs: string[] = [];
    for (const lead of leads) {
      for (const key of ['token', 'password', 's_pw', 'OLDPASSWORD', 'session', 'otp', 'auth', 'Secret']) {
        for (const separator of ['=', ' = ', '= ', ' =', '=\t']) {
          for (const [name, encode] of Object.entries(encodings)) {
            let value = `a${lead}${key}${separator}${SECRET}&b=1`;
            for (let layer = 1; layer <= 3; layer++) {
              value = encode(value);
              inputs.push(`next=${value}`, `failed: ${value} (${name})`);
            }
          }
        }
      }
    }
    // A value as a query reads it: a `,`, `;` or line break does not end it.
    for (const value of [`/cb?token=ab,${SECRET}`, `/cb?x=1&password=${SECRET};a`, `/cb?token=\n${SECRET}`]) inputs.push(`next=${encodeURIComponent(value)}`);
    // The review's examples.
    inputs.push(`next=%2Fcb%2Ftoken%3D${SECRET}`, `next=a%7Cpassword%3D${SECRET}`, `next=%2Fcb%3Fmsg%3Dbad%2Bpassword%253D${SECRET}`);
    const leaks = inputs.filter((input) => readings(redactText(input)).some((text) => text.includes(SECRET)));
    expect(leaks).toEqual([]);
    expect(inputs.length).toBeGreaterThan(5_000);
    expect(errorSummary(new Error(`redirect to next=${encodeURIComponent(`/cb|token=${SECRET}`)} failed`))).toEqual({ name: 'Error', code: undefined, message: 'redirect to next=%2Fcb%7Ctoken%3D[REDACTED] failed' });
  });

  it('leaves encoded values without a secret field as they are', () => {
    for (const input of [`next=${encodeURIComponent('/cb/user=abc|tokens=1&token_type=Bearer')}`, 'q=a+b%26c%3Dd&price=100%25', 'cpu at 95%']) expect(redactText(input)).toBe(input);
  });
});

describe('redactResponseText', () => {
  it('masks a secret value to the end of its line as the parser reads it: a lone CR, U+2028 and U+2029 are part of the value', () => {
    for (const inside of ['\r', '\r\r', '\u2028', '\u2029']) {
      const body = `CODE = 200\r\nPROPERTY[AUTH][0] = Xy${inside}LEAKED\r\nPASSWORD = a${inside}LEAKED\nPROPERTY[DOMAIN][0] = d${inside}.com\r\nPROPERTY[SESSION][0] = s${inside}LEAKED`;
      // The line ends stay as they were, the other values too (the logger's redaction writes its own mask for PASSWORD).
      expect(redactResponseText(body)).toBe(`CODE = 200\r\nPROPERTY[AUTH][0] = ***\r\nPASSWORD = [REDACTED]\nPROPERTY[DOMAIN][0] = d${inside}.com\r\nPROPERTY[SESSION][0] = ***`);
    }
    expect(redactResponseText('PROPERTY[AUTH][0] = abc\u2028def')).toBe('PROPERTY[AUTH][0] = ***');
    // A CR before a CR LF is the value's; the CR LF ends the line.
    expect(redactResponseText('PASSWORD = a\r\r\nX = 1')).toBe('PASSWORD = [REDACTED]\r\nX = 1');
    // The parser reads `PROPERTY[AUTH]\r[0]` as AUTH: a lone CR does not start a line.
    expect(parseResponse('CODE = 200\nDESCRIPTION = ok\nPROPERTY[AUTH]\r[0] = LEAKED\nEOF\n').property('AUTH')).toBe('LEAKED');
    expect(redactResponseText('PROPERTY[AUTH]\r[0] = LEAKED\r\n')).toBe('PROPERTY[AUTH]\r[0] = ***\r\n');
  });

  it('masks a secret line that starts after a lone CR, as the lines of a page that ends them with a CR read', () => {
    // The review's examples: pages that are not parsed (an HTML error page, a 403) are logged too.
    expect(redactResponseText('<pre>\rPROPERTY[AUTH][0] = auth code with spaces\r</pre>')).toBe('<pre>\rPROPERTY[AUTH][0] = ***\r</pre>');
    expect(redactResponseText('CODE = 200\rPROPERTY[SESSION][0] = abc def\r')).toBe('CODE = 200\rPROPERTY[SESSION][0] = ***\r');
    expect(redactResponseText('x = 1\rPASSWORD = my secret pass\r')).toBe('x = 1\rPASSWORD = [REDACTED]\r');
    // Numbered, a name the logger's redaction does not know.
    expect(redactResponseText('x = 1\rPASSWORD2 = my secret pass\r')).toBe('x = 1\rPASSWORD2 = ***\r');
    // Its value ends at a CR, LF, U+2028 or U+2029; a U+2028 or U+2029 in its key does not end it.
    expect(redactResponseText('x = 1\rPROPERTY[AUTH][0] = a b\u2028c = 1\r\ny = 2')).toBe('x = 1\rPROPERTY[AUTH][0] = ***\u2028c = 1\r\ny = 2');
    expect(redactResponseText('x = 1\rPROPERTY[AUTH]\u2029[0] = a b\r')).toBe('x = 1\rPROPERTY[AUTH]\u2029[0] = ***\r');
    // In a line the parser reads as no secret; one it masks stays masked.
    expect(redactResponseText('<p>\rPROPERTY[AUTH][0] = a b\r</p>\r\nPROPERTY[SESSION][0] = s\rX = 1\rPASSWORD = p q')).toBe('<p>\rPROPERTY[AUTH][0] = ***\r</p>\r\nPROPERTY[SESSION][0] = ***');
  });

  it('takes linear time on 2 MB of short lines, CRs, "=" and long lines', () => {
    const size = 2_000_000;
    const texts = ['a=\r'.repeat(size / 3), '\r'.repeat(size), '='.repeat(size), 'a\r'.repeat(size / 2), 'a'.repeat(size), `a=${'b'.repeat(size)}`, `\r${'a'.repeat(size)}`, `\ra=${'b\u2028'.repeat(size / 2)}`];
    for (const text of texts) {
      // The lines' part: what it takes beyond the logger's redaction of the same text (nothing in it
      // is masked), in CPU time, which the suite's other worker and child processes do not stretch.
      let masked = '';
      const took = cpuMs(() => (masked = redactResponseText(text)));
      // Quadratic time (a pattern tried from every character) would take hours on 2 MB; linear takes
      // well under a second on a quiet machine and about 0.8 s on a slow, shared one.
      expect(took - cpuMs(() => {
        expect(masked).toBe(redactText(text));
      })).toBeLessThan(5000);
    }
  }, 60_000);

  it('masks all of every secret value as the parser reads lines and as a line that starts after a lone CR reads, whatever the line ends', () => {
    // A reader takes `key = value` for a secret: a secret property as the parser reads one, or a secret name.
    const secretKey = (key: string): boolean => isSecretName(normalizeName(key)) || parseResponse(`CODE = 200\nDESCRIPTION = ok\n${key}= x\nEOF`).columns.some(isSecretName);
    // The values of the secret lines: the text after each line's first `=`, to the first `end`.
    const secretValues = (lines: string[], end: RegExp): string[] =>
      lines.flatMap((line) => {
        const equals = line.indexOf('=');
        const value = line.slice(equals + 1);
        return equals >= 0 && secretKey(line.slice(0, equals)) ? [value.slice(0, value.search(end))] : [];
      });
    const head = fc.constantFrom('[RESPONSE]\r\nCODE = 200\r\nDESCRIPTION = ok\r\n', '<html>\r', '');
    const fragment = fc.constantFrom('PROPERTY[AUTH][0]', 'PROPERTY[DOMAIN][1]', 'PROPERTY', '[SESSION]', '[2]', 'PASSWORD2', 'x', ' ', ' = ', '=', '\r', '\r', '\n', '\r\n', '\u2028', '\u2029', 'LEAK', 'LEAK');
    fc.assert(
      fc.property(head, fc.array(fragment, { maxLength: 24 }), (start, fragments) => {
        // Each LEAK numbered, so that one found in the output is the one read into a value.
        let count = 0;
        const body = start + fragments.join('').replaceAll('LEAK', () => `L${count++}K`);
        const redacted = redactResponseText(body);
        // The parser's lines (only a LF ends one, with a CR before it), and the lines that also start
        // after a CR, each value to the next CR, LF, U+2028 or U+2029.
        const parsed = secretValues(body.split(/\r?\n/), /$/);
        const read = secretValues(body.split(/[\r\n]/), /[\u2028\u2029]|$/);
        for (const value of [...parsed, ...read]) {
          for (const marker of value.match(/L\d+K/g) ?? []) expect(redacted).not.toContain(marker);
        }
        // The parser reads those properties too.
        const response = parseResponse(`[RESPONSE]\r\nCODE = 200\r\nDESCRIPTION = ok\r\n${body}\nEOF\n`);
        for (const value of [...response.column('AUTH'), ...response.column('SESSION')]) {
          for (const marker of value?.match(/L\d+K/g) ?? []) expect(parsed.join('\n')).toContain(marker);
        }
      }),
      { numRuns: 20_000 },
    );
  });
});
