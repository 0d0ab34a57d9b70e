/** Progress for people: on stdout normally, on stderr when stdout carries the JSON summary. */
export interface Reporter {
  step(title: string): void;
  detail(line: string): void;
  done(result: string): void;
  skip(reason: string): void;
  /** The step failed, and why; the run ends there. */
  fail(reason: string): void;
}

export function createReporter(write: (text: string) => void): Reporter {
  return {
    step: (title) => { write(`\n▶ ${title}\n`); },
    detail: (line) => { write(`  ${line}\n`); },
    done: (result) => { write(`  ✔ ${result}\n`); },
    skip: (reason) => { write(`  – skipped: ${reason}\n`); },
    fail: (reason) => { write(`  ✗ ${reason}\n`); },
  };
}

/** A two-column table. */
export function formatSummary(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  const rule = `  ${'─'.repeat(width + 2 + Math.max(...rows.map(([, value]) => value.length)))}`;
  return [rule, ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`), rule].join('\n');
}
