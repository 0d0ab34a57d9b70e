// What the interoperability tests against real OAuth 2.0 servers (oidc-provider.test.ts,
// node-oauth-server.test.ts) share: a server per test file, and the run of 8 processes on one
// FileStore past the refresh point.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, onTestFinished } from 'vitest';
import { FileStore } from '@sessionkit/token-store/file';
import { type Authenticator, Session, type Token } from '@sessionkit/core-session';
import { type ChildResult, manualClock, runSessionChildren } from './helpers.js';

/** Start `start()`'s server for the tests of this file (reset before each, closed after them all): the getter returns it. */
export function useServer<T extends { reset(): void; close(): Promise<void> }>(name: string, start: () => Promise<T>): () => T {
  let server: T | undefined;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(() => server?.close());
  beforeEach(() => {
    server?.reset();
  });
  return () => {
    if (server === undefined) throw new Error(`the ${name} server has not started`);
    return server;
  };
}

/** A password-grant client and user at a token endpoint, for the session-child processes. */
export interface ProcessesGrant {
  tokenUrl: string;
  client: { clientId: string; clientSecret: string };
  user: { username: string; password: string };
  /** The access token's lifetime: every child starts at the stored token's expiry, past its refresh point. */
  accessTtlMs: number;
}

/**
 * One session logs in (password grant) on a FileStore in a new directory; then 8 session-child
 * processes on that directory, each with its clock at the stored token's expiry, ask for a token
 * at once. The first token and the children's results.
 */
export async function refreshInProcesses(grant: ProcessesGrant, authenticator: Authenticator): Promise<{ first: Token; children: ChildResult[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'sessionkit-interop-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const clock = manualClock();
  const first = await new Session({ authenticator, store: new FileStore({ dir }), clock }).getToken();
  const children = await runSessionChildren(8, {
    TOKEN_URL: grant.tokenUrl,
    STORE_DIR: dir,
    CLIENT_ID: grant.client.clientId,
    CLIENT_SECRET: grant.client.clientSecret,
    GRANT_USERNAME: grant.user.username,
    GRANT_PASSWORD: grant.user.password,
    CLOCK_AT_MS: String(clock() + grant.accessTtlMs),
  });
  return { first, children };
}
