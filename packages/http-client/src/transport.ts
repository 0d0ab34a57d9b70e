import type * as Undici from 'undici';
import { isSecretName } from './command-response.js';
import { isCertificateError } from './dependencies.js';
import { invalidArgument } from './http-client-error.js';
import { redactUrl } from './redaction.js';

/**
 * Loads a dependency when it is first needed rather than with this package (undici alone takes
 * longer to import than the 50 ms budget of the whole package). `require()` is synchronous, so
 * clients stay synchronous to create; Node 20.19+ loads ES modules (ky) this way too.
 */
export const load = (id: string): unknown => {
  return (requireHere ??= process.getBuiltinModule('node:module').createRequire(import.meta.url))(id);
};
let requireHere: NodeJS.Require | undefined;

/** TLS settings for the connections. There is no option to turn certificate checks off. */
export interface TlsOptions {
  /** Certificates to trust (PEM), for example a sandbox's self-signed certificate. Replaces the default roots. */
  ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /** A client certificate (PEM), for mutual TLS. */
  cert?: string | Buffer | undefined;
  /** The client certificate's private key (PEM). */
  key?: string | Buffer | undefined;
  /** The key's passphrase. */
  passphrase?: string | undefined;
  /** The server name for SNI and certificate checks, when it differs from the URL's host. */
  servername?: string | undefined;
  /** The lowest TLS version accepted. @default 'TLSv1.2' */
  minVersion?: 'TLSv1.2' | 'TLSv1.3' | undefined;
}

/** The connection options the command client and the REST client share. */
export interface ConnectionOptions {
  /**
   * One keep-alive pool of bounded size for this client, with idle connections kept for 60 s.
   * Without it, connections are still reused but closed after 4 s idle, and not bounded. A
   * server's `Keep-Alive: timeout=N` overrides either: N - 2 s, at most 10 minutes.
   * `connections` is a whole number from 1 to 2147483647 (else `INVALID_ARGUMENT`).
   * @default false ({ connections: 16 } when true)
   */
  highPerformance?: boolean | { connections?: number | undefined } | undefined;
  /** Certificates to trust (PEM), such as `sandbox.certificate`. Shorthand for `tls.ca`. */
  ca?: TlsOptions['ca'];
  /** TLS settings of the connections. */
  tls?: TlsOptions | undefined;
}

/**
 * `value` as an http: or https: URL without credentials: no user name or password, and no secret
 * field (`s_pw`, `s_session`, `s_otp`, `password`, ...) in its query, where `response.url` and
 * the logs would show it. `INVALID_ARGUMENT` naming the option `name` otherwise; the message
 * never repeats the URL.
 */
export const endpointUrl = (name: string, value: string | URL): URL => {
  const url = URL.parse(String(value));
  // A query field the REST client masks in its URLs (`?api_key=`, `?access_token=`) too: this URL is logged as it is.
  if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password || [...url.searchParams.keys()].some(isSecretName) || redactUrl(url.search) !== url.search) {
    throw invalidArgument(`${name} must be an http: or https: URL without credentials or secret query fields (they go in options).`);
  }
  return url;
};

/**
 * The options argument of a public entry: `{}` for none, undefined or null (plain JavaScript),
 * as an option given as null counts as not given; anything else but an object is
 * `INVALID_ARGUMENT`. The required options (`baseUrl`, `session`, `credentials`) are checked
 * where they are used.
 */
export const optionsOf = <T,>(options: T | null | undefined): T => {
  const given = options ?? ({} as T);
  if (typeof given !== 'object') throw invalidArgument(`options must be an object, not ${typeof given}.`);
  return given;
};

/**
 * `value` (or `fallback` when it is undefined) if it is a whole number from `min` to 2147483647,
 * the longest timer Node keeps (a longer one fires after 1 ms; undici's pool takes whole
 * milliseconds only); else `INVALID_ARGUMENT` naming the option.
 */
export const wholeNumber = (name: string, value: number | undefined, fallback: number, min = 0): number => {
  const number = value ?? fallback;
  if (!(Number.isInteger(number) && number >= min && number < 2 ** 31)) {
    // Not a number: only its type (a string given by mistake may be a secret).
    throw invalidArgument(`${name} must be a whole number from ${min} to 2147483647, not ${typeof number == 'number' ? number : typeof number}.`);
  }
  return number;
};

/**
 * Checks the options and returns what makes the keep-alive pool of a client: an undici Pool for
 * one origin (the command client), or an Agent for any origin (the REST client, `''`), with the same
 * settings. undici is loaded when the pool is made.
 */
export const dispatcherFactory = (origin: string, options: ConnectionOptions, responseTimeoutMs: number, connectTimeoutMs: number, maxResponseSize = -1): () => Undici.Dispatcher => {
  // true or an object: a bounded pool; false, null or undefined: none.
  const highPerformance = options.highPerformance;
  // Only the documented TLS settings are passed on, so that nothing can turn certificate checks off.
  const { cert, key, passphrase, servername, minVersion = 'TLSv1.2' } = options.tls ?? {};
  const ca = (options.ca ?? options.tls?.ca) as string | Buffer | (string | Buffer)[] | undefined;
  // A file's path for its contents (NODE_EXTRA_CA_CERTS takes a path): Node's TLS skips what is not
  // PEM, so nothing would be trusted and every connection would fail as untrusted. Bytes are read as
  // text, a Uint8Array's too (TLS takes one; String() wrote its numbers).
  for (const pem of [ca ?? []].flat() as unknown[]) if (!String(ArrayBuffer.isView(pem) ? Buffer.from(pem.buffer, pem.byteOffset, pem.byteLength) : pem).includes('-----BEGIN')) throw invalidArgument('ca must be PEM text (-----BEGIN CERTIFICATE-----), not a file path: readFileSync(path, "utf8").');
  // undici's defaults for the rest: one request at a time per connection (no pipelining), idle
  // connections kept at most 10 minutes whatever the server's keep-alive hint says.
  const settings: Undici.Pool.Options = {
    // `true.connections` is undefined: the default.
    connections: highPerformance ? wholeNumber('highPerformance.connections', (highPerformance as { connections?: number }).connections, 16, 1) : null,
    keepAliveTimeout: highPerformance ? 60_000 : 4000,
    headersTimeout: responseTimeoutMs,
    bodyTimeout: responseTimeoutMs,
    connect: { timeout: connectTimeoutMs, ca, cert, key, passphrase, servername, minVersion },
    // The body bytes read at most (-1: no limit); past it the request fails with
    // UND_ERR_RES_EXCEEDED_MAX_SIZE and the connection is closed.
    maxResponseSize,
  };
  return () => {
    const { Agent, Pool } = load('undici') as typeof Undici;
    return origin ? new Pool(origin, settings) : new Agent(settings);
  };
};

/** The code of an error or of the first of its causes that has one, such as `ECONNREFUSED`. */
export const errorCode = (error: unknown): string | undefined => {
  if (!error || typeof error !== 'object') return undefined;
  const { code, cause } = error as { code?: unknown; cause?: unknown };
  if (typeof code === 'string') return code;
  return cause === error ? undefined : errorCode(cause);
};

/**
 * Whether a request that failed with this transport error may be sent again: never after a
 * certificate or TLS error or an argument undici or Node refused (retrying cannot help); a read-only
 * command always, any other command only when the error proves that the request never reached
 * the server.
 */
export const isRetryableError = (error: unknown, readOnly: boolean): boolean => {
  const code = errorCode(error);
  // First certificate and TLS problems, arguments undici or Node's TLS refuses (a `ca` of the wrong
  // type: ERR_INVALID_ARG_TYPE; the request was never sent), and an
  // answer over the size limit or longer than the longest string Node makes (it would be as large
  // again): retrying cannot help. Then errors raised before a single byte of the request could reach the
  // server (none, undefined, is read as "undefined" by test(), which the pattern does not match).
  return !(isCertificateError(code) || /^(UND_ERR_(INVALID_ARG|RES_EXCEEDED)|ERR_(STRING_TOO_LONG|INVALID_ARG))/.test(code as unknown as string)) &&
    (readOnly || /^(E(CONNREFUSED|NOTFOUND|AI_AGAIN|HOSTUNREACH|NETUNREACH|ADDRNOTAVAIL)|UND_ERR_CONNECT_TIMEOUT)$/.test(code as unknown as string));
};
