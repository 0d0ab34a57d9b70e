import { AuthError } from './auth-error.js';

/** Whether `hostname` (as `URL.hostname` gives it) is a loopback address. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
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
  if (url.username !== '' || url.password !== '') {
    throw new AuthError('CONFIGURATION', `${what} must not hold credentials: pass them as options.`);
  }
  if (url.protocol === 'http:' && !allowInsecure && !isLoopbackHost(url.hostname)) {
    throw new AuthError(
      'CONFIGURATION',
      `${what} uses plain http on ${url.host}, which sends credentials in clear text: use https (or allowInsecure: true).`,
    );
  }
  return url;
}
