import { readFileSync } from 'node:fs';

/** The parts of a user agent in the public SDKs' format. */
export interface UserAgentParts {
  /** Your application's name. */
  name: string;
  /** Your application's version. */
  version: string;
  /** Further modules, each as `name/version`. */
  modules?: readonly string[] | undefined;
}

let packageVersion: string | undefined;

/** This package's version, read once from its package.json. */
export function httpClientVersion(): string {
  if (packageVersion === undefined) {
    try {
      const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
      const parsed = JSON.parse(text) as { version?: unknown };
      packageVersion = typeof parsed.version === 'string' ? parsed.version : '0.0.0';
    } catch {
      packageVersion = '0.0.0';
    }
  }
  return packageVersion;
}

/**
 * A user agent in the public ISPAPI SDKs' format:
 * `NAME (platform; arch; rv:version) modules… sessionkit-http-client/x.y.z node/vX`.
 *
 * @example
 * formatUserAgent({ name: 'my-shop', version: '2.1.0', modules: ['billing/1.4.0'] })
 * // 'my-shop (linux; x64; rv:2.1.0) billing/1.4.0 sessionkit-http-client/0.1.0 node/v22.11.0'
 */
export function formatUserAgent(parts?: UserAgentParts): string {
  const version = httpClientVersion();
  const name = parts?.name ?? 'sessionkit';
  const modules = parts?.modules !== undefined && parts.modules.length > 0 ? ` ${parts.modules.join(' ')}` : '';
  return `${name} (${process.platform}; ${process.arch}; rv:${parts?.version ?? version})${modules} sessionkit-http-client/${version} node/${process.version}`;
}
