import { checkCount, checkDelay, checkHeader, checkStatus } from '../checks.js';
/**
 * A fault the command API plays instead of (or before) its normal answer.
 * - `slow`: wait `delayMs`, then answer normally.
 * - `drop`: read the request, then destroy the connection without answering.
 * - `status`: answer this HTTP status (200 to 599, e.g. 503), optionally with `Retry-After` and a body.
 * - `empty-body`: answer HTTP 200 with an empty body.
 * - `invalid-body`: answer HTTP 200 with a body that has no CODE or DESCRIPTION.
 * - `respond`: answer exactly this body (and status, 200 to 599), to show clients any response text.
 */
export type CommandFault =
  | { type: 'slow'; delayMs: number }
  | { type: 'drop' }
  | { type: 'status'; status: number; retryAfter?: number | string | undefined; body?: string | undefined }
  | { type: 'empty-body' }
  | { type: 'invalid-body'; body?: string | undefined }
  | { type: 'respond'; body: string; status?: number | undefined; contentType?: string | undefined };

/**
 * Which requests a fault applies to, and how many times. With neither `command` nor `path`, a
 * fault applies to the next request(s) of either kind: ISPAPI commands at `/api/call.cgi` and
 * the JSON endpoints under `/api/rest/`.
 */
export interface FaultOptions {
  /** How many matching requests get the fault: a whole number of 1 or more, or `Infinity` until cleared. @default 1 */
  times?: number | undefined;
  /**
   * Only requests running this ISPAPI command (any case), such as `'QueryDomainList'`; never a
   * request to a JSON endpoint.
   */
  command?: string | undefined;
  /** Only requests to this path, such as `'/api/rest/v1/whoami'`. */
  path?: string | undefined;
}

/** A fault waiting to be played. */
export interface FaultHandle {
  /** How many more requests will get it. */
  readonly remaining: number;
  /** Withdraw it. */
  clear(): void;
}

interface PendingFault {
  fault: CommandFault;
  remaining: number;
  command: string | undefined;
  path: string | undefined;
}

const FAULT_TYPES: readonly string[] = ['slow', 'drop', 'status', 'empty-body', 'invalid-body', 'respond'] satisfies readonly CommandFault['type'][];

/** Faults in the order they were injected; the first that matches a request is played. */
export class FaultQueue {
  #pending: PendingFault[] = [];

  get size(): number {
    return this.#pending.length;
  }

  add(fault: CommandFault, options: FaultOptions = {}): FaultHandle {
    const type: unknown = fault.type;
    if (typeof type !== 'string' || !FAULT_TYPES.includes(type)) {
      throw new TypeError(`A command fault's type must be one of ${FAULT_TYPES.join(', ')}, not ${JSON.stringify(String(type)).slice(0, 40)}.`);
    }
    // `respond` needs its body; `status` and `invalid-body` take one optionally. Checked here
    // rather than when played, where a body that is no string would be a 500 from Node.
    if (fault.type === 'respond' ? typeof fault.body !== 'string' : 'body' in fault && fault.body !== undefined && typeof fault.body !== 'string') {
      throw new TypeError(`The body of a ${fault.type} fault must be a string${fault.type === 'respond' ? '' : ' when given'}, not ${typeof (fault as { body?: unknown }).body}.`);
    }
    // A path is matched as the request's, which starts with a slash: `api/call.cgi` would never match.
    if (options.path !== undefined && !options.path.startsWith('/')) throw new TypeError(`A fault's path must start with "/", such as "/api/call.cgi", not ${JSON.stringify(options.path).slice(0, 40)}.`);
    const times = checkCount('times', options.times ?? 1, true);
    if (fault.type === 'slow') checkDelay('delayMs', fault.delayMs);
    // A 1xx status is no final answer: the client would go on waiting for one.
    checkStatus('status', fault.type === 'status' ? fault.status : fault.type === 'respond' ? (fault.status ?? 200) : 200, 200);
    if (fault.type === 'status') checkHeader('retryAfter', fault.retryAfter);
    if (fault.type === 'respond') checkHeader('contentType', fault.contentType);
    const pending: PendingFault = {
      fault,
      remaining: times,
      command: options.command?.toUpperCase(),
      path: options.path,
    };
    this.#pending.push(pending);
    return {
      get remaining() {
        return pending.remaining;
      },
      clear: () => {
        pending.remaining = 0;
        this.#pending = this.#pending.filter((candidate) => candidate !== pending);
      },
    };
  }

  /** Take the fault for a request, if one matches. */
  take(path: string, command: string | undefined): CommandFault | undefined {
    if (this.#pending.length === 0) return undefined;
    const upper = command?.toUpperCase();
    const index = this.#pending.findIndex(
      (pending) => (pending.command === undefined || pending.command === upper) && (pending.path === undefined || pending.path === path),
    );
    const pending = this.#pending[index];
    if (pending === undefined) return undefined;
    pending.remaining -= 1;
    if (pending.remaining <= 0) this.#pending.splice(index, 1);
    return pending.fault;
  }

  clear(): void {
    for (const pending of this.#pending) pending.remaining = 0;
    this.#pending = [];
  }
}
