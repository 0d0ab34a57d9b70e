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
  --store-dir <dir>      FileStore directory (default: ${join(tmpdir(), 'sessionkit-demo')})
  --log-level <level>    trace, debug, info, warn, error or silent (default: warn)
  --json                 print one JSON summary on standard output (progress goes to stderr)
  -h, --help             this text

Environment for a real system (never on the command line):
  SESSIONKIT_TOKEN_URL, SESSIONKIT_CLIENT_ID, SESSIONKIT_CLIENT_SECRET
  (or SESSIONKIT_USERNAME and SESSIONKIT_PASSWORD for the password grant), SESSIONKIT_SCOPE,
  SESSIONKIT_COMMAND_URL, SESSIONKIT_ISPAPI_LOGIN, SESSIONKIT_ISPAPI_PASSWORD, SESSIONKIT_ESS_URL
  A step whose endpoint or credentials are not configured is skipped and says so.`;

export interface DemoOptions {
  /** A real system's base URL; undefined runs the embedded sandbox. */
  url: string | undefined;
  system: 'live' | 'ote';
  storeDir: string;
  logLevel: LogLevel;
  json: boolean;
  help: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseOptions(argv: readonly string[]): DemoOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        url: { type: 'string' },
        system: { type: 'string', default: 'ote' },
        'store-dir': { type: 'string', default: join(tmpdir(), 'sessionkit-demo') },
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
  return { url: values.url, system, storeDir: values['store-dir'], logLevel, json: values.json, help: values.help };
}
