import { type ChildProcess, spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { keychainHelperSource } from './keychain-helper-source.js';
import { StoreError } from './store-error.js';

/** One request to the helper process. */
export interface HelperRequest {
  op: 'get' | 'set' | 'delete';
  service: string;
  account: string;
  value?: string;
}

/** Where a failed request failed: loading the module, opening the store, or the call. */
export type HelperStage = 'load' | 'open' | 'call';

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

/** The call sent to the helper: its id, its timer (started when it was sent) and its child. */
interface Sent {
  job: Job;
  id: number;
  timer: NodeJS.Timeout;
  child: ChildProcess;
}

const liveHelpers = new Set<ChildProcess>();
let exitHookInstalled = false;

function killLiveHelpers(): void {
  for (const child of liveHelpers) child.kill('SIGKILL');
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
 * Calls queue here and are sent one at a time: each call's `timeoutMs` runs from when it is
 * sent, so a burst of fast calls never times out waiting for its turn. A call that times out
 * fails alone (`TIMEOUT`), its helper is killed, and the calls queued behind it, which the
 * helper never saw, go on in a new helper.
 */
export class KeychainHelper {
  readonly #modulePath: string;
  readonly #queue: Job[] = [];
  #current: Sent | undefined;
  #child: ChildProcess | undefined;
  #nextId = 1;

  constructor(modulePath: string) {
    this.#modulePath = modulePath;
  }

  /**
   * Queues `request` and sends it when the calls before it are done; rejects with `TIMEOUT`
   * `timeoutMs` after it was sent, and restarts the helper.
   */
  call(request: HelperRequest, timeoutMs: number): Promise<HelperReply> {
    return new Promise<HelperReply>((resolve, reject) => {
      this.#queue.push({ request, timeoutMs, resolve, reject });
      this.#next();
    });
  }

  /** Stops the helper process, if running; the call in progress and the queued ones reject with `UNAVAILABLE`. */
  close(): Promise<void> {
    const failure = new StoreError('UNAVAILABLE', 'A keychain call did not complete: the store was closed.');
    const current = this.#current;
    this.#current = undefined;
    if (current !== undefined) {
      clearTimeout(current.timer);
      current.job.reject(failure);
    }
    for (const job of this.#queue.splice(0)) job.reject(failure);
    const child = this.#child;
    if (child === undefined) return Promise.resolve();
    this.#child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    // The child is unref'd: without this, a process with nothing else to do would exit before
    // the exit event, leaving an awaited close() unsettled.
    child.ref();
    const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
    child.kill('SIGKILL');
    return exited;
  }

  /** Sends the next queued call, when none is in progress. */
  #next(): void {
    if (this.#current !== undefined) return;
    const job = this.#queue.shift();
    if (job === undefined) return;
    let child: ChildProcess;
    try {
      child = this.#start();
    } catch (error) {
      job.reject(new StoreError('UNAVAILABLE', `Could not start the keychain helper process: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      this.#next();
      return;
    }
    const id = this.#nextId++;
    const { request, timeoutMs } = job;
    const timer = setTimeout(() => {
      this.#finish(id, new StoreError('TIMEOUT', `The keychain did not answer a ${request.op} within ${timeoutMs} ms. It may be waiting for an unlock prompt or a hung D-Bus service; raise timeoutMs or check the keychain. The helper process was stopped; the next call starts a new one.`));
    }, timeoutMs);
    this.#current = { job, id, timer, child };
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

  /** Forgets `child` (killing it, if it still runs), so that the next call starts a new one. */
  #kill(child: ChildProcess): void {
    if (this.#child === child) this.#child = undefined;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  #start(): ChildProcess {
    if (this.#child !== undefined) return this.#child;
    const env: NodeJS.ProcessEnv = { ...process.env };
    // The helper needs none of the parent's Node.js options (an inspector port would clash).
    delete env.NODE_OPTIONS;
    if (process.versions.electron !== undefined) env.ELECTRON_RUN_AS_NODE = '1';
    const child = spawn(process.execPath, ['--input-type=commonjs', '-e', keychainHelperSource, this.#modulePath], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env,
      windowsHide: true,
    });
    this.#child = child;
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
      if (isReply(message) && this.#current?.child === child) this.#finish(message.id, message);
    });
    child.on('error', (error) => {
      this.#kill(child);
      if (this.#current?.child === child) this.#finish(this.#current.id, new StoreError('UNAVAILABLE', `A keychain call did not complete: the keychain helper process failed: ${error.message}.`, { cause: error }));
    });
    child.on('exit', (code, signal) => {
      liveHelpers.delete(child);
      if (this.#child === child) this.#child = undefined;
      if (this.#current?.child !== child) return;
      const detail = stderr.trim().split('\n').slice(-3).join(' | ');
      this.#finish(this.#current.id, new StoreError('IO', `A keychain call did not complete: the keychain helper process exited (${signal ?? `code ${code ?? 'unknown'}`})${detail === '' ? '' : `: ${detail}`}.`));
    });
    return child;
  }
}
