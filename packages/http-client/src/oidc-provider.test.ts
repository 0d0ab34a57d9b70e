// The REST client and a Session against oidc-provider, a real OAuth 2.0 server (see core-session's
// testing/oidc-server.ts), whose userinfo endpoint is a Bearer resource (RFC 6750): a token it no
// longer accepts is answered 401 with a WWW-Authenticate header.
import { describe, expect, it } from 'vitest';
import { oauth2, Session, type Token } from '@sessionkit/core-session';
import { createLogger } from '@sessionkit/logger';
import { createApiClient } from '@sessionkit/http-client';
// core-session's test helper for a real OAuth 2.0 server (not published).
import { BASIC_CLIENT, USER, useOidcServer } from '../../core-session/src/testing/oidc-server.js';

const server = useOidcServer();

/** A REST client for the server's userinfo endpoint, on a session of the password grant; its log lines and tokens. */
function client(): { api: ReturnType<typeof createApiClient>; lines: string[]; tokens: Token[] } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'trace', format: 'json', write: (line) => lines.push(line) });
  const session = new Session({
    authenticator: oauth2({ tokenUrl: server().tokenUrl, revocationUrl: server().revocationUrl, grant: 'password', ...BASIC_CLIENT, ...USER }),
    logger,
  });
  const tokens: Token[] = [];
  session.on('token', (token) => tokens.push(token));
  return { api: createApiClient({ baseUrl: `${server().issuer}/`, session, logger }), lines, tokens };
}

describe('against oidc-provider, a real OAuth 2.0 server', () => {
  it('reads a Bearer resource with the session token; once the server revoked it, the 401 brings one new login and the replay succeeds', async () => {
    const { api, lines, tokens } = client();
    expect(await api.get('me').json()).toEqual({ sub: USER.username });
    expect(await api.get('me').json()).toEqual({ sub: USER.username });
    expect(server().granted).toEqual({ password: 1 });
    const [first] = tokens as [Token];
    // The server revokes it, with every token of its grant: the refresh is refused, and the session logs in.
    await server().revoke(first.value, 'access_token');
    expect(await api.get('me').json()).toEqual({ sub: USER.username });
    expect(server().refused).toEqual(['invalid_grant']);
    expect(server().granted).toEqual({ password: 2 });
    expect(tokens).toHaveLength(2);
    expect(await server().introspect(tokens[1]?.value ?? '')).toMatchObject({ active: true });
    // Trace logs of the session and the client: no token, refresh token, password or client secret.
    const logged = lines.join('\n');
    expect(logged).toContain('401');
    const basic = Buffer.from(`${BASIC_CLIENT.clientId}:${BASIC_CLIENT.clientSecret}`).toString('base64');
    const secrets = [...tokens.flatMap((token) => [token.value, token.refreshToken]), USER.password, BASIC_CLIENT.clientSecret, basic];
    for (const secret of secrets.filter((value) => value !== undefined)) expect(logged).not.toContain(secret);
  });

  it('50 requests refused at once make one new login between them, and every replay succeeds', async () => {
    const { api, tokens } = client();
    await api.get('me').json();
    const [first] = tokens as [Token];
    await server().revoke(first.value, 'access_token');
    const answers = await Promise.all(Array.from({ length: 50 }, () => api.get('me').json()));
    expect(answers).toEqual(Array.from({ length: 50 }, () => ({ sub: USER.username })));
    expect(server().granted).toEqual({ password: 2 });
    expect(tokens).toHaveLength(2);
  });
});
