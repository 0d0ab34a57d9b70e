// Test helper: a private redis-server on a free loopback port, in a temporary directory, with no
// persistence. Not part of the published package (src/**/testing/** is excluded from files).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running redis-server started by {@link startRedisServer}. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly process: ChildProcess;
  /** Stops the server (SIGKILL: nothing to save) and waits until it has exited. Idempotent. */
  stop(): Promise<void>;
  /** Starts a new redis-server on the same port (after `stop()`), with the same arguments. */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Undoes {@link pause}. */
  resume(): void;
  /** Removes the temporary directory after stopping. */
  dispose(): Promise<void>;
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Extra `redis-server` arguments, such as `['--requirepass', 'secret']`. */
  args?: string[] | undefined;
}

/** Why redis-server cannot be run here, or undefined when `redis-server --version` works. */
export function redisServerMissing(): string | undefined {
  const result = spawnSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (result.error !== undefined) {
    return `redis-server is not installed (${(result.error as NodeJS.ErrnoException).code ?? result.error.message}); run tooling/scripts/ensure-redis.sh or apt-get install redis-server`;
  }
  if (result.status !== 0) return `redis-server --version exited with ${String(result.status)}`;
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** Spawns redis-server and resolves once it accepts connections; rejects if it exits first. */
function launch(port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'notice', ...extra];
  const child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not get ready within 10 s: ${output.slice(-500)}`));
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        // Keep draining so the pipe never fills up.
        child.stdout.resume();
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${signal ?? String(code)}) before it was ready: ${output.slice(-500)}`));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => { resolve(); }));
}

/**
 * Starts `redis-server --port N --bind 127.0.0.1 --save '' --appendonly no` on a free loopback
 * port, in a new temporary directory. Retries with another port when the chosen one was taken.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'sessionkit-redis-'));
  const extra = options.args ?? [];
  let port = 0;
  let child: ChildProcess | undefined;
  let lastError: unknown;
  for (let attempt = 0; attempt < 5 && child === undefined; attempt += 1) {
    port = await freePort();
    try {
      child = await launch(port, dir, extra);
    } catch (error) {
      lastError = error;
    }
  }
  if (child === undefined) {
    await rm(dir, { recursive: true, force: true });
    throw lastError instanceof Error ? lastError : new Error('redis-server did not start');
  }
  let current: ChildProcess = child;
  const stop = async (): Promise<void> => {
    if (current.exitCode === null && current.signalCode === null) current.kill('SIGKILL');
    await exited(current);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get process() {
      return current;
    },
    stop,
    async restart() {
      await stop();
      current = await launch(port, dir, extra);
    },
    pause() {
      current.kill('SIGSTOP');
    },
    resume() {
      current.kill('SIGCONT');
    },
    async dispose() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The reason to skip Redis tests, or undefined when a redis-server starts here. Set
 * `SESSIONKIT_REQUIRE_REDIS=1` to make a missing or broken redis-server an error instead.
 */
export async function redisSkipReason(): Promise<string | undefined> {
  let reason = redisServerMissing();
  if (reason === undefined) {
    try {
      const server = await startRedisServer();
      await server.dispose();
    } catch (error) {
      reason = `redis-server cannot start here: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  if (reason !== undefined && process.env.SESSIONKIT_REQUIRE_REDIS === '1') {
    throw new Error(`SESSIONKIT_REQUIRE_REDIS=1 but ${reason}`);
  }
  return reason;
}
