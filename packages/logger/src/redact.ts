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
  // rest of the line is still searched (`status: 401, token: …`); a secret one is marked with
  // U+E000 (a private-use character), and the text from the mark to the end of its line goes.
  /(^[ \t]*|[,{]\s*)([A-Za-z][\w.-]*)([ \t]*[=:][ \t]*)(?=(.*))/gm,
  // The same command text URL-encoded inside a form field: `%0AAUTH%3Dsecret%0A…`; the value may
  // hold `%26`.
  /(%0[AD]|s_command=)([A-Za-z][\w.-]*)(%3D)(.*?)(?=%0[AD]|&|$)/gi,
  // `key=value` in query strings, form bodies and log text: the value runs to the next separator.
  /(^|[?&;,\s"'(])([A-Za-z][\w.-]*)(=|%3D)("(?:[^"\\]|\\.)*"|[^&\s,;"']*)/gi,
  // "key": "value" and "key": 123 inside JSON text. An object or array value is not taken as a
  // whole, so the members nested in it are still looked at.
  /(")([A-Za-z][\w.-]*)("\s*:\s*)("(?:[^"\\]|\\.)*"|[^\s"{[,}\]]+)/g,
];
// Credentials after an auth scheme, anywhere in text. Credentials are long; requiring eight
// characters keeps prose such as "bearer tokens expire" intact.
const AUTH_SCHEME = /\b(Bearer|Basic|Digest)(\s+)[\w.~+/-]{8,}=*/gi;
// What an Error holds besides its own enumerable properties.
const ERROR_KEYS = 'name message stack cause errors'.split(' ');

/** Build a redactor for a set of keys. */
export function createRedactor(options: RedactOptions = {}): Redactor {
  const keys = new Set(
    [...(options.replaceDefaultKeys === true ? [] : defaultRedactKeys), ...(options.keys ?? [])].map(normalizeKey),
  );
  const isSecretKey = (key: string): boolean => keys.has(normalizeKey(key));

  const text = (input: string): string => {
    let out = input;
    // Every key/value pattern needs a separator; most messages have none and skip them all.
    if (/[=:]|%3D/i.test(out)) {
      let cut = '' as string; // set inside hide(), which TypeScript does not follow
      const hide = (match: string, lead: string, key: string, separator: string, value: string): string =>
        isSecretKey(key)
          ? // Only the whole-line pattern leaves its value out of the match: cut the line there.
            lead + key + separator + (value.startsWith('"') ? `"${REDACTED}"` : REDACTED) + (value !== '' && match === lead + key + separator ? (cut = '\uE000') : '')
          : match;
      for (const pattern of KEY_VALUE_PATTERNS) {
        out = out.replace(pattern, hide);
        // Only the first pattern cuts; once cut, the text holds no U+E000 and this changes nothing.
        if (cut) out = out.replace(/\uE000.*/g, '');
      }
    }
    return out.replace(AUTH_SCHEME, `$1$2${REDACTED}`);
  };

  // `path` holds the objects being copied above this one: meeting one again is a cycle.
  const copy = (input: unknown, path: object[]): unknown => {
    if (typeof input === 'string') return text(input);
    if (input === null || typeof input !== 'object') return input;
    const inner = [...path, input];
    const each = (value: unknown): unknown => copy(value, inner);
    const entries = (list: [unknown, unknown][]): [unknown, unknown][] =>
      list.map(([key, value]) => [key, typeof key === 'string' && isSecretKey(key) ? REDACTED : each(value)]);
    return path.includes(input)
      ? '[Circular]'
      : path.length >= 12 // the depth at which copying stops
        ? '[Truncated]'
        : input instanceof Date
          ? new Date(input)
          : input instanceof URL
            ? text(input.href)
            : ArrayBuffer.isView(input)
              ? `[${input.constructor.name} ${input.byteLength} bytes]`
              : Array.isArray(input)
                ? input.map(each)
                : input instanceof Set
                  ? new Set([...input].map(each))
                  : input instanceof Map
                    ? new Map(entries([...input]))
                    : Object.fromEntries([
                        // Not enumerable, so not in Object.entries(); `errors` is an AggregateError's.
                        ...(input instanceof Error ? ERROR_KEYS.filter((key) => key in input).map((key) => [key, each(input[key as keyof Error])]) : []),
                        ...entries(Object.entries(input)),
                      ]);
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
