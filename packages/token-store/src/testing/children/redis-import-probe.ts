// Reports when ioredis gets loaded: importing @sessionkit/token-store/redis and constructing a
// RedisStore from a URL must not load it; the first command does. With the argument "hide",
// a module resolution hook makes `ioredis` impossible to find first, and the probe prints the
// error the store rejects with. Prints one JSON line. Arguments: url mode(load|hide)
import { createRequire, register } from 'node:module';
import { sep } from 'node:path';

const [url, mode] = process.argv.slice(2);
if (url === undefined) throw new Error('usage: redis-import-probe url load|hide');

if (mode === 'hide') {
  const hook = `export async function resolve(specifier, context, next) {
    if (specifier === 'ioredis' || specifier.startsWith('ioredis/')) {
      const error = new Error("Cannot find package 'ioredis'");
      error.code = 'ERR_MODULE_NOT_FOUND';
      throw error;
    }
    return next(specifier, context);
  }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
}

// The CommonJS module cache: ioredis is CommonJS, so importing it from ESM registers it here.
const moduleCache = createRequire(import.meta.url).cache;

function ioredisLoaded(): boolean {
  return Object.keys(moduleCache).some((path) => path.includes(`${sep}ioredis${sep}`));
}

const { RedisStore } = await import('@sessionkit/token-store/redis');
const afterImport = ioredisLoaded();
const store = new RedisStore({ url });
const afterConstruct = ioredisLoaded();
let result: Record<string, unknown>;
try {
  await store.set('probe', { version: 1 });
  result = { ok: true, record: await store.get('probe') };
  await store.delete('probe');
} catch (error) {
  result = { ok: false, name: (error as Error).name, code: (error as { code?: unknown }).code, message: (error as Error).message };
}
const afterUse = ioredisLoaded();
await store.close();
process.stdout.write(`${JSON.stringify({ afterImport, afterConstruct, afterUse, result })}\n`);
