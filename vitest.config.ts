import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'tooling/architecture'],
    // Vitest's default for a run, one worker fewer than the cores, is a single worker on a 2-core
    // machine such as CI's; most of this suite waits (child processes, sockets, timers), so two
    // workers there cut a run from about 6.5 to 4 minutes. (The redactors' linear-time checks
    // bound CPU time rather than the clock, which the other worker stretches.)
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
