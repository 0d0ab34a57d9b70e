// Under `umask`, for each of `rounds` fresh directories `<base>/r<i>/parent/store` (the parents
// missing too), makes two FileStores set a record at once, then prints "failed <n>" and the
// distinct errors as "error <code> <message>".
// Arguments: base rounds umask (octal)
import { FileStore } from '@sessionkit/token-store/file';

const [base, rounds, umask] = process.argv.slice(2);
if (base === undefined || rounds === undefined || umask === undefined) throw new Error('usage: nested-race base rounds umask');
process.umask(Number.parseInt(umask, 8));
const record = { version: 1 };
const errors = new Set<string>();
let failed = 0;
for (let round = 0; round < Number(rounds); round += 1) {
  const dir = `${base}/r${String(round)}/parent/store`;
  const results = await Promise.allSettled([new FileStore({ dir }).set('a', record), new FileStore({ dir }).set('b', record)]);
  for (const result of results) {
    if (result.status === 'fulfilled') continue;
    failed += 1;
    const error = result.reason as { code?: string; message?: string };
    errors.add(`error ${String(error.code)} ${String(error.message).replace(/r\d+/, 'r<i>')}`);
  }
}
process.stdout.write(`failed ${String(failed)}\n${[...errors].map((line) => `${line}\n`).join('')}`);
