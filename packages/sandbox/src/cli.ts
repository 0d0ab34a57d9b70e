// The `sessionkit-sandbox` command: the sandbox as a standalone server (see --help).
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isEveryInterface, type Sandbox, type SandboxOptions, startSandbox } from './server.js';

const USAGE = `sessionkit-sandbox: a local OAuth 2.0 token endpoint, ISPAPI command API and events gateway

Usage: sessionkit-sandbox [options]

Options:
  --port <n>                   TCP port; 0 picks a free one (default: 8080)
  --host <address>             address to listen on (default: 127.0.0.1); 0.0.0.0 or :: for
                               all interfaces, the URLs printed then name 127.0.0.1
  --tls                        HTTPS and WSS with a new self-signed certificate
  --cert-file <file>           with --tls, also write the certificate (PEM) to this file,
                               for clients to trust (e.g. NODE_EXTRA_CA_CERTS=<file>)
  --state-file <file>          keep issued tokens (as hashes) in this file, so that they stay
                               valid when the sandbox is started again with the same file
  --token-ttl <seconds>        access token lifetime (default: 3600; 0 issues tokens already
                               expired)
  --auth-rate-limit <max>/<s>  answer 429 past <max> logins per identity within <s> seconds
  --event-interval <ms>        the event generator publishes a batch every <ms> (default: 1000;
                               0 turns it off)
  --resume-window <seconds>    how long an events session can be resumed (default: 30)
  --domains <n>                domains generated for the user demo on each system (default: 3000)
  -h, --help                   this text

Built in: client sessionkit-demo / demo-secret (client_credentials), user demo / demo-password
(password grant through the public client GrantValidatorClient; also the command API login).
Stop it with Ctrl-C (SIGINT) or SIGTERM; it prints its counters as it stops.`;

class UsageError extends Error {}

function wholeNumber(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${text}".`);
  }
  return value;
}

/** The flags that take a number (`--auth-rate-limit` two of them). */
const NUMBER_FLAGS = new Set(['--port', '--token-ttl', '--auth-rate-limit', '--event-interval', '--resume-window', '--domains']);

/**
 * `args` with a negative number after a flag that takes a number joined to it (`--domains -1`
 * as `--domains=-1`), so that the flag's range check refuses it, saying the range, where
 * parseArgs would take it for an option and call the flag's argument ambiguous.
 */
function joinNegativeNumbers(args: readonly string[]): string[] {
  const joined: string[] = [];
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] ?? '';
    const next = args[index + 1];
    if (arg === '--') {
      joined.push(...args.slice(index));
      break;
    }
    if (NUMBER_FLAGS.has(arg) && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`${arg}=${next}`);
      index += 1;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

interface CliOptions {
  sandbox: SandboxOptions;
  certFile: string | undefined;
  help: boolean;
}

function parseCli(argv: readonly string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinNegativeNumbers(argv[0] === '--' ? argv.slice(1) : argv),
      options: {
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        tls: { type: 'boolean', default: false },
        'cert-file': { type: 'string' },
        'state-file': { type: 'string' },
        'token-ttl': { type: 'string' },
        'auth-rate-limit': { type: 'string' },
        'event-interval': { type: 'string' },
        'resume-window': { type: 'string' },
        domains: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  // Checked here too, so that it is a usage error (exit 2), not a failure to start.
  if (values.host === '') throw new UsageError('--host must not be empty.');
  const certFile = values['cert-file'];
  if (certFile !== undefined && !values.tls) throw new UsageError('--cert-file needs --tls.');
  const options: SandboxOptions = {
    port: wholeNumber('port', values.port, 0, 65_535),
    host: values.host,
    tls: values.tls,
    stateFile: values['state-file'],
  };
  if (values['token-ttl'] !== undefined) options.tokenTtlSeconds = wholeNumber('token-ttl', values['token-ttl'], 0, 31_536_000);
  const rateLimit = values['auth-rate-limit'];
  if (rateLimit !== undefined) {
    // Not of the form (no slash, two, or a side left out): say the form, not a range of "".
    const [max = '', seconds = '', ...rest] = rateLimit.split('/');
    if (max === '' || seconds === '' || rest.length > 0) throw new UsageError(`--auth-rate-limit must be <max>/<seconds> (such as 5/60), not "${rateLimit}".`);
    options.authRateLimit = { max: wholeNumber('auth-rate-limit max', max, 1, 1_000_000), windowMs: wholeNumber('auth-rate-limit seconds', seconds, 1, 86_400) * 1000 };
  }
  const ess: NonNullable<SandboxOptions['ess']> = {};
  const interval = values['event-interval'];
  if (interval !== undefined) {
    const intervalMs = wholeNumber('event-interval', interval, 0, 3_600_000);
    ess.generator = intervalMs === 0 ? false : { intervalMs };
  }
  const window = values['resume-window'];
  if (window !== undefined) ess.resumeWindowMs = wholeNumber('resume-window', window, 1, 86_400) * 1000;
  options.ess = ess;
  if (values.domains !== undefined) options.commands = { domainCount: wholeNumber('domains', values.domains, 0, 1_000_000) };
  return { sandbox: options, certFile, help: values.help };
}

function counters(sandbox: Sandbox): string {
  const { idp, commands, events } = sandbox.stats;
  return [
    `${idp.requests} token requests (${idp.issued} tokens issued, ${idp.refused} refused, ${idp.rateLimited} rate-limited)`,
    `${commands.requests} commands`,
    `${events.connectionsTotal} events connections, ${events.eventsSent} events sent`,
  ].join(', ');
}

async function main(): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const cannotStart = (error: unknown, what = ''): number => {
    console.error(`sessionkit-sandbox could not start: ${what}${error instanceof Error ? error.message : String(error)}`);
    return 1;
  };
  let sandbox: Sandbox;
  try {
    sandbox = await startSandbox(options.sandbox);
  } catch (error) {
    return cannotStart(error);
  }
  if (options.certFile !== undefined && sandbox.certificate !== undefined) {
    try {
      await writeFile(options.certFile, sandbox.certificate);
    } catch (error) {
      await sandbox.close();
      return cannotStart(error, 'cannot write --cert-file: ');
    }
  }
  // On every interface, the URLs name this machine's loopback address (0.0.0.0 is none to connect to).
  const host = options.sandbox.host ?? '';
  const listening = isEveryInterface(host)
    ? `all interfaces (--host ${host}), on this machine at ${sandbox.url}
  (from other machines, connect to this machine's address instead)`
    : sandbox.url;
  console.log(`sessionkit sandbox listening on ${listening}
  token endpoint : ${sandbox.tokenUrl}
  command API    : ${sandbox.commandUrl}
  events gateway : ${sandbox.essUrl}`);
  if (sandbox.certificate !== undefined) {
    console.log(
      options.certFile === undefined
        ? `\nself-signed certificate (trust it explicitly):\n${sandbox.certificate}`
        : `\nself-signed certificate written to ${options.certFile} (trust it explicitly)`,
    );
  }
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      console.log(`\n${signal}: stopping after ${counters(sandbox)}`);
      sandbox.close().then(
        () => { resolve(0); },
        (error: unknown) => {
          console.error(`closing failed: ${error instanceof Error ? error.message : String(error)}`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

process.exitCode = await main();
