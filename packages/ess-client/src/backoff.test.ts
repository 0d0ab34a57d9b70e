import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

const settings = { initialDelayMs: 500, maxDelayMs: 30_000, resumeWindowMs: 30_000, windowMaxDelayMs: 5_000 };

describe('backoffDelay', () => {
  it('is full jitter: uniform in [0, ceiling), the first attempt within a second', () => {
    expect(backoffDelay(settings, 0, 0, () => 0)).toBe(0);
    expect(backoffDelay(settings, 0, 0, () => 0.999)).toBe(499);
    expect(backoffDelay(settings, 3, 0, () => 0.5)).toBe(2000);
  });

  it('stays well inside the resume window while it is open, with a longer cap afterwards', () => {
    expect(backoffDelay(settings, 20, 10_000, () => 0.999)).toBe(4995);
    expect(backoffDelay(settings, 20, 31_000, () => 0.999)).toBe(29_970);
    const draws = Array.from({ length: 1000 }, () => backoffDelay(settings, 10, 0));
    expect(Math.max(...draws)).toBeLessThan(5000);
    expect(new Set(draws).size).toBeGreaterThan(100);
  });
});
