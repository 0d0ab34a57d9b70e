import { StoreError } from './store-error.js';

/** The `code` of a Node.js system error, if it is one. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

/** A StoreError for a failed file-system call: `PERMISSION` for access and symlink errors, `IO` otherwise. */
export function fileSystemError(error: unknown, action: string, path: string): StoreError {
  if (StoreError.isInstance(error)) return error;
  const code = errorCode(error);
  if (code === 'ELOOP' || code === 'EMLINK') {
    return new StoreError('PERMISSION', `Refusing to ${action} ${path}: it is a symbolic link. Remove the link; a planted link could redirect a secret.`, { cause: error });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new StoreError('PERMISSION', `Permission denied to ${action} ${path}. Check the owner and mode of the file and its directory.`, { cause: error });
  }
  return new StoreError('IO', `Could not ${action} ${path} (${code ?? 'unknown error'}).`, { cause: error });
}

/** Whether the platform has POSIX owners and modes that this package checks. */
export const hasPosixModes: boolean = process.platform !== 'win32';
