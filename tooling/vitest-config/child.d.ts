/** What a child process wrote, and its exit code (null when it was killed). */
export interface ChildOutcome {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}
/**
 * Runs the TypeScript file `script` in a child process from sources (tsx and the source
 * condition), with `nodeFlags` before them and `env` over this process's environment; resolves
 * once it exits. It is killed after `killAfterMs` (default 10 s) or when the test ends.
 */
export declare function runChild(script: string, options?: { env?: Record<string, string>; nodeFlags?: string[]; killAfterMs?: number }): Promise<ChildOutcome>;
