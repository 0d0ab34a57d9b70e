import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CommandFault } from './faults.js';
import { readBody } from '../read-body.js';

/** Counters of the JSON endpoints. */
export interface RestStats {
  requests: number;
  /**
   * Requests refused for their bearer credentials: 401 when the token was missing, unknown or
   * expired, 400 when the `Authorization: Bearer` header was malformed.
   */
  unauthorized: number;
}

/** What the JSON endpoints get from the command API. */
export interface RestContext {
  stats: RestStats;
  verifyAccessToken: ((token: string) => { identity: string } | undefined) | undefined;
  takeFault(): CommandFault | undefined;
  playFault(fault: CommandFault): Promise<boolean>;
}

const MAX_BODY_BYTES = 262_144;

function json(response: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  response
    .writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) })
    .end(body);
}

/**
 * The JSON endpoints under `/api/rest/v1/`, protected by bearer tokens from the identity
 * provider: `GET whoami` answers `{ identity }`; `POST echo` answers `{ identity, method, query, body }`.
 */
export async function handleRest(request: IncomingMessage, response: ServerResponse, url: URL, context: RestContext): Promise<void> {
  context.stats.requests += 1;
  const body = await readBody(request, MAX_BODY_BYTES);
  if (body === undefined) {
    json(response, 413, { error: 'payload_too_large' }, { connection: 'close' });
    return;
  }
  const fault = context.takeFault();
  if (fault !== undefined && (await context.playFault(fault))) return;

  const authorization = request.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  const verified = match?.[1] === undefined ? undefined : context.verifyAccessToken?.(match[1]);
  if (verified === undefined) {
    context.stats.unauthorized += 1;
    // RFC 6750 section 3.1: a request without bearer credentials (no Authorization header, or
    // another scheme) gets a challenge without an error code; a malformed Bearer header (no token,
    // two tokens) is invalid_request, for which the server "SHOULD respond with the HTTP 400 (Bad
    // Request) status code", and an unknown or expired token invalid_token, with 401.
    const error = match !== null ? 'invalid_token' : /^Bearer(\s|$)/i.test(authorization) ? 'invalid_request' : undefined;
    const status = error === 'invalid_request' ? 400 : 401;
    json(response, status, { error: error ?? 'invalid_request' }, { 'www-authenticate': `Bearer realm="sessionkit-sandbox"${error === undefined ? '' : `, error="${error}"`}` });
    return;
  }
  const route = url.pathname.replace(/\/+$/, '');
  if (route === '/api/rest/v1/whoami' && (request.method === 'GET' || request.method === 'HEAD')) {
    json(response, 200, { identity: verified.identity });
    return;
  }
  if (route === '/api/rest/v1/echo' && (request.method === 'POST' || request.method === 'PUT')) {
    let parsed: unknown = null;
    if (body !== '') {
      try {
        parsed = JSON.parse(body) as unknown;
      } catch {
        json(response, 400, { error: 'invalid_json' });
        return;
      }
    }
    json(response, 200, { identity: verified.identity, method: request.method, query: Object.fromEntries(url.searchParams), body: parsed });
    return;
  }
  json(response, 404, { error: 'not_found' });
}
