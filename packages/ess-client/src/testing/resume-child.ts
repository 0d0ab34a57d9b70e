// A consumer process for the restart test: connects with a FileStore resume record, takes
// `consume` events and comes back for the next one (done with them), waits until its record says
// so, then idles until the parent kills it.
// Prints one JSON object per line on stdout.
import { type ChildConfig, childClient, childConfig, say } from './child-client.js';

const config = childConfig() as ChildConfig & {
  consume: number;
};
const { store, ess } = childClient(config);
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
