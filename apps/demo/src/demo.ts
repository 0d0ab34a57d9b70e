import { join } from 'node:path';
import { Agent } from 'undici';
import { Session } from '@sessionkit/core-session';
import { EssClient, type EssEvent } from '@sessionkit/ess-client';
import { COMMAND_LOG_MESSAGE, CommandClient } from '@sessionkit/http-client';
import { adaptLogger, createLogger, type LogEntry, type Logger } from '@sessionkit/logger';
import { startSandbox, type Sandbox } from '@sessionkit/sandbox';
import type { TokenStore } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { RedisStore } from '@sessionkit/token-store/redis';
import { type DemoOptions, displayUrl, prepareStoreDir, readEnv, redisEndpoint } from './options.js';
import type { Reporter } from './reporter.js';

/** Everything the demo measured; `--json` prints it. */
export interface DemoSummary {
  mode: 'sandbox' | 'real system';
  storeDir: string;
  /** Where the token is kept: the FileStore's directory, or the Redis endpoint (no password). */
  store: { kind: 'file' | 'redis'; location: string };
  token: {
    /** True when the token came from the store, with no token request. */
    reusedStoredToken: boolean;
    /** Token endpoint requests while the session started. */
    tokenRequests: number;
    /** Who counted them: the embedded sandbox's own counter, or the demo's fetch (a real system). */
    countedBy: 'sandbox' | 'demo';
  };
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
  ok: boolean;
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

/** Failed connection attempts in a row after which the events step gives up (about 1.5 s in all). */
const ESS_MAX_RETRIES = 5;

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

/** Resolves when `predicate` holds, checking on every `event`, or rejects after `timeoutMs`. */
function until(client: EssClient, predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  if (predicate()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('event', check);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    function check(): void {
      if (!predicate()) return;
      clearTimeout(timer);
      client.off('event', check);
      resolve();
    }
    client.on('event', check);
  });
}

/** Runs the five steps; throws only for configuration errors, reports failures in `ok`. */
export async function runDemo(options: DemoOptions, report: Reporter, logger: Logger): Promise<DemoSummary> {
  const started = Date.now();
  const env = process.env;
  let sandbox: Sandbox | undefined;
  let agent: Agent | undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    // 1. The server side: an embedded sandbox over HTTPS, or a real system.
    const { endpoints } = options;
    report.step(endpoints === undefined ? 'Starting the embedded sandbox (HTTPS, self-signed certificate)' : `Using the system at ${endpoints.base}`);
    await prepareStoreDir(options.storeDir);
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
      ({ tokenUrl, commandUrl, essUrl } = sandbox);
      ca = sandbox.certificate;
      report.done(`listening on ${sandbox.url}; clients trust its certificate explicitly`);
    } else {
      ({ tokenUrl, commandUrl, essUrl } = endpoints);
      report.detail(`token endpoint ${displayUrl(tokenUrl)}`);
      report.detail(`command API    ${displayUrl(commandUrl)}`);
      report.detail(`events gateway ${essUrl === undefined ? 'not configured' : displayUrl(essUrl)}`);
      report.done('credentials from the environment; certificates verified as usual');
    }
    if (ca !== undefined) agent = new Agent({ connect: { ca } });
    const dispatcher = agent;
    // Every token request goes through this fetch, so the demo counts them itself as well.
    let fetchedTokens = 0;
    const tokenEndpoint = new URL(tokenUrl).href;
    const sessionFetch = ((input: string | URL | Request, init?: RequestInit) => {
      const target = input instanceof Request ? input.url : String(input);
      if (target === tokenEndpoint) fetchedTokens += 1;
      if (dispatcher === undefined) return fetch(input, init);
      // Node's fetch takes an undici dispatcher; its RequestInit type does not name it.
      const withDispatcher: Record<string, unknown> = { ...init, dispatcher };
      return fetch(input, withDispatcher);
    }) as typeof fetch;

    // 2. One Session for the identity, kept in a FileStore, or in Redis for a fleet.
    const storeInfo: DemoSummary['store'] =
      options.redisUrl === undefined ? { kind: 'file', location: options.storeDir } : { kind: 'redis', location: redisEndpoint(options.redisUrl) };
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
    // Against a real system the credentials come from the environment only.
    const sessionEnv =
      sandbox === undefined
        ? { ...env, SESSIONKIT_TOKEN_URL: tokenUrl }
        : { SESSIONKIT_TOKEN_URL: tokenUrl, SESSIONKIT_CLIENT_ID: SANDBOX_DEFAULTS.clientId, SESSIONKIT_CLIENT_SECRET: SANDBOX_DEFAULTS.clientSecret };
    const session = Session.fromEnv(sessionEnv, {
      store,
      logger,
      // The embedded sandbox listens on a new port each run: name the stored session so that the
      // next run finds it. Against a real system the key derives from the identity.
      ...(sandbox === undefined ? {} : { key: 'sessionkit-demo-sandbox' }),
      fetch: sessionFetch,
    });
    closers.push(() => session.flush());
    const before = sandbox?.stats.idp.requests ?? 0;
    await session.start();
    const countedBy = sandbox === undefined ? 'demo' : 'sandbox';
    const tokenRequests = sandbox === undefined ? fetchedTokens : sandbox.stats.idp.requests - before;
    const reusedStoredToken = tokenRequests === 0;
    report.detail(
      storeInfo.kind === 'file'
        ? `store directory: ${storeInfo.location}`
        : `Redis at ${storeInfo.location}: every process using it shares this token, one acquisition in flight and any 429 pause`,
    );
    const counter = countedBy === 'sandbox' ? 'sandbox counter' : "counted by the demo's fetch";
    report.done(
      reusedStoredToken
        ? `reused the stored token: 0 token requests (${counter})`
        : `authenticated: ${tokenRequests} token request${tokenRequests === 1 ? '' : 's'} (${counter}); run the demo again to see it reused`,
    );

    // 3. ISPAPI commands on the OT&E system, with debug logging to a custom logger.
    report.step(`CommandClient on the ${options.system === 'ote' ? 'OT&E' : 'live'} system: StatusAccount, a paged QueryDomainList, a session login`);
    let commands: DemoSummary['commands'];
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
        debug: true,
        logger: adaptLogger({ log: (entry: LogEntry) => debugEntries.push(entry) }, { level: 'debug' }),
      });
      closers.push(() => client.close());
      const account = await client.request({ COMMAND: 'StatusAccount' });
      report.detail(`StatusAccount: ${account.code} ${account.description}; amount ${account.property('AMOUNT') ?? '?'} ${account.property('CURRENCY') ?? ''}`);
      let pages = 0;
      let domainsListed = 0;
      let firstDomain: string | undefined;
      for await (const page of client.pages({ COMMAND: 'QueryDomainList', LIMIT: 500 })) {
        if (!page.isSuccess()) throw new Error(`QueryDomainList failed: ${page.code} ${page.description}`);
        pages += 1;
        domainsListed += page.records.length;
        firstDomain ??= page.property('DOMAIN');
      }
      report.detail(`QueryDomainList: ${domainsListed} domains in ${pages} pages`);
      const login = await client.login();
      const sessionLogin = login.isSuccess();
      // A write in the session that carries a secret: the domain's transfer auth code.
      const modify =
        sandbox === undefined || firstDomain === undefined
          ? undefined
          : await client.request({ COMMAND: 'ModifyDomain', DOMAIN: firstDomain, AUTH: DEMO_AUTH_CODE });
      await client.logout();
      report.detail(`StartSession: ${login.code}; ModifyDomain in the session: ${modify?.code ?? 'not sent to a real system'}; EndSession done`);
      const example = [...debugEntries].reverse().find((entry) => entry.msg === COMMAND_LOG_MESSAGE && JSON.stringify(entry.fields).includes('ModifyDomain'));
      let redactedExample: string | undefined;
      if (example !== undefined) {
        const { command, status, code } = example.fields;
        redactedExample = JSON.stringify({ command, status, code });
        report.detail(`its debug entry, from the custom logger: ${redactedExample}`);
      }
      commands = { requests: debugEntries.filter((entry) => entry.msg === COMMAND_LOG_MESSAGE).length, pages, domainsListed, sessionLogin, debugEntries: debugEntries.length, redactedExample };
      report.done(`${commands.requests} requests on one keep-alive pool; passwords and session ids appear only as [REDACTED]`);
    }

    // 4. Events and state over the WebSocket, with an abrupt drop in the middle of a burst.
    report.step(`EssClient: subscribe to outputs and cameras, get state, receive events${sandbox === undefined ? '' : ', survive a dropped connection'}`);
    let events: DemoSummary['events'];
    let deliveredTwice = 0;
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
      });
      closers.push(() => ess.close());
      const received: string[] = [];
      ess.on('event', (event: EssEvent) => received.push(event.id));
      // Give the gateway some state to report: two outputs, one on and one off.
      sandbox?.publish([
        { type: '7a78f5bb-d8c3-4997-89b7-cae72713b7db', source: 'outputs/00000000-0000-4000-8000-000000000000', stategroupid: 'output-state' },
        { type: '35742498-bcc5-4f0a-9800-827c9388d1cd', source: 'outputs/00000001-0000-4000-8000-000000000000', stategroupid: 'output-state' },
      ]);
      await ess.connect();
      const state = await ess.getState();
      report.detail(`online, session ${ess.sessionId === undefined ? '?' : 'started'}; getState: ${state.length} stateful sources`);
      if (sandbox === undefined) {
        report.detail(`listening for ${options.listenSeconds} s (a real gateway publishes on its own schedule)`);
        await new Promise((resolve) => setTimeout(resolve, options.listenSeconds * 1000));
        // Duplicates the client dropped (a gateway may repeat ids); one that reached the listener
        // twice would be the client's fault, and fails the run.
        deliveredTwice = received.length - new Set(received).size;
        events = { published: null, received: received.length, duplicates: ess.stats.duplicates, missing: null, outOfOrder: null, resumes: ess.stats.resumes, gaps: ess.stats.gaps };
      } else {
        const published: string[] = [];
        const burst = (): void => {
          const batch = Array.from({ length: BURST }, (_, index) => outputEvent(published.length + index));
          published.push(...batch.map((event) => String(event.id)));
          sandbox?.publish(batch);
        };
        burst();
        await until(ess, () => received.length >= published.length, 20_000, 'the first burst');
        report.detail(`${received.length} events received; now a burst with the connection dropped in the middle of it`);
        burst();
        sandbox.dropConnections();
        await until(ess, () => received.length >= published.length, 20_000, 'the replayed burst');
        report.detail(`resumed session ${ess.stats.resumes === 1 ? 'once' : `${ess.stats.resumes} times`} (status 200), replay complete`);
        burst();
        await until(ess, () => received.length >= published.length, 20_000, 'the last burst');
        const seen = new Set(received);
        const missing = published.filter((id) => !seen.has(id)).length;
        const outOfOrder = received.filter((id, index) => id !== published[index]).length;
        events = {
          published: published.length,
          received: received.length,
          duplicates: received.length - seen.size + ess.stats.duplicates,
          missing,
          outOfOrder,
          resumes: ess.stats.resumes,
          gaps: ess.stats.gaps,
        };
      }
      report.done(
        sandbox === undefined
          ? `${events.received} events in ${options.listenSeconds} s, ${events.duplicates} duplicates dropped, ${events.resumes} resume(s), ${events.gaps} gap(s)`
          : `${events.received} events, ${events.duplicates} duplicates, ${events.missing} missing, ${events.resumes} resume(s), ${events.gaps} gap(s)`,
      );
    }

    const ok =
      ('skipped' in commands || (commands.sessionLogin && commands.domainsListed > 0)) &&
      ('skipped' in events ||
        (sandbox === undefined ? deliveredTwice === 0 : events.duplicates === 0 && events.missing === 0 && events.outOfOrder === 0 && events.resumes >= 1));
    return {
      mode: sandbox === undefined ? 'real system' : 'sandbox',
      storeDir: options.storeDir,
      store: storeInfo,
      token: { reusedStoredToken, tokenRequests, countedBy },
      commands,
      events,
      durationMs: Date.now() - started,
      ok,
    };
  } finally {
    for (const close of closers.reverse()) await close().catch((error: unknown) => { logger.warn('closing failed', { error }); });
    await agent?.close();
    await sandbox?.close();
  }
}

/** The logger every package gets: pretty lines on stderr at the chosen level. */
export function demoLogger(level: DemoOptions['logLevel']): Logger {
  return createLogger({ level, format: 'pretty', bindings: { app: 'demo' } });
}
