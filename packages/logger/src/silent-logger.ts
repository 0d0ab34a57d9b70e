import { type EntryLevel, entryLevels } from './levels.js';
import type { Logger } from './types.js';

const ignore = (): void => {
  // Intentionally empty: the silent logger writes nothing.
};

/** A logger that writes nothing: the default of every sessionkit package. */
export const silentLogger: Logger = {
  ...(Object.fromEntries(entryLevels.map((level) => [level, ignore])) as Record<EntryLevel, typeof ignore>),
  child: () => silentLogger,
  isLevelEnabled: () => false,
};
