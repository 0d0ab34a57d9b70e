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

interface Pending {
  resolve(reply: HelperReply): void;
  reject(error: StoreError): void;
  timer: NodeJS.Timeout;
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
 * first call, serves calls one at a time, never keeps this process alive when idle, and is
 * killed when this process exits.
 */
export class KeychainHelper {
  readonly #modulePath: string;
  readonly #pending = new Map<number, Pending>();
  #child: ChildProcess | undefined;
  #stderr = '';
  #nextId = 1;

  constructor(modulePath: string) {
    this.#modulePath = modulePath;
  }

  /** Sends `request`; rejects with `TIMEOUT` after `timeoutMs` and restarts the helper. */
  call(request: HelperRequest, timeoutMs: number): Promise<HelperReply> {
    const child = this.#start();
    const id = this.#nextId++;
    return new Promise<HelperReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new StoreError('TIMEOUT', `The keychain did not answer a ${request.op} within ${timeoutMs} ms. It may be waiting for an unlock prompt or a hung D-Bus service; raise timeoutMs or check the keychain. The helper process was stopped; the next call starts a new one.`));
        this.#stop('an earlier keychain call timed out and the helper process was stopped');
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      child.send({ id, ...request }, (error) => {
        if (error !== null) this.#fail(id, new StoreError('UNAVAILABLE', `Could not send a request to the keychain helper process: ${error.message}`, { cause: error }));
      });
    });
  }

  /** Stops the helper process, if running; pending calls reject. */
  close(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return Promise.resolve();
    // The child is unref'd: without this, a process with nothing else to do would exit before
    // the exit event, leaving an awaited close() unsettled.
    child.ref();
    const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
    this.#stop('the store was closed', 'UNAVAILABLE');
    return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : exited;
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
    this.#stderr = '';
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
      this.#stderr = (this.#stderr + chunk).slice(-2000);
    });
    child.on('message', (message: unknown) => {
      if (!isReply(message)) return;
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      pending.resolve(message);
    });
    child.on('error', (error) => {
      if (this.#child !== child) return;
      this.#stop(`the keychain helper process failed: ${error.message}`, 'UNAVAILABLE');
    });
    child.on('exit', (code, signal) => {
      liveHelpers.delete(child);
      if (this.#child !== child) return;
      const detail = this.#stderr.trim().split('\n').slice(-3).join(' | ');
      this.#stop(`the keychain helper process exited (${signal ?? `code ${code ?? 'unknown'}`})${detail === '' ? '' : `: ${detail}`}`, 'IO');
    });
    return child;
  }

  /** Forgets the current child (killing it) and rejects every pending call. */
  #stop(reason: string, code: 'TIMEOUT' | 'UNAVAILABLE' | 'IO' = 'TIMEOUT'): void {
    const child = this.#child;
    this.#child = undefined;
    if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const id of [...this.#pending.keys()]) this.#fail(id, new StoreError(code, `A keychain call did not complete: ${reason}.`));
  }

  #fail(id: number, error: StoreError): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.reject(error);
  }
}
