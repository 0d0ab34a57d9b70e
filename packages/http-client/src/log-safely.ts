/**
 * Runs `log`, the calls of a caller's logger (`isLevelEnabled()`, `debug()`), and ignores what it
 * throws: a logger never changes the outcome of a request (a write the server executed and whose
 * answer was lost could be sent again).
 */
export const logSafely = (log: () => void): void => {
  try {
    log();
  } catch {
    // Ignored, as above.
  }
};
