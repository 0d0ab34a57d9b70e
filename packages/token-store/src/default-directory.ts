import { homedir } from 'node:os';
import { posix, win32 } from 'node:path';

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
  if (platform === 'win32') {
    const appData = env.APPDATA;
    return win32.join(appData !== undefined && win32.isAbsolute(appData) ? appData : win32.join(home, 'AppData', 'Roaming'), 'sessionkit');
  }
  const configHome = env.XDG_CONFIG_HOME;
  return posix.join(configHome !== undefined && posix.isAbsolute(configHome) ? configHome : posix.join(home, '.config'), 'sessionkit');
}
