import { describe, expect, it } from 'vitest';
import { type Batch, EventStream, type StreamOwner } from './event-stream.js';
import type { EssEvent } from './types.js';

function owner(): StreamOwner & { flows: boolean[]; taken: Batch[]; stream?: EventStream } {
  const record: StreamOwner & { flows: boolean[]; taken: Batch[]; stream?: EventStream } = {
    flows: [],
    taken: [],
    flowChanged: () => record.flows.push(record.stream?.full ?? false),
    batchTaken: (batch) => record.taken.push(batch),
    detach: () => undefined,
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

  it('reports a batch once the consumer takes its last event, and not before', async () => {
    const { parent, stream, batch } = batchOfTwo();
    await stream.next();
    expect(parent.taken).toEqual([]);
    await stream.next();
    expect(parent.taken).toEqual([batch]);

    const waiting = stream.next();
    const direct = event('c');
    stream.push(direct);
    stream.endBatch({ sessionId: 's', last: direct, seq: 1, remaining: 1 });
    expect((await waiting).value).toBe(direct);
    expect(parent.taken).toHaveLength(2);
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
      expect(parent.taken).toEqual([batch]);
    }
  });

  it("fails with OVERFLOW under 'error'", async () => {
    const stream = new EventStream(owner(), 2, 'error');
    stream.push(event('a'));
    stream.push(event('b'));
    await expect(stream.next()).rejects.toMatchObject({ code: 'OVERFLOW' });
  });

  it('names the highWaterMark it reached in the OVERFLOW message', async () => {
    const stream = new EventStream(owner(), 2, 'error');
    stream.push(event('a'));
    stream.push(event('b'));
    await expect(stream.next()).rejects.toMatchObject({ code: 'OVERFLOW', message: 'An events() consumer fell behind (highWaterMark 2).' });
  });
});
