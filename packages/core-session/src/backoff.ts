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

/** Fill in and check retry options. */
export function retryPolicy(options: RetryOptions = {}): RetryPolicy {
  const policy = { retries: options.retries ?? 2, baseDelayMs: options.baseDelayMs ?? 200, maxDelayMs: options.maxDelayMs ?? 5000 };
  if (!Number.isInteger(policy.retries) || policy.retries < 0 || policy.retries > 20) {
    throw new RangeError(`retry.retries must be a whole number from 0 to 20, not ${policy.retries}.`);
  }
  if (!(policy.baseDelayMs >= 0) || !(policy.maxDelayMs >= 0)) throw new RangeError('retry delays must be 0 or more milliseconds.');
  return policy;
}

/** "Full jitter" backoff: a random delay between 0 and min(max, base * 2^(retry - 1)). */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * cap);
}

/** Resolve after `ms`, or reject with the signal's reason when it aborts first. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
