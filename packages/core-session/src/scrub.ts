import { createRedactor, type Redactor } from '@sessionkit/logger';

let redactor: Redactor | undefined;

const named: Record<string, string> = { '&': '|&amp;', '<': '|&lt;', '>': '|&gt;', '"': '|&quot;', "'": '|&apos;', ' ': '|\\+' };
const hex = (code: number, digits = 2): string => code.toString(16).padStart(digits, '0');

/**
 * A pattern for one character of a secret in any form a server may echo it in: as it is, its
 * UTF-8 bytes percent-encoded, `+` for a space, an HTML entity (named, decimal or hex), or
 * JSON-escaped (`\"`, `\/`, `\u00e9`; surrogate pairs beyond the BMP).
 */
function charPattern(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  const units = char.split('').map((unit) => `\\\\u${hex(unit.charCodeAt(0), 4)}`).join('');
  const bytes = Array.from(new TextEncoder().encode(char), (byte) => `%${hex(byte)}`).join('');
  const json = JSON.stringify(char).slice(1, -1);
  const escaped = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  return `(?:${escaped(char)}|${bytes}|&#0*${code};|&#x0*${hex(code)};|${units}|\\\\${escaped(char)}${json === char ? '' : `|${escaped(json)}`}${named[char] ?? ''})`;
}

/**
 * Make server-provided text safe for an error message: remove every known secret value,
 * whatever mix of its characters is URL-encoded (by any encoder), form-encoded, JSON-escaped
 * or HTML-escaped, in any case (a server that upper-cases what it echoes), redact
 * secret-looking assignments, and cut it to `maxLength` characters.
 */
export function scrubText(text: string, secrets: readonly (string | undefined)[], maxLength = 200): string {
  let out = text;
  for (const secret of secrets) {
    if (secret === undefined || secret.length < 3) continue;
    out = out.replace(RegExp(Array.from(secret, charPattern).join(''), 'giu'), '[REDACTED]');
  }
  redactor ??= createRedactor();
  out = redactor.text(out).replace(/[\r\n\t]+/g, ' ');
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out;
}
