import { performance } from 'node:perf_hooks';
import type { Session } from '@sessionkit/core-session';
import { type Logger, silentLogger } from '@sessionkit/logger';
import ky, { type KyInstance, type Options as KyOptions, type RetryOptions as KyRetryOptions } from 'ky';
import type { Dispatcher } from 'undici';
import { HttpClientError } from './http-client-error.js';
import { redactText } from './redaction.js';
import { createAgent, type TlsOptions } from './transport.js';

/** The part of a core-session `Session` the REST client uses. */
export type ApiSession = Pick<Session, 'authorization' | 'invalidate'>;

/** Options of {@link createApiClient}. */
export interface ApiClientOptions {
  /** Base URL; request paths are relative to it (`api.get('v1/whoami')`). */
  baseUrl: string | URL;
  /** Gives the `Authorization` header of every request, and drops a token the API refused. */
  session: ApiSession;
  /** Where requests, retries and replays are logged (redacted). @default silentLogger */
  logger?: Logger | undefined;
  /** ky's retry: a limit or options. It honours `Retry-After` on 413, 429 and 503. @default { limit: 2, maxRetryAfter: 60000 } */
  retry?: number | KyRetryOptions | undefined;
  /**
   * One keep-alive undici Agent of bounded size for this client, with idle connections kept
   * 60 s (the same option as the command client's). @default false
   */
  highPerformance?: boolean | { connections?: number | undefined } | undefined;
  /** Certificates to trust (PEM), such as `sandbox.certificate`. Shorthand for `tls.ca`. */
  ca?: TlsOptions['ca'];
  /** TLS settings of the connections. */
  tls?: TlsOptions | undefined;
  /** An undici dispatcher to use instead of one of the client's own (to share a pool). */
  dispatcher?: Dispatcher | undefined;
  /** ky's timeout per attempt, in milliseconds. @default 30000 */
  timeoutMs?: number | undefined;
  /** Headers sent with every request. */
  headers?: Record<string, string> | undefined;
  /** More ky hooks; they run after the client's own. */
  hooks?: KyOptions['hooks'];
}

/**
 * A ky instance for a bearer-protected JSON API: every request carries
 * `await session.authorization()`; a 401 makes it call `session.invalidate()` with the refused
 * credentials and replay the request once with a fresh token (never more); 413/429/503 are
 * retried after `Retry-After`; every request is logged at debug level (redacted).
 *
 * @example
 * const api = createApiClient({ baseUrl: 'https://api.example.com/', session });
 * const me = await api.get('v1/whoami').json<{ identity: string }>();
 */
export function createApiClient(options: ApiClientOptions): KyInstance {
  let baseUrl: URL;
  try {
    baseUrl = new URL(options.baseUrl);
  } catch (error) {
    throw new HttpClientError('INVALID_ARGUMENT', 'baseUrl is not a valid URL.', { cause: error });
  }
  const session = options.session;
  const logger = options.logger ?? silentLogger;
  const highPerformance = options.highPerformance;
  const enabled = highPerformance === true || typeof highPerformance === 'object';
  const tls: TlsOptions = { ...options.tls, ...(options.ca === undefined ? {} : { ca: options.ca }) };
  const needsAgent = enabled || tls.ca !== undefined || tls.cert !== undefined || tls.servername !== undefined;
  const dispatcher =
    options.dispatcher ??
    (needsAgent
      ? createAgent({
          highPerformance: enabled,
          connections: enabled ? (typeof highPerformance === 'object' ? highPerformance.connections : undefined) ?? 16 : undefined,
          connectTimeoutMs: 10_000,
          responseTimeoutMs: options.timeoutMs ?? 30_000,
          tls,
        })
      : undefined);

  const elapsed = (started: number): number => Math.round((performance.now() - started) * 1000) / 1000;
  const fetchOnce = async (input: Request, init: RequestInit | undefined): Promise<Response> => {
    const started = performance.now();
    try {
      const response = await fetch(input, init);
      if (logger.isLevelEnabled('debug')) logger.debug('rest request', { method: input.method, url: redactText(input.url), status: response.status, durationMs: elapsed(started) });
      return response;
    } catch (error) {
      if (logger.isLevelEnabled('debug')) {
        logger.debug('rest request failed', {
          method: input.method,
          url: redactText(input.url),
          durationMs: elapsed(started),
          error: error instanceof Error ? { name: error.name, message: redactText(error.message) } : redactText(String(error)),
        });
      }
      throw error;
    }
  };

  // The 401 replay happens here, inside ky's fetch, rather than in an afterResponse hook: ky
  // clones every response (a tee of its body stream) for each afterResponse hook, which cost
  // more than a tenth of the throughput. A request with a body is cloned before it is sent, so
  // that it can be sent again; one without a body is simply sent again.
  const send = async (input: Request, init?: RequestInit): Promise<Response> => {
    const again = input.body === null ? input : input.clone();
    const response = await fetchOnce(input, init);
    if (response.status !== 401) {
      if (again !== input) void again.body?.cancel().catch(() => undefined);
      return response;
    }
    const refused = input.headers.get('authorization');
    if (refused !== null) session.invalidate(refused);
    logger.debug('rest 401: token invalidated, replaying once', { method: input.method, url: redactText(input.url) });
    void response.body?.cancel().catch(() => undefined);
    again.headers.set('authorization', await session.authorization());
    const replayed = await fetchOnce(again, init);
    if (replayed.status === 401) {
      const refusedAgain = again.headers.get('authorization');
      if (refusedAgain !== null) session.invalidate(refusedAgain);
      logger.debug('rest 401 after a replay: giving up', { method: input.method, url: redactText(input.url) });
    }
    return replayed;
  };

  const kyOptions: KyOptions = {
    prefixUrl: baseUrl.href,
    retry: options.retry ?? { limit: 2, maxRetryAfter: 60_000 },
    timeout: options.timeoutMs ?? 30_000,
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    fetch: send as typeof fetch,
    hooks: {
      beforeRequest: [
        async (request) => {
          request.headers.set('authorization', await session.authorization());
        },
        ...(options.hooks?.beforeRequest ?? []),
      ],
      beforeRetry: [
        ({ request, error, retryCount }) => {
          logger.debug('rest retry', { method: request.method, url: redactText(request.url), retryCount, error: redactText(error.message) });
        },
        ...(options.hooks?.beforeRetry ?? []),
      ],
      afterResponse: [...(options.hooks?.afterResponse ?? [])],
      beforeError: [...(options.hooks?.beforeError ?? [])],
    },
  };
  // ky hands options it does not know to fetch: Node's fetch takes an undici dispatcher (its
  // RequestInit type names Node's bundled undici, hence the untyped record).
  const withDispatcher: Record<string, unknown> = { ...kyOptions, dispatcher };
  const instance: KyInstance = ky.create(dispatcher === undefined ? kyOptions : withDispatcher);
  return instance;
}
