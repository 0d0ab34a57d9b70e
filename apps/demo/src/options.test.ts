import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { displayUrl, parseOptions, prepareStoreDir, redisEndpoint, UsageError } from './options.js';

/** The UsageError that parsing `argv` with `env` throws. */
function usageError(argv: readonly string[], env: NodeJS.ProcessEnv = {}): UsageError {
  try {
    parseOptions(argv, env);
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error(`parseOptions(${JSON.stringify(argv)}) did not throw`);
}

describe('parseOptions: a real system (--url)', () => {
  it('derives the three endpoints from the base URL, at the sandbox paths', () => {
    expect(parseOptions(['--url', 'https://api.example.com'], {}).endpoints).toEqual({
      base: 'https://api.example.com',
      tokenUrl: 'https://api.example.com/IDP/connect/token',
      commandUrl: 'https://api.example.com/api/call.cgi',
      essUrl: 'wss://api.example.com/api/ws/events/v1',
    });
    // Plain http on this machine (a sandbox started without --tls) gives ws://.
    expect(parseOptions(['--url', 'http://127.0.0.1:8080/'], {}).endpoints?.essUrl).toBe('ws://127.0.0.1:8080/api/ws/events/v1');
  });

  it('has no endpoints without --url (the embedded sandbox) or with --help', () => {
    expect(parseOptions([], {}).endpoints).toBeUndefined();
    expect(parseOptions(['--', '--help', '--url', 'nonsense'], {})).toMatchObject({ help: true, endpoints: undefined });
  });

  it('takes the endpoints of the environment, a blank variable counting as unset', () => {
    const env = {
      SESSIONKIT_TOKEN_URL: 'https://idp.example.com/oauth/token',
      SESSIONKIT_COMMAND_URL: ' ',
      SESSIONKIT_ESS_URL: 'wss://gateway.example.com/events',
    };
    expect(parseOptions(['--url', 'https://api.example.com'], env).endpoints).toEqual({
      base: 'https://api.example.com',
      tokenUrl: 'https://idp.example.com/oauth/token',
      commandUrl: 'https://api.example.com/api/call.cgi',
      essUrl: 'wss://gateway.example.com/events',
    });
    const blank = { SESSIONKIT_TOKEN_URL: '', SESSIONKIT_COMMAND_URL: '', SESSIONKIT_ESS_URL: '', SESSIONKIT_REDIS_URL: '  ' };
    const options = parseOptions(['--url', 'https://api.example.com'], blank);
    expect(options.endpoints?.tokenUrl).toBe('https://api.example.com/IDP/connect/token');
    expect(options.endpoints?.essUrl).toBe('wss://api.example.com/api/ws/events/v1');
    expect(options.redisUrl).toBeUndefined();
  });

  it('leaves the events gateway unknown when only the token endpoint is elsewhere', () => {
    const options = parseOptions(['--url', 'https://api.example.com'], { SESSIONKIT_TOKEN_URL: 'https://idp.example.com/token' });
    expect(options.endpoints?.essUrl).toBeUndefined();
  });

  it.each([
    ['no scheme', 'localhost:8443', 'must start with https://'],
    ['no URL at all', '127.0.0.1:8443', 'must be a URL starting with https://'],
    ['another scheme', 'ftp://api.example.com', 'must start with https://'],
    ['plain http to another machine', 'http://api.example.com', 'uses plain http:// on api.example.com'],
    ['a path', 'https://api.example.com/API', 'must be a base URL without a path'],
    ['a query', 'https://api.example.com/?key=value', 'must be a base URL without a path, query'],
    ['credentials', 'https://user:Url-Secret-1@api.example.com', 'must not hold a user name or password'],
  ])('refuses a --url with %s (exit code 2, not a failure half-way)', (_, url, message) => {
    const error = usageError(['--url', url]);
    expect(error.message).toMatch(/^--url /);
    expect(error.message).toContain(message);
    expect(error.message).not.toContain('Url-Secret-1');
  });

  it.each([
    ['SESSIONKIT_TOKEN_URL', 'https://client:Env-Secret-2@idp.example.com/token', 'must not hold a user name or password'],
    ['SESSIONKIT_TOKEN_URL', 'not a url Env-Secret-2', 'must be a URL starting with https://'],
    ['SESSIONKIT_COMMAND_URL', 'http://api.example.com/api/call.cgi?s_pw=Env-Secret-2', 'uses plain http://'],
    ['SESSIONKIT_ESS_URL', 'https://gateway.example.com/events?token=Env-Secret-2', 'must start with wss://'],
    ['SESSIONKIT_ESS_URL', 'wss://:Env-Secret-2@gateway.example.com/events', 'must not hold a user name or password'],
  ])('refuses a bad %s by its name, without repeating its value', (name, value, message) => {
    const error = usageError(['--url', 'https://api.example.com'], { [name]: value });
    expect(error.message).toContain(`The environment variable ${name} `);
    expect(error.message).toContain(message);
    expect(error.message).not.toContain('Env-Secret-2');
  });

  it.each(['s_pw', 'S_PW', 's_session', 's_otp', 'password', 'NewPassword', 'oldpassword', 'auth', 'AUTH0', 'session', 'sessionid', 'otp', 'token', 'secret', 's%5Fpw'])(
    'refuses a SESSIONKIT_COMMAND_URL with the secret query field %s up front, as the CommandClient would only after a token request',
    (field) => {
      const error = usageError(['--url', 'https://api.example.com'], { SESSIONKIT_COMMAND_URL: `https://api.example.com/api/call.cgi?s_login=demo&${field}=Env-Secret-4` });
      expect(error.message).toMatch(/^The environment variable SESSIONKIT_COMMAND_URL must not hold a secret query field such as s_pw: /);
      expect(error.message).toContain('set SESSIONKIT_ISPAPI_LOGIN and SESSIONKIT_ISPAPI_PASSWORD instead');
      expect(error.message).not.toContain('Env-Secret-4');
    },
  );

  it('takes a SESSIONKIT_COMMAND_URL with query fields that hold no secret', () => {
    const commandUrl = 'https://api.example.com/api/call.cgi?s_login=demo&s_entity=1234&s_passwordless=1';
    expect(parseOptions(['--url', 'https://api.example.com'], { SESSIONKIT_COMMAND_URL: commandUrl }).endpoints?.commandUrl).toBe(commandUrl);
  });
});

describe('parseOptions: --store-dir', () => {
  it('resolves a relative directory against INIT_CWD, where pnpm was run, else the working directory', () => {
    expect(parseOptions(['--store-dir', 'mystore'], { INIT_CWD: '/home/someone/work' }).storeDir).toBe(resolve('/home/someone/work', 'mystore'));
    expect(parseOptions(['--store-dir', '../mystore'], { INIT_CWD: '/home/someone/work' }).storeDir).toBe(resolve('/home/someone/mystore'));
    expect(parseOptions(['--store-dir', 'mystore'], {}).storeDir).toBe(join(process.cwd(), 'mystore'));
    expect(parseOptions(['--store-dir', '/var/tmp/store'], { INIT_CWD: '/home/someone/work' }).storeDir).toBe(resolve('/var/tmp/store'));
  });

  it('defaults to a directory of this user\'s under the temporary directory, so that users of one machine do not share one', () => {
    const uid = process.getuid?.();
    expect(parseOptions([], {}).storeDir).toBe(join(tmpdir(), uid === undefined ? 'sessionkit-demo' : `sessionkit-demo-${uid}`));
  });

  it('takes a leading ~ or ~/ for the home directory, as a shell would (it does not after "="), and any other ~ as it is', () => {
    const env = { INIT_CWD: '/home/someone/work' };
    expect(parseOptions(['--store-dir=~/mystore'], env).storeDir).toBe(join(homedir(), 'mystore'));
    expect(parseOptions(['--store-dir=~/a/../b'], env).storeDir).toBe(join(homedir(), 'b'));
    expect(parseOptions(['--store-dir', '~'], env).storeDir).toBe(resolve(homedir()));
    expect(parseOptions(['--store-dir=~/'], env).storeDir).toBe(resolve(homedir()));
    // Another user's home (~name) is not looked up; a ~ elsewhere in the path is a name like any other.
    expect(parseOptions(['--store-dir=~someone/store'], env).storeDir).toBe(resolve('/home/someone/work', '~someone/store'));
    expect(parseOptions(['--store-dir=store/~/x'], env).storeDir).toBe(resolve('/home/someone/work', 'store/~/x'));
    expect(parseOptions(['--store-dir=~store'], env).storeDir).toBe(resolve('/home/someone/work', '~store'));
  });

  it('refuses a blank directory rather than using the working directory', () => {
    expect(usageError(['--store-dir', '']).message).toBe('--store-dir must name a directory, not be blank.');
    expect(usageError(['--store-dir', ' ']).message).toBe('--store-dir must name a directory, not be blank.');
  });
});

describe('prepareStoreDir', () => {
  it('creates the directory and its missing parents, each private to the user (0700), and takes one that exists', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-prepare-'));
    try {
      const nested = join(dir, 'a', 'b', 'c');
      await prepareStoreDir(nested);
      for (const path of [join(dir, 'a'), join(dir, 'a', 'b'), nested]) expect(((await stat(path)).mode & 0o777).toString(8), path).toBe('700');
      await prepareStoreDir(nested);
      await prepareStoreDir(`${nested}/`);
      // Made at once by two callers: both succeed.
      await Promise.all([prepareStoreDir(join(dir, 'x', 'y')), prepareStoreDir(join(dir, 'x', 'y'))]);
      expect((await stat(join(dir, 'x', 'y'))).isDirectory()).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file, a path under a file, and one the system does not let it create, each with a UsageError', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sessionkit-demo-prepare-'));
    try {
      const file = join(dir, 'file');
      await writeFile(file, '');
      await expect(prepareStoreDir(file)).rejects.toThrow(new UsageError(`--store-dir must be a directory, and ${file} is a file.`));
      await expect(prepareStoreDir(join(file, 'sub', 'dir'))).rejects.toThrow(new UsageError(`--store-dir must be a directory, and ${join(file, 'sub', 'dir')} is under a file.`));
      if (process.platform !== 'win32' && process.getuid?.() !== 0) {
        const locked = join(dir, 'locked');
        await prepareStoreDir(locked);
        await chmod(locked, 0o500);
        await expect(prepareStoreDir(join(locked, 'store'))).rejects.toThrow(`--store-dir ${join(locked, 'store')} cannot be created: `);
        await chmod(locked, 0o700);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('parseOptions: --listen-seconds', () => {
  it.each(['0', '10', '2.5', '3600'])('takes %j', (value) => {
    expect(parseOptions(['--listen-seconds', value], {}).listenSeconds).toBe(Number(value));
  });

  it.each(['', ' ', '0x10', '1e3', '-1', '3601', '10s', ' 10', 'Infinity'])('refuses %j: only plain decimal numbers of seconds', (value) => {
    // The `=` form: parseArgs takes "-1" after a space for an option.
    expect(usageError([`--listen-seconds=${value}`]).message).toBe(`--listen-seconds must be a number of seconds from 0 to 3600, such as 10 or 2.5, not "${value}".`);
  });
});

describe('parseOptions: SESSIONKIT_REDIS_URL', () => {
  it('refuses a bad one by its name, as the other variables, without repeating it', () => {
    const plain = usageError([], { SESSIONKIT_REDIS_URL: 'localhost:6379' });
    expect(plain.message).toBe('The environment variable SESSIONKIT_REDIS_URL must be a Redis URL starting with redis:// or rediss://, such as redis://127.0.0.1:6379.');
    const other = usageError([], { SESSIONKIT_REDIS_URL: 'memcached://:Env-Secret-5@127.0.0.1:11211' });
    expect(other.message).toBe('The environment variable SESSIONKIT_REDIS_URL must start with redis:// or rediss://, not memcached://.');
    // --store wins over the variable, which is then not read.
    expect(parseOptions(['--store', 'redis://127.0.0.1:6379'], { SESSIONKIT_REDIS_URL: 'localhost:6379' }).redisUrl).toBe('redis://127.0.0.1:6379');
  });

  it('refuses a --store URL with a password, which the process list would show, without repeating it', () => {
    for (const url of ['redis://:Cli-Secret-7@127.0.0.1:6379', 'rediss://app:Cli-Secret-7@127.0.0.1:6380/2', 'redis://127.0.0.1:6379/?password=Cli-Secret-7', 'redis://127.0.0.1:6379/0?username=app&password=Cli-Secret-7']) {
      const error = usageError(['--store', url]);
      expect(error.message).toBe('--store must not hold a password: anyone on this machine can read a command line. Give a Redis URL with a password in SESSIONKIT_REDIS_URL.');
    }
    // A user name alone is no secret; the variable may hold a password.
    expect(parseOptions(['--store', 'redis://app@127.0.0.1:6379'], {}).redisUrl).toBe('redis://app@127.0.0.1:6379');
    expect(parseOptions([], { SESSIONKIT_REDIS_URL: 'redis://:Env-Secret-5@127.0.0.1:6379' }).redisUrl).toBe('redis://:Env-Secret-5@127.0.0.1:6379');
  });

  it('refuses a database that is no number (ioredis would send SELECT NaN), or more than one (ioredis would pick one)', () => {
    for (const url of ['redis://127.0.0.1:6379/abc', 'redis://127.0.0.1:6379/1/2', 'redis://127.0.0.1:6379?db=abc', 'redis://127.0.0.1:6379/?db=2&db=abc', 'redis://127.0.0.1:6379/0?db=1']) {
      expect(usageError(['--store', url]).message, url).toBe('--store must name its Redis database by number, once if at all: redis://host:6379/2 or ?db=2.');
    }
    expect(usageError([], { SESSIONKIT_REDIS_URL: 'redis://:Env-Secret-5@127.0.0.1:6379/?db=1&db=2' }).message).toBe(
      'The environment variable SESSIONKIT_REDIS_URL must name its Redis database by number, once if at all: redis://host:6379/2 or ?db=2.',
    );
    expect(parseOptions(['--store', 'redis://127.0.0.1:6379/2'], {}).redisUrl).toBe('redis://127.0.0.1:6379/2');
    expect(parseOptions(['--store', 'redis://127.0.0.1:6379/?db=2'], {}).redisUrl).toBe('redis://127.0.0.1:6379/?db=2');
  });

  it('is not read with --help, which answers whatever the environment holds', () => {
    const env = { SESSIONKIT_REDIS_URL: 'localhost:6379', SESSIONKIT_LOG_LEVEL: 'loud' };
    expect(parseOptions(['--help'], env)).toMatchObject({ help: true, redisUrl: undefined });
  });
});

describe('displayUrl', () => {
  it('keeps the origin and path, never a user name, password, query or fragment', () => {
    expect(displayUrl('https://user:pass@idp.example.com:8443/oauth/token?client_secret=s3#frag')).toBe('https://idp.example.com:8443/oauth/token');
    expect(displayUrl('wss://gateway.example.com/api/ws/events/v1')).toBe('wss://gateway.example.com/api/ws/events/v1');
  });
});

describe('redisEndpoint', () => {
  it('shows the host and the database, whether given as /2 or ?db=2, never a user name, password or other query field', () => {
    expect(redisEndpoint('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redisEndpoint('redis://127.0.0.1:6379/')).toBe('redis://127.0.0.1:6379');
    expect(redisEndpoint('redis://127.0.0.1:6379/3')).toBe('redis://127.0.0.1:6379/3');
    expect(redisEndpoint('redis://127.0.0.1:6379?db=2')).toBe('redis://127.0.0.1:6379/2');
    expect(redisEndpoint('redis://127.0.0.1:6379/?db=0')).toBe('redis://127.0.0.1:6379/0');
    expect(redisEndpoint('rediss://app:Env-Secret-5@redis.example.com:6380/?db=2&password=Env-Secret-6')).toBe('rediss://redis.example.com:6380/2');
    expect(redisEndpoint('redis://[::1]:6379/?username=app&password=Env-Secret-6')).toBe('redis://[::1]:6379');
  });
});

describe('parseOptions: the log level', () => {
  it('is --log-level, else SESSIONKIT_LOG_LEVEL (any case, blank counting as unset), else warn', () => {
    expect(parseOptions([], {}).logLevel).toBe('warn');
    expect(parseOptions([], { SESSIONKIT_LOG_LEVEL: ' ' }).logLevel).toBe('warn');
    expect(parseOptions([], { SESSIONKIT_LOG_LEVEL: ' TRACE ' }).logLevel).toBe('trace');
    expect(parseOptions(['--log-level', 'Error'], { SESSIONKIT_LOG_LEVEL: 'trace' }).logLevel).toBe('error');
    // --log-level wins even over a variable it would refuse.
    expect(parseOptions(['--log-level', 'silent'], { SESSIONKIT_LOG_LEVEL: 'loud' }).logLevel).toBe('silent');
  });

  it('refuses an unknown SESSIONKIT_LOG_LEVEL by its name, without repeating its value', () => {
    const error = usageError([], { SESSIONKIT_LOG_LEVEL: 'Env-Secret-3' });
    expect(error.message).toContain('The environment variable SESSIONKIT_LOG_LEVEL must be trace, debug, info, warn, error or silent');
    expect(error.message).not.toContain('Env-Secret-3');
    expect(usageError(['--log-level', 'loud']).message).toContain('--log-level must be trace, debug, info, warn, error or silent, not "loud"');
  });
});

describe('parseOptions: stray arguments', () => {
  it('refuses one without repeating it: it may be a URL with a password', () => {
    const error = usageError(['https://admin:Stray-Secret-9@api.example.com']);
    expect(error.message).toBe('This command takes no arguments but options: give each value after its option, such as --url https://api.example.com.');
    expect(error.message).not.toContain('Stray-Secret-9');
  });
});
