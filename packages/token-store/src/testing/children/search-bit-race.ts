// Under umask 0177, plays one interleaving of two callers that make the same missing parents: the
// other caller has made `<base>/r` (0600 under the umask: no search bit yet) and gives it its
// search bit right after this caller's mkdir() below it failed (EACCES), before `r/parent`
// exists. Then a FileStore in `<base>/r/parent/store` sets a record; prints "ok", or "error <code>".
// The other caller's step is played by wrapping fs.promises.mkdir (made visible to the package's
// `node:fs/promises` import by syncBuiltinESMExports); the package's own code runs unchanged.
// Arguments: base
import { promises as fsp } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { FileStore } from '@sessionkit/token-store/file';

const [base] = process.argv.slice(2);
if (base === undefined) throw new Error('usage: search-bit-race base');
process.umask(0o177);
const other = `${base}/r`;
await fsp.mkdir(other);
const mkdir = fsp.mkdir;
const step = { played: false };
fsp.mkdir = (async (...args: Parameters<typeof mkdir>) => {
  try {
    return await mkdir(...args);
  } catch (error) {
    if (!step.played && (error as { code?: string }).code === 'EACCES') {
      step.played = true;
      await fsp.chmod(other, 0o700);
    }
    throw error;
  }
}) as typeof mkdir;
syncBuiltinESMExports();
try {
  await new FileStore({ dir: `${other}/parent/store` }).set('a', { version: 1 });
  process.stdout.write(step.played ? 'ok\n' : 'not played\n');
} catch (error) {
  process.stdout.write(`error ${String((error as { code?: string }).code)}\n`);
}
