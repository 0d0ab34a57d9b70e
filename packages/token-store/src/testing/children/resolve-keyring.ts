// Resolves @napi-rs/keyring as KeychainStore would, from a module in `dir`, twice (the second
// answer is remembered). Prints the outcome as one JSON line.
// Arguments: dir
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveKeyringModule } from '../../keychain-module.js';
import { StoreError } from '../../store-error.js';

const [dir] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: resolve-keyring dir');
const from = pathToFileURL(join(dir, 'module.js')).href;
const outcomes = [0, 1].map(() => {
  try {
    return { path: resolveKeyringModule(from) };
  } catch (error) {
    return StoreError.isInstance(error) ? { code: error.code, message: error.message, same: error } : { other: String(error) };
  }
});
process.stdout.write(`${JSON.stringify({
  first: { ...outcomes[0], same: undefined },
  remembered: outcomes[0]?.same !== undefined && outcomes[0].same === outcomes[1]?.same,
  fromPackage: resolveKeyringModule(),
})}\n`);
