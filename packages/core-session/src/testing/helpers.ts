// Test helpers; not part of the published package (src/**/testing/** is excluded from files).
import { MemoryStore } from '@sessionkit/token-store';
import type { StoredRecord } from '@sessionkit/token-store';

/** A clock tests move by hand, starting at the real time so that other processes agree with it. */
export interface ManualClock {
  (): number;
  advance(ms: number): void;
}

export function manualClock(start: number = Date.now()): ManualClock {
  let now = start;
  const clock = (): number => now;
  clock.advance = (ms: number): void => {
    now += ms;
  };
  return clock;
}

/** A MemoryStore that counts its writes. */
export class CountingStore extends MemoryStore {
  writes = 0;
  readonly written: StoredRecord[] = [];

  override async set(key: string, value: StoredRecord): Promise<void> {
    this.writes += 1;
    this.written.push(value);
    await super.set(key, value);
  }
}

/** Poll `check` until it is true, at most `timeoutMs`; for effects that have nothing to await. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
