import { mkdir, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { CommandClient } from '@sessionkit/http-client';
import { isLogLevel, type LogLevel } from '@sessionkit/logger';
import { StoreError } from '@sessionkit/token-store';
import { RedisStore } from '@sessionkit/token-store/redis';

/** The default --store-dir: the user's own under the temporary directory (a shared /tmp holds one per user). */
const DEFAULT_STORE_DIR = join(tmpdir(), process.getuid ? `sessionkit-demo-${process.getuid()}` : 'sessionkit-demo');

export const HELP = `sessionkit demo: every package against an embedded sandbox, or against a real system.

Usage: pnpm demo [options]

Options:
  --url <url>            a real system's base URL, such as https://api.example.com (no path:
                         the token endpoint, command API and events gateway are at the
                         sandbox's paths); credentials from the environment
  --system <live|ote>    ISPAPI system for the command client (default: ote)
  --store <redis-url>    keep the token in Redis (redis://host:port/db, rediss:// for TLS),
                         shared by every machine of a fleet, instead of the FileStore; one
                         with a password is refused: give it in SESSIONKIT_REDIS_URL
  --store-dir <dir>      FileStore directory, and the embedded sandbox's state; a leading ~/
                         is the home directory (default: ${DEFAULT_STORE_DIR})
  --listen-seconds <n>   on a real system, how long to listen for events (default: 10)
  --log-level <level>    trace, debug, info, warn, error or silent, for the packages' logs on
                         stderr (default: SESSIONKIT_LOG_LEVEL, else warn)
  --json                 print one JSON summary on standard output (progress goes to stderr);
                         pnpm -s demo -- --json keeps pnpm's own header off standard output
  -h, --help             this text

Environment for a real system (never on the command line; a blank variable counts as unset):
  SESSIONKIT_CLIENT_ID, with SESSIONKIT_CLIENT_SECRET (client_credentials grant) or with
  SESSIONKIT_USERNAME and SESSIONKIT_PASSWORD (password grant); SESSIONKIT_SCOPE
  SESSIONKIT_ISPAPI_LOGIN, SESSIONKIT_ISPAPI_PASSWORD for the command step
  SESSIONKIT_TOKEN_URL, SESSIONKIT_COMMAND_URL, SESSIONKIT_ESS_URL: endpoints elsewhere than
  under --url (with SESSIONKIT_TOKEN_URL but no SESSIONKIT_ESS_URL the events step is skipped)
  SESSIONKIT_REDIS_URL (the same as --store, which wins when both are given)
  A step whose endpoint or credentials are not configured is skipped and says so.`;

/** A real system's endpoints: derived from `--url`, or from the environment's overrides. */
export interface Endpoints {
  /** The `--url` origin, such as `https://api.example.com`. */
  base: string;
  tokenUrl: string;
  commandUrl: string;
  /** Undefined: the events step is skipped (the token endpoint is elsewhere, the gateway unknown). */
  essUrl: string | undefined;
}

export interface DemoOptions {
  /** A real system's base URL; undefined runs the embedded sandbox. */
  url: string | undefined;
  /** The real system's endpoints; defined when `url` is (and `help` is not). */
  endpoints: Endpoints | undefined;
  system: 'live' | 'ote';
  /** `--store-dir`, made absolute (see `parseOptions`). */
  storeDir: string;
  /** `--store` or `SESSIONKIT_REDIS_URL`: keep the token in a RedisStore; undefined: a FileStore. */
  redisUrl: string | undefined;
  /** How long to listen for events on a real system. */
  listenSeconds: number;
  logLevel: LogLevel;
  json: boolean;
  help: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The variables only a run against a real system (`--url`) reads. */
export const REAL_SYSTEM_VARIABLES = [
  'SESSIONKIT_TOKEN_URL',
  'SESSIONKIT_COMMAND_URL',
  'SESSIONKIT_ESS_URL',
  'SESSIONKIT_API_URL',
  'SESSIONKIT_CLIENT_ID',
  'SESSIONKIT_CLIENT_SECRET',
  'SESSIONKIT_USERNAME',
  'SESSIONKIT_PASSWORD',
  'SESSIONKIT_SCOPE',
  'SESSIONKIT_ISPAPI_LOGIN',
  'SESSIONKIT_ISPAPI_PASSWORD',
] as const;

/** The variable `name`; unset or blank is undefined (as in `Session.fromEnv`). */
export function readEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value?.trim() ? value : undefined;
}

/** A URL as progress lines show it: no user name, password, query or fragment, which may hold secrets. */
export function displayUrl(url: string): string {
  const { origin, pathname } = new URL(url);
  return `${origin}${pathname}`;
}

/** Whether `hostname` (as `URL` gives it) is this machine, where plain http cannot be overheard. */
function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

/**
 * `url` (from `from`: an option or a variable) when it parses, uses `secure` (or its plain
 * counterpart on loopback only: tokens and passwords travel in it) and holds no user name or
 * password, nor, for the command API (`commandApi`), a query field the CommandClient refuses.
 * The messages never repeat the URL: it may carry a secret.
 */
function checkUrl(url: string, from: string, secure: 'https:' | 'wss:', commandApi = false): string {
  const plain = secure === 'https:' ? 'http:' : 'ws:';
  if (!URL.canParse(url)) throw new UsageError(`${from} must be a URL starting with ${secure}// (or ${plain}// on this machine).`);
  const { protocol, hostname, host, username, password } = new URL(url);
  if (protocol !== secure && protocol !== plain) throw new UsageError(`${from} must start with ${secure}// (or ${plain}// on this machine), not ${protocol}`);
  if (protocol === plain && !isLoopback(hostname)) throw new UsageError(`${from} uses plain ${plain}// on ${host}: use ${secure}// (plain ${plain}// only on this machine, such as a local sandbox).`);
  if (username !== '' || password !== '') throw new UsageError(`${from} must not hold a user name or password: the credentials have variables of their own (below).`);
  if (commandApi) {
    // The CommandClient's own check (it refuses secret query fields such as s_pw), asked up front:
    // building one sends nothing. Its message is not passed on: it would not name the variable.
    try {
      new CommandClient({ url });
    } catch {
      throw new UsageError(`${from} must not hold a secret query field such as s_pw: remove it, and set SESSIONKIT_ISPAPI_LOGIN and SESSIONKIT_ISPAPI_PASSWORD instead (below).`);
    }
  }
  return url;
}

/** The endpoints of the real system at `url`, each overridable by its variable. */
function realEndpoints(url: string, env: NodeJS.ProcessEnv): Endpoints {
  const base = new URL(checkUrl(url, '--url', 'https:'));
  if (base.pathname !== '/' || base.search !== '' || base.hash !== '') {
    throw new UsageError('--url must be a base URL without a path, query or fragment, such as https://api.example.com: set SESSIONKIT_TOKEN_URL, SESSIONKIT_COMMAND_URL and SESSIONKIT_ESS_URL for endpoints elsewhere.');
  }
  const override = (name: string, secure: 'https:' | 'wss:', commandApi = false): string | undefined => {
    const value = readEnv(env, name);
    return value === undefined ? undefined : checkUrl(value, `The environment variable ${name}`, secure, commandApi);
  };
  const tokenUrl = override('SESSIONKIT_TOKEN_URL', 'https:');
  // The CommandClient would refuse it only once the run is under way, after a token request.
  const commandUrl = override('SESSIONKIT_COMMAND_URL', 'https:', true);
  const essUrl = override('SESSIONKIT_ESS_URL', 'wss:');
  const ws = new URL('/api/ws/events/v1', base);
  ws.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  return {
    base: base.origin,
    tokenUrl: tokenUrl ?? new URL('/IDP/connect/token', base).href,
    commandUrl: commandUrl ?? new URL('/api/call.cgi', base).href,
    // A token endpoint elsewhere says the system is not laid out as the sandbox: the gateway's URL is unknown.
    essUrl: essUrl ?? (tokenUrl === undefined ? ws.href : undefined),
  };
}

/**
 * Where a Redis URL points, for progress lines: its host and database, given in the path (`/2`)
 * or the query (`?db=2`), both shown as `/2`; never a user name, password or other query field
 * (ioredis reads `?password=`).
 */
export function redisEndpoint(url: string): string {
  const { protocol, host, pathname, searchParams } = new URL(url);
  const db = pathname.length > 1 ? pathname.slice(1) : searchParams.get('db');
  return `${protocol}//${host}${db === null ? '' : `/${db}`}`;
}

function checkRedisUrl(url: string, from: string): string {
  // The message never repeats the URL: it may carry a password. Without "//" after a scheme, what
  // parses as one is something else (localhost:6379 gives "localhost:"), so it is not named.
  if (!URL.canParse(url) || !/^[a-z][\w+.-]*:\/\//i.test(url)) {
    throw new UsageError(`${from} must be a Redis URL starting with redis:// or rediss://, such as redis://127.0.0.1:6379.`);
  }
  const { protocol } = new URL(url);
  if (protocol !== 'redis:' && protocol !== 'rediss:') throw new UsageError(`${from} must start with redis:// or rediss://, not ${protocol}//.`);
  // The rest is the store's own check (the database), which connects to nothing.
  try {
    new RedisStore({ url });
  } catch (error) {
    if (StoreError.isInstance(error) && error.code === 'INVALID_ARGUMENT') {
      throw new UsageError(`${from} must name its Redis database by number, once if at all: redis://host:6379/2 or ?db=2.`);
    }
    throw error;
  }
  return url;
}

/** The levels, as usage messages list them. */
const LEVELS = 'trace, debug, info, warn, error or silent';

/**
 * The log level: `--log-level`, else `SESSIONKIT_LOG_LEVEL` (blank counts as unset; any case),
 * else warn. A bad variable is refused by its name without repeating its value, as the other
 * variables are; a bad `--log-level` is repeated, as the other options are.
 */
function logLevelOf(option: string | undefined, env: NodeJS.ProcessEnv): LogLevel {
  if (option !== undefined) {
    const level = option.toLowerCase();
    if (!isLogLevel(level)) throw new UsageError(`--log-level must be ${LEVELS}, not "${option}".`);
    return level;
  }
  const value = readEnv(env, 'SESSIONKIT_LOG_LEVEL');
  if (value === undefined) return 'warn';
  const level = value.trim().toLowerCase();
  if (!isLogLevel(level)) throw new UsageError(`The environment variable SESSIONKIT_LOG_LEVEL must be ${LEVELS} (or blank for the default, warn); --log-level overrides it.`);
  return level;
}

/** `code` of a failed file-system call, else its message. */
function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? (error instanceof Error ? error.message : String(error));
}

/**
 * Creates the FileStore directory (mode 0700) and its missing parents unless it exists. A path
 * that cannot be a directory is a usage error (exit code 2), found before anything starts.
 *
 * One directory at a time, never `mkdir` with `recursive`: on Node 20 (sync or async) that never
 * returns where making a directory fails with ENOENT although its parent exists (anywhere in
 * /proc, say): it takes ENOENT for a missing parent, finds the parent there, and tries again, for
 * ever, at full CPU. A timeout around it would not do: the call would go on
 * spinning, and keep the process alive after the usage error. Nor would checking first that the
 * parent exists and is writable: for root, /proc passes that check. A plain mkdir is the system
 * call alone, which reports the ENOENT, on any Node version.
 */
export async function prepareStoreDir(dir: string): Promise<void> {
  // The directories to make, from the deepest one that exists down to `dir`.
  const missing: string[] = [];
  for (let path = dir; ; path = dirname(path)) {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOTDIR') throw new UsageError(`--store-dir must be a directory, and ${dir} is under a file.`);
      if (code !== 'ENOENT') throw new UsageError(`--store-dir ${dir} cannot be created: ${path} cannot be read (${code}).`);
      missing.unshift(path);
      // The root does not exist (a drive letter that is not there): nothing above to stop at.
      if (dirname(path) === path) break;
      continue;
    }
    if (!info.isDirectory()) throw new UsageError(path === dir ? `--store-dir must be a directory, and ${dir} is a file.` : `--store-dir must be a directory, and ${dir} is under a file.`);
    break;
  }
  for (const path of missing) {
    try {
      await mkdir(path, { mode: 0o700 });
    } catch (error) {
      const code = errorCode(error);
      // Made meanwhile by another process (another run of the demo, say): as good, if a directory.
      if (code === 'EEXIST' && (await stat(path).catch(() => undefined))?.isDirectory()) continue;
      throw new UsageError(`--store-dir ${dir} cannot be created: making ${path} failed with ${code}.`);
    }
  }
}

/**
 * `dir` with a leading `~` or `~/` (or `~\` on Windows) for the home directory. A shell expands
 * it only at the start of a word: `--store-dir=~/x` reaches the demo as it is, and would make a
 * directory named `~` in the working directory. Another user's home (`~name`) is not looked up.
 */
function expandHome(dir: string): string {
  if (dir === '~') return homedir();
  if (dir.startsWith('~/') || (sep === '\\' && dir.startsWith('~\\'))) return join(homedir(), dir.slice(2));
  return dir;
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): DemoOptions {
  let values;
  try {
    ({ values } = parseArgs({
      // `pnpm demo -- --json` hands the demo the `--` too.
      args: argv[0] === '--' ? argv.slice(1) : [...argv],
      options: {
        url: { type: 'string' },
        system: { type: 'string', default: 'ote' },
        store: { type: 'string' },
        'store-dir': { type: 'string', default: DEFAULT_STORE_DIR },
        'listen-seconds': { type: 'string', default: '10' },
        'log-level': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    // parseArgs quotes a stray argument, which may be a URL with a password in it.
    if ((error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new UsageError('This command takes no arguments but options: give each value after its option, such as --url https://api.example.com.');
    }
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { system } = values;
  if (system !== 'live' && system !== 'ote') throw new UsageError(`--system must be live or ote, not "${system}".`);
  // --help answers whatever the environment holds: none of it is read.
  const given = values.help ? {} : env;
  const logLevel = logLevelOf(values['log-level'], given);
  // Plain decimals only: Number() also takes "" and " " (0), "0x10" (16) and "1e3".
  const seconds = values['listen-seconds'];
  const listenSeconds = /^\d+(?:\.\d+)?$/.test(seconds) ? Number(seconds) : Number.NaN;
  if (!(listenSeconds >= 0 && listenSeconds <= 3600)) {
    throw new UsageError(`--listen-seconds must be a number of seconds from 0 to 3600, such as 10 or 2.5, not "${seconds}".`);
  }
  if (values['store-dir'].trim() === '') throw new UsageError('--store-dir must name a directory, not be blank.');
  // `pnpm demo` runs the demo in apps/demo; pnpm names the directory the user ran it from in INIT_CWD.
  const storeDir = resolve(readEnv(given, 'INIT_CWD') ?? process.cwd(), expandHome(values['store-dir']));
  const endpoints = values.url === undefined || values.help ? undefined : realEndpoints(values.url, env);
  const envRedisUrl = readEnv(given, 'SESSIONKIT_REDIS_URL');
  // Like --url: no secret on the command line, which anyone on the machine can read (ps).
  // ioredis also reads a password from the query (`?password=`).
  const storeUrl = values.store === undefined ? null : URL.parse(values.store);
  if (storeUrl && (storeUrl.password !== '' || storeUrl.searchParams.has('password'))) {
    throw new UsageError('--store must not hold a password: anyone on this machine can read a command line. Give a Redis URL with a password in SESSIONKIT_REDIS_URL.');
  }
  const redisUrl =
    values.store !== undefined
      ? checkRedisUrl(values.store, '--store')
      : envRedisUrl === undefined
        ? undefined
        : checkRedisUrl(envRedisUrl, 'The environment variable SESSIONKIT_REDIS_URL');
  return { url: values.url, endpoints, system, storeDir, redisUrl, listenSeconds, logLevel, json: values.json, help: values.help };
}
