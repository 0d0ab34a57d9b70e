import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { checkCount, checkWhole } from '../checks.js';
import type { SandboxModule } from '../module.js';
import { decodeCommandRequestBody } from './command-text.js';
import { type CommandFault, type FaultHandle, type FaultOptions, FaultQueue } from './faults.js';
import { decodeFormComponent } from './form.js';
import { type Actor, integerParameter, isWriteCommand, REGISTRAR_COMMANDS, Registry } from './registrar.js';
import { type CommandResult, descriptions, formatResponse, result } from './response-text.js';
import { readBody } from '../read-body.js';
import { handleRest, type RestStats } from './rest-api.js';
import { type ApiSession, SessionStore } from './sessions.js';

export type { CommandFault, FaultHandle, FaultOptions } from './faults.js';

/** A role of an account: log in as `account!name` with the role's own password. */
export interface CommandRole {
  name: string;
  password: string;
  /** A read-only role gets 531 for AddDomain, ModifyDomain and DeleteDomain. @default false */
  readOnly?: boolean | undefined;
}

/** An account of the command API. */
export interface CommandUser {
  login: string;
  password: string;
  /** Role users, `login!role`. */
  roles?: readonly CommandRole[] | undefined;
  /** Subusers whose data this account may view with `s_user`. */
  subusers?: readonly string[] | undefined;
  /** When set, logging in with the password also needs this one-time password as `s_otp`. */
  otp?: string | undefined;
  /** An IP filter: requests must name one of these as `s_remoteaddr` (or come from it). */
  allowedAddresses?: readonly string[] | undefined;
  /** Domains generated for the account on each system. @default 25 (3000 for `demo`) */
  domains?: number | undefined;
}

/** Options of the ISPAPI command API (`startSandbox({ commands })`). */
export interface CommandApiOptions {
  /**
   * Accounts besides the built-in `demo` / `demo-password` (roles `demo!ops` / `ops-password`
   * and read-only `demo!viewer` / `viewer-password`, subuser `demo-sub`). A user with login
   * `demo` (in any case) replaces the built-in one, and gets `domainCount` unless it sets `domains`.
   */
  users?: readonly CommandUser[] | undefined;
  /** Domains generated for `demo` on each system. @default 3000 */
  domainCount?: number | undefined;
  /** Domains generated for each subuser. @default 40 */
  subuserDomainCount?: number | undefined;
  /**
   * The smallest StartSession TIMEOUT and MAXTTL accepted, in seconds. Lower it in tests to
   * make sessions expire quickly. @default 60
   */
  minSessionSeconds?: number | undefined;
  /** The time source for sessions and dates, in epoch milliseconds. @default Date.now */
  clock?: (() => number) | undefined;
  /** LIMIT of QueryDomainList when none is sent. @default 100 */
  defaultListLimit?: number | undefined;
  /** The largest LIMIT of QueryDomainList; larger ones are cut to it. @default 1000 */
  maxListLimit?: number | undefined;
  /** Requests kept in `recent`. @default 50 */
  recentRequests?: number | undefined;
}

/** What the command API needs from the rest of the sandbox. */
export interface CommandApiDependencies {
  /** Verifies bearer tokens for the JSON endpoints under `/api/rest/`. */
  verifyAccessToken?: ((token: string) => { identity: string } | undefined) | undefined;
}

/** Counters of the command API. Live: the same object updates as requests arrive. */
export interface CommandApiStats {
  /** Requests to `/api/call.cgi`, faults included. */
  requests: number;
  /** Requests by command name (canonical spelling for known commands, else upper case). */
  byCommand: Record<string, number>;
  /** Requests by `s_entity`. */
  byEntity: Record<string, number>;
  /** Answers by response CODE (requests answered by a fault are not counted here). */
  byCode: Record<string, number>;
  /** Faults played. */
  faults: number;
  /** Distinct connections that carried requests. */
  connections: number;
  /**
   * Sessions started, ended by EndSession, expired (idle, MAXTTL or `expireSessions`), alive now.
   * `expired` and `active` go by the clock when read: an idle session past its TIMEOUT counts
   * as expired at once, not only when it is used again.
   */
  readonly sessions: { readonly started: number; readonly ended: number; readonly expired: number; readonly active: number };
  /** Requests to the JSON endpoints under `/api/rest/`. */
  readonly rest: RestStats;
}

/** One request as the command API saw it (newest last in `recent`). */
export interface CommandRequestRecord {
  method: string;
  contentType: string | undefined;
  userAgent: string | undefined;
  /** Form field names in the order they were sent: the query string's, then the body's. */
  fieldNames: string[];
  entity: string | undefined;
  login: string | undefined;
  /** `s_user`, the subuser view. */
  user: string | undefined;
  /** `s_remoteaddr`. */
  remoteAddress: string | undefined;
  usedSession: boolean;
  /** The command as decoded (upper-case keys). */
  command: Record<string, string>;
  /** The CODE answered, or undefined when a fault answered instead. */
  code: number | undefined;
}

/** The ISPAPI command endpoint at `/api/call.cgi`, and a small bearer-protected JSON API under `/api/rest/`. */
export interface CommandApi extends SandboxModule {
  readonly stats: CommandApiStats;
  /**
   * The latest requests, oldest first. Commands are kept as decoded, so `AUTH`, `PASSWORD` and
   * `NEWPASSWORD` values are in clear (tests check what a client really sent); the `s_pw`,
   * `s_session` and `s_otp` fields are not kept.
   */
  readonly recent: readonly CommandRequestRecord[];
  /** Sessions alive now. */
  readonly activeSessions: number;
  /**
   * Play `fault` for the next matching request(s).
   * @example
   * sandbox.commands.injectFault({ type: 'status', status: 503, retryAfter: 1 }, { times: 2, command: 'QueryDomainList' });
   */
  injectFault(fault: CommandFault, options?: FaultOptions): FaultHandle;
  /** Withdraw every pending fault. */
  clearFaults(): void;
  /** End every session now, as if each had timed out; returns how many there were. */
  expireSessions(): number;
  /** Set every counter back to zero. */
  resetStats(): void;
}

const MAX_BODY_BYTES = 1_048_576;
/** The DESCRIPTION of a 530 for a session the sandbox does not know (ispapi.md's failure table). */
const SESSION_NOT_FOUND = 'SESSION NOT FOUND';
const SESSION_COMMANDS = new Map([
  ['STARTSESSION', 'StartSession'],
  ['ENDSESSION', 'EndSession'],
]);
const ENTITIES = new Map([
  ['54cd', 10_000],
  ['1234', 50_000],
]);
const DEFAULT_USER: CommandUser = {
  login: 'demo',
  password: 'demo-password',
  roles: [
    { name: 'ops', password: 'ops-password' },
    { name: 'viewer', password: 'viewer-password', readOnly: true },
  ],
  subusers: ['demo-sub'],
};

function increment(counter: Record<string, number>, key: string): void {
  counter[key] = (counter[key] ?? 0) + 1;
}

function fieldNamesOf(body: string): string[] {
  if (body === '') return [];
  return body.split('&').filter((part) => part !== '').map((part) => {
    const equals = part.indexOf('=');
    return decodeFormComponent(equals === -1 ? part : part.slice(0, equals)).toLowerCase();
  });
}

/**
 * The sandbox's ISPAPI command API. Created by `startSandbox`; `sandbox.commands` is this object.
 */
export function createCommandApi(options: CommandApiOptions = {}, dependencies: CommandApiDependencies = {}): CommandApi {
  const clock = options.clock ?? Date.now;
  // Not a function: every command would answer HTTP 500.
  if (typeof clock !== 'function') throw new TypeError('commands.clock must be a function that returns the time in milliseconds.');
  const minSessionSeconds = checkWhole('minSessionSeconds', options.minSessionSeconds ?? 60);
  // Above TIMEOUT's largest value (3600) every StartSession with a TIMEOUT would be refused.
  if (minSessionSeconds > 3600) throw new RangeError(`minSessionSeconds must be at most 3600 (the largest TIMEOUT), not ${minSessionSeconds}.`);
  const limits = { defaultListLimit: checkCount('defaultListLimit', options.defaultListLimit ?? 100), maxListLimit: checkCount('maxListLimit', options.maxListLimit ?? 1000) };
  const recentCapacity = checkWhole('recentRequests', options.recentRequests ?? 50);
  const domainCount = checkWhole('domainCount', options.domainCount ?? 3000);
  const subuserDomainCount = checkWhole('subuserDomainCount', options.subuserDomainCount ?? 40);
  const users = new Map<string, CommandUser>();
  for (const user of [DEFAULT_USER, ...(options.users ?? [])]) users.set(user.login.toLowerCase(), user);

  const owners = new Map<string, number>();
  for (const user of users.values()) {
    // Logins are matched without regard to case, so a `Demo` passed in replaces the built-in one.
    const isDemo = user.login.toLowerCase() === DEFAULT_USER.login;
    owners.set(user.login, user.domains === undefined ? (isDemo ? domainCount : 25) : checkWhole(`domains of ${user.login}`, user.domains));
    for (const subuser of user.subusers ?? []) owners.set(subuser, subuserDomainCount);
  }
  const registries = new Map<string, Registry>();
  const registryFor = (entity: string): Registry | undefined => {
    let registry = registries.get(entity);
    if (registry === undefined) {
      const balance = ENTITIES.get(entity);
      if (balance === undefined) return undefined;
      registry = new Registry(entity, owners, balance, clock, { defaultLimit: limits.defaultListLimit, maxLimit: limits.maxListLimit });
      registries.set(entity, registry);
    }
    return registry;
  };

  const sessions = new SessionStore(clock);
  const faults = new FaultQueue();
  // Keyed by what clients send (s_entity, COMMAND): without a prototype, so that a key such as
  // `constructor` or `__proto__` is counted like any other.
  const counts = (): Record<string, number> => Object.create(null) as Record<string, number>;
  const stats: CommandApiStats = {
    requests: 0,
    byCommand: counts(),
    byEntity: counts(),
    byCode: counts(),
    faults: 0,
    connections: 0,
    sessions: {
      get started() {
        return sessions.counters.started;
      },
      get ended() {
        return sessions.counters.ended;
      },
      get expired() {
        sessions.expireIdle();
        return sessions.counters.expired;
      },
      get active() {
        return sessions.active;
      },
    },
    rest: { requests: 0, unauthorized: 0 },
  };
  let seenSockets = new WeakSet<Socket>();
  const recent: CommandRequestRecord[] = [];
  const pendingTimers = new Set<{ timer: NodeJS.Timeout; response: ServerResponse }>();

  const delay = (ms: number, response: ServerResponse): Promise<boolean> =>
    new Promise((resolve) => {
      const entry = {
        response,
        timer: setTimeout(() => {
          pendingTimers.delete(entry);
          resolve(!response.destroyed);
        }, ms),
      };
      pendingTimers.add(entry);
      response.once('close', () => {
        if (pendingTimers.delete(entry)) {
          clearTimeout(entry.timer);
          resolve(false);
        }
      });
    });

  // Answers the fault; true when the request is finished (anything but `slow`).
  const playFault = async (fault: CommandFault, request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    stats.faults += 1;
    switch (fault.type) {
      case 'slow':
        return !(await delay(fault.delayMs, response));
      case 'drop':
        request.socket.destroy();
        return true;
      case 'status': {
        const body = fault.body ?? `${fault.status} ${STATUS_CODES[fault.status] ?? ''}`.trim();
        const headers: Record<string, string> = { 'content-type': 'text/plain; charset=UTF-8', 'content-length': String(Buffer.byteLength(body)) };
        if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
        response.writeHead(fault.status, headers).end(body);
        return true;
      }
      case 'empty-body':
        response.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8', 'content-length': '0' }).end();
        return true;
      case 'invalid-body': {
        const body = fault.body ?? '<html><body><h1>Service temporarily unavailable</h1></body></html>\n';
        response.writeHead(200, { 'content-type': 'text/html; charset=UTF-8', 'content-length': String(Buffer.byteLength(body)) }).end(body);
        return true;
      }
      case 'respond':
        response
          .writeHead(fault.status ?? 200, {
            'content-type': fault.contentType ?? 'text/plain; charset=UTF-8',
            'content-length': String(Buffer.byteLength(fault.body)),
          })
          .end(fault.body);
        return true;
    }
  };

  const authenticate = (
    fields: Record<string, string>,
    entity: string,
    socket: Socket,
  ): { user: CommandUser; login: string; role: string | undefined; readOnly: boolean; session: ApiSession | undefined; owner: string } | CommandResult => {
    let user: CommandUser | undefined;
    let session: ApiSession | undefined;
    let login: string;
    let role: string | undefined;
    let readOnly = false;
    const sessionId = fields.s_session;
    if (sessionId !== undefined && sessionId !== '') {
      session = sessions.use(sessionId, entity);
      if (session === undefined) return result(530, SESSION_NOT_FOUND);
      user = users.get(session.account.toLowerCase());
      if (user === undefined) return result(530, SESSION_NOT_FOUND);
      ({ login, role, readOnly } = session);
    } else {
      login = fields.s_login ?? '';
      const password = fields.s_pw;
      if (login === '' || password === undefined) return result(530, `${descriptions[530]}; login and password required`);
      const bang = login.indexOf('!');
      const account = bang === -1 ? login : login.slice(0, bang);
      role = bang === -1 ? undefined : login.slice(bang + 1);
      user = users.get(account.toLowerCase());
      if (user === undefined) return result(530, descriptions[530]);
      if (role === undefined) {
        if (user.password !== password) return result(530, descriptions[530]);
      } else {
        const roleName = role;
        const found = user.roles?.find((candidate) => candidate.name.toLowerCase() === roleName.toLowerCase());
        if (found?.password !== password) return result(530, descriptions[530]);
        readOnly = found.readOnly === true;
      }
      if (user.otp !== undefined && fields.s_otp !== user.otp) return result(530, `${descriptions[530]}; invalid one-time password`);
    }
    if (user.allowedAddresses !== undefined) {
      // Sent empty is not sent (as for s_session and s_user): the socket's address counts.
      const sent = fields.s_remoteaddr;
      const address = sent !== undefined && sent !== '' ? sent : (socket.remoteAddress ?? '');
      if (!user.allowedAddresses.includes(address)) return result(531, `${descriptions[531]}; IP address ${address} not allowed`);
    }
    let owner = user.login;
    const view = fields.s_user;
    if (view !== undefined && view !== '') {
      if (!(user.subusers ?? []).includes(view)) return result(531, `${descriptions[531]}; subuser ${view} not found`);
      owner = view;
    }
    return { user, login, role, readOnly, session, owner };
  };

  const execute = (fields: Record<string, string>, command: Record<string, string>, upperName: string, socket: Socket): CommandResult => {
    const entity = fields.s_entity ?? '';
    const registry = registryFor(entity);
    if (registry === undefined) return result(530, `${descriptions[530]}; unknown entity ${entity}`);
    const auth = authenticate(fields, entity, socket);
    if ('code' in auth) return auth;
    if (upperName === '') return result(504, `${descriptions[504]}; COMMAND`);
    if (upperName === 'STARTSESSION') {
      if (auth.session !== undefined) return result(531, `${descriptions[531]}; StartSession needs login credentials`);
      // The defaults no shorter than the minimum either.
      const timeout = integerParameter(command, 'TIMEOUT', Math.max(600, minSessionSeconds), minSessionSeconds, 3600);
      if (typeof timeout !== 'number') return timeout;
      const maxTtl = integerParameter(command, 'MAXTTL', 86_400, minSessionSeconds, 86_400);
      if (typeof maxTtl !== 'number') return maxTtl;
      const session = sessions.start({
        entity,
        account: auth.user.login,
        login: auth.login,
        role: auth.role,
        readOnly: auth.readOnly,
        timeoutMs: timeout * 1000,
        maxTtlMs: maxTtl * 1000,
      });
      return {
        ...result(200, descriptions[200]),
        properties: new Map([
          ['MAXTTL', [String(maxTtl)]],
          ['SESSION', [session.id]],
          ['TIMEOUT', [String(timeout)]],
        ]),
      };
    }
    if (upperName === 'ENDSESSION') {
      // ispapi.md: EndSession ends the session it is sent with, and "an unknown or expired session
      // answers CODE = 530". Sent without one (login and password only), it has none to end: 530 as
      // well, not a 200 that would tell the client a session was ended.
      if (auth.session === undefined) return result(530, SESSION_NOT_FOUND);
      sessions.end(auth.session.id);
      return result(200, descriptions[200]);
    }
    if (auth.readOnly && isWriteCommand(upperName)) {
      return result(531, `${descriptions[531]}; role ${auth.role ?? ''} may not run ${REGISTRAR_COMMANDS.get(upperName) ?? upperName}`);
    }
    const actor: Actor = { owner: auth.owner, readOnly: auth.readOnly, role: auth.role };
    return registry.run(upperName, command, actor);
  };

  const remember = (entry: CommandRequestRecord): void => {
    if (recentCapacity <= 0) return;
    recent.push(entry);
    if (recent.length > recentCapacity) recent.splice(0, recent.length - recentCapacity);
  };

  const handleCommand = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> => {
    stats.requests += 1;
    if (!seenSockets.has(request.socket)) {
      seenSockets.add(request.socket);
      stats.connections += 1;
    }
    if (request.method !== 'POST' && request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET, POST', 'content-type': 'text/plain' }).end('method not allowed');
      return;
    }
    const body = await readBody(request, MAX_BODY_BYTES);
    if (body === undefined) {
      response.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end(`request body larger than ${MAX_BODY_BYTES} bytes`);
      return;
    }
    const started = performance.now();
    const { fields, command } = decodeCommandRequestBody(body, url.search.length > 1 ? url.search.slice(1) : '');
    const upperName = (command.COMMAND ?? '').trim().toUpperCase();
    increment(stats.byCommand, SESSION_COMMANDS.get(upperName) ?? REGISTRAR_COMMANDS.get(upperName) ?? (upperName || '(none)'));
    increment(stats.byEntity, fields.s_entity ?? '(none)');
    const record: CommandRequestRecord = {
      method: request.method,
      contentType: request.headers['content-type'],
      userAgent: request.headers['user-agent'],
      fieldNames: [...fieldNamesOf(url.search.slice(1)), ...fieldNamesOf(body)],
      entity: fields.s_entity,
      login: fields.s_login,
      user: fields.s_user,
      remoteAddress: fields.s_remoteaddr,
      usedSession: fields.s_session !== undefined && fields.s_session !== '',
      command,
      code: undefined,
    };
    remember(record);
    const fault = faults.take(url.pathname, upperName);
    if (fault !== undefined && (await playFault(fault, request, response))) return;
    const answer = execute(fields, command, upperName, request.socket);
    record.code = answer.code;
    increment(stats.byCode, String(answer.code));
    const text = formatResponse(answer, (performance.now() - started) / 1000);
    response
      .writeHead(200, { 'content-type': 'text/plain; charset=UTF-8', 'content-length': String(Buffer.byteLength(text)) })
      .end(text);
  };

  return {
    stats,
    get recent(): readonly CommandRequestRecord[] {
      return [...recent];
    },
    get activeSessions(): number {
      return sessions.active;
    },
    handles: (pathname) => pathname === '/api/call.cgi' || pathname.startsWith('/api/rest/'),
    handle: (request, response, url) => {
      if (url.pathname.startsWith('/api/rest/')) {
        return handleRest(request, response, url, {
          stats: stats.rest,
          verifyAccessToken: dependencies.verifyAccessToken,
          takeFault: () => faults.take(url.pathname, undefined),
          playFault: (fault) => playFault(fault, request, response),
        });
      }
      return handleCommand(request, response, url);
    },
    injectFault: (fault, faultOptions) => faults.add(fault, faultOptions),
    clearFaults: () => {
      faults.clear();
    },
    expireSessions: () => sessions.expireAll(),
    resetStats: () => {
      stats.requests = 0;
      stats.byCommand = counts();
      stats.byEntity = counts();
      stats.byCode = counts();
      stats.faults = 0;
      stats.connections = 0;
      stats.rest.requests = 0;
      stats.rest.unauthorized = 0;
      seenSockets = new WeakSet();
      // Sessions that expired before the reset are not counted as expired after it.
      sessions.expireIdle();
      sessions.counters.started = 0;
      sessions.counters.ended = 0;
      sessions.counters.expired = 0;
      recent.length = 0;
    },
    close: () => {
      for (const entry of pendingTimers) {
        clearTimeout(entry.timer);
        entry.response.destroy();
      }
      pendingTimers.clear();
      faults.clear();
      sessions.clear();
      return Promise.resolve();
    },
  };
}
