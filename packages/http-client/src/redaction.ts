import type { Redactor } from '@sessionkit/logger';
import { isSecretName, MASK, normalizeName, SECRET_NAMES } from './command-response.js';
import { createRedactor } from './dependencies.js';
import { encodeFormComponent } from './request-body.js';
import { errorCode } from './transport.js';

let redactor: Redactor | undefined;

const PROPERTY_NAME = /^\s*PROPERTY\s*\[([^\]]*)\]/i;
// `name=value` of a secret field anywhere in text (a form echoed in an HTML page, say), plain or
// URL-encoded, with a value (one that is the mask already stays the same).
const INLINE_SECRET = RegExp(`\\b(${SECRET_NAMES})(\\s*(?:=|%3D)\\s*)[^&\\s"'<>]+`, 'gi');

/**
 * Response text with secret values masked: `PROPERTY[SESSION][0]`, `PROPERTY[AUTH][i]`,
 * `PASSWORD = ...` and the like, line by line, then anything else that looks like a secret
 * (form fields, JSON members, auth headers) in a body that is not protocol text.
 */
export const redactResponseText = (text: string): string => {
  // Each line with a `=`: the key before its first one. A match starts only where a line does (the
  // lookbehind): tried from every character, a long line without `=` took quadratic time.
  return redactText(text.replace(/(?<![^\r\n])([^\r\n=]*)=.*/g, (line, key: string) => (isSecretName(normalizeName(PROPERTY_NAME.exec(key)?.[1] ?? key)) ? `${key}= ${MASK}` : line)));
};

// A value with percent-escapes, after a `=` or from the text's start (`next=%2Fcb%3Ftoken%3Dabc`: a
// URL in a query value, encoded by searchParams). Without `=` in it, so that each character is
// looked at from one start only (linear).
const ENCODED_VALUE = /(?<=^|=)[^&\s"'<>=]*%[^&\s"'<>=]*/g;

// Ours, then those the logger knows (JSON members, auth headers, ...).
const maskPlain = (text: string): string => (redactor ??= createRedactor({ keys: SECRET_NAMES.split('|') })).text(text.replace(INLINE_SECRET, `$1$2${MASK}`));

/**
 * Any text (an error message) with secrets masked, also those in a value it URL-encodes, up to
 * four encodings deep: the value is decoded a layer at a time (each run of escapes that decodes;
 * a run with a bad one stays as it is), and the first layer that shows a secret is masked and
 * encoded again as often (as form values are encoded). A value without a secret, or that is not an encoding, stays as it is. No recursion:
 * the time is linear in the text.
 */
export const redactText = (text: string): string =>
  maskPlain(
    text.replace(ENCODED_VALUE, (value) => {
      // `layers` decodings so far.
      for (let layers = 0, decoded = value, next, masked; layers++ < 4; decoded = next) {
        next = decoded.replace(/(?:%\w\w)+/g, (run) => {
          try {
            return decodeURIComponent(run);
          } catch {
            return run;
          }
        });
        if (next === decoded) break;
        if ((masked = maskPlain(next)) !== next) {
          while (layers--) masked = encodeFormComponent(masked);
          return masked;
        }
      }
      return value;
    }),
  );

/** What a log entry shows of an error: its name, code and message, with secrets masked. */
export const errorSummary = (error: unknown): Record<string, unknown> => {
  if (!(error instanceof Error)) return { message: redactText(String(error)) };
  return { name: error.name, code: errorCode(error), message: redactText(error.message) };
};
