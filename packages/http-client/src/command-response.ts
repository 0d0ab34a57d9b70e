/** The paging window of a list response (`FIRST`, `LAST`, `COUNT`, `LIMIT`, `TOTAL`). */
export interface Pagination {
  /** Index of the first record of this page. */
  readonly first: number;
  /** Index of the last record of this page (`first - 1` for an empty page). */
  readonly last: number;
  /** Records on this page. */
  readonly count: number;
  /** Page size, when the server said. */
  readonly limit: number | undefined;
  /** Records in the whole list, when the server said. */
  readonly total: number | undefined;
  /** 1-based number of this page, when `limit` is known and positive. */
  readonly page: number | undefined;
  /** Pages in the whole list, when `limit` and `total` are known. */
  readonly pages: number | undefined;
  /**
   * Whether another page follows: false on an error, without `TOTAL`, with `LIMIT <= 0`, when
   * `LAST + 1 >= TOTAL`, or when the window would not advance.
   */
  readonly hasNext: boolean;
  /** `FIRST` of the next page (`LAST + 1`), when `hasNext`. */
  readonly nextFirst: number | undefined;
}

/** What the response text says (or what the client made up); see the fields of {@link CommandResponse}. */
export interface CommandResponseInit {
  code: number;
  description: string;
  runtime?: number | undefined;
  queuetime?: number | undefined;
  pending?: boolean | undefined;
  /** Column values by index; a missing index is a hole. */
  properties?: ReadonlyMap<string, readonly (string | undefined)[]> | undefined;
  raw: string;
  synthetic?: boolean | undefined;
}

/** How a response came about: the transport details; see the fields of {@link CommandResponse}. */
export interface ResponseDetail {
  httpStatus?: number | undefined;
  cause?: unknown;
  attempt?: number | undefined;
  durationMs?: number | undefined;
  url?: string | undefined;
  /** The wait a non-2xx answer asked for with `Retry-After` (seconds or an HTTP date), in milliseconds, at most 1 hour. */
  retryAfterMs?: number | undefined;
  /** The command as sent, secrets masked; or a function that makes it, called when `command` is first read. */
  command?: Readonly<Record<string, string>> | (() => Readonly<Record<string, string>>) | undefined;
  /**
   * @internal What makes, for this response, the function that masks in a text the secrets the
   * request sent (and those of the response) where the server echoed them: applied to the
   * description, and by `toJSON()` to every record value. The client sets it.
   */
  unecho?: ((response: CommandResponse) => (text: string) => string) | undefined;
}

/** Paging metadata: properties of list responses that are not columns. */
export const PAGING_PROPERTIES: ReadonlySet<string> = new Set(['FIRST', 'LAST', 'COUNT', 'LIMIT', 'TOTAL']);

/** Names of the fields, parameters and properties that hold secrets, as a regular expression alternation. */
export const SECRET_NAMES = 's_pw|s_session|s_otp|password|newpassword|oldpassword|auth|session|sessionid|otp|token|secret';

const SECRET_NAME = RegExp(`^(?:${SECRET_NAMES})\\d*$`, 'i');

/**
 * Whether a form field, command parameter or response property holds a secret: `s_pw`,
 * `s_session`, `s_otp`, `PASSWORD`, `NEWPASSWORD`, `OLDPASSWORD`, `AUTH`, `SESSION`, `SESSIONID`,
 * `OTP`, `TOKEN`, `SECRET`, in any case, also numbered (`AUTH0`). Their values are masked in logs and `toJSON()`.
 */
export const isSecretName = (name: string): boolean => {
  return SECRET_NAME.test(name);
};

/** The mask that replaces secret values. */
export const MASK = '***';

/** The pairs with every secret value (`PASSWORD`, `NEWPASSWORD`, `AUTH`, ..., any case) masked. */
export const maskPairs = (pairs: readonly (readonly [string, string])[]): [string, string][] => {
  return pairs.map(([key, value]) => [key, isSecretName(key) ? MASK : value]);
};

/** A property name as stored: upper case, without white space. */
export const normalizeName = (name: string): string => {
  return name.toUpperCase().replace(/\s+/g, '');
};

/**
 * One answer of the API, or a response the client made up for a transport failure (421/423,
 * `synthetic: true`). Check the code with the predicates: `request()` does not throw for API
 * results.
 */
export class CommandResponse {
  // `declare` fields are not emitted as class fields (a smaller bundle): each is set once in the
  // constructor, in this order, which is the order of `Object.entries()` and `toJSON()`.
  /** Three-digit result code: 2xx success, 4xx temporary error, 5xx permanent error. */
  declare readonly code: number;
  declare readonly description: string;
  /** Seconds the server spent, when it said. */
  declare readonly runtime: number | undefined;
  /** Seconds the command waited in the server's queue, when it said. */
  declare readonly queuetime: number | undefined;
  /** `PENDING = 1`: the server accepted the command and finishes it later. */
  declare readonly pending: boolean;
  /** Data column names in order of appearance; paging metadata (`FIRST`, `TOTAL`, ...) is not a column. */
  declare readonly columns: readonly string[];
  /** The paging window of a list response; undefined when the response has no paging metadata. */
  declare readonly pagination: Pagination | undefined;
  /** True when the client made this response up (a transport failure), rather than the API. */
  declare readonly synthetic: boolean;
  /** HTTP status of the answer; undefined when no answer arrived. */
  declare readonly httpStatus: number | undefined;
  /** The transport error behind a synthetic response, if any. */
  declare readonly cause: unknown;
  /** Which attempt this response came from (1 = first). */
  declare readonly attempt: number;
  /** Milliseconds from the start of the request (first attempt) to this response. */
  declare readonly durationMs: number;
  /** The URL the request went to. */
  declare readonly url: string | undefined;
  /**
   * The wait a non-2xx HTTP answer asked for with `Retry-After`, in milliseconds (at most 1 hour);
   * undefined without one. A 429 or 503 to a StartSession with it is waited out by a Session.
   */
  declare readonly retryAfterMs: number | undefined;

  readonly #properties: ReadonlyMap<string, readonly (string | undefined)[]>;
  readonly #raw: string;
  #command: Readonly<Record<string, string>> | (() => Readonly<Record<string, string>>) | undefined;
  readonly #unecho: ((text: string) => string) | undefined;
  #records: readonly Readonly<Record<string, string>>[] | undefined;

  constructor(init: CommandResponseInit, detail?: ResponseDetail | null) {
    // null (plain JavaScript) counts as no detail, as everywhere.
    detail ??= {};
    ({ code: this.code, description: this.description, runtime: this.runtime, queuetime: this.queuetime } = init);
    this.pending = init.pending ?? false;
    // A response without properties (synthetic ones) gets an empty Map of its own.
    this.#properties = init.properties ?? new Map();
    this.#raw = init.raw;
    const columns: string[] = [];
    let hasPaging = false;
    for (const name of this.#properties.keys()) {
      if (PAGING_PROPERTIES.has(name)) hasPaging = true;
      else columns.push(name);
    }
    this.columns = columns;
    this.pagination = hasPaging ? this.#paginate() : undefined;
    this.synthetic = init.synthetic ?? false;
    this.httpStatus = detail.httpStatus;
    this.cause = detail.cause;
    this.attempt = detail.attempt ?? 1;
    this.durationMs = detail.durationMs ?? 0;
    this.url = detail.url;
    this.retryAfterMs = detail.retryAfterMs;
    this.#command = detail.command;
    // Last: it may look at the properties. The description keeps its place among the fields; the
    // client's own (synthetic) descriptions are left alone.
    if ((this.#unecho = detail.unecho?.(this)) && !this.synthetic) this.description = this.#unecho(this.description);
  }

  /** The command as sent, with secret values masked (`***`). */
  get command(): Readonly<Record<string, string>> | undefined {
    const command = this.#command;
    return typeof command === 'function' ? (this.#command = command()) : command;
  }

  /** The response text as received (or as made up). It may hold secrets, such as a session id: do not log it. */
  get raw(): string {
    return this.#raw;
  }

  /** 2xx. */
  isSuccess(): boolean {
    return this.code >= 200 && this.code < 300;
  }

  /** 4xx: a temporary error, try again later. */
  isTemporaryError(): boolean {
    return this.code >= 400 && this.code < 500;
  }

  /** 5xx: a permanent error. */
  isError(): boolean {
    return this.code >= 500 && this.code < 600;
  }

  /**
   * The value of `PROPERTY[NAME][index]`, or undefined. Names are compared in upper case
   * without white space; paging metadata is readable here too (`property('TOTAL')`).
   */
  property(name: string, index = 0): string | undefined {
    return this.#properties.get(normalizeName(name))?.[index];
  }

  /** Every value of column `name`, each at its index (holes are undefined); empty when there is no such column. */
  column(name: string): readonly (string | undefined)[] {
    return this.#properties.get(normalizeName(name)) ?? [];
  }

  /** Row `i` holds every column that has a value at index `i`. Paging metadata is not part of the rows. */
  get records(): readonly Readonly<Record<string, string>>[] {
    // fill().map(): as fast as a loop (Array.from({ length }) is not).
    return (this.#records ??= Array<0>(this.#rows()).fill(0).map((_, index) => {
      const record: Record<string, string> = {};
      for (const name of this.columns) {
        const value = this.#properties.get(name)?.[index];
        if (value !== undefined) record[name] = value;
      }
      return record;
    }));
  }

  /**
   * A plain view for logs and snapshots: the fields above, with secret columns masked and the
   * secrets of the request masked where a record echoes them, without `cause` (an error may hold
   * anything) and without the raw text.
   */
  toJSON(): Record<string, unknown> {
    // The own fields (no getters, no private fields).
    return {
      ...(this as object),
      cause: undefined,
      records: this.records.map((record) => Object.fromEntries(Object.entries(record).map(([name, value]) => [name, isSecretName(name) ? MASK : this.#unecho?.(value) ?? value]))),
      command: this.command,
    };
  }

  /** The number of rows: the longest column. */
  #rows(): number {
    let rows = 0;
    for (const name of this.columns) rows = Math.max(rows, this.#properties.get(name)?.length ?? 0);
    return rows;
  }

  #paginate(): Pagination {
    const property = (name: string): number | undefined => {
      // The map itself, not property(): a subclass may override that, and its fields do not exist yet.
      const text: unknown = this.#properties.get(name)?.[0];
      // undefined reads as "undefined": no integer.
      return /^-?\d{1,15}$/.test(text as string) ? +(text as string) : undefined;
    };
    const first = property('FIRST') ?? 0;
    const count = property('COUNT') ?? this.#rows();
    const last = property('LAST') ?? first + count - 1;
    const limit = property('LIMIT');
    const total = property('TOTAL');
    // Undefined unless positive (undefined compares false, as below).
    const pageSize = (limit as unknown as number) > 0 ? limit : undefined;
    const nextFirst = last + 1;
    const hasNext = this.isSuccess() && nextFirst < (total as unknown as number) && !((limit as unknown as number) <= 0) && nextFirst > first;
    return {
      first,
      last,
      count,
      limit,
      total,
      page: pageSize && Math.floor(first / pageSize) + 1,
      pages: total === undefined ? undefined : pageSize && Math.ceil(total / pageSize),
      hasNext,
      nextFirst: hasNext ? nextFirst : undefined,
    };
  }
}
