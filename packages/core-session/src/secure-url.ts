import { AuthError } from './auth-error.js';

/**
 * Whether `hostname` is a loopback address: `localhost` (not a name under it, which Node looks up
 * in DNS like any other), `[::1]`, or 127.x.x.x. Takes `URL.hostname`, which is normalized: lower
 * case, IPv4 as four decimal numbers (`127.1` reads `127.0.0.1`), IPv6 compressed and in brackets.
 */
export function isLoopbackHost(hostname: string): boolean {
  return /^(localhost|\[::1\]|127(\.\d{1,3}){3})$/.test(hostname);
}

/**
 * Parse `value` as an http(s) URL and require https unless the host is a loopback address or
 * `allowInsecure` is set. Throws `AuthError('CONFIGURATION')` naming `what`.
 */
export function requireSecureUrl(value: string | URL, what: string, allowInsecure: boolean): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // No cause: Node's "Invalid URL" error carries the input, which may hold a secret.
    throw new AuthError('CONFIGURATION', `${what} is not a valid URL.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new AuthError('CONFIGURATION', `${what} must be an https URL, not ${url.protocol}.`);
  }
  if (url.username || url.password) {
    throw new AuthError('CONFIGURATION', `${what} must not hold credentials.`);
  }
  if (url.protocol === 'http:' && !allowInsecure && !isLoopbackHost(url.hostname)) {
    throw new AuthError(
      'CONFIGURATION',
      `${what} uses plain http on ${url.host}: use https (or allowInsecure: true).`,
    );
  }
  return url;
}
