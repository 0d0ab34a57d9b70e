import type { StoredRecord } from './types.js';

function finiteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * The time (epoch ms) after which `record` is of no use to anyone, or undefined when it has no
 * such time. It reads the fields sessionkit's records carry: a top-level `expiresAt`, a
 * `throttledUntil` (a throttle must outlive the token it sits next to), and `token.expiresAt`
 * (what `@sessionkit/core-session` writes). A token without `expiresAt` never expires by time,
 * and a token with a `refreshToken` may be refreshed long after its access token expired: both
 * mean "no expiry".
 */
export function recordExpiry(record: StoredRecord): number | undefined {
  const times: number[] = [];
  if (finiteNumber(record.expiresAt)) times.push(record.expiresAt);
  if (finiteNumber(record.throttledUntil)) times.push(record.throttledUntil);
  const token: unknown = record.token;
  if (typeof token === 'object' && token !== null) {
    const { expiresAt, refreshToken } = token as { expiresAt?: unknown; refreshToken?: unknown };
    if (typeof refreshToken === 'string' && refreshToken !== '') return undefined;
    if (!finiteNumber(expiresAt)) return undefined;
    times.push(expiresAt);
  }
  return times.length === 0 ? undefined : Math.max(...times);
}

/**
 * How long Redis should keep `record` (for `SET … PX`): until its expiry plus `graceMs`, counted
 * from `now`, and never less than `graceMs`. Undefined when the record does not expire, or
 * expires so far ahead that `SET … PX` would refuse the TTL: Redis takes at most a 64-bit
 * integer minus the current time (about 9.2e18 ms), and a number from 1e21 on is sent as
 * "1e+21". Beyond 2^53 ms (285,000 years, past the latest Date) the record is kept without one.
 */
export function recordTimeToLive(record: StoredRecord, now: number, graceMs: number): number | undefined {
  const expiry = recordExpiry(record);
  if (expiry === undefined) return undefined;
  const ttl = Math.max(1, Math.ceil(Math.max(0, expiry - now) + graceMs));
  return ttl <= Number.MAX_SAFE_INTEGER ? ttl : undefined;
}
