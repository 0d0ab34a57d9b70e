import { load } from './transport.js';

/** The parts of a user agent in the public SDKs' format. */
export interface UserAgentParts {
  /** Your application's name. */
  name: string;
  /** Your application's version. */
  version: string;
  /** Further modules, each as `name/version` (one may be given alone). */
  modules?: string | readonly string[] | undefined;
}

/**
 * A user agent in the public ISPAPI SDKs' format:
 * `NAME (platform; arch; rv:version) modules… sessionkit-http-client/x.y.z node/vX`.
 *
 * @example
 * formatUserAgent({ name: 'my-shop', version: '2.1.0', modules: ['billing/1.4.0'] })
 * // 'my-shop (linux; x64; rv:2.1.0) billing/1.4.0 sessionkit-http-client/0.1.0 node/v22.11.0'
 */
export const formatUserAgent = (parts?: UserAgentParts): string => {
  // This package's version, from its package.json (`0.0.0` when that cannot be read). It is read
  // with `require()` (see `load`): importing node:fs would build its ES module facade, ~2 ms of cold import.
  let read: unknown;
  try {
    read = (load('../package.json') as { version?: unknown }).version;
  } catch {
    // No package.json: the fallback below.
  }
  const version = typeof read === 'string' ? read : '0.0.0';
  // The modules, then this package's, separated by blanks.
  // One module alone too: a string was spread a character per module.
  const modules = [parts?.modules ?? [], `sessionkit-http-client/${version}`].flat().join(' ');
  return `${parts?.name ?? 'sessionkit'} (${process.platform}; ${process.arch}; rv:${parts?.version ?? version}) ${modules} node/${process.version}`;
};
