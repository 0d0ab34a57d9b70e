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
 * secret-looking assignments, and cut it to `maxLength` characters. A secret over 256 characters
 * is found by its first 256 and removed with the rest of its run (to a blank, quote, `<` or `>`).
 */
export function scrubText(text: string, secrets: readonly (string | undefined)[], maxLength = 200): string {
  let out = text;
  try {
    for (const secret of secrets) {
      if (secret === undefined || secret.length < 3) continue;
      // A long one (a JWT of many claims) by its first 256 characters in any form and the rest of
      // its run: a pattern per character of thousands was too large for RegExp (a SyntaxError
      // quoting it).
      const chars = Array.from(secret);
      out = out.replace(RegExp(chars.slice(0, 256).map(charPattern).join('') + (chars.length > 256 ? '[^\\s"\'<>]*' : ''), 'giu'), '[REDACTED]');
    }
  } catch {
    // Whatever else fails, nothing of the text: never an error that quotes a secret.
    return '[REDACTED]';
  }
  redactor ??= createRedactor();
  out = redactor.text(out).replace(/[\r\n\t]+/g, ' ');
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out;
}
