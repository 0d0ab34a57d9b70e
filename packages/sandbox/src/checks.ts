import { validateHeaderValue } from 'node:http';

/** The longest delay a timer can wait (2^31 - 1 ms, about 24.8 days). */
const MAX_DELAY_MS = 2_147_483_647;

/**
 * `count` when it is a whole number of 1 or more (or, with `infinite`, Infinity: until told
 * otherwise), and at most `max` when given; else a RangeError naming `name`. The fault controls
 * share these checks.
 */
export function checkCount(name: string, count: number, infinite = false, max: number = Number.POSITIVE_INFINITY): number {
  if (!((Number.isInteger(count) || (infinite && count === Number.POSITIVE_INFINITY)) && count >= 1 && count <= max)) {
    const range = max === Number.POSITIVE_INFINITY ? 'of 1 or more' : `from 1 to ${max}`;
    throw new RangeError(`${name} must be a whole number ${range}${infinite ? ', or Infinity' : ''}, not ${count}.`);
  }
  return count;
}

/** `value` when it is a whole number of 0 or more (a size, a count where 0 means none); else a RangeError. */
export function checkWhole(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 0)) throw new RangeError(`${name} must be a whole number of 0 or more, not ${value}.`);
  return value;
}

/** `status` when it is an HTTP status from `min` to 599 (400: an error; 200: any final answer). */
export function checkStatus(name: string, status: number, min: 200 | 400): number {
  if (!(Number.isInteger(status) && status >= min && status <= 599)) {
    throw new RangeError(`${name} must be an HTTP ${min === 400 ? 'error ' : ''}status from ${min} to 599, not ${status}.`);
  }
  return status;
}

/** `ms` when a timer can wait that long (`min`, default 0, to 2^31 - 1). */
export function checkDelay(name: string, ms: number, min = 0): number {
  if (!(ms >= min && ms <= MAX_DELAY_MS)) throw new RangeError(`${name} must be from ${min} to ${MAX_DELAY_MS} ms, not ${ms}.`);
  return ms;
}

/**
 * `value` when it can be sent as an HTTP header's value (undefined: none); else a TypeError
 * naming `name`, when the fault is injected rather than a 500 when it is played.
 */
export function checkHeader(name: string, value: number | string | undefined): number | string | undefined {
  if (value === undefined) return value;
  try {
    validateHeaderValue(name, String(value));
  } catch {
    throw new TypeError(`${name} cannot be sent as a header value: ${JSON.stringify(String(value)).slice(0, 40)}.`);
  }
  return value;
}
