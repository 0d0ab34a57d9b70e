// What the child scripts share: the "ready" / "go" handshake with the test, and the store's
// warnings printed as stdout lines the test can wait for.
import { createInterface } from 'node:readline';
import { createLogger, type Logger } from '@sessionkit/logger';

/** Prints "ready", then resolves once a line "go" comes on stdin (which is closed then). */
export async function readyThenGo(): Promise<void> {
  const input = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => {
    input.on('line', (line) => {
      if (line === 'go') resolve();
    });
  });
  process.stdout.write('ready\n');
  await go;
  input.close();
}

/** A logger that prints each warning as a line "warn <message>", followed by what `suffix` gives for its entry. */
export function warningPrinter(suffix: (entry: Record<string, unknown>) => string = () => ''): Logger {
  return createLogger({
    level: 'warn',
    format: 'json',
    write: (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      process.stdout.write(`warn ${String(entry.msg)}${suffix(entry)}\n`);
    },
  });
}
