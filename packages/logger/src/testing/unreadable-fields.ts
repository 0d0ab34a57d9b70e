// Fields that throw when they are read, redacted or serialized, for the tests of both loggers;
// what they throw (THROWN) must never be logged.

export const THROWN = 'thrown-secret-9';

export function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** Each case as the descriptor of a field `body`. */
export const unreadable: Record<string, () => PropertyDescriptor> = {
  'a getter that throws': () => ({
    get: (): never => {
      throw new Error(`body used already ${THROWN}`);
    },
  }),
  'an own toJSON that throws': () => ({ value: { toJSON: (): never => { throw new Error(THROWN); } } }),
  'a revoked Proxy': () => ({ value: revoked() }),
};

/**
 * An Error whose `cause` getter throws, its message holding a secret (`s3cr3t`): only its cause is
 * unreadable; its name, message and stack are kept, redacted.
 */
export function errorWithUnreadableCause(): Error {
  return Object.defineProperty(new Error('failed: token=s3cr3t'), 'cause', { get: (): never => { throw new Error(THROWN); } });
}

/** `{ ok: 1, body, password }`, `body` as the case `name` makes it. */
export function fieldsWith(name: string): Record<string, unknown> {
  const descriptor = unreadable[name];
  if (descriptor === undefined) throw new Error(`No unreadable field case "${name}".`);
  const fields: Record<string, unknown> = Object.defineProperty({ ok: 1 }, 'body', { enumerable: true, ...descriptor() });
  fields.password = 's3cr3t';
  return fields;
}
