// A consumer process for the crash test: a `for await` loop whose body takes `handleMs` per
// event (a database write, say), `slowMs` for the event `slowId`, with a FileStore resume record. Prints one JSON object per
// line on stdout: when it is online, and when it starts and finishes handling each event. The
// parent kills it in the middle of handling one.
import { type ChildConfig, childClient, childConfig, say } from './child-client.js';

const config = childConfig() as ChildConfig & {
  handleMs: number;
  slowId?: string;
  slowMs?: number;
};
const { ess } = childClient(config);
await ess.connect();
say({ type: 'online', sessionId: ess.sessionId, resumes: ess.stats.resumes, gaps: ess.stats.gaps });
for await (const event of ess.events()) {
  say({ type: 'start', id: event.id });
  await new Promise((resolve) => setTimeout(resolve, event.id === config.slowId ? config.slowMs : config.handleMs));
  say({ type: 'handled', id: event.id });
}
