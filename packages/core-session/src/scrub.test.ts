import { describe, expect, it } from 'vitest';
import { scrubText } from './scrub.js';

describe('scrubText', () => {
  // A password with every character servers escape differently.
  const secret = `Pw'*é&<"/x ~`;

  it('removes a secret echoed in the forms servers write it in, whole or partly escaped', () => {
    const forms = [
      secret,
      secret.toUpperCase(),
      // Python's html.escape, PHP's htmlspecialchars, &apos;, decimal and hex entities, no leading zeros or some
      `Pw&#x27;*é&amp;&lt;&quot;/x ~`,
      `Pw&#039;*é&amp;&lt;&quot;/x ~`,
      `Pw&apos;*é&amp;&lt;&quot;/x ~`,
      `Pw&#39;&#42;&#233;&#38;&#60;&#34;&#47;x&#32;&#126;`,
      `&#X50;&#x0077;'*é&<"/x ~`,
      // only some characters escaped (a server that escapes &, < and " alone)
      `Pw'*é&amp;&lt;&quot;/x ~`,
      // percent-encoded by encoders that escape different sets, in either case of hex, + for a space
      encodeURIComponent(secret),
      `Pw%27%2A%C3%A9%26%3C%22%2Fx+%7E`,
      `Pw%27%2a%c3%a9%26%3c%22/x%20~`,
      // JSON-escaped: \" and \/, and Python's ensure_ascii (\u00e9)
      JSON.stringify(secret).slice(1, -1),
      `Pw'*\\u00e9&<\\"\\/x ~`,
    ];
    for (const form of forms) {
      const out = scrubText(`wrong password ${form} given`, [secret]);
      expect(out, form).toBe('wrong password [REDACTED] given');
    }
  });

  it('removes a long secret (a JWT of many claims) whole, without a pattern too large for RegExp', () => {
    // Over 6,100 characters, a pattern per character was "too large": a SyntaxError holding the secret.
    for (const length of [300, 10_000, 100_000]) {
      const secret = `eyJ${'a1B2-_.'.repeat(Math.ceil(length / 7)).slice(0, length - 3)}`;
      expect(scrubText(`refused "${secret}" here`, [secret], 1000), String(length)).toBe('refused "[REDACTED]" here');
      expect(scrubText(`refused ${encodeURIComponent(secret).toUpperCase()}`, [secret], 1000), String(length)).toBe('refused [REDACTED]');
    }
  });

  it('leaves other text alone and cuts to maxLength', () => {
    expect(scrubText('nothing to hide here', ['absent-secret'])).toBe('nothing to hide here');
    // Secrets under 3 characters are not looked for: they would match ordinary words.
    expect(scrubText('a bc', ['bc'])).toBe('a bc');
    expect(scrubText('x'.repeat(30), ['absent-secret'], 10)).toBe(`${'x'.repeat(10)}…`);
  });

  it('finds a secret with characters outside the Basic Multilingual Plane, escaped as JSON surrogates too', () => {
    const emoji = 'key-😀-9';
    for (const form of [emoji, encodeURIComponent(emoji), 'key-\\ud83d\\ude00-9', 'key-&#128512;-9', 'key-&#x1F600;-9']) {
      expect(scrubText(`got ${form}.`, [emoji]), form).toBe('got [REDACTED].');
    }
  });
});
