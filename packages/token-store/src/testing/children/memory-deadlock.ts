// A nested withLock on the same key (a deadlock): with nothing else keeping the process alive,
// it must still end in LOCK_TIMEOUT, printed, rather than in a silent exit with the call unsettled.
import { MemoryStore } from '@sessionkit/token-store';

const store = new MemoryStore({ lockTimeoutMs: 300 });
store
  .withLock('key', () => store.withLock('key', () => Promise.resolve()))
  .then(
    () => {
      process.stdout.write('settled\n');
    },
    (error: unknown) => {
      process.stdout.write(`${String((error as { code?: string }).code)}\n`);
    },
  );
