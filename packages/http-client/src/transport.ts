import { Agent, Pool } from 'undici';

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

/** How the keep-alive pool of a client is set up. */
export interface PoolSettings {
  /** A bounded pool with long-lived connections (`highPerformance`), or undici's defaults. */
  highPerformance: boolean;
  /** Connections at most; undefined for no bound. */
  connections: number | undefined;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  tls: TlsOptions;
}

/** Idle keep-alive connections live this long in high-performance mode (bounded by the server's own hint). */
export const HIGH_PERFORMANCE_KEEP_ALIVE_MS = 60_000;

function connectOptions(settings: PoolSettings): Record<string, unknown> {
  const { ca, cert, key, passphrase, servername, minVersion } = settings.tls;
  const connect: Record<string, unknown> = { timeout: settings.connectTimeoutMs };
  if (ca !== undefined) connect.ca = typeof ca === 'string' || Buffer.isBuffer(ca) ? ca : [...ca];
  if (cert !== undefined) connect.cert = cert;
  if (key !== undefined) connect.key = key;
  if (passphrase !== undefined) connect.passphrase = passphrase;
  if (servername !== undefined) connect.servername = servername;
  connect.minVersion = minVersion ?? 'TLSv1.2';
  return connect;
}

/** One undici Pool for one origin: the command client's keep-alive connections. */
export function createPool(origin: string, settings: PoolSettings): Pool {
  return new Pool(origin, {
    connections: settings.connections ?? null,
    pipelining: 1,
    keepAliveTimeout: settings.highPerformance ? HIGH_PERFORMANCE_KEEP_ALIVE_MS : 4000,
    keepAliveMaxTimeout: settings.highPerformance ? 10 * HIGH_PERFORMANCE_KEEP_ALIVE_MS : 600_000,
    headersTimeout: settings.responseTimeoutMs,
    bodyTimeout: settings.responseTimeoutMs,
    connect: connectOptions(settings),
  });
}

/** An undici Agent (any origin) with the same settings, for the REST client. */
export function createAgent(settings: PoolSettings): Agent {
  return new Agent({
    connections: settings.connections ?? null,
    pipelining: 1,
    keepAliveTimeout: settings.highPerformance ? HIGH_PERFORMANCE_KEEP_ALIVE_MS : 4000,
    keepAliveMaxTimeout: settings.highPerformance ? 10 * HIGH_PERFORMANCE_KEEP_ALIVE_MS : 600_000,
    headersTimeout: settings.responseTimeoutMs,
    bodyTimeout: settings.responseTimeoutMs,
    connect: connectOptions(settings),
  });
}

// Errors raised before a single byte of the request could reach the server.
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

// Certificate problems: retrying cannot help.
const PERMANENT = /^(?:ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(?:_LOCALLY)?|CERT_[A-Z_]+|ERR_SSL_[A-Z_]+|ERR_TLS_[A-Z_]+)$/;

/** How a transport error bears on retrying. */
export interface ErrorClass {
  /** The request certainly did not reach the server: any command may be retried. */
  notSent: boolean;
  /** Retrying cannot help (a certificate the client does not trust, say). */
  permanent: boolean;
  /** The error's code, such as `ECONNREFUSED` or `UND_ERR_HEADERS_TIMEOUT`. */
  code: string | undefined;
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (error as { cause?: unknown }).cause;
  return cause === error ? undefined : codeOf(cause);
}

/** Classify a transport error. */
export function classifyError(error: unknown): ErrorClass {
  const code = codeOf(error);
  if (code === undefined) return { notSent: false, permanent: false, code };
  return { notSent: NOT_SENT.has(code), permanent: PERMANENT.test(code), code };
}
