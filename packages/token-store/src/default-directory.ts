import { homedir } from './node-builtins.js';
import { posix, win32 } from './node-builtins.js';

/**
 * The directory sessionkit keeps its files in when no `dir` is given:
 * `$XDG_CONFIG_HOME/sessionkit`, else `~/.config/sessionkit`; on Windows
 * `%APPDATA%\sessionkit`, else `~\AppData\Roaming\sessionkit`.
 * Relative values of the variables are ignored, as the XDG specification asks.
 *
 * @example
 * defaultStoreDirectory(); // '/home/ada/.config/sessionkit'
 */
export function defaultStoreDirectory(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  // win32.join turns the fallback's slash into a backslash.
  const [path, base, fallback] = platform === 'win32' ? [win32, env.APPDATA, 'AppData/Roaming'] : [posix, env.XDG_CONFIG_HOME, '.config'];
  return path.join(base && path.isAbsolute(base) ? base : path.join(home, fallback), 'sessionkit');
}
