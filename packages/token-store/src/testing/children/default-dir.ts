// Prints "dir <path>" of a FileStore made without a dir, or "error <code>" for a StoreError.
import { StoreError } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';

try {
  process.stdout.write(`dir ${new FileStore().dir}\n`);
} catch (error) {
  if (!StoreError.isInstance(error)) throw error;
  process.stdout.write(`error ${error.code}\n`);
}
