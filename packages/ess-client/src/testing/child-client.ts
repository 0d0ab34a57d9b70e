// What the consumer processes of restart.test.ts share: their config (the first argument, JSON),
// a line printer (one JSON object per line on stdout), and a client with a FileStore resume
// record that reports gaps. Not published.
import { oauth2, Session } from '@sessionkit/core-session';
import { FileStore } from '@sessionkit/token-store/file';
import { EssClient } from '@sessionkit/ess-client';

export interface ChildConfig {
  url: string;
  tokenUrl: string;
  dir: string;
  key: string;
}

export function say(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** The config the parent passed as the first argument (JSON). */
export function childConfig(): unknown {
  return JSON.parse(process.argv[2] ?? '{}');
}

export function childClient(config: ChildConfig): { store: FileStore; ess: EssClient } {
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
  return { store, ess };
}
