import { CommandResponse, type CommandResponseInit, normalizeName, type ResponseDetail } from './command-response.js';

/** Options of {@link parseResponse}. */
export interface ParseResponseOptions {
  /** The endpoint, named in the description of the 423 for an empty body. */
  url?: string | undefined;
}

/** 421: a network error, a timeout, or an HTTP status that is not 2xx. */
export const HTTP_ERROR = 'Command failed due to HTTP communication error';
/** 530: no session to end, or the Session could not log in. */
export const SESSION_NOT_FOUND = 'SESSION NOT FOUND';

const PROPERTY_KEY = /^PROPERTY\s*\[([^\]]*)\]\s*\[\s*(\d+)\s*\]$/i;

/**
 * The value from `start` to `end` (a LF, or the text's end) without the blanks (spaces and tabs)
 * at either end, nor CRs at its end (a CRLF's, or a doubled one's: `\r\r\n`). Other white space
 * (U+00A0, U+3000, a CR inside) is part of it.
 */
const valueBetween = (text: string, start: number, end: number): string => {
  let code: number;
  while (start < end && ((code = text.charCodeAt(start)) === 32 || code === 9)) start += 1;
  while (end > start && ((code = text.charCodeAt(end - 1)) === 32 || code === 9 || code === 13)) end -= 1;
  return text.slice(start, end);
};

const decimal = (value: string): number | undefined => {
  return value && Number.isFinite(+value) ? +value : undefined;
};

const parseText = (text: string): CommandResponseInit | undefined => {
  let code: number | undefined;
  let description: string | undefined;
  let runtime: number | undefined;
  let queuetime: number | undefined;
  let pending = false;
  const properties = new Map<string, (string | undefined)[]>();
  // A LF ends a line: a CR before it (CRLF) goes with the blanks that keys and values are trimmed
  // of, and a lone CR elsewhere is part of a value (free text stored at a registrar), as is other
  // white space at its edges (valueBetween).
  const length = text.length;
  // Holes cost memory too: the columns may hold 1,000,000 slots (8 MB), and one more per 4 characters
  // of the body (a property line has 16 or more). Known from the start, so a table fits in whatever
  // order its lines come, one with dense columns whatever its size, and one with sparse columns (a
  // value only in a late row) unless they hold far more holes than values: a body that needs more is
  // an invalid answer, not an allocation of its choosing.
  let slots = 1_000_000 + (length >> 2);
  // Line by line without splitting the text first: a response is read once, front to back.
  // `equals` is the next `=` at or after the line's start (the text's length: none left), found
  // once for all the lines before it, so that lines without one cost no second scan.
  let equals = -1;
  for (let lineStart = 0, end: number; lineStart <= length; lineStart = end + 1) {
    end = text.indexOf('\n', lineStart);
    if (end < 0) end = length;
    if (equals < lineStart) {
      equals = text.indexOf('=', lineStart);
      if (equals < 0) equals = length;
    }
    if (equals >= end) {
      // Only a response that ends with EOF is whole: one cut off before it is invalid.
      if (/^\s*EOF\s*$/i.test(text.slice(lineStart, end))) return code === undefined || description === undefined ? undefined : { code, description, runtime, queuetime, pending, properties, raw: text };
      continue;
    }
    const key = text.slice(lineStart, equals).trim();
    const value = valueBetween(text, equals + 1, end);
    // Both groups always match: the name and the digits.
    const property = PROPERTY_KEY.exec(key) as [string, string, string] | null;
    if (property) {
      const name = normalizeName(property[1]);
      const index = +property[2];
      let values = properties.get(name);
      const growth = index + 1 - (values?.length ?? 0);
      if (!name) continue;
      // A hostile body cannot make the parser allocate much, nor lose a value unseen.
      if (growth > slots) return undefined;
      if (growth > 0) slots -= growth;
      if (!values) properties.set(name, (values = []));
      while (values.length < index) values.push(undefined);
      values[index] = value;
      continue;
    }
    // The first CODE, DESCRIPTION, RUNTIME and QUEUETIME count.
    switch (key.toUpperCase()) {
      case 'CODE':
        if (code === undefined) {
          if (!/^\d{3}$/.test(value)) return undefined;
          code = +value;
        }
        break;
      case 'DESCRIPTION':
        description ??= value;
        break;
      case 'RUNTIME':
        runtime ??= decimal(value);
        break;
      case 'QUEUETIME':
        queuetime ??= decimal(value);
        break;
      case 'PENDING':
        pending = value === '1';
    }
  }
  return undefined;
};

/** A response the client makes up: 421 (HTTP failure), 423 (empty or invalid body), 530 (no session). */
export const syntheticResponse = (code: number, description: string, detail?: ResponseDetail | null): CommandResponse => {
  return new CommandResponse({ code, description, raw: `[RESPONSE]\nCODE = ${code}\nDESCRIPTION = ${description}\nEOF\n`, synthetic: true }, detail);
};

/**
 * Parse ISPAPI response text into a {@link CommandResponse}. Pure, and never throws: text
 * without `CODE` or `DESCRIPTION` before its `EOF` line, without an `EOF` line (cut off), or with a
 * `CODE` that is not three digits, or with `PROPERTY` indexes that would need more than 1,000,000
 * slots and one per 4 characters of the text (a table with dense columns never does), becomes the synthetic
 * `423 Invalid API response`, and empty text
 * `423 Empty API response`. Accepts any
 * case, `\r\n` or `\n` line ends (a `\r` inside a value is part of it; CRs at its end are not), and blanks around `=`; places each `PROPERTY[NAME][i]` at index `i`.
 *
 * @example
 * const response = parseResponse('[RESPONSE]\ncode = 200\ndescription = OK\nproperty[amount][0] = 12.5\nEOF\n');
 * response.isSuccess();          // true
 * response.property('AMOUNT');   // '12.5'
 */
export function parseResponse(text: string, options?: ParseResponseOptions & ResponseDetail): CommandResponse {
  // Never throws: null (plain JavaScript) counts as no options, as everywhere (see CommandResponse).
  if (typeof text !== 'string' || !text.trim()) {
    // The endpoint without user information or query (undefined reads as "undefined": no URL, as '').
    const url = URL.parse(String(options?.url));
    return syntheticResponse(423, `Empty API response. Probably unreachable API end point ${url ? url.origin + url.pathname : '(unknown URL)'}`, options);
  }
  const parsed = parseText(text);
  return parsed ? new CommandResponse(parsed, options) : syntheticResponse(423, 'Invalid API response. Contact Support', options);
}
