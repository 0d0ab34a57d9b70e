import { createLogger, type Logger } from '@sessionkit/logger';

/** One entry a {@link recordingLogger} received. */
export interface RecordedEntry {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A real logger (JSON format, debug level) whose lines are kept in `entries`. */
export function recordingLogger(): { logger: Logger; entries: RecordedEntry[] } {
  const entries: RecordedEntry[] = [];
  const logger = createLogger({
    level: 'debug',
    format: 'json',
    write: (line) => {
      entries.push(JSON.parse(line) as RecordedEntry);
    },
  });
  return { logger, entries };
}
