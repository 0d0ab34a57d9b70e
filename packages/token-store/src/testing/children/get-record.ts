// Reads `key` once with FileStore.get and prints "record <json>" (or "missing"), or "error <code>
// <message>" for a StoreError. Warnings from the store are printed as "warn <message>".
// Arguments: dir key
import { StoreError } from '@sessionkit/token-store';
import { FileStore } from '@sessionkit/token-store/file';
import { warningPrinter } from './child-io.js';

const [dir, key] = process.argv.slice(2);
if (dir === undefined || key === undefined) throw new Error('usage: get-record dir key');
const logger = warningPrinter();
try {
  const record = await new FileStore({ dir, logger }).get(key);
  process.stdout.write(record === undefined ? 'missing\n' : `record ${JSON.stringify(record)}\n`);
} catch (error) {
  if (!StoreError.isInstance(error)) throw error;
  process.stdout.write(`error ${error.code} ${error.message}\n`);
}
