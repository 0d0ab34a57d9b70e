/** How the session retries an attempt that failed with a `SERVER` or `NETWORK` error. */
export interface RetryOptions {
  /** Retries after the first attempt. @default 2 */
  retries?: number | undefined;
  /** The backoff cap of the first retry, doubled for each further one. @default 200 */
  baseDelayMs?: number | undefined;
  /** The largest backoff cap. @default 5000 */
  maxDelayMs?: number | undefined;
}

/** Retry options with every default filled in. */
export interface RetryPolicy {
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** The longest delay `setTimeout` takes (2^31 - 1 ms, about 24.8 days): a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * `value` (milliseconds), or `fallback` when it is undefined or null; a RangeError naming the option when
 * it is not a number, negative (with `positive`, also 0: a timeout of 0 ends every attempt at once),
 * or above `max` (for timers: {@link MAX_TIMER_MS}).
 */
export function milliseconds(name: string, value: number | undefined, fallback: number, max?: number, positive = false): number {
  // null, from plain JavaScript, counts as not given, as elsewhere in sessionkit.
  if (value == null) return fallback;
  if (typeof value !== 'number' || !((positive ? value > 0 : value >= 0) && value <= (max ?? Infinity))) {
    const range = max === undefined ? (positive ? 'above 0' : '0 or more') : `${positive ? 'above 0 and at most' : '0 to'} ${max}`;
    // Not a number: only its type ("5" is not 5, and a string given by mistake may be a secret).
    throw new RangeError(`${name} must be ${range} milliseconds, not ${typeof value == 'number' ? value : typeof value}.`);
  }
  return value;
}

/** Fill in and check retry options. */
export function retryPolicy(options: RetryOptions = {}): RetryPolicy {
  if (typeof options !== 'object') throw new TypeError('retry must be an object such as { retries: 0 }.');
  const retries = options.retries ?? 2;
  if (!Number.isInteger(retries) || retries < 0 || retries > 20) {
    throw new RangeError(`retry.retries must be an integer from 0 to 20, not ${typeof retries == 'number' ? retries : typeof retries}.`);
  }
  return {
    retries,
    baseDelayMs: milliseconds('retry.baseDelayMs', options.baseDelayMs, 200, MAX_TIMER_MS),
    maxDelayMs: milliseconds('retry.maxDelayMs', options.maxDelayMs, 5000, MAX_TIMER_MS),
  };
}

/** "Full jitter" backoff: a random delay between 0 and min(max, base * 2^(retry - 1)). */
export function backoffDelay(policy: RetryPolicy, retry: number): number {
  return Math.floor(Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1)));
}
