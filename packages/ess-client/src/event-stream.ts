import { EssError } from './ess-error.js';
import type { EssEvent } from './types.js';

/** What to do when an `events()` iterator's buffer reaches `highWaterMark`. */
export type OverflowPolicy = 'pause' | 'error';

/**
 * A batch of events: delivered once every stream's consumer is done with its last event (or
 * left), and some consumer took it. `seq` counts batches up, so that the record never moves back.
 */
export interface Batch {
  readonly sessionId: string;
  readonly last: EssEvent;
  readonly seq: number;
  remaining: number;
  /** A consumer took the batch (not only streams that left before its end). */
  taken?: boolean;
  /** Made after an iterator threw OVERFLOW (it never got some of these events): never saved. */
  readonly heldBack?: boolean;
}

/** What a stream tells its client. */
export interface StreamOwner {
  /** The stream's buffer crossed the high-water mark, or fell to the low-water mark. */
  flowChanged(): void;
  /**
   * The consumer is done with the last event of `batch` (`taken`), or left before it (`taken`
   * false): once per stream and batch.
   */
  batchTaken(batch: Batch, taken?: boolean): void;
  /** The consumer stopped iterating. */
  detach(stream: EventStream): void;
  /**
   * The stream ended with OVERFLOW: a consumer that takes nothing more, whose events the resume
   * record must stay before; the stream itself takes no further events.
   */
  overflowed(stream: EventStream): void;
}

interface Waiter {
  resolve: (result: IteratorResult<EssEvent, undefined>) => void;
  reject: (error: Error) => void;
}

const done: IteratorResult<EssEvent, undefined> = { done: true, value: undefined };

/**
 * One `events()` iterator: a FIFO buffer between the socket reader and a `for await` loop.
 * With `pause`, reaching `highWaterMark` makes the client stop reading the socket until the
 * buffer is down to half; nothing is dropped. With `error`, the iterator throws OVERFLOW.
 */
export class EventStream implements AsyncIterableIterator<EssEvent, undefined> {
  readonly #owner: StreamOwner;
  readonly #highWaterMark: number;
  readonly #policy: OverflowPolicy;
  /** A growable ring: `#size` events from `#head`, capacity a power of two. */
  #ring: (EssEvent | undefined)[] = new Array<EssEvent | undefined>(64).fill(undefined);
  #head = 0;
  #size = 0;
  /**
   * Batches not reported yet, from `#batchHead` on (the slots before it are reported ones',
   * emptied, and cut off now and then): up to `#got`, the `#done` whose last event the consumer
   * got (or that ended with nothing buffered while it had an event), reported when it comes back
   * (next(), return()); after them, those whose last event is still buffered. `#done` is
   * `#got - #batchHead`, kept apart so that next() checks one field.
   */
  readonly #batches: (Batch | undefined)[] = [];
  #batchHead = 0;
  #got = 0;
  #done = 0;
  /** A pending `next()`: only ever waiting on an empty buffer. */
  #waiter: Waiter | undefined;
  /** `next()` calls made while `#waiter` was pending (rare), oldest first. */
  readonly #queue: Waiter[] = [];
  #ended = false;
  #error: Error | undefined;
  #full = false;

  constructor(owner: StreamOwner, highWaterMark: number, policy: OverflowPolicy) {
    this.#owner = owner;
    this.#highWaterMark = Math.max(1, highWaterMark);
    this.#policy = policy;
  }

  /** Events buffered and not yet taken. */
  get size(): number {
    return this.#size;
  }

  /** Let go (return(), release()): it reports no batch from then on. */
  left = false;

  /** Whether the buffer is at or above the high-water mark (and has not drained to half since). */
  get full(): boolean {
    return this.#full;
  }

  /** Buffer one event (or hand it straight to a waiting consumer). */
  push(event: EssEvent): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      // A waiting consumer means an empty buffer, so no batch ends at a buffered event.
      this.#waiter = this.#queue.shift();
      waiter.resolve({ done: false, value: event });
      return;
    }
    let ring = this.#ring;
    if (this.#size === ring.length) ring = this.#grow();
    ring[(this.#head + this.#size) & (ring.length - 1)] = event;
    this.#size += 1;
    if (!this.#full && this.#size >= this.#highWaterMark) {
      if (this.#policy === 'error') {
        this.fail(new EssError('OVERFLOW', `An events() consumer fell behind (highWaterMark ${this.#highWaterMark}).`), true);
        this.#owner.overflowed(this);
        return;
      }
      this.#full = true;
      this.#owner.flowChanged();
    }
  }

  #grow(): (EssEvent | undefined)[] {
    const old = this.#ring;
    const ring = new Array<EssEvent | undefined>(old.length * 2).fill(undefined);
    for (let index = 0; index < this.#size; index += 1) ring[index] = old[(this.#head + index) & (old.length - 1)];
    this.#ring = ring;
    this.#head = 0;
    return ring;
  }

  /**
   * Mark the end of a batch at the last pushed event. Also after fail(): the buffered events
   * are still handed out.
   */
  endBatch(batch: Batch): void {
    // A ring of no capacity: the buffer was dropped (fail() with `drop`, as OVERFLOW) for good,
    // and the stream never reports a batch again.
    if (!this.#ring.length) return;
    // Nothing buffered: the consumer got the batch's last event (or none of the batch: a stream
    // created during it). Waiting for the next one, it is done with it; else it may still be
    // handling it, and the batch is reported when it comes back.
    if (this.#size === 0 && this.#waiter !== undefined) {
      this.#owner.batchTaken(batch);
      return;
    }
    this.#batches.push(batch);
    if (this.#size === 0) {
      this.#got += 1;
      this.#done += 1;
    }
  }

  /** The consumer came back: it is done with what it got, so the batches that ended there are taken. */
  #report(): void {
    // Once per batch, not per event. By index, not shift(): that copies the whole array once
    // some 16K batches are queued (quadratic while they drain).
    const batches = this.#batches;
    for (; this.#done; this.#done -= 1) {
      const batch = batches[this.#batchHead];
      batches[this.#batchHead++] = undefined;
      if (batch) this.#owner.batchTaken(batch);
    }
    // The reported slots are cut off once they are most of the array: O(1) per batch on average.
    if (this.#batchHead > 256 && this.#batchHead * 2 > batches.length) {
      batches.splice(0, this.#batchHead);
      this.#got -= this.#batchHead;
      this.#batchHead = 0;
    }
  }

  next(): Promise<IteratorResult<EssEvent, undefined>> {
    if (this.#done) this.#report();
    const ring = this.#ring;
    const head = this.#head;
    const event = ring[head];
    if (event !== undefined) {
      ring[head] = undefined;
      this.#head = (head + 1) & (ring.length - 1);
      this.#size -= 1;
      // The last event of the next batch not handed out yet: the consumer gets it now.
      if (this.#batches[this.#got]?.last === event) {
        this.#got += 1;
        this.#done += 1;
      }
      if (this.#full && this.#size <= this.#highWaterMark >> 1) {
        this.#full = false;
        this.#owner.flowChanged();
      }
      return Promise.resolve({ done: false, value: event });
    }
    if (this.#error !== undefined) {
      const error = this.#error;
      this.#error = undefined;
      return Promise.reject(error);
    }
    if (this.#ended) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      if (this.#waiter === undefined) this.#waiter = { resolve, reject };
      else this.#queue.push({ resolve, reject });
    });
  }

  /**
   * The consumer leaves: it is done with what it got (those batches are taken), the buffer is
   * dropped (`next()` is `done` from now on), and the batches it had not got the end of are left
   * to the other consumers: they count as delivered once those took them, and not at all when
   * none did.
   */
  return(): Promise<IteratorResult<EssEvent, undefined>> {
    this.release(false);
    return Promise.resolve(done);
  }

  /**
   * Drop the buffer, stop and detach: the consumer left (return(): an earlier error is dropped
   * too, and the batches not handed out are left to the other consumers), or a stream held by
   * the client was let go, no `events()` call having taken it (`taken`: its batches count as
   * taken, so that no consumer holds back the record).
   */
  release(taken: boolean): void {
    // Each batch is reported once (return() may be called again); from #batchHead on, every slot holds one.
    const got = this.#done;
    this.left = true;
    const batches = this.#batches.splice(this.#batchHead) as Batch[];
    this.#batches.length = this.#batchHead = this.#got = this.#done = 0;
    this.fail(undefined, true);
    this.#error = undefined;
    this.#owner.detach(this);
    batches.forEach((batch, index) => {
      this.#owner.batchTaken(batch, taken || index < got);
    });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * Stop with `error` (none: just end): with `drop`, buffered events are dropped and the next
   * `next()` rejects; without, the consumer gets what is buffered first.
   */
  fail(error?: Error, drop?: boolean): void {
    if (drop) {
      // For good: no capacity (see endBatch()).
      this.#ring = [];
      this.#head = 0;
      this.#size = 0;
      // Its unfinished batches stay pending: never taken, they are not saved as resume points,
      // unless the stream leaves or, held, is let go (release()).
    }
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    // Waiters mean an empty buffer (and a queue only behind `#waiter`): the first gets the
    // error, every other `done`. push() never serves them again: the stream has ended.
    const waiter = this.#waiter;
    if (waiter !== undefined) for (const { resolve, reject } of [waiter, ...this.#queue]) void this.next().then(resolve, reject);
  }
}
