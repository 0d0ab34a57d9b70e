import { nodePath, os } from './node-builtins.js';
import { StoreError } from './store-error.js';

/**
 * The directory sessionkit keeps its files in when no `dir` is given:
 * `$XDG_CONFIG_HOME/sessionkit`, else `~/.config/sessionkit`; on Windows
 * `%APPDATA%\sessionkit`, else `~\AppData\Roaming\sessionkit`.
 * Relative values of the variables are ignored, as the XDG specification asks. The home directory
 * is looked up only when needed; none, or a relative one (an empty or relative `HOME`, which
 * would name the current directory), is an `INVALID_ARGUMENT` `StoreError`.
 *
 * @example
 * defaultStoreDirectory(); // '/home/ada/.config/sessionkit'
 */
export function defaultStoreDirectory(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home?: string,
): string {
  // win32.join turns the fallback's slash into a backslash.
  const [path, variable, fallback] = platform === 'win32' ? [nodePath.win32, 'APPDATA', 'AppData/Roaming'] : [nodePath.posix, 'XDG_CONFIG_HOME', '.config'];
  let base = env[variable];
  if (!base || !path.isAbsolute(base)) {
    try {
      // Throws for a user with neither HOME nor an entry in the user database.
      home ??= os.homedir();
    } catch {
      // none: below
    }
    if (!home || !path.isAbsolute(home)) {
      throw new StoreError('INVALID_ARGUMENT', `No absolute home directory for the default store directory: set ${variable} or pass a directory.`);
    }
    base = path.join(home, fallback);
  }
  return path.join(base, 'sessionkit');
}
