/**
 * Every suite `pnpm bench` runs, in order, by name: `suites/<name>.ts` exports it as `suite`.
 * Names only, so that the harness (main.ts) loads no package it does not measure; each suite's
 * module is imported by its own process (run-suite.ts).
 */
export const suiteNames = [
  'core-session',
  'token-herd',
  'token-herd-processes',
  'http-client',
  'rest-client',
  'ess-client',
  'bundle-size',
  'cold-import',
] as const;
