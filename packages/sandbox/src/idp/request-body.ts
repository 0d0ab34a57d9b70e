/**
 * The largest token request body accepted; larger ones are refused with 413. Token requests
 * are form-encoded; the body is parsed as a form whatever the content type says, as lenient
 * servers do.
 */
export const MAX_BODY_BYTES: number = 64 * 1024;

/** Client credentials sent in an `Authorization: Basic` header (RFC 6749 section 2.3.1). */
export interface BasicCredentials {
  clientId: string;
  clientSecret: string;
}

function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

/**
 * The client id and secret of an `Authorization: Basic` header, undefined when the header is
 * absent, and `null` when it is present but not valid Basic credentials. RFC 6749 has both
 * parts form-encoded before they are joined and base64-encoded.
 */
export function parseBasicAuthorization(header: string | undefined): BasicCredentials | undefined | null {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=._-]+)\s*$/i.exec(header);
  if (match?.[1] === undefined) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { clientId: formDecode(decoded.slice(0, colon)), clientSecret: formDecode(decoded.slice(colon + 1)) };
}
