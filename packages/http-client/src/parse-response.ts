import { CommandResponse, type CommandResponseInit } from './command-response.js';

/** Options of {@link parseResponse}. */
export interface ParseResponseOptions {
  /** The endpoint, named in the description of the 423 for an empty body. */
  url?: string | undefined;
}

/** Transport details that {@link parseResponse} copies onto the response. */
export type ResponseDetail = Omit<CommandResponseInit, 'code' | 'description' | 'runtime' | 'queuetime' | 'pending' | 'properties' | 'raw' | 'synthetic'>;

/** Descriptions of the responses a client makes up itself (the public SDKs' templates). */
export const SYNTHETIC = {
  httpError: { code: 421, description: 'Command failed due to HTTP communication error' },
  empty: { code: 423, description: 'Empty API response. Probably unreachable API end point {URL}' },
  invalid: { code: 423, description: 'Invalid API response. Contact Support' },
  sessionNotFound: { code: 530, description: 'SESSION NOT FOUND' },
} as const;

/**
 * Properties with an index above this are ignored; so are indexes that would make the columns
 * far longer than the body has lines. A hostile body cannot make the parser allocate much.
 */
export const MAX_PROPERTY_INDEX = 1_000_000;

const PROPERTY_KEY = /^PROPERTY\s*\[([^\]]*)\]\s*\[\s*(\d{1,7})\s*\]$/i;

interface Parsed {
  code: number;
  description: string;
  runtime: number | undefined;
  queuetime: number | undefined;
  pending: boolean;
  properties: Map<string, (string | undefined)[]>;
}

function decimal(value: string): number | undefined {
  if (value === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
}

/** The endpoint without user information, for a description. */
function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    return parsed.href;
  } catch {
    return '(unknown URL)';
  }
}

const EOF_LINE = /^\s*EOF\s*$/i;
const THREE_DIGITS = /^\d{3}$/;

function parseText(input: string): Parsed | undefined {
  let code: number | undefined;
  let description: string | undefined;
  let runtime: number | undefined;
  let queuetime: number | undefined;
  let pending = false;
  const properties = new Map<string, (string | undefined)[]>();
  const text = input.includes('\r') ? input.replace(/\r\n?/g, '\n') : input;
  const length = text.length;
  // Holes cost memory too: the columns may not grow much faster than the body has lines.
  let slots = 100_000;
  // Line by line without splitting the text first: a response is read once, front to back.
  // `equals` is the next `=` at or after the line's start (-1: none left), found once for all
  // the lines before it, so that lines without one cost no second scan.
  let equals = -2;
  for (let start = 0; start <= length; ) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = length;
    const lineStart = start;
    start = end + 1;
    slots += 4;
    if (equals !== -1 && equals < lineStart) equals = text.indexOf('=', lineStart);
    if (equals === -1 || equals > end) {
      if (EOF_LINE.test(text.slice(lineStart, end))) break;
      continue;
    }
    const key = text.slice(lineStart, equals).trim();
    const value = text.slice(equals + 1, end).trim();
    const first = key.charCodeAt(0) | 32;
    if (first === 112 /* p */) {
      if (key.length === 7 && key.toUpperCase() === 'PENDING') {
        pending = value === '1';
        continue;
      }
      const match = PROPERTY_KEY.exec(key);
      if (match === null) continue;
      const rawName = match[1] ?? '';
      const name = /\s/.test(rawName) ? rawName.toUpperCase().replace(/\s+/g, '') : rawName.toUpperCase();
      const index = Number(match[2]);
      if (name === '' || index > MAX_PROPERTY_INDEX) continue;
      let values = properties.get(name);
      const growth = index + 1 - (values?.length ?? 0);
      if (growth > slots) continue;
      if (growth > 0) slots -= growth;
      if (values === undefined) {
        values = [];
        properties.set(name, values);
      }
      while (values.length < index) values.push(undefined);
      values[index] = value;
      continue;
    }
    // CODE, DESCRIPTION, RUNTIME, QUEUETIME: the first of each counts.
    switch (key.length) {
      case 4:
        if (code === undefined && key.toUpperCase() === 'CODE') {
          if (!THREE_DIGITS.test(value)) return undefined;
          code = Number(value);
        }
        break;
      case 11:
        if (description === undefined && key.toUpperCase() === 'DESCRIPTION') description = value;
        break;
      case 7:
        if (runtime === undefined && key.toUpperCase() === 'RUNTIME') runtime = decimal(value);
        break;
      case 9:
        if (queuetime === undefined && key.toUpperCase() === 'QUEUETIME') queuetime = decimal(value);
        break;
      default:
        break;
    }
  }
  if (code === undefined || description === undefined) return undefined;
  return { code, description, runtime, queuetime, pending, properties };
}

/** A response the client makes up: 421 (HTTP failure), 423 (empty or invalid body), 530 (no session). */
export function syntheticResponse(kind: keyof typeof SYNTHETIC, detail: ResponseDetail = {}): CommandResponse {
  const template = SYNTHETIC[kind];
  const description = kind === 'empty' ? template.description.replace('{URL}', displayUrl(detail.url ?? '')) : template.description;
  return new CommandResponse({
    code: template.code,
    description,
    runtime: undefined,
    queuetime: undefined,
    pending: false,
    properties: undefined,
    raw: `[RESPONSE]\nCODE = ${template.code}\nDESCRIPTION = ${description}\nEOF\n`,
    synthetic: true,
    httpStatus: detail.httpStatus,
    cause: detail.cause,
    attempt: detail.attempt,
    durationMs: detail.durationMs,
    url: detail.url,
    command: detail.command,
  });
}

/**
 * Parse ISPAPI response text into a {@link CommandResponse}. Pure, and never throws: text
 * without `CODE` or `DESCRIPTION` (or with a `CODE` that is not three digits) becomes the
 * synthetic `423 Invalid API response`, and empty text `423 Empty API response`. Accepts any
 * case, `\r\n`, `\n` or `\r`, and blanks around `=`; places each `PROPERTY[NAME][i]` at index `i`.
 *
 * @example
 * const response = parseResponse('[RESPONSE]\ncode = 200\ndescription = OK\nproperty[amount][0] = 12.5\nEOF\n');
 * response.isSuccess();          // true
 * response.property('AMOUNT');   // '12.5'
 */
export function parseResponse(text: string, options: ParseResponseOptions & ResponseDetail = {}): CommandResponse {
  const body = typeof text === 'string' ? text : '';
  const detail: ResponseDetail = options;
  if (body.trim() === '') return syntheticResponse('empty', detail);
  const parsed = parseText(body);
  if (parsed === undefined) return syntheticResponse('invalid', detail);
  // One object shape for every response keeps this path monomorphic (spreads of varying shapes deoptimise it).
  return new CommandResponse({
    code: parsed.code,
    description: parsed.description,
    runtime: parsed.runtime,
    queuetime: parsed.queuetime,
    pending: parsed.pending,
    properties: parsed.properties,
    raw: body,
    synthetic: false,
    httpStatus: detail.httpStatus,
    cause: detail.cause,
    attempt: detail.attempt,
    durationMs: detail.durationMs,
    url: detail.url,
    command: detail.command,
  });
}
