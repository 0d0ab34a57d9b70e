import type { Logger } from './types.js';

function ignore(): void {
  // Intentionally empty: the silent logger writes nothing.
}

/** A logger that writes nothing: the default of every sessionkit package. */
export const silentLogger: Logger = {
  trace: ignore,
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
  child: () => silentLogger,
  isLevelEnabled: () => false,
};
