/**
 * The connection fields of one request. Empty strings count as absent. When `session` is set,
 * `login`, `password` and `otp` are not sent (a session replaces them).
 */
export interface ConnectionFields {
  /** `s_entity`: the system (`54cd` live, `1234` OT&E). */
  entity?: string | undefined;
  /** `s_login`: the account, or `account!role` for a role user. */
  login?: string | undefined;
  /** `s_otp`: a one-time password. */
  otp?: string | undefined;
  /** `s_pw`: the password. */
  password?: string | undefined;
  /** `s_remoteaddr`: the end customer's IP address, for accounts with an IP filter. */
  remoteAddress?: string | undefined;
  /** `s_session`: a session id from StartSession. */
  session?: string | undefined;
  /** `s_user`: view the data of this subuser. */
  user?: string | undefined;
}

/**
 * Form-encode one component the way the public ISPAPI SDKs do: `encodeURIComponent` with
 * `! ' ( ) *` escaped as well.
 */
export const encodeFormComponent = (text: string): string => {
  // A lone surrogate cannot be UTF-8: U+FFFD is sent for it, as Buffer.from (and TextEncoder) would
  // (toWellFormed() is ES2024, in Node since 20).
  const encoded = encodeURIComponent((text as string & { toWellFormed(): string }).toWellFormed());
  // Tested first: a replace() that finds nothing costs about as much as the encoding.
  return /[!'()*]/.test(encoded) ? encoded.replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`) : encoded;
};

const field = (name: string, value: string | undefined): string => {
  return value ? `${name}=${encodeFormComponent(value)}&` : '';
};

/**
 * The `application/x-www-form-urlencoded` body of a request: the connection fields in the
 * protocol's order (`s_entity`, `s_login`, `s_otp`, `s_pw`, `s_remoteaddr`, `s_session`,
 * `s_user`), each only when it has a value, then `s_command` last.
 *
 * @example
 * encodeRequestBody({ entity: '54cd', login: 'demo', password: 'secret' }, 'COMMAND=StatusAccount')
 * // 's_entity=54cd&s_login=demo&s_pw=secret&s_command=COMMAND%3DStatusAccount'
 */
export const encodeRequestBody = (connection: ConnectionFields, commandText: string): string => {
  return (
    field('s_entity', connection.entity) +
    (connection.session ? '' : field('s_login', connection.login) + field('s_otp', connection.otp) + field('s_pw', connection.password)) +
    field('s_remoteaddr', connection.remoteAddress) +
    field('s_session', connection.session) +
    field('s_user', connection.user) +
    `s_command=${encodeFormComponent(commandText)}`
  );
};
