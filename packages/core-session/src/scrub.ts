import { createRedactor, type Redactor } from '@sessionkit/logger';

let redactor: Redactor | undefined;

const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Make server-provided text safe for an error message: remove every known secret value
 * verbatim, URL-encoded, form-encoded, JSON-escaped (a secret with `"` or `\` echoed inside
 * JSON text) and HTML-escaped (an HTML page, or a server that escapes its descriptions), in any
 * case (a server that upper-cases what it echoes), redact secret-looking assignments, and cut it
 * to `maxLength` characters.
 */
export function scrubText(text: string, secrets: readonly (string | undefined)[], maxLength = 200): string {
  let out = text;
  for (const secret of secrets) {
    if (secret === undefined || secret.length < 3) continue;
    const forms = [secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2), JSON.stringify(secret).slice(1, -1), secret.replace(/[&<>"']/g, (char) => entities[char] ?? char)];
    for (const form of new Set(forms)) out = out.replace(RegExp(form.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&'), 'giu'), '[REDACTED]');
  }
  redactor ??= createRedactor();
  out = redactor.text(out).replace(/[\r\n\t]+/g, ' ');
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out;
}
