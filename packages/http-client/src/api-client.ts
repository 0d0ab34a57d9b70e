import type { Session } from '@sessionkit/core-session';
import type { Logger } from '@sessionkit/logger';
import type * as Ky from 'ky';
import type { HTTPError, KyInstance, NormalizedOptions, Options as KyOptions, RetryOptions as KyRetryOptions } from 'ky';
import type { Dispatcher } from 'undici';
import { AuthError, silentLogger, StoreError } from './dependencies.js';
import { errorSummary, redactUrl } from './redaction.js';
import { HttpClientError, invalidArgument } from './http-client-error.js';
import { loggerOption, logSafely } from './log-safely.js';
import { type ConnectionOptions, dispatcherFactory, endpointUrl, load, optionsOf, wholeNumber } from './transport.js';

/** The part of a core-session `Session` the REST client uses. */
export type ApiSession = Pick<Session, 'authorization' | 'invalidate'>;

/**
 * Options of {@link createApiClient}. `highPerformance`, `ca` and `tls` give the client its own
 * undici Agent (the same options as the command client's); without them it uses fetch's global one.
 * An option given as null counts as not given, and so do options given as null as a whole (which
 * then lack `baseUrl`); options that are not an object are `INVALID_ARGUMENT`.
 */
export interface ApiClientOptions extends ConnectionOptions {
  /**
   * Base URL; request paths are relative to it (`api.get('v1/whoami')`). Without a query or fragment
   * (`?` or `#`, even empty): ky appends the path to it as text, so it would end up in them
   * (`INVALID_ARGUMENT`); give a query per request (`searchParams`).
   */
  baseUrl: string | URL;
  /**
   * Gives the `Authorization` header of every request, and drops a token the API refused. Required:
   * without `authorization()` and `invalidate()` it is `INVALID_ARGUMENT` when the client is built.
   */
  session: ApiSession;
  /**
   * Where every attempt (first, retry, replay) and every 401 replay are logged, redacted. What it
   * throws is ignored: it never changes a request's outcome. @default silentLogger
   */
  logger?: Logger | undefined;
  /**
   * ky's retry: a limit (a whole number from 0 to 2147483647, else `INVALID_ARGUMENT`) or ky's
   * options. ky honours `Retry-After` on the statuses of `afterStatusCodes` (413, 429 and 503 by
   * default) up to `maxRetryAfter` (null counts as not given): an `HTTPError` there whose
   * `Retry-After` (seconds, or a date as `Date.parse` reads it) is longer is not retried; any other
   * failure (a 500 or 502 whatever its `Retry-After`, a network error) is retried as ky does. Not
   * refused, but waited at most `maxRetryAfter`: a `Retry-After` that is a Unix time, and the
   * `RateLimit-Reset`, `X-RateLimit-Retry-After`, `X-RateLimit-Reset` and `X-Rate-Limit-Reset`
   * that ky (1.14) reads when there is no `Retry-After`. A failure to get the authorization (an
   * `AuthError`, or a `StoreError` of the Session's store) is never retried here: the Session has
   * retried what it can, and waited for its store's lock. A request's or
   * `extend()`'s `retry` is laid over this one (a count replaces it) but keeps both: its
   * `maxRetryAfter` can lower the cap, not raise it, and its `shouldRetry` decides about the other
   * failures only.
   * @default { limit: 2, maxRetryAfter: 60000 }, under what is given (a count alone keeps the cap)
   */
  retry?: number | KyRetryOptions | undefined;
  /** An undici dispatcher to use instead of one of the client's own (to share a pool). */
  dispatcher?: Dispatcher | undefined;
  /**
   * ky's timeout of each try (the first and each retry): whole milliseconds from 1 to 2147483647
   * (else `INVALID_ARGUMENT`). One timer covers the whole try, until the response's headers: the
   * wait for the authorization, the request and, after a 401, the new authorization and the
   * replay. Reading the body is not covered (with its own pool, highPerformance, ca or tls, the
   * client's connections time out a body that stalls as long). @default 30000
   */
  timeoutMs?: number | undefined;
  /** Headers sent with every request. */
  headers?: Record<string, string> | undefined;
  /**
   * ky hooks. The client sets the authorization when the request is sent, after every `beforeRequest`
   * hook. Its own `beforeRequest` hook, which puts the guards of `retry` on every request's retry
   * options, and its own `beforeError` hook, which redacts the URL in the message and in what the
   * error prints, run before these.
   */
  hooks?: KyOptions['hooks'];
}

/**
 * Makes `util.inspect()` (so `console.error()`) and `JSON.stringify()` show `target` without the
 * URL's secrets. They showed an error's own properties, which keep them as sent (`request.url`,
 * `response.url`, `options.searchParams`): now inspect shows `head()` then `view()`, and
 * JSON.stringify `json()`, made of the redacted message and URL. Not enumerable, as `message` and
 * `stack` are not; configurable, so that a Request that a hook of the caller's hands ky again
 * can get them again.
 */
const printing = new WeakSet<object>();
const printRedacted = (target: object, head: () => unknown, view: () => object, json = view): void => {
  Object.defineProperties(target, {
    // With the depth left, `[Circular]` inside itself (a cause that is the error itself), and the
    // head alone if the view cannot be made (a getter a hook added throws): printing an error must
    // not throw.
    [Symbol.for('nodejs.util.inspect.custom')]: {
      value: (depth: number | null, options: object, inspect: (value: object, options: object) => string): string => {
        if (printing.has(target)) return '[Circular]';
        printing.add(target);
        try {
          return `${head() as string} ${inspect(view(), { ...options, depth })}`;
        } catch {
          return String(head());
        } finally {
          printing.delete(target);
        }
      },
      configurable: true,
    },
    toJSON: { value: json, configurable: true },
  });
};

/**
 * What a 401's `WWW-Authenticate` says of the token (RFC 6750 section 3.1): `invalid` for a Bearer
 * challenge with `error="invalid_token"`; `maybe` for none, or a Bearer one without an error;
 * undefined when it is not about the token (another scheme's challenge alone, another Bearer error).
 */
const tokenVerdict = (challenge: string | null): 'invalid' | 'maybe' | undefined => {
  if (!challenge) return 'maybe';
  let scheme = '';
  let bearer = false;
  let error: string | undefined;
  // Read in order: a name alone is a scheme (or a token68), a name = value an auth-param of the
  // scheme before it; a quoted value is read whole (a realm may hold commas, `Bearer` or `error=`).
  for (const [, name = '', value] of challenge.matchAll(/([^\s,="]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*))?/g)) {
    if (value === undefined) {
      scheme = name.toLowerCase();
      if (scheme === 'bearer') bearer = true;
    } else if (scheme === 'bearer' && name.toLowerCase() === 'error') error = value.replace(/^"|"$/g, '');
  }
  return !bearer ? undefined : !error ? 'maybe' : error.toLowerCase() === 'invalid_token' ? 'invalid' : undefined;
};

/**
 * A ky instance for a bearer-protected JSON API: every request carries
 * `await session.authorization()`, and one to another origin than the `baseUrl`'s (a `URL` or
 * `Request` pointing elsewhere) is refused with `INVALID_ARGUMENT`; a 401 from the `baseUrl`'s origin (not one from another origin
 * a redirect led to, nor one whose `WWW-Authenticate` challenges only another scheme or names a
 * Bearer error other than `invalid_token`) makes it call `session.invalidate()` with the refused
 * credentials and replay the request once with a fresh token (never more: the replay's 401 is
 * returned, and its token kept unless its challenge says `invalid_token`); 413/429/503 are
 * retried after `Retry-After` (one longer than `retry.maxRetryAfter` is not retried), a failed
 * login (an `AuthError`) never: the Session has retried it;
 * every request is logged at debug level (redacted). The URL in the message (and stack) of ky's
 * `HTTPError` and `TimeoutError` is redacted the same way (a URL percent-encoded in a query value
 * too), and so is what `console.error()` (`util.inspect()`) and `JSON.stringify()` show of them
 * (an `HTTPError`'s name, message, stack, status, method and URL; a `TimeoutError`'s request's
 * method and URL); `error.request.url` is the URL as sent, and `error.options` as given. A client
 * made by `create()` is a plain ky instance (no session, no redaction), and a request whose options
 * drop the hooks (`beforeError: undefined`) drops the redaction hook with them; one that drops the `beforeRequest` hooks keeps the client's
 * own retry options (the cap, which ky then waits out at most, and the AuthError guard), unless
 * its `retry` replaces them. A request's or
 * `extend()`'s `fetch` is `INVALID_ARGUMENT`: it would replace the client's own, and with it the
 * authorization. A caller's `signal` ends the request at once, while the Session gets a token too.
 *
 * @example
 * const api = createApiClient({ baseUrl: 'https://api.example.com/', session });
 * const me = await api.get('v1/whoami').json<{ identity: string }>();
 */
export function createApiClient(options: ApiClientOptions): KyInstance {
  options = optionsOf(options);
  const baseUrl = endpointUrl('baseUrl', options.baseUrl);
  // ky appends each request's path to it as text: after a query or fragment (even an empty one,
  // `?` alone) the path would end up in it.
  if (/[?#]/.test(baseUrl.href)) throw invalidArgument('baseUrl must have no query or fragment.');
  const session = options.session;
  // Plain JavaScript: without this check every request would fail with a TypeError.
  if (typeof (session as Partial<ApiSession> | undefined)?.authorization !== 'function' || typeof session.invalidate !== 'function') {
    throw invalidArgument('session must have authorization() and invalidate().');
  }
  const logger = loggerOption(options.logger) ?? silentLogger;
  // From 1: ky's timer would end every request at 0.
  const timeoutMs = wholeNumber('timeoutMs', options.timeoutMs, 30_000, 1);
  // Its own Agent with highPerformance, ca or tls; as everywhere, an option given as null counts as not given.
  const dispatcher = options.dispatcher ?? (options.highPerformance || options.ca || options.tls ? dispatcherFactory('', options, timeoutMs, 10_000)() : undefined);

  // ky's signal for each Request it hands to fetch, from the client's beforeRequest hook (see send).
  const signals = new WeakMap<Request, AbortSignal | null | undefined>();

  // One attempt with a fresh authorization, logged (redacted) when it is over; the authorization is
  // dropped when the API refuses it (401), after the entry. The first attempt of a request is given
  // `again`, what is sent once more after such a 401 (see send); a replay is not.
  const attempt = async (request: Request, init: RequestInit | undefined, signal: AbortSignal, again?: Request): Promise<Response> => {
    // The token is for the API's origin only. ky prefixes string paths with baseUrl, but sends a URL
    // or Request (a `next` link, `new URL(...)`) or one a hook made wherever it points.
    // (A URL's text starts with its origin and a slash, as the 401 check below reads it: no parse per request.)
    if (!request.url.startsWith(`${baseUrl.origin}/`)) throw invalidArgument(`A request to ${new URL(request.url).origin} is not sent: the client's token is for ${baseUrl.origin} only.`);
    // `signal` is the caller's and ky's timeout in one: either ends the wait for the token at once
    // (the caller's abort with its reason; the timeout with ky's TimeoutError, which ky rejects
    // with first), and the listener goes when the wait is over.
    let stop!: () => void;
    const authorization = await new Promise<string>((resolve, reject) => {
      signal.throwIfAborted();
      signal.addEventListener('abort', (stop = () => {
        reject(signal.reason as Error);
      }));
      session.authorization().then(resolve, reject);
    }).finally(() => {
      signal.removeEventListener('abort', stop);
    });
    // Sent with a copy of the headers, not set on ky's Request: that one is the `request` of a
    // TimeoutError, which util.inspect (console.error) prints with its headers.
    const headers = new Headers(request.headers);
    try {
      headers.set('authorization', authorization);
    } catch {
      // A CR, LF or NUL, or a character beyond Latin-1: the TypeError would quote the token. An
      // AuthError, which ky does not retry, without it.
      throw new AuthError('INVALID_RESPONSE', 'authorization must be Latin-1 without control characters.');
    }
    const started = performance.now();
    // Set by the try or the catch before the finally reads it.
    let outcome!: { status?: number; error?: unknown };
    let response: Response;
    // Undefined (no) until there is a response.
    let refused: 'invalid' | 'maybe' | undefined;
    try {
      // The client's dispatcher goes here, not in ky's options, which every HTTPError carries
      // (error.options): that of mutual TLS holds the private key and its passphrase.
      response = await fetch(request, { dispatcher, ...init, headers, signal } as RequestInit);
      outcome = { status: response.status };
      // A 401 refuses the token only from the API's origin (the response's url is where it came from,
      // after redirects): after a redirect to another origin, fetch sent none (it drops the
      // authorization there), so that origin's 401 is left to the caller, and the token kept. Nor
      // when its challenge says the token is not the problem (RFC 6750 section 3.1): another scheme's
      // alone (a gateway's Basic in front of the API), or a Bearer error other than invalid_token (invalid_request): a new
      // token would be refused the same way. No challenge, or one without an error, may be the token's.
      refused = response.status === 401 && response.url.startsWith(`${baseUrl.origin}/`) ? tokenVerdict(response.headers.get('www-authenticate')) : undefined;
    } catch (error) {
      outcome = { error: errorSummary(error) };
      throw error;
    } finally {
      // What the logger throws changes nothing: the token the API refused is dropped all the same.
      logSafely(() => {
        if (logger.isLevelEnabled('debug')) {
          logger.debug('rest request', { method: request.method, url: redactUrl(request.url), ...outcome, durationMs: Math.round((performance.now() - started) * 1000) / 1000 });
        }
      });
      // The replay's only when its challenge says invalid_token: a token fetched for it and refused
      // at once without saying so may have been refused for another reason (dropping it too cost two
      // logins per request of an API that refuses every one).
      if (again ? refused : refused === 'invalid') session.invalidate(authorization);
    }
    // The replay's own attempt: its response as it is.
    if (!again) return response;
    if (refused) {
      logSafely(() => {
        logger.debug('rest 401: token invalidated, replaying once', { method: request.method, url: redactUrl(request.url) });
      });
    }
    // The body not needed: the refused response's, or else the copy's (without a body, `again` is
    // `request` itself, and this does nothing).
    void (refused ? response : again).body?.cancel().catch(() => undefined);
    // The 401 of the replay is left to the caller.
    return refused ? attempt(again, init, signal) : response;
  };

  // The authorization and the 401 replay happen here, inside ky's fetch, rather than in hooks: ky
  // clones every response (a tee of its body stream) for each afterResponse hook, which cost more
  // than a tenth of the throughput. A request with a body is cloned before it is sent, so that it
  // can be sent again; one without a body is simply sent again.
  const send = async (input: Request, init?: RequestInit): Promise<Response> => {
    // ky's signal (the caller's and ky's timeout in one) goes to fetch itself. undici's fetch
    // follows a Request's signal through a weak reference to the Request's AbortController, and a
    // copy's (the replay's, a retry's) through the original's too; ky lets go of them once the
    // headers are in, so a garbage collection while the body is read would lose the abort. The
    // Request's own signal when a hook of the caller's replaced the Request, when the hooks were
    // dropped, and on a retry after ky's timeout (see the beforeRequest hook).
    const signal = signals.get(input) ?? input.signal;
    // ky's TimeoutError does not go through the beforeError hooks: its message (and so its stack)
    // is made from this Request's url, in the same turn as ky aborts the request's signal, right
    // after. So on the abort the url reads redacted (as in the log), for that turn only: from the
    // next microtask on it is the Request's own again, so error.request.url keeps the URL as sent.
    // A caller's abort makes no error with the URL and changes nothing either. Where fetch gets the
    // Request's own signal (above), this listener, which holds the Request, is what keeps the abort
    // reaching the body: without it a garbage collection while the body is read loses the abort.
    // The Request is then also the `request` of the TimeoutError: printed redacted, from then on.
    input.signal.addEventListener('abort', () => {
      Object.defineProperty(input, 'url', { value: redactUrl(input.url), configurable: true });
      queueMicrotask(() => delete (input as { url?: string }).url);
      printRedacted(input, () => 'Request', () => ({ method: input.method, url: redactUrl(input.url) }));
    });
    return attempt(input, init, signal, input.body ? input.clone() : input);
  };

  // ky's defaults stay for what the caller leaves out (a limit of 2). The limit, given as a count
  // or in the object form, is checked and set by guard() below, as are a request's. The cap on
  // Retry-After is the number given, else 60 s (null counts as not given, as everywhere).
  const retry = (typeof options.retry === 'object' ? { ...options.retry } : { limit: options.retry }) as KyRetryOptions;
  const max = retry.maxRetryAfter ?? 60_000;
  // Puts the cap (a lower number given stays) and the guards on retry options: the client's own, so
  // that they stay for a request that drops the hooks, and, with `request`, those ky uses for a
  // request (see the beforeRequest hook). A failed login (an AuthError: the Session has retried it)
  // is never retried, nor the Session's store failing (a StoreError: a lock held too long, waited
  // for again at every try), nor a request refused here (an HttpClientError, such as one to another origin); with `request`, nor is an HTTPError ky would wait on longer than the cap: ky's
  // own condition (a status in afterStatusCodes, ky's HTTPError only: no other error's `response` is
  // read) and its reading of Retry-After: a number of seconds, else a date (`Date.parse`), with no
  // limit; one that is neither is refused too (ky would wait the whole cap for it), no header never.
  // ky (1.14) also reads a number from 2024 on as a Unix time, and RateLimit-Reset and the like
  // when there is no Retry-After: not these (it waits at most the cap for them). The given
  // shouldRetry decides the rest.
  const guard = (given: KyRetryOptions, request?: KyRetryOptions): void => {
    // CommandClient's key, which ky ignores: the default two retries went on.
    if ('retries' in given) throw invalidArgument("retry is ky's: { limit }, not retries (CommandClient's option).");
    // The limit checked as a count (ky retried a limit of NaN without end). The minimum passed, 0,
    // is set as the limit meanwhile, so that ky does not retry a request refused for it (the hook
    // that checks runs before the first try only).
    given.limit = wholeNumber('retry', given.limit, 2, (given.limit = 0));
    const own = given.shouldRetry;
    const cap = (given.maxRetryAfter = Math.min(given.maxRetryAfter ?? max, max));
    given.shouldRetry = (state, error = state.error, header = error instanceof (load('ky') as typeof Ky).HTTPError && request?.afterStatusCodes?.includes(error.response.status) && error.response.headers.get('retry-after')) => {
      // Read as ky reads it: a number of seconds, else an HTTP date. A number from 2024 on
      // (1704067200 s) is a Unix time to ky: not refused (ky waits for it, at most the cap). Refused:
      // a wait over the cap, and a header neither reads (ky would wait the whole cap for it).
      const seconds = +(header as string);
      // (`Infinity` is neither: ky would wait the whole cap for it.)
      const wait = Number.isFinite(seconds) ? (seconds < 1704067200 ? seconds * 1000 : 0) : Date.parse(header as string) - Date.now();
      return !(AuthError.isInstance(error) || StoreError.isInstance(error) || HttpClientError.isInstance(error) || (header && !(wait <= cap))) && own?.(state);
    };
  };
  guard(retry);
  // ky is loaded here, by the first client, not with this package: its module builds a Request,
  // which makes Node load its own fetch (most of ky's ~60 ms import). ky hands options it does not
  // know to fetch (the dispatcher goes in attempt), and leaves out headers and hooks that are
  // undefined (null ones would throw).
  return (load('ky') as typeof Ky).default.create({
    prefixUrl: baseUrl.href,
    retry,
    timeout: timeoutMs,
    fetch: send,
    headers: options.headers ?? undefined,
    hooks: {
      ...options.hooks,
      // First, before any hook of the caller's. ky merges a request's or extend()'s `retry` over
      // the client's, and a count replaces it whole (ky's defaults: no cap, no guard), as a
      // shouldRetry replaces the client's: so the cap and the guards go again on the retry options
      // ky will use, the live object it hands to this hook, once, before the first try (and so
      // before any wait for a retry, unlike a beforeRetry hook). A request or extend() whose
      // `fetch` replaces the client's would send without the authorization and the 401 replay:
      // refused, at once, and not retried (a limit of 0).
      beforeRequest: [
        (request: Request, { retry: given, fetch, signal }: NormalizedOptions & { fetch?: unknown }, state: { retryCount: number }) => {
          // Not an aborted one: on a retry after ky's timeout, ky hands the hooks the signal of the
          // try that timed out (its options are cached), while the Request follows a fresh one.
          if (!signal?.aborted) signals.set(request, signal);
          if (!state.retryCount) guard(given, given);
          if (fetch !== send) {
            given.limit = 0;
            throw invalidArgument('fetch cannot be replaced.');
          }
        },
        ...(options.hooks?.beforeRequest ?? []),
      ],
      // ky's HTTPError has the request's URL in its message: redacted as in the log (a secret query
      // field the caller put in the path or searchParams), and first, so that the caller's own hooks
      // (these, then those of extend() and of each request) get it redacted too. The URL as sent stays
      // in error.request.url.
      beforeError: [
        (error: HTTPError) => {
          // V8 writes the stack (which starts with the message) when it is first read, which
          // nothing does before this hook: it will show this message.
          error.message = redactUrl(error.message);
          // Printed: the name, message and stack, what hooks added (a parsed body, a code; as it
          // is) and a cause, the status, method and URL (redacted); not the request, response and
          // options, which may be gone by then (a hook of the caller's can delete them). In JSON a
          // cause that is an Error is its name and message: one that is the error itself, or whose
          // cause is this error, would otherwise be written for ever.
          const view = (): Record<string, unknown> => {
            const { request, response, options: _options, name: _name, ...added } = error as Partial<HTTPError>;
            return {
              ...added,
              ...('cause' in error && { cause: error.cause }),
              ...(response && { status: response.status }),
              ...(request && { method: request.method, url: redactUrl(request.url) }),
            };
          };
          printRedacted(error, () => error.stack, view, () => {
            const { cause, ...rest } = view();
            return { name: error.name, message: error.message, stack: error.stack, ...rest, ...(cause instanceof Error ? { cause: { name: cause.name, message: cause.message } } : cause !== undefined && { cause }) };
          });
          return error;
        },
        ...(options.hooks?.beforeError ?? []),
      ],
    },
  } as KyOptions);
}
