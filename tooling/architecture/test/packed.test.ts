// The packages as published: each one packed with `pnpm pack` (what `pnpm publish` uploads),
// unpacked into a project of its own whose node_modules holds the other packed @sessionkit
// packages and, for each package, only the third-party packages its published manifest lists
// (linked from the workspace's install). Loaded there with plain Node, without the workspace's
// source condition, every entry point must load and export what the built workspace package
// exports, and a program using the five client packages must work against the packed sandbox:
// a file or an import the tarball lacks, or a dependency used but not declared, fails here.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Manifest {
  name: string;
  private?: boolean;
  exports?: Record<string, unknown>;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const root = fileURLToPath(new URL('../../..', import.meta.url));
const readManifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

/** The publishable packages: name, workspace directory, manifest. */
const packages = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => ({ dir, manifest: readManifest(dir) }))
  .filter(({ manifest }) => manifest.private !== true);

/** Runs `command` to its end; throws with its output when it fails. */
function run(command: string, args: string[], cwd: string, timeout = 60_000): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, NODE_OPTIONS: '' } });
  if (result.error) throw result.error;
  // A script given with -e is not repeated: its output says what failed.
  const shown = args.map((arg) => (arg.includes('\n') ? '<script>' : arg)).join(' ');
  if (result.status !== 0) throw new Error(`${command} ${shown} exited with ${String(result.status ?? result.signal)}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

describe('the packed packages', () => {
  let temp: string;
  let project: string;
  /** The manifest of each package as packed. */
  const packed = new Map<string, Manifest>();

  beforeAll(() => {
    const unbuilt = packages.filter(({ dir }) => !existsSync(join(dir, 'dist'))).map(({ manifest }) => manifest.name);
    if (unbuilt.length) throw new Error(`not built: ${unbuilt.join(', ')}; run pnpm build (pnpm test does) first`);
    // <temp>/store/<name>: each package unpacked, with its declared dependencies (and nothing else)
    // linked in its own node_modules; <temp>/app: the user's project, with every package linked.
    // A package's files resolve from their real path in the store, where no other package is.
    temp = mkdtempSync(join(tmpdir(), 'sessionkit-packed-'));
    project = join(temp, 'app');
    const tarballs = join(temp, 'tarballs');
    mkdirSync(tarballs);
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), '{ "name": "packed-check", "private": true, "type": "module" }\n');
    const unpacked = (name: string): string => join(temp, 'store', name);
    const link = (target: string, at: string): void => {
      mkdirSync(dirname(at), { recursive: true });
      symlinkSync(target, at, 'dir');
    };
    for (const { dir, manifest } of packages) {
      const before = new Set(readdirSync(tarballs));
      run('pnpm', ['pack', '--pack-destination', tarballs], dir);
      const tarball = readdirSync(tarballs).find((file) => !before.has(file));
      if (tarball === undefined) throw new Error(`pnpm pack wrote no tarball for ${manifest.name}`);
      mkdirSync(unpacked(manifest.name), { recursive: true });
      run('tar', ['-xzf', join(tarballs, tarball), '-C', unpacked(manifest.name), '--strip-components=1'], temp);
      packed.set(manifest.name, readManifest(unpacked(manifest.name)));
      link(unpacked(manifest.name), join(project, 'node_modules', manifest.name));
    }
    for (const { dir, manifest } of packages) {
      for (const dependency of Object.keys(packed.get(manifest.name)?.dependencies ?? {})) {
        // Another packed package, or the third-party package the workspace installed for this one.
        const target = packed.has(dependency) ? unpacked(dependency) : realpathSync(join(dir, 'node_modules', dependency));
        link(target, join(unpacked(manifest.name), 'node_modules', dependency));
      }
    }
  }, 120_000);

  afterAll(() => {
    if (temp) rmSync(temp, { recursive: true, force: true });
  });

  it('declare their @sessionkit dependencies with version ranges, not the workspace protocol', () => {
    const left = [...packed].flatMap(([name, manifest]) =>
      Object.entries({ ...manifest.dependencies, ...manifest.peerDependencies })
        .filter(([, range]) => range.startsWith('workspace:'))
        .map(([dependency, range]) => `${name} > ${dependency}@${range}`),
    );
    expect(left).toEqual([]);
    // A walk that found no package would check nothing.
    expect([...packed.keys()].sort()).toEqual(['core-session', 'ess-client', 'http-client', 'logger', 'sandbox', 'token-store'].map((name) => `@sessionkit/${name}`));
  });

  it('load from every entry point with what they declare, exporting what the built workspace packages export', () => {
    const entries = packages.flatMap(({ dir, manifest }) =>
      Object.keys(manifest.exports ?? {})
        .filter((key) => key !== './package.json')
        .map((key) => ({ specifier: manifest.name + key.slice(1), workspace: pathToFileURL(join(dir, (manifest.exports?.[key] as { default: string }).default)).href })),
    );
    expect(entries.length).toBeGreaterThanOrEqual(packages.length);
    const script = `
      const entries = ${JSON.stringify(entries)};
      const out = {};
      for (const { specifier, workspace } of entries) {
        const keys = async (url) => { try { return Object.keys(await import(url)).sort(); } catch (error) { return 'failed: ' + (error?.code ?? '') + ' ' + error?.message; } };
        out[specifier] = { packed: await keys(specifier), workspace: await keys(workspace) };
      }
      console.log(JSON.stringify(out));`;
    const result = JSON.parse(run(process.execPath, ['--input-type=module', '-e', script], project)) as Record<string, { packed: string[] | string; workspace: string[] | string }>;
    for (const [specifier, { packed: fromTarball, workspace }] of Object.entries(result)) {
      expect(Array.isArray(workspace), `${specifier} (workspace): ${String(workspace)}`).toBe(true);
      expect(fromTarball, specifier).toEqual(workspace);
    }
  }, 60_000);

  it('work together as a user installs them: a token, a command, a REST call and an event, against the packed sandbox', () => {
    const script = `
      import { startSandbox } from '@sessionkit/sandbox';
      import { oauth2, Session } from '@sessionkit/core-session';
      import { FileStore } from '@sessionkit/token-store/file';
      import { CommandClient, createApiClient } from '@sessionkit/http-client';
      import { EssClient } from '@sessionkit/ess-client';
      import { createLogger } from '@sessionkit/logger';
      import { mkdtempSync, rmSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      const lines = [];
      const logger = createLogger({ level: 'debug', write: (line) => lines.push(line) });
      const sandbox = await startSandbox({ ess: { generator: false } });
      const dir = mkdtempSync(join(tmpdir(), 'sessionkit-packed-store-'));
      const store = new FileStore({ dir, logger });
      const session = new Session({ authenticator: oauth2({ tokenUrl: sandbox.tokenUrl, grant: 'client_credentials', clientId: 'sessionkit-demo', clientSecret: 'demo-secret' }), store, logger });
      const commands = new CommandClient({ url: sandbox.commandUrl, credentials: { login: 'demo', password: 'demo-password' }, highPerformance: true, logger });
      const api = createApiClient({ baseUrl: new URL('/api/rest/v1/', sandbox.url).href, session, logger });
      const ess = new EssClient({ url: sandbox.essUrl, auth: session, logger, filters: [{ modifier: 'include', resourceTypes: ['outputs'], sourceIds: ['*'], eventTypes: ['*'] }] });
      try {
        const account = await commands.request({ COMMAND: 'StatusAccount' });
        const whoami = await api.get('whoami').json();
        await ess.connect();
        const iterator = ess.events()[Symbol.asyncIterator]();
        sandbox.publish({ type: '7a78f5bb-d8c3-4997-89b7-cae72713b7db', source: 'outputs/00000000-0000-4000-8000-000000000000' });
        const event = await iterator.next();
        await iterator.return();
        const secrets = ['demo-password', 'demo-secret', (await session.getToken()).value];
        console.log(JSON.stringify({ code: account.code, whoami: typeof whoami, event: event.value?.source, tokenRequests: sandbox.stats.idp.requests, logged: lines.length, secretLogged: lines.some((line) => secrets.some((secret) => line.includes(secret))) }));
      } finally {
        await Promise.all([ess.close(), commands.close()]);
        await session.end();
        await sandbox.close();
        rmSync(dir, { recursive: true, force: true });
      }`;
    const outcome = JSON.parse(run(process.execPath, ['--input-type=module', '-e', script], project)) as Record<string, unknown>;
    expect(outcome).toEqual({ code: 200, whoami: 'object', event: 'outputs/00000000-0000-4000-8000-000000000000', tokenRequests: 1, logged: expect.any(Number) as number, secretLogged: false });
    expect(outcome.logged).toBeGreaterThan(0);
  }, 60_000);

  it('link from their Markdown only to files inside the tarball (read on npm or in node_modules, without the repository around it)', () => {
    const broken: string[] = [];
    for (const name of packed.keys()) {
      const dir = join(project, 'node_modules', name);
      const documents = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.md') && !file.startsWith('node_modules'));
      for (const document of documents) {
        // Inline links, titles and <…> included, and reference definitions (`[x]: path`).
        const text = readFileSync(join(dir, document), 'utf8');
        const targets = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+["'(][^)]*)?\)/g), ...text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)/gm)].map((match) => match[1]);
        for (const target of targets) {
          const path = target?.split('#')[0] ?? '';
          if (path === '' || /^[a-z][\w+.-]*:/i.test(path)) continue;
          const resolved = join(dir, dirname(document), decodeURIComponent(path));
          if (!resolved.startsWith(`${dir}/`) || !existsSync(resolved)) broken.push(`${name}/${document} > ${String(target)}`);
        }
      }
      expect(documents.length, name).toBeGreaterThan(0);
    }
    expect(broken).toEqual([]);
  });

  it("run the sandbox's command from its packed bin", () => {
    const sandbox = packed.get('@sessionkit/sandbox');
    const bin = Object.values(sandbox?.bin ?? {})[0];
    expect(bin).toBeDefined();
    const file = join(project, 'node_modules', '@sessionkit', 'sandbox', String(bin));
    // npm's link to it runs it through this line.
    expect(readFileSync(file, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    expect(run(process.execPath, [file, '--help'], project)).toMatch(/--port/);
  });
});
