import { describe, expectTypeOf, it } from 'vitest';
import { type AuthError, type Authenticator, oauth2, type RefreshFailedEvent, Session, type ThrottledEvent, type Token } from '@sessionkit/core-session';

describe('public types', () => {
  it('types event listeners by event name', () => {
    const session = new Session({ authenticator: oauth2({ tokenUrl: 'https://id.example.com/t', grant: 'client_credentials', clientId: 'c', clientSecret: 's' }) });
    session.on('token', (token) => expectTypeOf(token).toEqualTypeOf<Token>());
    session.on('refresh-failed', (event) => expectTypeOf(event).toEqualTypeOf<RefreshFailedEvent>());
    session.on('throttled', (event) => expectTypeOf(event).toEqualTypeOf<ThrottledEvent>());
    // @ts-expect-error: not an event of a session
    session.on('tokens', () => undefined);
    expectTypeOf(session.getToken()).toEqualTypeOf<Promise<Token>>();
    expectTypeOf(session.authorization()).toEqualTypeOf<Promise<string>>();
  });

  it('accepts any object with identity and authenticate as an authenticator', () => {
    const custom = { identity: 'x', authenticate: () => Promise.resolve({ value: 'v', obtainedAt: 0 }) };
    expectTypeOf(custom).toExtend<Authenticator>();
    expectTypeOf<AuthError['code']>().toEqualTypeOf<'INVALID_CREDENTIALS' | 'RATE_LIMITED' | 'NETWORK' | 'SERVER' | 'INVALID_RESPONSE' | 'CONFIGURATION'>();
  });
});
