// A consumer process for the crash test: a `for await` loop whose body takes `handleMs` per
// event (a database write, say), `slowMs` for the event `slowId`, with a FileStore resume record. Prints one JSON object per
// line on stdout: when it is online, and when it starts and finishes handling each event. The
// parent kills it in the middle of handling one.
import { oauth2, Session } from '@sessionkit/core-session';
import { FileStore } from '@sessionkit/token-store/file';
import { EssClient } from '@sessionkit/ess-client';

interface ChildConfig {
  url: string;
  tokenUrl: string;
  dir: string;
  key: string;
  handleMs: number;
  slowId?: string;
  slowMs?: number;
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
await ess.connect();
say({ type: 'online', sessionId: ess.sessionId, resumes: ess.stats.resumes, gaps: ess.stats.gaps });
for await (const event of ess.events()) {
  say({ type: 'start', id: event.id });
  await new Promise((resolve) => setTimeout(resolve, event.id === config.slowId ? config.slowMs : config.handleMs));
  say({ type: 'handled', id: event.id });
}
