import { HttpClientError } from './http-client-error.js';

/** A value a command parameter may have. `null` and `undefined` are left out. */
export type CommandScalar = string | number | bigint | boolean | null | undefined;

/** A command parameter's value: a scalar, or an array that becomes `KEY0`, `KEY1`, ... */
export type CommandValue = CommandScalar | readonly CommandScalar[];

/**
 * An ISPAPI command: a flat map with a `COMMAND` key, such as
 * `{ COMMAND: 'CheckDomain', DOMAIN: 'example.com' }`. Keys are sent in upper case.
 */
export type Command = Readonly<Record<string, CommandValue>>;

const VALID_KEY = /^[^\s=]+$/;

/** Whether a parameter name can be sent: not empty, no `=`, no white space. */
function isValidKey(key: string): boolean {
  // Letters, digits and `_` need no regular expression; anything else asks the full rule.
  if (key.length === 0) return false;
  for (let index = 0; index < key.length; index += 1) {
    const code = key.charCodeAt(index);
    const plain = (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 95;
    if (!plain) return VALID_KEY.test(key);
  }
  return true;
}

function invalid(message: string): HttpClientError {
  return new HttpClientError('INVALID_ARGUMENT', message);
}

/** `n` in plain decimal notation (never `1e+21` or `1e-7`). */
export function plainDecimal(n: number): string {
  if (!Number.isFinite(n)) throw invalid(`A command value must be a finite number, not ${String(n)}.`);
  if (n === 0) return '0';
  const text = String(n);
  const e = text.indexOf('e');
  if (e === -1) return text;
  const exponent = Number(text.slice(e + 1));
  const negative = text.startsWith('-');
  const mantissa = text.slice(negative ? 1 : 0, e);
  const point = mantissa.indexOf('.');
  const digits = point === -1 ? mantissa : mantissa.slice(0, point) + mantissa.slice(point + 1);
  const position = (point === -1 ? mantissa.length : point) + exponent;
  let plain: string;
  if (position <= 0) plain = `0.${'0'.repeat(-position)}${digits}`;
  else if (position >= digits.length) plain = digits + '0'.repeat(position - digits.length);
  else plain = `${digits.slice(0, position)}.${digits.slice(position)}`;
  return negative ? `-${plain}` : plain;
}

function scalarText(key: string, value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value.includes('\n') || value.includes('\r') ? value.replace(/[\r\n]/g, '') : value;
    case 'number':
      return plainDecimal(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? '1' : '0';
    case 'undefined':
      return undefined;
    default:
      if (value === null) return undefined;
      throw invalid(`Command parameter ${key} must be a string, number, bigint, boolean or an array of them.`);
  }
}

/**
 * The command as the `KEY`/`value` pairs that are sent, in order: `COMMAND` first, then the
 * others in insertion order; keys upper-cased; `null`/`undefined` left out; arrays expanded to
 * `KEY0`, `KEY1`, ... (an array's empty slots keep their index); booleans as `1`/`0`; numbers in
 * plain decimal; `\r` and `\n` removed from values.
 * Throws `HttpClientError('INVALID_ARGUMENT')` for what cannot be sent: no `COMMAND`, a key
 * that is empty or holds `=` or white space, two keys that are the same in upper case, an
 * object as a value.
 */
export function flattenCommand(command: Readonly<Record<string, unknown>>): [key: string, value: string][] {
  const input: unknown = command;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid('A command must be a plain object such as { COMMAND: "StatusAccount" }.');
  }
  // COMMAND goes first; its value is filled in once it is found.
  const pairs: [string, string][] = [['COMMAND', '']];
  // Few parameters are compared one by one; many go through a set.
  let seen: Set<string> | undefined;
  let commandName: string | undefined;
  const add = (key: string, value: string): void => {
    if (seen === undefined && pairs.length > 16) seen = new Set(pairs.slice(1).map(([name]) => name));
    let twice = false;
    if (seen === undefined) {
      for (let index = 1; index < pairs.length; index += 1) if (pairs[index]?.[0] === key) twice = true;
    } else {
      twice = seen.has(key);
      seen.add(key);
    }
    if (twice) throw invalid(`Command parameter ${key} is given twice (keys are sent in upper case).`);
    pairs.push([key, value]);
  };
  for (const rawKey of Object.keys(command)) {
    if (!isValidKey(rawKey)) throw invalid(`Command parameter names must not be empty or hold "=" or white space: ${JSON.stringify(rawKey)}.`);
    const key = rawKey.toUpperCase();
    const value = command[rawKey];
    if (key === 'COMMAND') {
      if (commandName !== undefined) throw invalid('COMMAND is given twice.');
      const name = scalarText(key, value);
      if (typeof value !== 'string' || name === undefined || name.trim() === '') throw invalid('A command needs COMMAND, a non-empty string.');
      commandName = name;
      continue;
    }
    if (Array.isArray(value)) {
      const items: readonly unknown[] = value;
      for (let index = 0; index < items.length; index += 1) {
        const item: unknown = items[index];
        if (Array.isArray(item)) throw invalid(`Command parameter ${key} must not hold nested arrays.`);
        const text = scalarText(`${key}${index}`, item);
        if (text !== undefined) add(`${key}${index}`, text);
      }
      continue;
    }
    const text = scalarText(key, value);
    if (text !== undefined) add(key, text);
  }
  if (commandName === undefined) throw invalid('A command needs COMMAND, a non-empty string.');
  pairs[0] = ['COMMAND', commandName];
  return pairs;
}

/** Command text from pairs: `KEY=value` lines joined by `\n`, no trailing newline. */
export function commandTextOf(pairs: readonly (readonly [string, string])[]): string {
  let text = '';
  for (let index = 0; index < pairs.length; index += 1) {
    const pair = pairs[index];
    if (pair !== undefined) text += index === 0 ? `${pair[0]}=${pair[1]}` : `\n${pair[0]}=${pair[1]}`;
  }
  return text;
}

/**
 * Serialise a command as ISPAPI command text: `KEY=value` lines joined by `\n`, `COMMAND`
 * first (see {@link flattenCommand} for the rules). Pure; throws `HttpClientError` for a
 * command that cannot be sent.
 *
 * @example
 * encodeCommand({ domain: ['a.com', 'b.com'], COMMAND: 'CheckDomains', PREMIUM: true })
 * // 'COMMAND=CheckDomains\nDOMAIN0=a.com\nDOMAIN1=b.com\nPREMIUM=1'
 */
export function encodeCommand(command: Readonly<Record<string, unknown>>): string {
  return commandTextOf(flattenCommand(command));
}
