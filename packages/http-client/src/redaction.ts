import type { Redactor } from '@sessionkit/logger';
import { isSecretName, MASK, maskPairs, normalizeName, SECRET_NAMES } from './command-response.js';
import { createRedactor } from './dependencies.js';
import { commandTextOf } from './encode-command.js';
import { errorCode } from './transport.js';
import { type ConnectionFields, encodeRequestBody } from './request-body.js';

let redactor: Redactor | undefined;

/** The request body as it would be sent, with `s_pw`, `s_session`, `s_otp` and secret command values masked. */
export function maskedPost(connection: ConnectionFields, pairs: readonly (readonly [string, string])[]): string {
  return encodeRequestBody(
    { ...connection, password: connection.password && MASK, session: connection.session && MASK, otp: connection.otp && MASK },
    commandTextOf(maskPairs(pairs)),
  );
}

const PROPERTY_NAME = /^\s*PROPERTY\s*\[([^\]]*)\]/i;
// `name=value` of a secret field anywhere in text (a form echoed in an HTML page, say), plain or
// URL-encoded, with a value (one that is the mask already stays the same).
const INLINE_SECRET = new RegExp(`\\b(${SECRET_NAMES})(\\s*(?:=|%3D)\\s*)[^&\\s"'<>]+`, 'gi');

/**
 * Response text with secret values masked: `PROPERTY[SESSION][0]`, `PROPERTY[AUTH][i]`,
 * `PASSWORD = ...` and the like, line by line, then anything else that looks like a secret
 * (form fields, JSON members, auth headers) in a body that is not protocol text.
 */
export function redactResponseText(text: string): string {
  // Each line with a `=`: the key before its first one. A match starts only where a line does (the
  // lookbehind): tried from every character, a long line without `=` took quadratic time.
  return redactText(text.replace(/(?<![^\r\n])([^\r\n=]*)=.*/g, (line, key: string) => (isSecretName(normalizeName(PROPERTY_NAME.exec(key)?.[1] ?? key)) ? `${key}= ${MASK}` : line)));
}

/** Any text (an error message) with secrets masked: ours, then those the logger knows (JSON members, auth headers, ...). */
export function redactText(text: string): string {
  const masked = text.replace(INLINE_SECRET, `$1$2${MASK}`);
  redactor ??= createRedactor({ keys: SECRET_NAMES.split('|') });
  return redactor.text(masked);
}

/** What a log entry shows of an error: its name, code and message, with secrets masked. */
export function errorSummary(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: redactText(String(error)) };
  return { name: error.name, code: errorCode(error), message: redactText(error.message) };
}
