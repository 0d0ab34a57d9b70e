const marker = Symbol.for('@sessionkit/http-client.error');

/** What a caller did wrong (API results and transport failures are responses, never errors). */
export type HttpClientErrorCode =
  /** A command or option the client cannot send: no COMMAND, a key with `=`, an object as a value, a bad URL. */
  | 'INVALID_ARGUMENT'
  /** The caller's AbortSignal fired; `cause` is its reason. */
  | 'ABORTED'
  /** The client was closed. */
  | 'CLOSED'
  /** The call does not fit the client's setup, such as `login()` on a client whose sessions a core-session `Session` manages. */
  | 'INVALID_STATE';

/** Options of {@link HttpClientError}. */
export interface HttpClientErrorOptions {
  cause?: unknown;
}

/** The one error type of `@sessionkit/http-client`. Its message never holds a secret. */
export class HttpClientError extends Error {
  override readonly name = 'HttpClientError' as const;
  declare readonly code: HttpClientErrorCode;

  constructor(code: HttpClientErrorCode, message: string, options?: HttpClientErrorOptions) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, marker, { value: true });
  }

  /** True for an HttpClientError from any copy of this package. */
  static isInstance(value: unknown): value is HttpClientError {
    return (value as Partial<Record<symbol, unknown>> | null | undefined)?.[marker] === true;
  }
}

/** An `INVALID_ARGUMENT` error: a command or option the client cannot send. */
export const invalidArgument = (message: string): HttpClientError => {
  return new HttpClientError('INVALID_ARGUMENT', message);
};
