import { decodeForm } from './form.js';

/** A command request as the sandbox reads it. */
export interface DecodedCommandRequest {
  /**
   * The connection fields (`s_entity`, `s_login`, `s_pw`, `s_session`, ...), names in lower
   * case, without `s_command`.
   */
  fields: Record<string, string>;
  /** The command: upper-case keys, values exactly as sent. */
  command: Record<string, string>;
}

/**
 * Decode ISPAPI command text (`KEY=value` lines): keys are trimmed and upper-cased, a value is
 * everything after the first `=` of its line, kept as it is. Lines without `=` are ignored;
 * when a key repeats, the last line wins.
 */
export function decodeCommandText(text: string): Record<string, string> {
  const command: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    const equals = line.indexOf('=');
    if (equals === -1) continue;
    const key = line.slice(0, equals).trim().toUpperCase();
    if (key === '') continue;
    command[key] = line.slice(equals + 1);
  }
  return command;
}

/**
 * Decode a request to the command API the way the sandbox does: the body is read as a form
 * whatever its content type, merged over the query string, and `s_command` is decoded as
 * command text. Exported so that client packages can test that what they encode is what a
 * server reads; the sandbox itself uses it for every request.
 *
 * @example
 * decodeCommandRequestBody('s_entity=54cd&s_command=COMMAND%3DStatusAccount')
 * // { fields: { s_entity: '54cd' }, command: { COMMAND: 'StatusAccount' } }
 */
export function decodeCommandRequestBody(body: string, query = ''): DecodedCommandRequest {
  const form = decodeForm(query);
  for (const [name, value] of decodeForm(body)) form.set(name, value);
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  let commandText = '';
  for (const [name, value] of form) {
    if (name === 's_command') commandText = value;
    else fields[name] = value;
  }
  return { fields, command: decodeCommandText(commandText) };
}
