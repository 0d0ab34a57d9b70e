import { describe, expect, it } from 'vitest';
import { type Batch, EventStream, type StreamOwner } from './event-stream.js';
import type { EssEvent } from './types.js';

function owner(): StreamOwner & { flows: boolean[]; taken: Batch[]; overflows: EventStream[]; stream?: EventStream } {
  const record: StreamOwner & { flows: boolean[]; taken: Batch[]; overflows: EventStream[]; stream?: EventStream } = {
    flows: [],
    taken: [],
    flowChanged: () => record.flows.push(record.stream?.full ?? false),
    batchTaken: (batch) => record.taken.push(batch),
    detach: () => undefined,
    overflows: [],
    overflowed: (stream) => {
      record.overflows.push(stream);
    },
  };
  return record;
}

const event = (id: string): EssEvent => ({ id, time: '2026-01-01T00:00:00Z', type: 't', source: 'cameras/a' });

/** A stream holding events a and b, b ending a batch. */
function batchOfTwo(): { parent: ReturnType<typeof owner>; stream: EventStream; batch: Batch } {
  const parent = owner();
  const stream = new EventStream(parent, 100, 'pause');
  const last = event('b');
  stream.push(event('a'));
  stream.push(last);
  const batch: Batch = { sessionId: 's', last, seq: 1, remaining: 1 };
  stream.endBatch(batch);
  return { parent, stream, batch };
}

describe('EventStream', () => {
  it('signals full at the high-water mark and not full at half, dropping nothing', async () => {
    const parent = owner();
    const stream = new EventStream(parent, 4, 'pause');
    parent.stream = stream;
    for (let n = 0; n < 6; n += 1) stream.push(event(`e${n}`));
    expect(parent.flows).toEqual([true]);
    expect(stream.size).toBe(6);
    const ids: string[] = [];
    for (let n = 0; n < 4; n += 1) ids.push(((await stream.next()).value!).id);
    expect(parent.flows).toEqual([true, false]);
    stream.fail();
    for (let n = 0; n < 2; n += 1) ids.push(((await stream.next()).value!).id);
    expect(ids).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  it('reports a batch once the consumer comes back after its last event (next() or return()), not when it gets it', async () => {
    const { parent, stream, batch } = batchOfTwo();
    await stream.next();
    await stream.next();
    // It has the last event, and may still be handling it (a process that dies now gets the batch again).
    expect(parent.taken).toEqual([]);
    const waiting = stream.next();
    expect(parent.taken).toEqual([batch]);

    // Handed straight to a waiting next(): reported at the next call too.
    const direct = event('c');
    stream.push(direct);
    const second: Batch = { sessionId: 's', last: direct, seq: 2, remaining: 1 };
    stream.endBatch(second);
    expect((await waiting).value).toBe(direct);
    expect(parent.taken).toEqual([batch]);
    const more = stream.next();
    expect(parent.taken).toEqual([batch, second]);

    // A batch that ends while the consumer waits: it is done with everything, reported at once.
    const third: Batch = { sessionId: 's', last: event('x'), seq: 3, remaining: 1 };
    stream.endBatch(third);
    expect(parent.taken).toEqual([batch, second, third]);

    // Ending with nothing buffered while the consumer handles an event: reported when it leaves.
    const fourth = event('d');
    stream.push(fourth);
    expect((await more).value).toBe(fourth);
    const last: Batch = { sessionId: 's', last: fourth, seq: 4, remaining: 1 };
    stream.endBatch(last);
    expect(parent.taken).toHaveLength(3);
    await stream.return();
    expect(parent.taken).toEqual([batch, second, third, last]);
  });

  it('reports a batch whose end the consumer got as taken when it leaves, and the ones it did not get as left', async () => {
    const leaving = owner();
    const taken: [Batch, boolean | undefined][] = [];
    leaving.batchTaken = (batch, took) => taken.push([batch, took]);
    const stream = new EventStream(leaving, 100, 'pause');
    const first = event('a');
    const second = event('b');
    stream.push(first);
    const got: Batch = { sessionId: 's', last: first, seq: 1, remaining: 1 };
    stream.endBatch(got);
    stream.push(second);
    const missed: Batch = { sessionId: 's', last: second, seq: 2, remaining: 1 };
    stream.endBatch(missed);
    expect((await stream.next()).value).toBe(first);
    await stream.return();
    expect(taken).toEqual([
      [got, true],
      [missed, false],
    ]);
  });

  it('reports thousands of queued batches once each and in order, while more come, and the rest right when it leaves', async () => {
    const parent = owner();
    const taken: [number, boolean | undefined][] = [];
    parent.batchTaken = (batch, took) => taken.push([Number(batch.last.id), took]);
    const stream = new EventStream(parent, 1_000_000, 'pause');
    const lasts: number[] = [];
    let pushed = 0;
    const pushBatch = (size: number): void => {
      let last = event('');
      for (let n = 0; n < size; n += 1) stream.push((last = event(String(pushed++))));
      lasts.push(pushed - 1);
      stream.endBatch({ sessionId: 's', last, seq: lasts.length, remaining: 1 });
    };
    for (let n = 0; n < 2000; n += 1) pushBatch(1 + (n % 3));
    // Taken in uneven rounds as more batches come: the reported batches' slots are cut off
    // several times on the way.
    let got = 0;
    for (let round = 0; got < 3500; round += 1) {
      for (let n = 0; n < 40 + (round % 13); n += 1) {
        expect((await stream.next()).value?.id).toBe(String(got));
        got += 1;
      }
      pushBatch(1 + (round % 2));
    }
    // Each next() reported the batches that ended at an event an earlier call handed out.
    expect(taken).toEqual(lasts.filter((last) => last < got - 1).map((last) => [last, undefined]));
    taken.length = 0;
    await stream.return();
    expect(taken).toEqual(lasts.filter((last) => last >= got - 1).map((last) => [last, last === got - 1]));
  });

  it('keeps FIFO order while its ring wraps around and grows', async () => {
    const stream = new EventStream(owner(), 1_000_000, 'pause');
    const taken: string[] = [];
    let pushed = 0;
    // Uneven pushes and takes move the head around the ring and grow it while wrapped.
    for (let round = 0; round < 200; round += 1) {
      for (let n = 0; n < (round % 7) * 5 + 3; n += 1) stream.push(event(`e${pushed++}`));
      for (let n = 0; n < (round % 5) * 4 + 1 && stream.size > 0; n += 1) taken.push((await stream.next()).value!.id);
    }
    while (stream.size > 0) taken.push((await stream.next()).value!.id);
    expect(pushed).toBeGreaterThan(3000);
    expect(taken).toEqual(Array.from({ length: pushed }, (_, n) => `e${n}`));
  });

  it('settles concurrent next() calls in order, and every pending one when it ends or fails', async () => {
    const stream = new EventStream(owner(), 100, 'pause');
    const first = stream.next();
    const second = stream.next();
    const third = stream.next();
    stream.push(event('a'));
    stream.push(event('b'));
    expect((await first).value?.id).toBe('a');
    expect((await second).value?.id).toBe('b');
    stream.fail();
    expect(await third).toEqual({ done: true, value: undefined });

    const failing = new EventStream(owner(), 100, 'pause');
    const rejected = failing.next();
    const after = failing.next();
    failing.fail(new Error('halted'));
    await expect(rejected).rejects.toThrow('halted');
    expect(await after).toEqual({ done: true, value: undefined });
  });

  it('reports a batch at once when the buffer is empty, even with a next() pending', () => {
    const parent = owner();
    const stream = new EventStream(parent, 100, 'pause');
    void stream.next();
    // Made during a batch: it never got the batch's last event.
    const batch: Batch = { sessionId: 's', last: event('x'), seq: 1, remaining: 1 };
    stream.endBatch(batch);
    expect(parent.taken).toEqual([batch]);
  });

  it('hands out buffered events after fail() without drop, with or without an error, still reporting their batches', async () => {
    const stops = [
      (stream: EventStream): void => {
        stream.fail();
      },
      (stream: EventStream): void => {
        stream.fail(new Error('halted'));
      },
    ];
    for (const stop of stops) {
      const { parent, stream, batch } = batchOfTwo();
      stop(stream);
      expect(((await stream.next()).value!).id).toBe('a');
      expect(((await stream.next()).value!).id).toBe('b');
      expect(parent.taken).toEqual([]);
      // Back for more after the last event: it ends (or throws), and the batch is taken.
      await stream.next().catch(() => undefined);
      expect(parent.taken).toEqual([batch]);
    }
  });

  it("fails with OVERFLOW under 'error', and tells its owner once", async () => {
    const parent = owner();
    const stream = new EventStream(parent, 2, 'error');
    stream.push(event('a'));
    stream.push(event('b'));
    stream.push(event('c'));
    expect(parent.overflows).toEqual([stream]);
    await expect(stream.next()).rejects.toMatchObject({ code: 'OVERFLOW' });
  });

  it('names the highWaterMark it reached in the OVERFLOW message', async () => {
    const stream = new EventStream(owner(), 2, 'error');
    stream.push(event('a'));
    stream.push(event('b'));
    await expect(stream.next()).rejects.toMatchObject({ code: 'OVERFLOW', message: 'An events() consumer fell behind (highWaterMark 2).' });
  });
});
