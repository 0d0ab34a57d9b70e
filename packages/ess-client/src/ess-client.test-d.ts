import { describe, expectTypeOf, it } from 'vitest';
import { oauth2, Session } from '@sessionkit/core-session';
import type { EssClientOptions, EssSession, EssToken } from '@sessionkit/ess-client';

describe('public types', () => {
  it('takes a Session, an object whose getToken() resolves to { value, type? }, or a token function as auth', () => {
    const session = new Session({ authenticator: oauth2({ tokenUrl: 'https://id.example.com/t', grant: 'client_credentials', clientId: 'c', clientSecret: 's' }) });
    expectTypeOf(session).toExtend<EssSession>();
    // As the guide says: no obtainedAt needed (the type once asked for a whole core-session Token).
    expectTypeOf({ getToken: () => Promise.resolve({ value: 'v' }) }).toExtend<EssSession>();
    expectTypeOf({ getToken: () => Promise.resolve({ value: 'v', type: 'Bearer' }), invalidate: (token: EssToken): string => token.value }).toExtend<EssSession>();
    expectTypeOf({ getToken: () => Promise.resolve('v') }).not.toExtend<EssSession>();
    expectTypeOf(() => Promise.resolve('v')).toExtend<EssClientOptions['auth']>();
  });
});
