import type { Redactor } from '@sessionkit/logger';
import { isSecretName, MASK, maskPairs, normalizeName, SECRET_NAMES } from './command-response.js';
import { createRedactor } from './dependencies.js';
import { commandTextOf } from './encode-command.js';
import { errorCode } from './transport.js';
import { type ConnectionFields, encodeRequestBody } from './request-body.js';

let redactor: Redactor | undefined;

/** The request body as it would be sent, with `s_pw`, `s_session`, `s_otp` and secret command values masked. */
export function maskedPost(connection: ConnectionFields, pairs: readonly (readonly [string, string])[]): string {
  const mask = (value: string | undefined): string | undefined => value && MASK;
  return encodeRequestBody(
    { ...connection, password: mask(connection.password), session: mask(connection.session), otp: mask(connection.otp) },
    commandTextOf(maskPairs(pairs)),
  );
}

const PROPERTY_NAME = /^PROPERTY\s*\[([^\]]*)\]/i;
// `name=value` of a secret field anywhere in text (a form echoed in an HTML page, say), plain or URL-encoded.
const INLINE_SECRET = new RegExp(`\\b(${SECRET_NAMES})(\\s*(?:=|%3D)\\s*)([^&\\s"'<>]*)`, 'gi');

/**
 * Response text with secret values masked: `PROPERTY[SESSION][0]`, `PROPERTY[AUTH][i]`,
 * `PASSWORD = ...` and the like, line by line, then anything else that looks like a secret
 * (form fields, JSON members, auth headers) in a body that is not protocol text.
 */
export function redactResponseText(text: string): string {
  const lines = text.split(/(\r\n|\r|\n)/);
  for (let index = 0; index < lines.length; index += 2) {
    const line = lines[index] ?? '';
    const equals = line.indexOf('=');
    if (equals === -1) continue;
    const key = line.slice(0, equals).trim();
    if (isSecretName(normalizeName(PROPERTY_NAME.exec(key)?.[1] ?? key))) lines[index] = `${line.slice(0, equals + 1)} ${MASK}`;
  }
  return redactText(lines.join(''));
}

/** Any text (an error message) with secrets masked: ours, then those the logger knows (JSON members, auth headers, ...). */
export function redactText(text: string): string {
  const masked = text.replace(INLINE_SECRET, (match, name: string, equals: string, value: string) => (value === '' || value === MASK ? match : `${name}${equals}${MASK}`));
  redactor ??= createRedactor({ keys: SECRET_NAMES.split('|') });
  return redactor.text(masked);
}

/** What a log entry shows of an error: its name, code and message, with secrets masked. */
export function errorSummary(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: redactText(String(error)) };
  return { name: error.name, code: errorCode(error), message: redactText(error.message) };
}
