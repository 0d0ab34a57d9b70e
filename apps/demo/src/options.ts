import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isLogLevel, type LogLevel } from '@sessionkit/logger';

export const HELP = `sessionkit demo: every package against an embedded sandbox, or against a real system.

Usage: pnpm demo [options]

Options:
  --url <url>            a real system's base URL (token endpoint, command API and events
                         gateway under the sandbox's paths); credentials from the environment
  --system <live|ote>    ISPAPI system for the command client (default: ote)
  --store <redis-url>    keep the token in Redis (redis://host:port/db, rediss:// for TLS),
                         shared by every machine of a fleet, instead of the FileStore; a URL
                         with a password belongs in SESSIONKIT_REDIS_URL instead
  --store-dir <dir>      FileStore directory, and the embedded sandbox's state
                         (default: ${join(tmpdir(), 'sessionkit-demo')})
  --listen-seconds <n>   on a real system, how long to listen for events (default: 10)
  --log-level <level>    trace, debug, info, warn, error or silent (default: warn)
  --json                 print one JSON summary on standard output (progress goes to stderr)
  -h, --help             this text

Environment for a real system (never on the command line):
  SESSIONKIT_TOKEN_URL, SESSIONKIT_CLIENT_ID, SESSIONKIT_CLIENT_SECRET
  (or SESSIONKIT_USERNAME and SESSIONKIT_PASSWORD for the password grant), SESSIONKIT_SCOPE,
  SESSIONKIT_COMMAND_URL, SESSIONKIT_ISPAPI_LOGIN, SESSIONKIT_ISPAPI_PASSWORD, SESSIONKIT_ESS_URL
  SESSIONKIT_REDIS_URL (the same as --store, which wins when both are given)
  A step whose endpoint or credentials are not configured is skipped and says so.`;

export interface DemoOptions {
  /** A real system's base URL; undefined runs the embedded sandbox. */
  url: string | undefined;
  system: 'live' | 'ote';
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

/** Where a Redis URL points, without its user name or password: for progress lines. */
export function redisEndpoint(url: string): string {
  const { protocol, host, pathname } = new URL(url);
  return `${protocol}//${host}${pathname === '/' ? '' : pathname}`;
}

function checkRedisUrl(url: string, from: string): string {
  // The message never repeats the URL: it may carry a password.
  if (!URL.canParse(url)) throw new UsageError(`${from} must be a Redis URL such as redis://127.0.0.1:6379.`);
  const { protocol } = new URL(url);
  if (protocol !== 'redis:' && protocol !== 'rediss:') throw new UsageError(`${from} must start with redis:// or rediss://, not ${protocol}//.`);
  return url;
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
        'store-dir': { type: 'string', default: join(tmpdir(), 'sessionkit-demo') },
        'listen-seconds': { type: 'string', default: '10' },
        'log-level': { type: 'string', default: 'warn' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { system } = values;
  if (system !== 'live' && system !== 'ote') throw new UsageError(`--system must be live or ote, not "${system}".`);
  const logLevel = values['log-level'].toLowerCase();
  if (!isLogLevel(logLevel)) throw new UsageError(`--log-level must be trace, debug, info, warn, error or silent, not "${logLevel}".`);
  if (values.url !== undefined && !URL.canParse(values.url)) throw new UsageError(`--url must be a URL, not "${values.url}".`);
  const listenSeconds = Number(values['listen-seconds']);
  if (!(Number.isFinite(listenSeconds) && listenSeconds >= 0 && listenSeconds <= 3600)) {
    throw new UsageError(`--listen-seconds must be a number of seconds from 0 to 3600, not "${values['listen-seconds']}".`);
  }
  const envRedisUrl = env.SESSIONKIT_REDIS_URL === '' ? undefined : env.SESSIONKIT_REDIS_URL;
  const redisUrl =
    values.store !== undefined
      ? checkRedisUrl(values.store, '--store')
      : envRedisUrl === undefined
        ? undefined
        : checkRedisUrl(envRedisUrl, 'SESSIONKIT_REDIS_URL');
  return { url: values.url, system, storeDir: values['store-dir'], redisUrl, listenSeconds, logLevel, json: values.json, help: values.help };
}
