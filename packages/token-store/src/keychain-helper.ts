import { type ChildProcess, spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { keychainHelperSource, vanishedAttempts } from './keychain-helper-source.js';
import { StoreError } from './store-error.js';

/** One request to the helper process. */
export interface HelperRequest {
  op: 'get' | 'set' | 'delete';
  service: string;
  account: string;
  value?: string;
}

/**
 * Where a failed request failed: loading the module, opening the store, the call, or the item
 * vanishing under every attempt of a `set` (see keychain-helper-source.ts).
 */
export type HelperStage = 'load' | 'open' | 'call' | 'vanished';

/** The helper's answer. */
export type HelperReply =
  | { id: number; ok: true; value: string | boolean | null }
  | { id: number; ok: false; stage: HelperStage; message: string };

/** A call waiting for its turn, or (as `#current`) the one the helper is serving. */
interface Job {
  request: HelperRequest;
  timeoutMs: number;
  resolve(reply: HelperReply): void;
  reject(error: StoreError): void;
}

/**
 * The call being served: its id, its child and its timer, which starts when the call is sent
 * (undefined while the call waits for that child to be ready).
 */
interface Sent {
  job: Job;
  id: number;
  timer: NodeJS.Timeout | undefined;
  child: ChildProcess;
}

/**
 * How long a helper process may take to start (Node.js, its worker thread and the native module)
 * before the calls waiting for it fail: the larger of this and the call's `timeoutMs`.
 */
export const helperStartTimeoutMs = 10_000;

/**
 * The Secret Service's answer when an item was deleted (by another process) between the
 * native call's lookup of the item and its use of it: gnome-keyring says "No such interface
 * “org.freedesktop.Secret.Item” on object at path …/collection/login/7" or "Object does not
 * exist at path “…/collection/login/7”".
 */
const vanishedItem = /No such interface \W?org\.freedesktop\.Secret\.Item\b|Object does not exist at path \W?\/org\/freedesktop\/secrets\/collection\/[^/\s]+\/[^/\s]+/;

const liveHelpers = new Set<ChildProcess>();
let exitHookInstalled = false;

function killLiveHelpers(): void {
  for (const child of liveHelpers) child.kill('SIGKILL');
}

function isReady(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { ready?: unknown }).ready === true;
}

function isReply(value: unknown): value is HelperReply {
  return typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'number' && typeof (value as { ok?: unknown }).ok === 'boolean';
}

/**
 * Runs keychain calls in a child process. A native keychain call is synchronous and can block
 * for as long as the keychain (or a hung D-Bus peer) takes; in a child process it blocks
 * neither this process's event loop, nor its thread pool, nor its exit, and a call that
 * outlives its timeout is ended for certain by killing the child. The child starts on the
 * first call, never keeps this process alive when idle, and is killed when this process exits;
 * when this process is killed by a signal instead (no 'exit' event), the child ends itself
 * (see keychain-helper-source.ts).
 *
 * Calls queue here and are sent one at a time, once the child says it is ready (its worker has
 * loaded the native module): each call's `timeoutMs` runs from when it is sent, so neither the
 * child's start-up nor a burst of fast calls before it counts. The start-up has its own bound,
 * the larger of `helperStartTimeoutMs` and the call's `timeoutMs`; when it runs out, the child is
 * killed and the calls waiting for it, none of which was sent, reject with `TIMEOUT`. A call that
 * times out fails alone (`TIMEOUT`), its helper is killed, and the calls queued behind it, which
 * the helper never saw, go on in a new helper.
 */
export class KeychainHelper {
  readonly #modulePath: string;
  readonly #queue: Job[] = [];
  #current: Sent | undefined;
  #child: ChildProcess | undefined;
  /** Whether `#child` has said it is ready. */
  #ready = false;
  /** Bounds `#child`'s start-up, until it is ready. */
  #startTimer: NodeJS.Timeout | undefined;
  #nextId = 1;

  constructor(modulePath: string) {
    this.#modulePath = modulePath;
  }

  /**
   * Queues `request` and sends it when the calls before it are done and the helper is ready;
   * rejects with `TIMEOUT` `timeoutMs` after it was sent, and restarts the helper.
   */
  call(request: HelperRequest, timeoutMs: number): Promise<HelperReply> {
    return new Promise<HelperReply>((resolve, reject) => {
      this.#queue.push({ request, timeoutMs, resolve, reject });
      this.#next();
    });
  }

  /**
   * Stops the helper process, if running; the call in progress and the queued ones reject with
   * `UNAVAILABLE` (a call already sent may still have reached the keychain).
   */
  close(): Promise<void> {
    const notMade = (job: Job): void => {
      job.reject(new StoreError('UNAVAILABLE', `A keychain ${job.request.op} was not made: the store was closed first.`));
    };
    const current = this.#current;
    this.#current = undefined;
    if (current?.timer !== undefined) {
      clearTimeout(current.timer);
      current.job.reject(new StoreError('UNAVAILABLE', `A keychain ${current.job.request.op} may not have completed: the store was closed while it was under way.`));
    } else if (current !== undefined) {
      notMade(current.job);
    }
    for (const job of this.#queue.splice(0)) notMade(job);
    const child = this.#child;
    if (child === undefined) return Promise.resolve();
    this.#forget(child);
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    // The child is unref'd: without this, a process with nothing else to do would exit before
    // the exit event, leaving an awaited close() unsettled.
    child.ref();
    const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
    child.kill('SIGKILL');
    return exited;
  }

  /** Takes the next queued call, when none is in progress, and sends it once the helper is ready. */
  #next(): void {
    if (this.#current !== undefined) return;
    const job = this.#queue.shift();
    if (job === undefined) return;
    let child: ChildProcess;
    try {
      child = this.#start(job.timeoutMs);
    } catch (error) {
      job.reject(new StoreError('UNAVAILABLE', `Could not start the keychain helper process: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      this.#next();
      return;
    }
    this.#current = { job, id: this.#nextId++, timer: undefined, child };
    if (this.#ready) this.#send();
  }

  /** Sends the call in progress to its (ready) child and starts its timer. */
  #send(): void {
    const current = this.#current;
    if (current === undefined || current.timer !== undefined) return;
    const { id, child, job: { request, timeoutMs } } = current;
    current.timer = setTimeout(() => {
      this.#finish(id, new StoreError('TIMEOUT', `The keychain did not answer a ${request.op} within ${timeoutMs} ms. It may be waiting for an unlock prompt or a hung D-Bus service; raise timeoutMs or check the keychain. The helper process was stopped; the next call starts a new one.`));
    }, timeoutMs);
    child.send({ id, ...request }, (error) => {
      if (error !== null) this.#finish(id, new StoreError('UNAVAILABLE', `Could not send a request to the keychain helper process: ${error.message}`, { cause: error }));
    });
  }

  /**
   * Settles the call in progress if it is `id` (a reply resolves; an error rejects and kills
   * its helper, whose state is then unknown) and sends the next one.
   */
  #finish(id: number, outcome: HelperReply | StoreError): void {
    const current = this.#current;
    if (current?.id !== id) return;
    this.#current = undefined;
    clearTimeout(current.timer);
    if (StoreError.isInstance(outcome)) {
      this.#kill(current.child);
      current.job.reject(outcome);
    } else {
      current.job.resolve(outcome);
    }
    this.#next();
  }

  /** Forgets `child` as the helper to use, so that the next call starts a new one. */
  #forget(child: ChildProcess): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    this.#ready = false;
    clearTimeout(this.#startTimer);
    this.#startTimer = undefined;
  }

  /** Forgets `child` and kills it, if it still runs. */
  #kill(child: ChildProcess): void {
    this.#forget(child);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  /** `child` did not get ready in time: it is killed, and the calls waiting for it, none of them sent, fail. */
  #startTimedOut(child: ChildProcess, startTimeoutMs: number): void {
    if (this.#child !== child || this.#ready) return;
    this.#kill(child);
    const failure = (op: string): StoreError => new StoreError('TIMEOUT', `The keychain helper process did not start within ${startTimeoutMs} ms (starting Node.js, a worker thread and @napi-rs/keyring): the machine may be overloaded. The ${op} was not made; the next call starts a new helper.`);
    const current = this.#current;
    if (current?.child === child) {
      this.#current = undefined;
      current.job.reject(failure(current.job.request.op));
    }
    for (const job of this.#queue.splice(0)) job.reject(failure(job.request.op));
  }

  #start(timeoutMs: number): ChildProcess {
    if (this.#child !== undefined) return this.#child;
    const env: NodeJS.ProcessEnv = { ...process.env };
    // The helper needs none of the parent's Node.js options (an inspector port would clash).
    delete env.NODE_OPTIONS;
    if (process.versions.electron !== undefined) env.ELECTRON_RUN_AS_NODE = '1';
    const child = spawn(process.execPath, ['--input-type=commonjs', '-e', keychainHelperSource, this.#modulePath, vanishedItem.source, String(vanishedAttempts)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env,
      windowsHide: true,
    });
    this.#child = child;
    this.#ready = false;
    const startTimeoutMs = Math.max(helperStartTimeoutMs, timeoutMs);
    this.#startTimer = setTimeout(() => {
      this.#startTimedOut(child, startTimeoutMs);
    }, startTimeoutMs);
    let stderr = '';
    liveHelpers.add(child);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once('exit', killLiveHelpers);
    }
    child.unref();
    child.channel?.unref();
    if (child.stderr instanceof Socket) child.stderr.unref();
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    child.on('message', (message: unknown) => {
      if (isReady(message)) {
        if (this.#child !== child) return;
        this.#ready = true;
        clearTimeout(this.#startTimer);
        this.#startTimer = undefined;
        if (this.#current?.child === child) this.#send();
      } else if (isReply(message) && this.#current?.child === child) {
        this.#finish(message.id, message);
      }
    });
    child.on('error', (error) => {
      this.#kill(child);
      if (this.#current?.child === child) this.#finish(this.#current.id, new StoreError('UNAVAILABLE', `A keychain call may not have completed: the keychain helper process failed: ${error.message}.`, { cause: error }));
    });
    child.on('exit', (code, signal) => {
      liveHelpers.delete(child);
      this.#forget(child);
      const current = this.#current;
      if (current?.child !== child) return;
      const detail = stderr.trim().split('\n').slice(-3).join(' | ');
      const why = `(${signal ?? `code ${code ?? 'unknown'}`})${detail === '' ? '' : `: ${detail}`}.`;
      if (current.timer !== undefined) {
        this.#finish(current.id, new StoreError('IO', `A keychain call may not have completed: the keychain helper process exited ${why}`));
        return;
      }
      // Exited while starting (before ready, so nothing was sent): the calls waiting for it fail
      // together, as on a start-up timeout, rather than each starting a helper that would most
      // likely exit the same way. The next call starts a new one.
      this.#current = undefined;
      const failure = new StoreError('IO', `A keychain call was not made: the keychain helper process exited while starting ${why}`);
      current.job.reject(failure);
      for (const job of this.#queue.splice(0)) job.reject(failure);
    });
    return child;
  }
}
