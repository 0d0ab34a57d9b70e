/** Settings of {@link backoffDelay}. */
export interface BackoffSettings {
  initialDelayMs: number;
  maxDelayMs: number;
  resumeWindowMs: number;
  windowMaxDelayMs: number;
}

/**
 * Full-jitter exponential backoff: a uniform delay in [0, min(cap, initial * 2^attempt)].
 * While the server's resume window is still open the cap is `windowMaxDelayMs`, so several
 * attempts land inside it; afterwards it is `maxDelayMs`.
 */
export function backoffDelay(settings: BackoffSettings, attempt: number, sinceLostMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(
    settings.maxDelayMs,
    sinceLostMs < settings.resumeWindowMs ? settings.windowMaxDelayMs : Infinity,
    settings.initialDelayMs * 2 ** Math.min(attempt, 30),
  );
  return Math.floor(random() * ceiling);
}
