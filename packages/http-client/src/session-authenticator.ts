import type { Authenticator, Token } from '@sessionkit/core-session';
import type { Logger } from '@sessionkit/logger';
import { CommandClient, type CommandClientOptions, type CommandCredentials, loginOf, sessionEnded, startedSession } from './command-client.js';
import type { CommandResponse } from './command-response.js';
import { AuthError } from './dependencies.js';
import { optionsOf } from './transport.js';

/** Options of {@link ispapiSessionAuthenticator}; given as null as a whole, they lack `credentials`. */
export interface IspapiSessionAuthenticatorOptions
  extends Pick<CommandClientOptions, 'system' | 'url' | 'ca' | 'tls' | 'timeoutMs' | 'connectTimeoutMs' | 'userAgent' | 'remoteAddress'> {
  /** The login for StartSession: required, with a login and a password (else `INVALID_ARGUMENT`). */
  credentials: CommandCredentials;
  /** StartSession TIMEOUT: idle seconds until the session expires (60–3600). @default 600 */
  timeoutSeconds?: number | undefined;
  /** StartSession MAXTTL: lifetime in seconds (60–86400). @default 86400 */
  maxTtlSeconds?: number | undefined;
  /** Where the StartSession/EndSession requests are logged (masked); what it throws is ignored. @default silentLogger */
  logger?: Logger | undefined;
}

/** An {@link Authenticator} that logs in with StartSession and out with EndSession. */
export interface IspapiSessionAuthenticator extends Authenticator {
  /** Close the connections of the login requests. */
  close(): Promise<void>;
}

/** `retryAfterMs`: the wait a StartSession's answer asked for (not an EndSession's: the Session retries its 5xx and ends the session). */
const failure = (command: string, response: CommandResponse, retryAfterMs?: number): AuthError => {
  const status = response.httpStatus;
  return new AuthError(
    // Made up (synthetic): a 423 (empty or invalid body) came with a 2xx status, INVALID_RESPONSE.
    // A 429 (logins of one user too close together) is RATE_LIMITED; it and a 5xx with
    // Retry-After carry the wait, which the Session records for every process and waits out.
    response.synthetic
      ? !status ? 'NETWORK' : status === 429 ? 'RATE_LIMITED' : status >= 500 || status === 408 ? 'SERVER' : 'INVALID_RESPONSE'
      : response.code === 530 || response.code === 531 ? 'INVALID_CREDENTIALS' : response.isTemporaryError() ? 'SERVER' : response.isSuccess() ? 'INVALID_RESPONSE' : 'CONFIGURATION',
    `${command} failed: ${response.code} ${response.description}`,
    { cause: response, status, retryAfterMs },
  );
};

/**
 * An authenticator for core-session's `Session` whose token is an ISPAPI session: it runs
 * StartSession (with TIMEOUT and MAXTTL) and hands the session id out as the token, with
 * `idleTtlMs` so that the Session expires it after the same idle time as the server. The
 * Session then keeps one login in flight per identity, stores it, and shares it; `session.end()`
 * runs EndSession (a failure other than 530, session already gone, is an `AuthError` the Session
 * retries or warns about). Give the Session to a `CommandClient` as its `session` option: one
 * with the same `url` and `system` (another is `INVALID_ARGUMENT`).
 *
 * @example
 * const authenticator = ispapiSessionAuthenticator({ system: 'ote', credentials: { login: 'demo', password }, timeoutSeconds: 900 });
 * const session = new Session({ authenticator, store: new FileStore() });
 * const client = new CommandClient({ system: 'ote', session, highPerformance: true });
 */
export function ispapiSessionAuthenticator(options: IspapiSessionAuthenticatorOptions): IspapiSessionAuthenticator {
  const given: Partial<IspapiSessionAuthenticatorOptions> = optionsOf(options);
  // Required here, unlike for a client: missing ones (plain JavaScript) fail the client's check,
  // which names them, rather than the login line below with a TypeError.
  const credentials = given.credentials ?? ({} as CommandCredentials);
  // No retries of its own: the Session retries a failed login.
  const client = new CommandClient({ ...given, credentials, retry: false });
  const timeoutSeconds = given.timeoutSeconds ?? 600;
  const maxTtlSeconds = given.maxTtlSeconds ?? 86_400;
  return {
    identity: `ispapi ${client.url} entity=${client.entity} login=${loginOf(credentials)}`,
    async authenticate(context): Promise<Token> {
      const obtainedAt = context.now();
      const response = await client.request(
        { COMMAND: 'StartSession', TIMEOUT: timeoutSeconds, MAXTTL: maxTtlSeconds },
        { signal: context.signal },
      );
      const id = startedSession(response);
      if (!id) throw failure('StartSession', response, response.retryAfterMs);
      // The server's TIMEOUT and MAXTTL, when it says, else the ones asked for.
      const milliseconds = (name: string, asked: number): number => {
        // Missing: undefined reads as NaN, so the one asked for; so do an empty value (0) and
        // any other that is no positive number of seconds (a token that expires at once).
        const seconds = +(response.property(name) as unknown as string);
        return (seconds > 0 && seconds < 1e9 ? seconds : asked) * 1000;
      };
      return { value: id, type: 'Session', obtainedAt, expiresAt: obtainedAt + milliseconds('MAXTTL', maxTtlSeconds), idleTtlMs: milliseconds('TIMEOUT', timeoutSeconds) };
    },
    // Ended, or already unknown to the server (530); any other answer is a failure that the
    // Session retries (SERVER, NETWORK) or warns about.
    async revoke(token, context): Promise<void> {
      const response = await client.request({ COMMAND: 'EndSession' }, { sessionId: token.value, signal: context.signal });
      if (!sessionEnded(response)) throw failure('EndSession', response);
    },
    close: () => client.close(),
  };
}
