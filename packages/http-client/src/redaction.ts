import type { Redactor } from '@sessionkit/logger';
import { isSecretName, MASK, normalizeName, SECRET_NAMES } from './command-response.js';
import { createRedactor } from './dependencies.js';
import { errorCode } from './transport.js';

// One redactor per list of names (SECRET_NAMES, REST_NAMES).
const redactors: Record<string, Redactor> = {};

/**
 * The names masked in the URLs of the REST client, where the ISPAPI fields alone are too few:
 * those and common credential query fields the logger's default keys do not name already (as it
 * does `?sig=`, `X-Amz-Signature`, `X-Amz-Credential`, `?pass=`, `x_pwd`): `?jwt=`,
 * `client_assertion`, `X-Hmac`..., compared as the logger compares keys (any case, also at the end
 * of a longer name). Not in ISPAPI text.
 */
const REST_NAMES = SECRET_NAMES + '|jwt|assertion|hmac|bearer|accesskey|secretkey';
// There also `key` and `code` (an API key, an OAuth code), but `code` only as a whole query field
// name (`?key=`, `&Code=`, also percent-encoded once: `%3Fkey%3D`), and `key` also as the last word
// of a name after a `-`, `_` or `.` (`subscription-key`, `app_key`, `license.key`): at the end of a
// camelCase name they are mostly no secret (`sortKey`, `countryCode`), nor is `code` after a
// separator (`status_code`), but for the credentials the logger's `api_key` (`apikey`, `API-Key`)
// and REST_NAMES' `accesskey` and `secretkey` (`AccessKey`, `AWSSecretKey`) name.
const REST_FIELD = RegExp(`(?<=[?&#;]|%3F|%26|%23|%3B)((?:[\\w.-]*[-_.])?key|code)(\\s*(?:=|%3D)\\s*)[^&\\s"'<>]+`, 'gi');

// `name=value` of a secret field anywhere in text (a form echoed in an HTML page, say), plain or
// URL-encoded, with a value (one that is the mask already stays the same).
const INLINE_SECRET = RegExp(`\\b(${SECRET_NAMES})(\\s*(?:=|%3D)\\s*)[^&\\s"'<>]+`, 'gi');

/**
 * Response text with secret values masked: `PROPERTY[SESSION][0]`, `PROPERTY[AUTH][i]`,
 * `PASSWORD = ...` and the like, line by line (with `all`, every line's value: see #exchange),
 * then anything else that looks like a secret (form fields, JSON members, auth headers) in a body
 * that is not protocol text.
 */
export const redactResponseText = (text: string, all?: unknown): string => {
  // Each line with a `=`: the key before its first one, the value to the line's end. First the lines
  // as the parser reads them: only a LF ends one (with a CR before it), so a lone CR, U+2028 or
  // U+2029 (where `.` stops) is part of the key or value. Then, on that, those that start after a CR
  // (a page that ends its lines with a CR alone), each value to the next CR, LF, U+2028 or U+2029:
  // the lines as read before, when a CR ended one too (those after a LF are the parser's, masked
  // already). A masked line reads the same both ways. A match starts only where a line does (the
  // lookbehinds): tried from every character, a long line without `=` took quadratic time.
  // A `PROPERTY[NAME][i]` key is secret by its name.
  const property = /^\s*PROPERTY\s*\[([^\]]*)\]/i;
  const mask = (line: string, key: string): string => (all || isSecretName(normalizeName(property.exec(key)?.[1] ?? key)) ? `${key}= ${MASK}` : line);
  return redactText(text.replace(/(?<![^\n])([^\n=]*)=(?:(?!\r\n)[^\n])*/g, mask).replace(/(?<![^\r])([^\r\n=]*)=.*/g, mask));
};

/**
 * Any text (an error message) with secrets masked: ours, then those the logger knows (JSON
 * members, auth headers, ...). The logger, which has our names among its keys, also finds them in
 * a value the text URL-encodes, up to four encodings deep (`next=https%3A%2F%2Fx%2Fcb%3Ftoken%3D…`),
 * after any character and with their values to the next `&`, as INLINE_SECRET reads them here.
 * The logger's extra keys are `extra`: SECRET_NAMES, or REST_NAMES (which holds them) for a REST URL.
 */
export const redactText = (text: string, extra: string = SECRET_NAMES): string => (redactors[extra] ??= createRedactor({ keys: extra.split('|') })).text(text.replace(INLINE_SECRET, `$1$2${MASK}`));

/** A URL of the REST client (or text with one: an error message) with its secrets masked: also those of REST_NAMES and REST_FIELD. */
export const redactUrl = (text: string): string => redactText(text.replace(REST_FIELD, `$1$2${MASK}`), REST_NAMES);

/** What a log entry shows of an error: its name, code and message, with secrets masked. */
export const errorSummary = (error: unknown): Record<string, unknown> => {
  if (!(error instanceof Error)) return { message: redactText(String(error)) };
  return { name: error.name, code: errorCode(error), message: redactText(error.message) };
};
