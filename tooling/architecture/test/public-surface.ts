// The public surface of design/ARCHITECTURE.md ("the contract"), written as calls and checked by
// this package's typecheck against the packages' sources: a name the contract lists that is
// renamed or removed, an option it names that is gone, or a type that no longer accepts what the
// contract shows fails `pnpm typecheck`. Nothing here runs (the function is never called); the
// tests of each package and `packed.test.ts` run the same calls.
import {
  type AuthContext,
  AuthError,
  type Authenticator,
  type AuthErrorCode,
  oauth2,
  Session,
  type SessionData,
  type Token,
} from '@sessionkit/core-session';
import { type ConnectionState, EssClient, type EssConnectionChange, type EssEvent, type EssState } from '@sessionkit/ess-client';
import { type CommandResponse, CommandClient, createApiClient, encodeCommand, parseResponse } from '@sessionkit/http-client';
import { adaptLogger, createLogger, type LogEntry, type Logger, type LogLevel, redact, silentLogger } from '@sessionkit/logger';
import { pino } from 'pino';
import { type Sandbox, startSandbox } from '@sessionkit/sandbox';
import { MemoryStore as RootMemoryStore, type StoredRecord, StoreError, type StoreErrorCode, type TokenStore } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { KeychainStore } from '@sessionkit/token-store/keychain';
import { MemoryStore } from '@sessionkit/token-store/memory';

/** The value, typed as `Actual`: compiles only when the value is assignable to it. */
const accepts = <Actual>(value: Actual): Actual => value;

export async function contract(): Promise<void> {
  // @sessionkit/logger
  const levels: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'silent'];
  const logger: Logger = createLogger({ level: 'debug', format: 'json', write: (line: string) => { accepts<string>(line); }, redact: { keys: ['ssn'] } });
  createLogger({ format: 'pretty' });
  createLogger();
  for (const level of levels) accepts<boolean>(logger.isLevelEnabled(level));
  logger.trace('message', { field: 1 });
  logger.debug('message');
  logger.info('message', {});
  logger.warn('message');
  logger.error('message');
  accepts<Logger>(logger.child({ component: 'contract' }));
  accepts<Logger>(silentLogger);
  accepts<Logger>(adaptLogger(console));
  accepts<Logger>(adaptLogger({ log: (entry: LogEntry) => { accepts<string>(entry.msg); } }));
  accepts<Logger>(adaptLogger(pino()));
  accepts<{ password: string }>(redact({ password: 'x' }));
  accepts<{ ssn: string }>(redact({ ssn: 'x' }, { keys: ['ssn'] }));

  // @sessionkit/token-store (the root re-exports MemoryStore and the types)
  const memory: TokenStore = new MemoryStore();
  accepts<TokenStore>(new RootMemoryStore());
  const file: TokenStore = new FileStore({ dir: '/tmp/contract', lockTimeoutMs: 1000, staleLockMs: 30_000 });
  accepts<TokenStore>(new FileStore());
  accepts<TokenStore>(new KeychainStore({ service: 'contract' }));
  accepts<TokenStore>(new KeychainStore());
  const record: StoredRecord | undefined = await memory.get('key');
  if (record) await memory.set('key', record);
  await memory.delete('key');
  accepts<number>(await file.withLock('key', () => Promise.resolve(1), { timeoutMs: 500 }));
  accepts<number>(await file.withLock('key', () => Promise.resolve(1)));
  const storeCodes: StoreErrorCode[] = ['UNAVAILABLE', 'LOCK_TIMEOUT', 'PERMISSION'];
  const storeError = new StoreError(storeCodes[0] ?? 'UNAVAILABLE', 'message');
  accepts<Error>(storeError);
  accepts<StoreErrorCode>(storeError.code);

  // @sessionkit/core-session
  const authenticator: Authenticator = oauth2({ tokenUrl: 'https://id.example/token', grant: 'client_credentials', clientId: 'id', clientSecret: 'secret', scope: 'a b' });
  oauth2({ tokenUrl: 'https://id.example/token', grant: 'password', clientId: 'id', username: 'user', password: 'password' });
  accepts<string>(authenticator.identity);
  const context: AuthContext = { signal: AbortSignal.timeout(1000), now: Date.now, logger, attempt: 1 };
  const issued: Token = await authenticator.authenticate(context);
  if (authenticator.refresh) accepts<Token>(await authenticator.refresh(issued, context));
  if (authenticator.revoke) await authenticator.revoke(issued, context);
  const custom: Authenticator = {
    identity: 'custom login',
    authenticate: ({ now }) => Promise.resolve({ value: 'session-id', type: 'Session', obtainedAt: now(), idleTtlMs: 600_000 }),
    refresh: (token: Token) => Promise.resolve(token),
    // The contract's one-argument form.
    revoke: (token: Token) => Promise.resolve(accepts<Token>(token)).then(() => undefined),
  };
  accepts<Session>(new Session({ authenticator: custom }));
  const session = new Session({ authenticator, store: memory, key: 'key', refreshWindowMs: 60_000, idleTtlMs: 600_000, logger, clock: () => Date.now() });
  accepts<Session>(Session.fromEnv(process.env, { store: memory }));
  accepts<Session>(Session.fromEnv());
  const token: Token = await session.start();
  accepts<Token>(await session.getToken());
  accepts<string>(await session.authorization());
  session.invalidate(token);
  session.touch();
  const data: SessionData = session.export();
  accepts<Session>(Session.restore(data, { authenticator }));
  session.on('token', (fresh) => {
    accepts<Token>(fresh);
  });
  session.on('refresh-failed', (event) => {
    accepts<unknown>(event.error);
  });
  session.on('throttled', (event) => {
    accepts<number>(event.until);
  });
  await session.end();
  const authCodes: AuthErrorCode[] = ['INVALID_CREDENTIALS', 'RATE_LIMITED', 'NETWORK', 'SERVER', 'INVALID_RESPONSE'];
  const authError = new AuthError(authCodes[0] ?? 'NETWORK', 'message', { retryAfterMs: 1000 });
  accepts<Error>(authError);
  accepts<number | undefined>(authError.retryAfterMs);
  accepts<AuthErrorCode>(authError.code);

  // @sessionkit/http-client
  const client = new CommandClient({
    system: 'ote',
    url: 'https://api.example/api/call.cgi',
    credentials: { login: 'user', password: 'password', role: 'role', otp: '123456' },
    highPerformance: { connections: 8 },
    timeoutMs: 10_000,
    logger,
    debug: false,
    userAgent: 'contract',
  });
  accepts<CommandClient>(new CommandClient({ system: 'live', highPerformance: true }));
  // Typed as any Session; at run time it must be one of ispapiSessionAuthenticator for the same
  // url and system (this oauth2() one would be INVALID_ARGUMENT).
  accepts<CommandClient>(new CommandClient({ system: 'ote', session }));
  const response: CommandResponse = await client.request({ COMMAND: 'CheckDomain', DOMAIN: 'example.com' });
  accepts<number>(response.code);
  accepts<string>(response.description);
  accepts<number | undefined>(response.runtime);
  accepts<number | undefined>(response.queuetime);
  accepts<boolean>(response.isSuccess() || response.isTemporaryError() || response.isError());
  accepts<readonly string[]>(response.columns);
  accepts<readonly Record<string, string>[]>(response.records);
  accepts<object | undefined>(response.pagination);
  accepts<string | undefined>(response.property('DOMAIN'));
  for await (const page of client.pages({ COMMAND: 'QueryDomainList' })) accepts<CommandResponse>(page);
  accepts<CommandResponse>(await client.login());
  accepts<CommandResponse>(await client.login({ timeoutSeconds: 600, maxTtlSeconds: 3600 }));
  accepts<CommandResponse>(await client.logout());
  await client.close();
  accepts<string>(encodeCommand({ COMMAND: 'StatusAccount' }));
  accepts<CommandResponse>(parseResponse('[RESPONSE]\nCODE = 200\nDESCRIPTION = OK\nEOF\n'));
  const api = createApiClient({ baseUrl: 'https://api.example/', session, logger, retry: 2, highPerformance: true });
  accepts<unknown>(await api.get('v1/whoami').json());

  // @sessionkit/ess-client
  const ess = new EssClient({
    url: 'wss://gateway.example/api/ws/events/v1',
    auth: session,
    filters: [{ resourceTypes: ['cameras'] }],
    resumeStore: file,
    resumeKey: 'contract',
    reconnect: { maxDelayMs: 30_000 },
    heartbeatMs: 30_000,
    commandTimeoutMs: 10_000,
    logger,
  });
  accepts<EssClient>(new EssClient({ url: 'ws://127.0.0.1/api/ws/events/v1', auth: () => Promise.resolve('token') }));
  await ess.connect();
  const events: AsyncIterableIterator<EssEvent> = ess.events();
  for await (const event of events) accepts<EssEvent>(event);
  const subscription: string = await ess.subscribe([{ modifier: 'exclude', eventTypes: ['type'] }]);
  await ess.unsubscribe(subscription);
  accepts<EssState[]>(await ess.getState());
  ess.on('event', (event) => {
    accepts<EssEvent>(event);
  });
  ess.on('gap', (gap) => {
    accepts<string | undefined>(gap.lastEventId);
  });
  ess.on('state', (change) => {
    accepts<readonly EssState[]>(change.changed);
  });
  ess.on('connection', (change) => {
    accepts<EssConnectionChange>(change);
    accepts<ConnectionState>(change.state);
  });
  accepts<string | undefined>(ess.sessionId ?? ess.lastEventId);
  const states: ConnectionState[] = ['connecting', 'online', 'offline', 'delayed', 'halted'];
  accepts<boolean>(states.includes(ess.connectionState));
  await ess.close();

  // @sessionkit/sandbox
  const sandbox: Sandbox = await startSandbox({
    port: 0,
    host: '127.0.0.1',
    tls: false,
    users: [{ username: 'user', password: 'password' }],
    clients: [{ clientId: 'id', clientSecret: 'secret' }],
    tokenTtlSeconds: 60,
    authRateLimit: { max: 10, windowMs: 1000 },
    faults: [{ kind: 'rate-limit', retryAfter: 2 }],
    ess: { generator: false },
  });
  accepts<string>(sandbox.url + sandbox.tokenUrl + sandbox.commandUrl + sandbox.essUrl);
  accepts<object>(sandbox.stats);
  sandbox.publish({ type: 'type', source: 'cameras/1' });
  sandbox.dropConnections();
  await sandbox.close();
}
