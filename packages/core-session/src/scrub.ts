import { createRedactor, type Redactor } from '@sessionkit/logger';

let redactor: Redactor | undefined;

/**
 * Make server-provided text safe for an error message: remove every known secret value
 * verbatim, URL-encoded, form-encoded and JSON-escaped (a secret with `"` or `\` echoed inside
 * JSON text), redact secret-looking assignments, and cut it to `maxLength` characters.
 */
export function scrubText(text: string, secrets: readonly (string | undefined)[], maxLength = 200): string {
  let out = text;
  for (const secret of secrets) {
    if (secret === undefined || secret.length < 3) continue;
    for (const form of new Set([secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2), JSON.stringify(secret).slice(1, -1)])) {
      out = out.replaceAll(form, '[REDACTED]');
    }
  }
  redactor ??= createRedactor();
  out = redactor.text(out).replace(/[\r\n\t]+/g, ' ');
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out;
}
