// A consumer process for the restart test: connects with a FileStore resume record, takes
// `consume` events and comes back for the next one (done with them), waits until its record says
// so, then idles until the parent kills it.
// Prints one JSON object per line on stdout.
import { oauth2, Session } from '@sessionkit/core-session';
import { FileStore } from '@sessionkit/token-store/file';
import { EssClient } from '@sessionkit/ess-client';

interface ChildConfig {
  url: string;
  tokenUrl: string;
  dir: string;
  key: string;
  consume: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const say = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

const store = new FileStore({ dir: config.dir });
const session = new Session({
  authenticator: oauth2({ tokenUrl: config.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }),
  store,
});
const ess = new EssClient({
  url: config.url,
  auth: session,
  filters: [{ resourceTypes: ['cameras'] }],
  resumeStore: store,
  resumeKey: config.key,
  fetchState: false,
});
ess.on('gap', (gap) => {
  say({ type: 'gap', ...gap });
});
const iterator = ess.events();
await ess.connect();
say({ type: 'online', sessionId: ess.sessionId, resumes: ess.stats.resumes, gaps: ess.stats.gaps });

let last = '';
for (let taken = 0; taken < config.consume; taken += 1) {
  const result = await iterator.next();
  if (result.done === true) break;
  last = result.value.id;
  say({ type: 'event', n: (result.value.data as { n: number }).n });
}
// Back for the next event, as a for-await loop whose body finished: done with the last one taken
// (the one this call gets is never handled: the process dies first).
void iterator.next();
const deadline = Date.now() + 10_000;
for (;;) {
  const record = await store.get(config.key);
  if (record?.lastEventId === last) {
    say({ type: 'persisted', lastEventId: last, sessionId: record.sessionId });
    break;
  }
  if (Date.now() > deadline) {
    say({ type: 'error', message: 'the resume record never reached the last consumed event', record });
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 10));
}
setInterval(() => undefined, 60_000);
