import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '@sessionkit/logger';
import { timers } from './clock.js';
import type { RedisConnection } from './redis-client.js';
import { StoreError } from './store-error.js';

/** Extends the lease only while the lock still holds this owner's token. */
const renewScript = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;
/** Deletes the lock only while it still holds this owner's token. */
const releaseScript = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

const firstRetryMs = 5;
const maxRetryMs = 50;

/** What the lock key holds: who took it, for people inspecting Redis. Not a secret. */
function ownerToken(): string {
  return JSON.stringify({ host: hostname(), pid: process.pid, nonce: randomUUID(), at: new Date().toISOString() });
}

function holderOf(value: unknown): string {
  if (typeof value !== 'string') return 'an unknown holder';
  try {
    const { host, pid } = JSON.parse(value) as { host?: unknown; pid?: unknown };
    if ((typeof host === 'string' || typeof host === 'number') && typeof pid === 'number') return `process ${pid} on ${String(host)}`;
  } catch {
    // Not written by this package: say nothing more about it.
  }
  return 'another client';
}

/** Settings of {@link RedisLease}. */
export interface RedisLeaseOptions {
  connection: RedisConnection;
  lockKey: string;
  leaseMs: number;
  logger: Logger;
}

/**
 * One holding of a lease lock: `SET lockKey owner NX PX lease`, extended every lease / 3 while
 * held (compare-and-pexpire), deleted on release only if still ours (compare-and-delete).
 */
export class RedisLease {
  readonly #options: RedisLeaseOptions;
  readonly #owner = ownerToken();
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;
  /** When (in ms of `process.uptime()`, see clock.ts) the last successful SET or PEXPIRE was sent: the lease runs at least until this + leaseMs. */
  #confirmedAt = 0;
  #lost = false;

  constructor(options: RedisLeaseOptions) {
    this.#options = options;
  }

  /** True once the lease is known or presumed lost while held. */
  get lost(): boolean {
    return this.#lost;
  }

  /**
   * Takes the lock, retrying with capped backoff until `deadline` (in ms of `process.uptime()`,
   * see clock.ts); rejects with `LOCK_TIMEOUT` then, or at once with the StoreError of a failed
   * command (Redis unreachable), or with `UNAVAILABLE` before an attempt once `closed()` is true.
   */
  async acquire(deadline: number, timeoutMs: number, closed: () => boolean = () => false): Promise<void> {
    const { connection, lockKey, leaseMs } = this.#options;
    let wait = firstRetryMs;
    for (;;) {
      if (closed()) throw new StoreError('UNAVAILABLE', 'This RedisStore has been closed.');
      const sentAt = process.uptime() * 1000;
      const reply = await connection.command('take the lock', 'SET', lockKey, this.#owner, 'NX', 'PX', leaseMs);
      if (reply === 'OK') {
        this.#confirmedAt = sentAt;
        this.#startRenewing();
        return;
      }
      const remaining = deadline - process.uptime() * 1000;
      if (remaining <= 0) {
        const holder = await connection.command('read the lock', 'GET', lockKey).catch(() => undefined);
        throw new StoreError('LOCK_TIMEOUT', `Timed out after ${timeoutMs} ms waiting for the Redis lock on a store key, held by ${holderOf(holder)}. Raise timeoutMs, or find the holder; a dead holder's lease runs out within ${leaseMs} ms.`);
      }
      // Full jitter, so that waiters do not retry in lockstep.
      // node:timers/promises, not the global timer, which fake timers (vi.useFakeTimers() and the
      // like) replace: a test with fake timers would wait for a held lock forever (as FileStore).
      await delay(Math.min(remaining, Math.max(1, Math.random() * wait)));
      wait = Math.min(maxRetryMs, wait * 2);
    }
  }

  /** Deletes the lock if it is still ours. Never rejects: a lock left behind expires with its lease. */
  async release(): Promise<void> {
    this.#stopRenewing();
    const { connection, lockKey, logger } = this.#options;
    try {
      const deleted = await connection.command('release the lock', 'EVAL', releaseScript, 1, lockKey, this.#owner);
      if (deleted !== 1) this.#markLost('the Redis lock had expired or been taken over by the time its holder released it: another holder may have worked at the same time');
    } catch (error) {
      logger.warn('could not release the Redis lock; it expires when its lease runs out', {
        lockKey,
        leaseMs: this.#options.leaseMs,
        code: StoreError.isInstance(error) ? error.code : undefined,
      });
    }
  }

  /** Stops renewing without releasing (when the store closes). */
  abandon(): void {
    this.#stopRenewing();
  }

  #startRenewing(): void {
    const interval = Math.max(1, Math.floor(this.#options.leaseMs / 3));
    // A real timer (see clock.ts): under a test's fake timers the lease would run out while held.
    this.#timer = timers.setInterval(() => {
      void this.#renew();
    }, interval);
    this.#timer.unref();
  }

  #stopRenewing(): void {
    if (this.#timer !== undefined) timers.clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #renew(): Promise<void> {
    if (this.#renewing || this.#lost) return;
    this.#renewing = true;
    const { connection, lockKey, leaseMs, logger } = this.#options;
    const sentAt = process.uptime() * 1000;
    try {
      const extended = await connection.command('renew the lock', 'EVAL', renewScript, 1, lockKey, this.#owner, leaseMs);
      if (extended === 1) {
        this.#confirmedAt = sentAt;
      } else if (this.#timer !== undefined) {
        this.#markLost('lost the Redis lock lease while still holding it (it expired or was taken over): another process may now hold the lock and work at the same time');
      }
    } catch (error) {
      const code = StoreError.isInstance(error) ? error.code : undefined;
      if (this.#timer !== undefined && process.uptime() * 1000 - this.#confirmedAt >= leaseMs) {
        this.#markLost('could not renew the Redis lock for longer than its lease: it has probably expired, and another process may now hold it');
      } else {
        logger.debug('could not renew the Redis lock; retrying', { lockKey, code });
      }
    } finally {
      this.#renewing = false;
    }
  }

  #markLost(message: string): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#stopRenewing();
    this.#options.logger.warn(message, { lockKey: this.#options.lockKey, leaseMs: this.#options.leaseMs });
  }
}
