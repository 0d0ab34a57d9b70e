/** The text that replaces a secret value. */
export const REDACTED = '[REDACTED]';

/**
 * Keys whose values are secret wherever they appear: object keys (any depth), URL query
 * parameters, form fields, `KEY=value` command lines and JSON text. Compared without regard
 * to case, `-` or `_`, so `client_secret`, `clientSecret` and `Client-Secret` are one key.
 */
export const defaultRedactKeys: readonly string[] = (
  'password passwd pw s_pw newpassword secret client_secret token access_token refresh_token id_token ' +
  'authorization proxy-authorization cookie set-cookie session s_session sessionid otp s_otp auth ' +
  'api_key x-api-key private_key passphrase'
).split(' ');

/** Options for {@link redact} and for a logger's redaction. */
export interface RedactOptions {
  /** Extra secret keys, added to {@link defaultRedactKeys}. */
  keys?: readonly string[] | undefined;
  /**
   * Replace the default keys instead of adding to them. Only for callers that know their data.
   * @default false
   */
  replaceDefaultKeys?: boolean | undefined;
}

const MAX_DEPTH = 12;

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

/** A compiled redactor: build it once, apply it to many values. */
export interface Redactor {
  /** A deep copy of `value` with every secret replaced. Never mutates its input. */
  value<T>(value: T): T;
  /** `text` with secrets in URLs, forms, command lines, JSON and auth headers replaced. */
  text(text: string): string;
  /** Whether `key` names a secret. */
  isSecretKey(key: string): boolean;
}

// Each pattern finds a key and its value in text, as four groups: what leads up to the key, the
// key, the separator and the value. A quoted value stays quoted once redacted. Order matters:
// whole-line values go before inline ones.
const KEY_VALUE_PATTERNS = [
  // `KEY=value` (ISPAPI command text) and `Key: value` (header lines such as `Cookie: a=b; c=d`)
  // starting a line or following `,` or `{`: the value, `&` and blanks included, runs to the end
  // of the line. The value is only looked ahead at, so that after a key that is not secret the
  // rest of the line is still searched (`status: 401, token: …`); a secret one is cut at CUT.
  /(^[ \t]*|[,{]\s*)([A-Za-z][\w.-]*)([ \t]*[=:][ \t]*)(?=(.*))/gm,
  // The same command text URL-encoded inside a form field: `%0AAUTH%3Dsecret%0A…`; the value may
  // hold `%26`.
  /(%0A|%0D|s_command=)([A-Za-z][\w.-]*)(%3D)(.*?)(?=%0A|%0D|&|$)/gi,
  // `key=value` in query strings, form bodies and log text: the value runs to the next separator.
  /(^|[?&;,\s"'(])([A-Za-z][\w.-]*)(=|%3D)("(?:[^"\\]|\\.)*"|[^&\s,;"']*)/gi,
  // "key": "value" and "key": 123 inside JSON text. An object or array value is not taken as a
  // whole, so the members nested in it are still looked at.
  /(")([A-Za-z][\w.-]*)("\s*:\s*)("(?:[^"\\]|\\.)*"|[^\s"{[,}\]]+)/g,
];
// Marks where a whole-line value was cut: everything from it to the end of its line goes.
const CUT = '\u{E000}';
// Credentials after an auth scheme, anywhere in text. Credentials are long; requiring eight
// characters keeps prose such as "bearer tokens expire" intact.
const AUTH_SCHEME = /\b(Bearer|Basic|Digest)(\s+)[A-Za-z0-9\-._~+/]{8,}=*/gi;
// What an Error holds besides its own enumerable properties.
const ERROR_KEYS = ['name', 'message', 'stack', 'cause', 'errors'] as const;

/** Build a redactor for a set of keys. */
export function createRedactor(options: RedactOptions = {}): Redactor {
  const defaults = options.replaceDefaultKeys === true ? [] : defaultRedactKeys;
  const keys = new Set([...defaults, ...(options.keys ?? [])].map(normalizeKey));
  const isSecretKey = (key: string): boolean => keys.has(normalizeKey(key));

  const text = (input: string): string => {
    let out = input;
    // Every key/value pattern needs a separator; most messages have none and skip them all.
    if (/[=:]|%3D/i.test(out)) {
      let cut = false as boolean; // set inside hide(), which TypeScript does not follow
      const hide = (match: string, lead: string, key: string, separator: string, value: string): string => {
        if (!isSecretKey(key)) return match;
        // Only the whole-line pattern leaves its value out of the match: cut the line there.
        const lineValue = value !== '' && match.length === lead.length + key.length + separator.length;
        cut ||= lineValue;
        return `${lead}${key}${separator}${value.startsWith('"') ? `"${REDACTED}"` : REDACTED}${lineValue ? CUT : ''}`;
      };
      for (const pattern of KEY_VALUE_PATTERNS) {
        out = out.replace(pattern, hide);
        if (cut) out = out.replace(/\u{E000}.*/gu, '');
        cut = false;
      }
    }
    return out.replace(AUTH_SCHEME, `$1$2${REDACTED}`);
  };

  // `path` holds the objects being copied above this one: meeting one again is a cycle.
  const copy = (input: unknown, path: object[]): unknown => {
    if (typeof input === 'string') return text(input);
    if (input === null || typeof input !== 'object') return input;
    if (path.includes(input)) return '[Circular]';
    if (path.length >= MAX_DEPTH) return '[Truncated]';
    if (input instanceof Date) return new Date(input);
    if (input instanceof URL) return text(input.href);
    if (ArrayBuffer.isView(input)) return `[${input.constructor.name} ${input.byteLength} bytes]`;
    const inner = [...path, input];
    const item = (key: unknown, value: unknown): unknown =>
      typeof key === 'string' && isSecretKey(key) ? REDACTED : copy(value, inner);
    if (Array.isArray(input)) return input.map((value) => copy(value, inner));
    if (input instanceof Set) return new Set([...input].map((value) => copy(value, inner)));
    if (input instanceof Map) return new Map([...input].map(([key, value]) => [key, item(key, value)]));
    const out: Record<string, unknown> = {};
    if (input instanceof Error) {
      // Not enumerable, so not copied below; `errors` is an AggregateError's.
      for (const key of ERROR_KEYS) if (key in input) out[key] = copy(input[key as keyof Error], inner);
    }
    for (const [key, value] of Object.entries(input)) out[key] = item(key, value);
    return out;
  };

  return {
    value: <T>(value: T): T => copy(value, []) as T,
    text,
    isSecretKey,
  };
}

let defaultRedactor: Redactor | undefined;

/**
 * A deep copy of `value` with secret values replaced by `[REDACTED]`: values under secret
 * keys at any depth (objects, arrays, Maps, Errors and their causes), and secrets inside
 * strings (URL query parameters, form fields, `KEY=value` command text, JSON text,
 * `Authorization: Bearer …`). A reference back to an enclosing object becomes `'[Circular]'`.
 * Never mutates `value`.
 *
 * @example
 * redact({ user: 'demo', password: 'hunter2' }) // { user: 'demo', password: '[REDACTED]' }
 */
export function redact<T>(value: T, options?: RedactOptions): T {
  const redactor = options === undefined ? (defaultRedactor ??= createRedactor()) : createRedactor(options);
  return redactor.value(value);
}
