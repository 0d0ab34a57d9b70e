import { createRedactor, type Redactor } from '@sessionkit/logger';
import { isSecretName, MASK } from './command-response.js';
import { commandTextOf } from './encode-command.js';
import { type ConnectionFields, encodeRequestBody } from './request-body.js';

let redactor: Redactor | undefined;

function textRedactor(): Redactor {
  redactor ??= createRedactor({ keys: ['s_pw', 's_session', 's_otp', 'password', 'newpassword', 'oldpassword', 'auth'] });
  return redactor;
}

/** The pairs with every secret value (`PASSWORD`, `NEWPASSWORD`, `AUTH`, ..., any case) masked. */
export function maskPairs(pairs: readonly (readonly [string, string])[]): [string, string][] {
  return pairs.map(([key, value]) => [key, isSecretName(key) ? MASK : value]);
}

/** The command as an object with secret values masked. */
export function maskedCommand(pairs: readonly (readonly [string, string])[]): Record<string, string> {
  const command: Record<string, string> = {};
  for (const [key, value] of pairs) command[key] = isSecretName(key) ? MASK : value;
  return command;
}

/** The request body as it would be sent, with `s_pw`, `s_session`, `s_otp` and secret command values masked. */
export function maskedPost(connection: ConnectionFields, pairs: readonly (readonly [string, string])[]): string {
  const mask = (value: string | undefined): string | undefined => (value === undefined || value === '' ? value : MASK);
  return encodeRequestBody(
    { ...connection, password: mask(connection.password), session: mask(connection.session), otp: mask(connection.otp) },
    commandTextOf(maskPairs(pairs)),
  );
}

const PROPERTY_NAME = /^PROPERTY\s*\[([^\]]*)\]/i;
// `name=value` of a secret field anywhere in text (a form echoed in an HTML page, say), plain or URL-encoded.
const INLINE_SECRET = /\b(s_pw|s_session|s_otp|password|newpassword|oldpassword|auth|session|otp)(\s*(?:=|%3D)\s*)([^&\s"'<>]*)/gi;

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
    const name = PROPERTY_NAME.exec(key)?.[1]?.replace(/\s+/g, '') ?? key;
    if (isSecretName(name)) lines[index] = `${line.slice(0, equals + 1)} ${MASK}`;
  }
  return redactText(lines.join(''));
}

/** Any text (an error message) with secrets masked. */
export function redactText(text: string): string {
  const masked = text.replace(INLINE_SECRET, (match, name: string, equals: string, value: string) => (value === '' || value === MASK ? match : `${name}${equals}${MASK}`));
  return textRedactor().text(masked);
}
