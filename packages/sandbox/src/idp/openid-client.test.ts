// The sandbox's identity provider used by a client that shares no code with sessionkit:
// openid-client (an OpenID Certified relying party library, from npm), which checks each answer
// against RFC 6749 and RFC 7009 strictly. Users who test their own OAuth code offline use the sandbox
// this way.
import * as oidc from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '@sessionkit/sandbox';

let sandbox: Sandbox;
let trusting: Agent;

beforeAll(async () => {
  // HTTPS, as openid-client wants, with the sandbox's self-signed certificate trusted.
  sandbox = await startSandbox({ tls: true, ess: { generator: false } });
  trusting = new Agent({ connect: { ca: sandbox.certificate } });
});

afterAll(async () => {
  await trusting.close();
  await sandbox.close();
});

/**
 * openid-client's view of the sandbox (it serves no discovery document): its endpoints, and a fetch
 * that trusts its certificate. A client with a secret authenticates with HTTP Basic, or with form
 * fields (`post`); one without, not at all.
 */
function configuration(clientId: string, clientSecret?: string, method: 'basic' | 'post' = 'basic'): oidc.Configuration {
  const metadata = { issuer: `${sandbox.url}/IDP`, token_endpoint: sandbox.tokenUrl, revocation_endpoint: sandbox.revocationUrl };
  const authentication = clientSecret === undefined ? oidc.None() : method === 'basic' ? oidc.ClientSecretBasic(clientSecret) : oidc.ClientSecretPost(clientSecret);
  const config = new oidc.Configuration(metadata, clientId, undefined, authentication);
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- undici's own Response, which openid-client reads as any fetch's
  config[oidc.customFetch] = (url, { method, headers, body, redirect, signal }) => undiciFetch(url, { method, headers, body: body ?? null, redirect, signal: signal ?? null, dispatcher: trusting });
  return config;
}

/** What `promise` rejects with; a fulfilment fails the test. */
async function refusal(promise: Promise<unknown>): Promise<{ error?: unknown; status?: unknown; cause?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as { error?: unknown; status?: unknown; cause?: unknown };
  }
  throw new Error('expected a rejection');
}

describe('the identity provider, used by openid-client', () => {
  it.each(['basic', 'post'] as const)('grants client credentials (client authentication: %s), a token the sandbox accepts, and revokes it', async (method) => {
    const config = configuration('sessionkit-demo', 'demo-secret', method);
    const token = await oidc.clientCredentialsGrant(config, { scope: 'read' });
    expect(token).toMatchObject({ token_type: 'bearer', scope: 'read' });
    expect(token.expiresIn()).toBeGreaterThan(0);
    expect(sandbox.idp.verifyAccessToken(token.access_token)?.clientId).toBe('sessionkit-demo');
    await oidc.tokenRevocation(config, token.access_token);
    expect(sandbox.idp.verifyAccessToken(token.access_token)).toBeUndefined();
  });

  it('grants a password login to a public client, rotates its refresh token, and refuses the spent one', async () => {
    const config = configuration('GrantValidatorClient');
    const login = await oidc.genericGrantRequest(config, 'password', { username: 'demo', password: 'demo-password' });
    expect(login.refresh_token).toEqual(expect.any(String));
    const refreshed = await oidc.refreshTokenGrant(config, login.refresh_token ?? '');
    expect(refreshed.refresh_token).not.toBe(login.refresh_token);
    expect(sandbox.idp.verifyAccessToken(refreshed.access_token)).toBeDefined();
    // RFC 6749 section 5.2: invalid_grant, with 400.
    expect(await refusal(oidc.refreshTokenGrant(config, login.refresh_token ?? ''))).toMatchObject({ error: 'invalid_grant', status: 400 });
  });

  it("answers a wrong client secret and a wrong password with RFC 6749's errors, as openid-client reads them", async () => {
    // Section 5.2: a client that authenticated with HTTP Basic gets 401 and a Basic challenge (one
    // that sent form fields gets the same, which the section allows: the schemes it supports).
    for (const method of ['basic', 'post'] as const) {
      expect(await refusal(oidc.clientCredentialsGrant(configuration('sessionkit-demo', 'not-the-secret', method)))).toMatchObject({ status: 401, cause: [{ scheme: 'basic' }] });
    }
    expect(await refusal(oidc.genericGrantRequest(configuration('GrantValidatorClient'), 'password', { username: 'demo', password: 'wrong' }))).toMatchObject({ error: 'invalid_grant', status: 400 });
    // A grant the client may not use.
    expect(await refusal(oidc.genericGrantRequest(configuration('sessionkit-demo', 'demo-secret'), 'password', { username: 'demo', password: 'demo-password' }))).toMatchObject({ error: 'unauthorized_client', status: 400 });
  });
});
