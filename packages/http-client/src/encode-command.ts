import { invalidArgument } from './http-client-error.js';

/** A value a command parameter may have. `null` and `undefined` are left out. */
export type CommandScalar = string | number | bigint | boolean | null | undefined;

/** A command parameter's value: a scalar, or an array that becomes `KEY0`, `KEY1`, ... */
export type CommandValue = CommandScalar | readonly CommandScalar[];

/**
 * An ISPAPI command: a flat map with a `COMMAND` key, such as
 * `{ COMMAND: 'CheckDomain', DOMAIN: 'example.com' }`. Keys are sent in upper case.
 */
export type Command = Readonly<Record<string, CommandValue>>;

/** Finite `n` in plain decimal notation (never `1e+21` or `1e-7`). */
export const plainDecimal = (n: number): string => {
  // Exponent notation always has one digit before the point (`1.5e-7`, `1e+21`): that digit, the
  // others and the exponent; the sign stays. Without an exponent, nothing matches.
  return String(n).replace(/(\d)\.?(\d*)e(.+)/, (_, first: string, others: string, exponent: string) => {
    const digits = first + others;
    const point = 1 + +exponent;
    return point > 0 ? digits.padEnd(point, '0') : `0.${'0'.repeat(-point)}${digits}`;
  });
};

/**
 * The command as the `KEY`/`value` pairs that are sent, in order: `COMMAND` first, then the
 * others in insertion order; keys upper-cased; `null`/`undefined` left out; arrays expanded to
 * `KEY0`, `KEY1`, ... (an array's empty slots keep their index); booleans as `1`/`0`; numbers in
 * plain decimal; `\r` and `\n` removed from values.
 * Throws `HttpClientError('INVALID_ARGUMENT')` for what cannot be sent: no `COMMAND`, a key
 * that is empty or holds `=` or white space, two keys that are the same in upper case, an
 * object as a value.
 */
export const flattenCommand = (command: unknown): [key: string, value: string][] => {
  // unknown: plain JavaScript may pass anything.
  if (!command || typeof command !== 'object' || Array.isArray(command)) {
    throw invalidArgument('A command must be a plain object with COMMAND, a non-empty string.');
  }
  // COMMAND goes first, wherever it is in the object.
  const pairs: [string, string][] = [['COMMAND', '']];
  const seen = new Set<string>();
  // A scalar as sent (null and undefined left out); anything else is INVALID_ARGUMENT.
  const add = (key: string, value: unknown): void => {
    let text: string;
    switch (typeof value) {
      case 'string':
        text = value.replace(/[\r\n]/g, '');
        break;
      case 'number':
        if (!Number.isFinite(value)) throw invalidArgument(`Command parameter ${key} must be a finite number, not ${value}.`);
        text = plainDecimal(value);
        break;
      case 'bigint':
        text = String(value);
        break;
      case 'boolean':
        text = value ? '1' : '0';
        break;
      default:
        if (value == null) return;
        throw invalidArgument(`Command parameter ${key} must be a string, number, bigint, boolean or an array of them.`);
    }
    if (seen.has(key)) throw invalidArgument(`Command parameter ${key} is given twice (keys are upper-cased).`);
    seen.add(key);
    pairs[key === 'COMMAND' ? 0 : pairs.length] = [key, text];
  };
  for (const rawKey of Object.keys(command)) {
    // Not empty, no `=`, no white space. Named up to the first of them: what follows may be a value
    // written into the key (`PASSWORD=hunter2`).
    if (!/^[^\s=]+$/.test(rawKey)) throw invalidArgument(`Command parameter ${JSON.stringify(rawKey.replace(/[\s=][^]*/, '…'))} must not be empty or hold "=" or white space.`);
    const key = rawKey.toUpperCase();
    const value = (command as Readonly<Record<string, unknown>>)[rawKey];
    if (key === 'COMMAND' && (typeof value !== 'string' || !value.trim())) throw invalidArgument('A command needs COMMAND, a non-empty string.');
    // An array's empty slots are skipped, as undefined items are; the others keep their index.
    if (Array.isArray(value)) (value as readonly unknown[]).forEach((item, index) => { add(`${key}${index}`, item); });
    else add(key, value);
  }
  if (!seen.has('COMMAND')) throw invalidArgument('A command needs COMMAND, a non-empty string.');
  return pairs;
};

/** Command text from pairs: `KEY=value` lines joined by `\n`, no trailing newline. */
export const commandTextOf = (pairs: readonly (readonly [string, string])[]): string => {
  return pairs.map(([key, value]) => `${key}=${value}`).join('\n');
};

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
