import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { StoreError } from './store-error.js';

/** The optional peer dependency that talks to the OS keychain. */
export const keyringPackage = '@napi-rs/keyring';

const resolved = new Map<string, string | StoreError>();

/**
 * The file path of `@napi-rs/keyring`, resolved (not loaded) once per `from` and remembered,
 * or `StoreError('UNAVAILABLE')` naming the package to install. Only the keychain helper
 * process loads the module itself.
 */
export function resolveKeyringModule(from: string = import.meta.url): string {
  let result = resolved.get(from);
  if (result === undefined) {
    try {
      result = createRequire(from).resolve(keyringPackage);
    } catch (error) {
      result = new StoreError('UNAVAILABLE', `KeychainStore needs the optional package ${keyringPackage}, which is not installed. Install it next to @sessionkit/token-store: npm install ${keyringPackage}`, { cause: error });
    }
    resolved.set(from, result);
  }
  if (typeof result !== 'string') throw result;
  return result;
}

/** What to do when the Linux Secret Service cannot be reached. */
export function secretServiceAdvice(problem: string): string {
  return `The Linux Secret Service is not reachable: ${problem}. KeychainStore stores secrets only in a Secret Service (it never falls back to the kernel keyring). Install and start one in a D-Bus session: gnome-keyring (apt-get install gnome-keyring dbus), KeePassXC or KWallet; on a headless machine run the program under \`dbus-run-session\` after \`echo -n <password> | gnome-keyring-daemon --unlock --components=secrets\`. Or use FileStore from @sessionkit/token-store/file.`;
}

/**
 * Linux: why there is certainly no session bus to reach a Secret Service through, or
 * undefined when one may be there (DBUS_SESSION_BUS_ADDRESS is set, or libdbus's default
 * socket `$XDG_RUNTIME_DIR/bus` exists). Whether a Secret Service answers on it is then found
 * out by a real call.
 */
export function missingSessionBus(env: NodeJS.ProcessEnv): string | undefined {
  const address = env.DBUS_SESSION_BUS_ADDRESS;
  if (address !== undefined && address !== '') return undefined;
  const runtimeDir = env.XDG_RUNTIME_DIR;
  if (runtimeDir !== undefined && runtimeDir !== '' && existsSync(join(runtimeDir, 'bus'))) return undefined;
  return 'there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does not exist)';
}
