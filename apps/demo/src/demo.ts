import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { AuthError, oauth2, Session } from '@sessionkit/core-session';
import { EssClient, type EssEvent } from '@sessionkit/ess-client';
import { COMMAND_LOG_MESSAGE, CommandClient } from '@sessionkit/http-client';
import { adaptLogger, createLogger, type LogEntry, type Logger } from '@sessionkit/logger';
import { startSandbox, type Sandbox } from '@sessionkit/sandbox';
import type { TokenStore } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { RedisStore } from '@sessionkit/token-store/redis';
import { type DemoOptions, displayUrl, prepareStoreDir, readEnv, redisEndpoint } from './options.js';
import type { Reporter } from './reporter.js';

/** The steps that can fail, in their order, as `DemoSummary.error` names them. */
export const STEPS = ['server', 'session', 'commands', 'events'] as const;
export type DemoStep = (typeof STEPS)[number];

/** Everything the demo measured; `--json` prints it. */
export interface DemoSummary {
  mode: 'sandbox' | 'real system';
  storeDir: string;
  /** Where the token is kept: the FileStore's directory, or the Redis endpoint (no password). */
  store: { kind: 'file' | 'redis'; location: string };
  token: {
    /** True when the session started with the stored token and made no token request in the whole run. */
    reusedStoredToken: boolean;
    /** Token endpoint requests in the whole run: at the start, and later (a token the server refused, say). */
    tokenRequests: number;
    /** Who counted them: the embedded sandbox's own counter, or the demo's fetch (a real system). */
    countedBy: 'sandbox' | 'demo';
  };
  /** The step's counts; skipped with the reason, also when it failed or an earlier step did. */
  commands:
    | { requests: number; pages: number; domainsListed: number; sessionLogin: boolean; debugEntries: number; redactedExample?: string | undefined }
    | { skipped: string };
  events:
    | {
        /**
         * The events the demo published. It and `missing` and `outOfOrder` are counted against
         * the embedded sandbox only: null on a real system, whose gateway publishes on its own
         * schedule, so there is nothing to compare with.
         */
        published: number | null;
        received: number;
        duplicates: number;
        /** Published but never received; null on a real system. */
        missing: number | null;
        /** Received in another position than published; null on a real system. */
        outOfOrder: number | null;
        resumes: number;
        gaps: number;
      }
    | { skipped: string };
  durationMs: number;
  /** False exactly when `error` is there. */
  ok: boolean;
  /**
   * The step that failed and why (an error's message, or the counts that are wrong); the run ended
   * there. `interrupted` when a signal (Ctrl-C) stopped it: the message is then `interrupted by SIGINT`, say.
   */
  error?: { step: DemoStep; message: string; interrupted?: true };
}

/** The embedded sandbox's built-in credentials (see the sandbox README) that the demo uses. */
export const SANDBOX_DEFAULTS = {
  clientId: 'sessionkit-demo',
  clientSecret: 'demo-secret',
  ispapiLogin: 'demo',
  ispapiPassword: 'demo-password',
};

/** A secret the demo sends (as a domain's auth code) to show that debug logs redact it. */
export const DEMO_AUTH_CODE = 'Demo-Auth-Code-4711!';

/**
 * Retries after a failed connection attempt, in a row, before the events step gives up: 6
 * attempts in all. About 1.5 s when each is refused; a host that accepts the connection and never
 * answers takes the handshake timeout for each (10 s, so about a minute, two over TLS).
 */
const ESS_MAX_RETRIES = 5;

/**
 * The command API's response timeout for each attempt, and the retries of a read-only command that
 * failed (a timeout too): a command API that stops answering fails the commands step after about
 * a minute, not the client's default five minutes for each of three attempts.
 */
const COMMAND_TIMEOUT_MS = 30_000;
const COMMAND_RETRIES = 1;

/** The events the demo publishes in each of its three bursts. */
const BURST = 400;

function outputEvent(index: number): Record<string, unknown> {
  const camera = index % 2 === 0;
  return {
    id: `demo-event-${String(index).padStart(5, '0')}`,
    type: camera ? '6eb95dd6-7ccc-4bce-99f8-af0d0b582d77' : '7a78f5bb-d8c3-4997-89b7-cae72713b7db',
    source: camera ? 'cameras/25d08c6a-cc08-4498-8772-242111f9840c' : `outputs/0000000${String(index % 4)}-0000-4000-8000-000000000000`,
  };
}

/**
 * Resolves with true when `predicate` holds, checking on every `event`, or with false after
 * `timeoutMs`; rejects with the reason when `signal` fires (its timer would keep the process up).
 */
function until(client: EssClient, predicate: () => boolean, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  signal.throwIfAborted();
  if (predicate()) return Promise.resolve(true);
  return new Promise((resolve, reject) => {
    const end = (): void => {
      clearTimeout(timer);
      client.off('event', check);
      signal.removeEventListener('abort', abort);
    };
    const timer = setTimeout(() => {
      end();
      resolve(false);
    }, timeoutMs);
    function check(): void {
      if (!predicate()) return;
      end();
      resolve(true);
    }
    function abort(): void {
      end();
      reject(signal.reason as Error);
    }
    client.on('event', check);
    signal.addEventListener('abort', abort, { once: true });
  });
}

/** The counts of a step that did not complete: it failed or was interrupted, or an earlier one did. */
function notCompleted(step: DemoStep, interrupted: boolean): { skipped: string } {
  return { skipped: `not completed: the ${step} step ${interrupted ? 'was interrupted' : 'failed'}` };
}

/**
 * Runs the steps. Throws only for configuration errors (missing credentials, say); a step that
 * fails ends the run, and the summary says which and why in `error`, with `ok` false.
 *
 * `signal` (Ctrl-C, in main.ts) stops the run the same way, with the signal's reason (an Error)
 * as the message: what the step waits for is ended (requests aborted, the events client closed,
 * the listening cut short), and what the run opened is closed as after a failure. The step is
 * ended rather than abandoned: a token request under the FileStore's lock must end, and the lock
 * be removed, before the process exits.
 */
export async function runDemo(options: DemoOptions, report: Reporter, logger: Logger, signal: AbortSignal = new AbortController().signal): Promise<DemoSummary> {
  const started = Date.now();
  const env = process.env;
  const { endpoints } = options;
  const storeInfo: DemoSummary['store'] =
    options.redisUrl === undefined ? { kind: 'file', location: options.storeDir } : { kind: 'redis', location: redisEndpoint(options.redisUrl) };
  const countedBy = endpoints === undefined ? 'sandbox' : 'demo';
  let sandbox: Sandbox | undefined;
  let agent: Agent | undefined;
  const closers: (() => Promise<void>)[] = [];
  let step: DemoStep = 'server';
  // Token requests so far: by the sandbox's counter, or by the demo's fetch on a real system.
  let tokenRequests = (): number => 0;
  let sessionStarted = false;
  let commands: DemoSummary['commands'] | undefined;
  let events: DemoSummary['events'] | undefined;
  let error: DemoSummary['error'];
  let durationMs = 0;
  // Between awaits that cannot be aborted: nothing new starts once the signal fired.
  const checkpoint = (): void => {
    signal.throwIfAborted();
  };
  try {
    checkpoint();
    // 1. The server side: an embedded sandbox over HTTPS, or a real system.
    report.step(endpoints === undefined ? 'Starting the embedded sandbox (HTTPS, self-signed certificate)' : `Using the system at ${endpoints.base}`);
    await prepareStoreDir(options.storeDir);
    checkpoint();
    let tokenUrl: string;
    let commandUrl: string;
    let essUrl: string | undefined;
    let ca: string | undefined;
    if (endpoints === undefined) {
      sandbox = await startSandbox({
        tls: true,
        // Tokens survive a restart of the sandbox, so a second run can reuse the stored one.
        stateFile: join(options.storeDir, 'sandbox-idp-state.json'),
        ess: { generator: false },
      });
      checkpoint();
      ({ tokenUrl, commandUrl, essUrl } = sandbox);
      ca = sandbox.certificate;
      report.done(`listening on ${sandbox.url}; clients trust its certificate explicitly`);
    } else {
      ({ tokenUrl, commandUrl, essUrl } = endpoints);
      report.detail(`token endpoint ${displayUrl(tokenUrl)}`);
      report.detail(`command API    ${displayUrl(commandUrl)}`);
      report.detail(`events gateway ${essUrl === undefined ? 'not configured' : displayUrl(essUrl)}`);
      // The credentials are checked before they are called found: missing ones are an
      // AuthError('CONFIGURATION') naming the variable. Building a Session sends nothing.
      Session.fromEnv({ ...env, SESSIONKIT_TOKEN_URL: tokenUrl });
      // Both ISPAPI credentials run the command step, neither skips it; one alone is a mistake.
      const ispapi = ['SESSIONKIT_ISPAPI_LOGIN', 'SESSIONKIT_ISPAPI_PASSWORD'];
      const unset = ispapi.filter((name) => readEnv(env, name) === undefined);
      if (unset.length === 1) {
        throw new AuthError('CONFIGURATION', `${String(unset[0])} is not set: the command step needs both ${ispapi.join(' and ')} (or neither, to skip it).`);
      }
      report.done('credentials from the environment; certificates verified as usual');
    }
    if (ca !== undefined) agent = new Agent({ connect: { ca } });
    const dispatcher = agent;
    // Every token request goes through this fetch, so the demo counts them itself as well. The
    // signal aborts one in flight: the session holds the store's lock while it waits for the answer.
    let fetchedTokens = 0;
    const tokenEndpoint = new URL(tokenUrl).href;
    const sessionFetch = ((input: string | URL | Request, init?: RequestInit) => {
      // Nothing is sent once interrupted (the session retries a failed token request): nor counted.
      if (signal.aborted) return Promise.reject(signal.reason as Error);
      const target = input instanceof Request ? input.url : String(input);
      if (target === tokenEndpoint) fetchedTokens += 1;
      // The caller's own signal (its timeout), on the Request or in init, still counts.
      const given = init?.signal ?? (input instanceof Request ? input.signal : undefined);
      const withSignal: RequestInit = { ...init, signal: given ? AbortSignal.any([given, signal]) : signal };
      if (dispatcher === undefined) return fetch(input, withSignal);
      // Node's fetch takes an undici dispatcher; its RequestInit type does not name it.
      const withDispatcher: Record<string, unknown> = { ...withSignal, dispatcher };
      return fetch(input, withDispatcher);
    }) as typeof fetch;
    const idp = sandbox?.stats.idp;
    const idpBefore = idp?.requests ?? 0;
    tokenRequests = () => (idp === undefined ? fetchedTokens : idp.requests - idpBefore);

    // 2. One Session for the identity, kept in a FileStore, or in Redis for a fleet.
    step = 'session';
    report.step(`Session: authenticate once, keep the token in a ${storeInfo.kind === 'file' ? 'FileStore' : 'RedisStore (fleet mode)'}`);
    let store: TokenStore;
    if (options.redisUrl === undefined) {
      store = new FileStore({ dir: options.storeDir, logger });
    } else {
      const redisStore = new RedisStore({ url: options.redisUrl, logger });
      // Pushed before the session's flush, so closed after it (closers run in reverse).
      closers.push(() => redisStore.close());
      store = redisStore;
    }
    // Against a real system the credentials come from the environment only, and the store key
    // derives from the identity. The embedded sandbox listens on a new port each run, which is part
    // of an oauth2 identity; its state file keeps the tokens across runs, so the demo names the
    // identity without the port (and the stored session), so that the next run finds its token.
    const session =
      sandbox === undefined
        ? Session.fromEnv({ ...env, SESSIONKIT_TOKEN_URL: tokenUrl }, { store, logger, fetch: sessionFetch })
        : new Session({
            authenticator: {
              ...oauth2({ tokenUrl, grant: 'client_credentials', clientId: SANDBOX_DEFAULTS.clientId, clientSecret: SANDBOX_DEFAULTS.clientSecret, fetch: sessionFetch }),
              identity: `sessionkit demo: embedded sandbox, client ${SANDBOX_DEFAULTS.clientId}`,
            },
            store,
            logger,
            key: 'sessionkit-demo-sandbox',
          });
    closers.push(() => session.flush());
    await session.start();
    // Aborted while it waited for the store's lock, say, the session may still have started.
    checkpoint();
    sessionStarted = true;
    const atStart = tokenRequests();
    report.detail(
      storeInfo.kind === 'file'
        ? `store directory: ${storeInfo.location}`
        : `Redis at ${storeInfo.location}: every process using it shares this token, one acquisition in flight and any 429 pause`,
    );
    const counter = countedBy === 'sandbox' ? 'sandbox counter' : "counted by the demo's fetch";
    report.done(
      atStart === 0
        ? `reused the stored token: 0 token requests (${counter})`
        : `authenticated: ${atStart} token request${atStart === 1 ? '' : 's'} (${counter}); run the demo again to see it reused`,
    );

    // 3. ISPAPI commands on the OT&E system, with debug logging to a custom logger.
    step = 'commands';
    report.step(`CommandClient on the ${options.system === 'ote' ? 'OT&E' : 'live'} system: StatusAccount, a paged QueryDomainList, a session login`);
    const ispapiLogin = sandbox === undefined ? readEnv(env, 'SESSIONKIT_ISPAPI_LOGIN') : SANDBOX_DEFAULTS.ispapiLogin;
    const ispapiPassword = sandbox === undefined ? readEnv(env, 'SESSIONKIT_ISPAPI_PASSWORD') : SANDBOX_DEFAULTS.ispapiPassword;
    if (ispapiLogin === undefined || ispapiPassword === undefined) {
      commands = { skipped: 'set SESSIONKIT_ISPAPI_LOGIN and SESSIONKIT_ISPAPI_PASSWORD to run the command step' };
      report.skip(commands.skipped);
    } else {
      const debugEntries: LogEntry[] = [];
      const client = new CommandClient({
        system: options.system,
        url: commandUrl,
        credentials: { login: ispapiLogin, password: ispapiPassword },
        highPerformance: true,
        ca,
        timeoutMs: COMMAND_TIMEOUT_MS,
        retry: { retries: COMMAND_RETRIES },
        debug: true,
        logger: adaptLogger({ log: (entry: LogEntry) => debugEntries.push(entry) }, { level: 'debug' }),
      });
      let endSessionSent = false;
      closers.push(async () => {
        try {
          // An ISPAPI session an interrupt left open (between login and logout) is ended, given a
          // few seconds; the server would otherwise keep it until it times out. Not again after an
          // EndSession the interrupt cut short: a server that was slow to answer it would be again.
          if (signal.aborted && !endSessionSent && client.saveSession() !== undefined) await client.logout({ signal: AbortSignal.timeout(5_000) });
        } finally {
          await client.close();
        }
      });
      // Each request ends at once when the signal fires (HttpClientError ABORTED).
      const account = await client.request({ COMMAND: 'StatusAccount' }, { signal });
      if (!account.isSuccess()) throw new Error(`StatusAccount failed: ${account.code} ${account.description}`);
      report.detail(`StatusAccount: ${account.code} ${account.description}; amount ${account.property('AMOUNT') ?? '?'} ${account.property('CURRENCY') ?? ''}`);
      let pages = 0;
      let domainsListed = 0;
      let firstDomain: string | undefined;
      for await (const page of client.pages({ COMMAND: 'QueryDomainList', LIMIT: 500 }, { signal })) {
        if (!page.isSuccess()) throw new Error(`QueryDomainList failed: ${page.code} ${page.description}`);
        pages += 1;
        domainsListed += page.records.length;
        firstDomain ??= page.property('DOMAIN');
      }
      // An account without domains is fine: the list is empty, and the write below is not sent.
      report.detail(`QueryDomainList: ${domainsListed} domains in ${pages} pages`);
      const login = await client.login({ signal });
      if (!login.isSuccess()) throw new Error(`StartSession failed: ${login.code} ${login.description}`);
      // A write in the session that carries a secret: the domain's transfer auth code.
      const modify =
        sandbox === undefined || firstDomain === undefined
          ? undefined
          : await client.request({ COMMAND: 'ModifyDomain', DOMAIN: firstDomain, AUTH: DEMO_AUTH_CODE }, { signal });
      // Ended also when the write failed; the step fails after, for the first command that did.
      endSessionSent = true;
      const logout = await client.logout({ signal });
      report.detail(
        `StartSession: ${login.code}; ModifyDomain in the session: ${modify?.code ?? (sandbox === undefined ? 'not sent to a real system' : 'not sent, no domain')}; EndSession: ${logout.code}`,
      );
      if (modify !== undefined && !modify.isSuccess()) throw new Error(`ModifyDomain failed: ${modify.code} ${modify.description}`);
      if (!logout.isSuccess()) throw new Error(`EndSession failed: ${logout.code} ${logout.description}`);
      const example = [...debugEntries].reverse().find((entry) => entry.msg === COMMAND_LOG_MESSAGE && JSON.stringify(entry.fields).includes('ModifyDomain'));
      let redactedExample: string | undefined;
      if (example !== undefined) {
        const { command, status, code } = example.fields;
        redactedExample = JSON.stringify({ command, status, code });
        report.detail(`its debug entry, from the custom logger: ${redactedExample}`);
      }
      const requests = debugEntries.filter((entry) => entry.msg === COMMAND_LOG_MESSAGE).length;
      commands = { requests, pages, domainsListed, sessionLogin: true, debugEntries: debugEntries.length, redactedExample };
      report.done(`${requests} requests on one keep-alive pool; passwords and session ids appear only as [REDACTED]`);
    }

    // 4. Events and state over the WebSocket, with an abrupt drop in the middle of a burst.
    step = 'events';
    report.step(`EssClient: subscribe to outputs and cameras, get state, receive events${sandbox === undefined ? '' : ', survive a dropped connection'}`);
    if (essUrl === undefined) {
      events = { skipped: 'set SESSIONKIT_ESS_URL to the events gateway of the system to run the events step' };
      report.skip(events.skipped);
    } else {
      const ess = new EssClient({
        url: essUrl,
        auth: session,
        ca,
        logger,
        filters: [{ modifier: 'include', resourceTypes: ['outputs', 'cameras'], sourceIds: ['*'], eventTypes: ['*'] }],
        // Give up after a few failed attempts in a row (an unreachable gateway would otherwise be
        // retried for ever); a dropped connection that reconnects at once starts the count again.
        reconnect: { initialDelayMs: 50, maxRetries: ESS_MAX_RETRIES },
        // A gateway that never answers getState fails the step after a minute, not the client's
        // default five (sized for a large installation's state).
        getStateTimeoutMs: 60_000,
      });
      closers.push(() => ess.close());
      // connect() and getState() take no signal: closing the client ends them (EssError CLOSED).
      signal.addEventListener(
        'abort',
        () => {
          ess.close().catch((error: unknown) => {
            logger.warn('closing failed', { error });
          });
        },
        { once: true },
      );
      const received: string[] = [];
      ess.on('event', (event: EssEvent) => received.push(event.id));
      // Give the gateway some state to report: two outputs, one on and one off.
      sandbox?.publish([
        { type: '7a78f5bb-d8c3-4997-89b7-cae72713b7db', source: 'outputs/00000000-0000-4000-8000-000000000000', stategroupid: 'output-state' },
        { type: '35742498-bcc5-4f0a-9800-827c9388d1cd', source: 'outputs/00000001-0000-4000-8000-000000000000', stategroupid: 'output-state' },
      ]);
      await ess.connect();
      checkpoint();
      const state = await ess.getState();
      checkpoint();
      report.detail(`online, session ${ess.sessionId === undefined ? '?' : 'started'}; getState: ${state.length} stateful sources`);
      let problems: string[];
      let result: string;
      if (sandbox === undefined) {
        report.detail(`listening for ${options.listenSeconds} s (a real gateway publishes on its own schedule)`);
        await sleep(options.listenSeconds * 1000, undefined, { signal });
        // Duplicates the client dropped (a gateway may repeat ids); one that reached the listener
        // twice would be the client's fault, and fails the run.
        const deliveredTwice = received.length - new Set(received).size;
        const counts = { published: null, received: received.length, duplicates: ess.stats.duplicates, missing: null, outOfOrder: null, resumes: ess.stats.resumes, gaps: ess.stats.gaps };
        events = counts;
        problems = deliveredTwice === 0 ? [] : [`${deliveredTwice} events reached the demo twice`];
        result = `${counts.received} events in ${options.listenSeconds} s, ${counts.duplicates} duplicates dropped, ${counts.resumes} resume(s), ${counts.gaps} gap(s)`;
      } else {
        const published: string[] = [];
        const burst = (): void => {
          const batch = Array.from({ length: BURST }, (_, index) => outputEvent(published.length + index));
          published.push(...batch.map((event) => String(event.id)));
          sandbox?.publish(batch);
        };
        // A burst that never arrives in full ends the bursts; the counts then say what is missing.
        let stalled: string | undefined;
        let dropped = false;
        const settled = async (what: string): Promise<boolean> => {
          if (await until(ess, () => received.length >= published.length, 20_000, signal)) return true;
          stalled = `timed out after 20000 ms waiting for ${what}`;
          return false;
        };
        burst();
        if (await settled('the first burst')) {
          report.detail(`${received.length} events received; now a burst with the connection dropped in the middle of it`);
          burst();
          sandbox.dropConnections();
          dropped = true;
          if (await settled('the replayed burst')) {
            report.detail(`resumed session ${ess.stats.resumes === 1 ? 'once' : `${ess.stats.resumes} times`} (status 200), replay complete`);
            burst();
            await settled('the last burst');
          }
        }
        const seen = new Set(received);
        const counts = {
          published: published.length,
          received: received.length,
          duplicates: received.length - seen.size + ess.stats.duplicates,
          missing: published.filter((id) => !seen.has(id)).length,
          outOfOrder: received.filter((id, index) => id !== published[index]).length,
          resumes: ess.stats.resumes,
          gaps: ess.stats.gaps,
        };
        events = counts;
        problems = [
          ...(stalled === undefined ? [] : [stalled]),
          ...(counts.duplicates === 0 ? [] : [`${counts.duplicates} duplicates`]),
          ...(counts.missing === 0 ? [] : [`${counts.missing} missing`]),
          ...(counts.outOfOrder === 0 ? [] : [`${counts.outOfOrder} out of order`]),
          ...(counts.resumes >= 1 || !dropped ? [] : ['no resume after the dropped connection']),
        ];
        result = `${counts.received} events, ${counts.duplicates} duplicates, ${counts.missing} missing, ${counts.resumes} resume(s), ${counts.gaps} gap(s)`;
      }
      // A stored token the server no longer accepts is replaced here, when the gateway refuses it.
      const later = tokenRequests() - atStart;
      if (later > 0) report.detail(`the session requested a token ${later === 1 ? 'once' : `${later} times`} since it started (the server refused the one it had, or it expired)`);
      if (problems.length > 0) {
        report.detail(result);
        throw new Error(`the events did not arrive intact: ${problems.join(', ')}`);
      }
      report.done(result);
    }
  } catch (cause) {
    // Configuration the demo checks before it starts (missing credentials) is a usage error (exit
    // code 2). Met in a step (a certificate not trusted), it fails that step, with its summary.
    if (!signal.aborted && step === 'server' && AuthError.isInstance(cause) && cause.code === 'CONFIGURATION') throw cause;
    // Interrupted: whatever the step's operation failed with then (an abort), the reason is the signal.
    const reason: unknown = signal.aborted ? signal.reason : cause;
    // The packages' messages hold no secret: they are written for logs.
    error = { step, message: reason instanceof Error ? reason.message : String(reason), ...(signal.aborted ? { interrupted: true as const } : {}) };
    report.fail(error.message);
  } finally {
    durationMs = Date.now() - started;
    for (const close of closers.reverse()) await close().catch((error: unknown) => { logger.warn('closing failed', { error }); });
    await agent?.close();
    await sandbox?.close();
  }
  // Counted after the closing too: the sandbox's counter outlives it.
  const requests = tokenRequests();
  return {
    mode: endpoints === undefined ? 'sandbox' : 'real system',
    storeDir: options.storeDir,
    store: storeInfo,
    token: { reusedStoredToken: sessionStarted && requests === 0, tokenRequests: requests, countedBy },
    commands: commands ?? notCompleted(step, error?.interrupted === true),
    events: events ?? notCompleted(step, error?.interrupted === true),
    durationMs,
    ok: error === undefined,
    ...(error === undefined ? {} : { error }),
  };
}

/** The logger every package gets: pretty lines on stderr at the chosen level. */
export function demoLogger(level: DemoOptions['logLevel']): Logger {
  return createLogger({ level, format: 'pretty', bindings: { app: 'demo' } });
}
