// The dependency rules of design/ARCHITECTURE.md, checked on the workspace as it is: the
// package.json files, the import statements in the sources, and the installed node_modules tree.
// Each check collects the breaches as readable lines and expects that list to be empty.
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean } | undefined>;
  optionalDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  gypfile?: boolean;
  napi?: unknown;
}

/** A package found on disk while following a package's production dependencies. */
interface Installed {
  name: string;
  dir: string;
  manifest: Manifest;
  /** How it was reached, e.g. `@sessionkit/ess-client > ws`. */
  via: string;
}

const root = fileURLToPath(new URL('../../..', import.meta.url));
const scope = '@sessionkit/';

/** The client chain: each package may use only the packages listed for it (those to its left). */
const allowed: Record<string, readonly string[]> = {
  '@sessionkit/logger': [],
  '@sessionkit/token-store': ['@sessionkit/logger'],
  '@sessionkit/core-session': ['@sessionkit/logger', '@sessionkit/token-store'],
  '@sessionkit/http-client': ['@sessionkit/logger', '@sessionkit/token-store', '@sessionkit/core-session'],
  '@sessionkit/ess-client': ['@sessionkit/logger', '@sessionkit/token-store', '@sessionkit/core-session'],
};
const clients = Object.keys(allowed);
const sandbox = '@sessionkit/sandbox';
/** Packages whose presence in a production closure makes it native. */
const nativeToolchain = ['node-gyp', 'node-gyp-build', 'node-pre-gyp', '@mapbox/node-pre-gyp', 'prebuild-install', 'prebuild', 'bindings', 'node-addon-api', 'nan', 'cmake-js'];
const runtimeFields = ['dependencies', 'peerDependencies', 'optionalDependencies'] as const;

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** The workspace packages under the given folders (`packages`, `apps`, `tooling`), by name. */
function workspacePackages(...folders: string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const folder of folders) {
    for (const entry of readdirSync(join(root, folder), { withFileTypes: true })) {
      const dir = join(root, folder, entry.name);
      if (entry.isDirectory() && existsSync(join(dir, 'package.json'))) found.set(readManifest(dir).name, dir);
    }
  }
  return found;
}

const packages = workspacePackages('packages');
const allPackages = workspacePackages('packages', 'apps');
const toolingNames = [...workspacePackages('tooling').keys()];

const allowedList = (name: string): string => (allowed[name]?.length ? allowed[name].join(', ') : 'no @sessionkit package');

function packageDir(name: string): string {
  const dir = packages.get(name);
  if (dir === undefined) throw new Error(`${name} is not a workspace package under packages/`);
  return dir;
}

const where = (file: string): string => relative(root, file);
const isSessionkit = (name: string): boolean => name.startsWith(scope);

/** `dependencies`, `peerDependencies` (optional or not) and `optionalDependencies`, with their field. */
function runtimeDependencies(manifest: Manifest): { field: string; name: string }[] {
  return runtimeFields.flatMap((field) => Object.keys(manifest[field] ?? {}).map((name) => ({ field, name })));
}

/** What installing the package installs with it: dependencies, optional dependencies, non-optional peers. */
function installedDependencies(manifest: Manifest): { name: string; optional: boolean }[] {
  const peers = Object.keys(manifest.peerDependencies ?? {}).filter((name) => manifest.peerDependenciesMeta?.[name]?.optional !== true);
  return [
    ...Object.keys(manifest.dependencies ?? {}).map((name) => ({ name, optional: false })),
    ...peers.map((name) => ({ name, optional: false })),
    ...Object.keys(manifest.optionalDependencies ?? {}).map((name) => ({ name, optional: true })),
  ];
}

/** Every file under `dir`, skipping installed and built folders. */
function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return ['node_modules', 'dist', '.turbo'].includes(entry.name) ? [] : walk(path);
    return entry.isFile() ? [path] : [];
  });
}

const isScript = (file: string): boolean => /\.[cm]?[jt]s$/.test(file);
const isTestFile = (file: string): boolean => /\.test(-d)?\.ts$/.test(file) || file.split(/[\\/]/).includes('testing');

/** The package's shipped sources: `src/**` without `*.test.ts`, `*.test-d.ts` and `src/**\/testing/**`. */
function nonTestSources(dir: string): string[] {
  return walk(join(dir, 'src')).filter((file) => isScript(file) && !isTestFile(relative(dir, file)));
}

/** `@sessionkit/a/b` -> `@sessionkit/a`; `ws/lib/x` -> `ws`. */
function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

/**
 * The @sessionkit modules a file imports: static and type imports, re-exports, `import()`,
 * `require()` and `import('x').T` types. TypeScript's scanner ignores comments and strings.
 */
function sessionkitImports(files: string[]): { file: string; specifier: string; name: string }[] {
  return files.flatMap((file) =>
    ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles
      .map((imported) => imported.fileName)
      .filter(isSessionkit)
      .map((specifier) => ({ file, specifier, name: packageNameOf(specifier) })),
  );
}

/** Where `name` is installed for code in `fromDir`, following node_modules up the tree, as a real path. */
function findInstalled(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}

function installedAt(dir: string, via?: string): Installed {
  const manifest = readManifest(dir);
  return { name: manifest.name, dir: realpathSync(dir), manifest, via: via ?? manifest.name };
}

/** The package at `dir` and every package installing it installs, found on disk (never devDependencies). */
function productionClosure(dir: string): Installed[] {
  const start = installedAt(dir);
  const seen = new Map<string, Installed>([[start.dir, start]]);
  const queue = [start];
  for (let current = queue.shift(); current !== undefined; current = queue.shift()) {
    for (const dependency of installedDependencies(current.manifest)) {
      const via = `${current.via} > ${dependency.name}`;
      const found = findInstalled(dependency.name, current.dir);
      if (found === undefined) {
        if (dependency.optional) continue; // another platform's optional package
        throw new Error(`${via}: a required dependency is not installed (run pnpm install)`);
      }
      if (seen.has(found)) continue;
      const next = installedAt(found, via);
      seen.set(found, next);
      queue.push(next);
    }
  }
  return [...seen.values()];
}

/** Why a package counts as native, checked on disk; empty when it does not. */
function nativeReasons({ dir, name, manifest }: Installed): string[] {
  const reasons: string[] = [];
  if (existsSync(join(dir, 'binding.gyp'))) reasons.push('has binding.gyp');
  if (manifest.gypfile === true) reasons.push('has "gypfile": true');
  for (const script of ['preinstall', 'install', 'postinstall']) {
    if (manifest.scripts?.[script] !== undefined) reasons.push(`has an ${script} script`);
  }
  if (name.startsWith('@napi-rs/') || manifest.napi !== undefined) reasons.push('is a napi-rs addon');
  const addon = walk(dir).find((file) => file.endsWith('.node'));
  if (addon !== undefined) reasons.push(`ships ${relative(dir, addon)}`);
  const nativeDependencies = installedDependencies(manifest)
    .map((dependency) => dependency.name)
    .filter((dependency) => nativeToolchain.includes(dependency) || dependency.startsWith('@napi-rs/'));
  if (nativeDependencies.length > 0) reasons.push(`depends on ${nativeDependencies.join(', ')}`);
  return reasons;
}

/** Why a package may not be in the closure of logger, token-store or core-session. */
function forbiddenReasons(pkg: Installed): string[] {
  const reasons = ['ws', 'undici'].includes(pkg.name) ? [`is ${pkg.name}`] : [];
  return [...reasons, ...nativeReasons(pkg)];
}

describe('the checks themselves', () => {
  it('every package under packages/ is on the client chain or is the sandbox', () => {
    expect([...packages.keys()].sort(), 'a new package needs a place in design/ARCHITECTURE.md and here').toEqual([...clients, sandbox].sort());
  });

  it('the import scanner sees real imports and ignores comments (http-client imports core-session)', () => {
    const httpImports = sessionkitImports(nonTestSources(packageDir('@sessionkit/http-client'))).map((found) => found.name);
    expect(httpImports).toContain('@sessionkit/core-session');
    const comment = ts.preProcessFile("// import '@sessionkit/x'\nconst s = \"import '@sessionkit/y'\";", true, true);
    expect(comment.importedFiles).toEqual([]);
  });
});

describe('rule 1: arrows point one way (logger <- token-store <- core-session <- http-client | ess-client)', () => {
  it.each(clients)('%s depends on no @sessionkit package to its right or off its chain', (name) => {
    const manifest = readManifest(packageDir(name));
    const breaches = runtimeDependencies(manifest)
      .filter((dependency) => isSessionkit(dependency.name) && !allowed[name]?.includes(dependency.name))
      .map((dependency) => `${where(join(packageDir(name), 'package.json'))}: ${dependency.field} has ${dependency.name}`);
    expect(breaches, `rule 1: ${name} may depend only on ${allowedList(name)}`).toEqual([]);
  });

  it.each(clients)('%s imports no @sessionkit package to its right or off its chain', (name) => {
    const files = nonTestSources(packageDir(name));
    expect(files.length, `no sources found for ${name}`).toBeGreaterThan(0);
    const breaches = sessionkitImports(files)
      .filter((found) => found.name !== name && !allowed[name]?.includes(found.name))
      .map((found) => `${where(found.file)} imports ${found.specifier}`);
    expect(breaches, `rule 1: ${name} may import only ${allowedList(name)}`).toEqual([]);
  });
});

describe('rule 2: the sandbox shares no code with the clients', () => {
  const dir = packageDir(sandbox);
  const manifest = readManifest(dir);

  it('depends at run time on no @sessionkit package', () => {
    const breaches = runtimeDependencies(manifest)
      .filter((dependency) => isSessionkit(dependency.name))
      .map((dependency) => `packages/sandbox/package.json: ${dependency.field} has ${dependency.name}`);
    expect(breaches, 'rule 2: the sandbox may not depend on any @sessionkit package').toEqual([]);
  });

  it('has only tooling packages (tooling/*) as @sessionkit devDependencies', () => {
    const breaches = Object.keys(manifest.devDependencies ?? {})
      .filter((name) => isSessionkit(name) && !toolingNames.includes(name))
      .map((name) => `packages/sandbox/package.json: devDependencies has ${name}`);
    expect(breaches, `rule 2: the sandbox's @sessionkit devDependencies may only be ${toolingNames.join(', ')}`).toEqual([]);
  });

  it('imports, in any file (tests included), only itself and tooling packages from @sessionkit', () => {
    const files = walk(dir).filter(isScript);
    expect(files.length).toBeGreaterThan(0);
    const breaches = sessionkitImports(files)
      .filter((found) => found.name !== sandbox && !toolingNames.includes(found.name))
      .map((found) => `${where(found.file)} imports ${found.specifier}`);
    expect(breaches, 'rule 2: the sandbox may not import a client package').toEqual([]);
  });
});

describe('rule 3: installing core-session pulls in no ws, undici or native module', () => {
  it.each(['@sessionkit/logger', '@sessionkit/token-store', '@sessionkit/core-session'])('the production closure of %s has no ws, undici or native module', (name) => {
    const breaches = productionClosure(packageDir(name))
      .map((pkg) => ({ pkg, reasons: forbiddenReasons(pkg) }))
      .filter(({ reasons }) => reasons.length > 0)
      .map(({ pkg, reasons }) => `${pkg.via} (${where(pkg.dir)}): ${reasons.join('; ')}`);
    expect(breaches, `rule 3: installing ${name} must not install ws, undici or a native module`).toEqual([]);
  });

  it('@napi-rs/keyring is an optional peer dependency of token-store, never a dependency', () => {
    const manifest = readManifest(packageDir('@sessionkit/token-store'));
    const keyring = '@napi-rs/keyring';
    const breaches = [
      manifest.peerDependencies?.[keyring] === undefined ? 'not in peerDependencies' : undefined,
      manifest.peerDependenciesMeta?.[keyring]?.optional !== true ? 'not marked optional in peerDependenciesMeta' : undefined,
      manifest.dependencies?.[keyring] !== undefined ? 'in dependencies' : undefined,
      manifest.optionalDependencies?.[keyring] !== undefined ? 'in optionalDependencies (installed by default)' : undefined,
    ].filter((breach) => breach !== undefined).map((breach) => `packages/token-store/package.json: ${keyring} is ${breach}`);
    expect(breaches, 'rule 3: the keychain adapter loads its native module only when the user installs it').toEqual([]);
  });

  it('positive control: the walker finds ws in the closure of ess-client and undici in that of http-client', () => {
    const found = (name: string, banned: string): string[] =>
      productionClosure(packageDir(name)).filter((pkg) => forbiddenReasons(pkg).includes(`is ${banned}`)).map((pkg) => pkg.via);
    expect(found('@sessionkit/ess-client', 'ws')).toEqual(['@sessionkit/ess-client > ws']);
    expect(found('@sessionkit/http-client', 'undici')).toEqual(['@sessionkit/http-client > undici']);
  });

  it('positive control: the native check flags the installed @napi-rs/keyring and its .node binary', () => {
    const dir = findInstalled('@napi-rs/keyring', packageDir('@sessionkit/token-store'));
    if (dir === undefined) throw new Error('@napi-rs/keyring, a devDependency of token-store, is not installed');
    expect(nativeReasons(installedAt(dir))).toContain('is a napi-rs addon');
    const binaries = productionClosure(dir).flatMap(nativeReasons).filter((reason) => /^ships .*\.node$/.test(reason));
    expect(binaries.length, 'the platform package of @napi-rs/keyring ships a .node file').toBeGreaterThan(0);
  });
});

describe('rule 4: every @sessionkit import in shipped sources is declared', () => {
  it.each([...allPackages.keys()])('%s declares each @sessionkit package its non-test sources import', (name) => {
    const dir = allPackages.get(name) ?? '';
    const manifest = readManifest(dir);
    const declared = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})];
    const breaches = sessionkitImports(nonTestSources(dir))
      .filter((found) => found.name !== name && !declared.includes(found.name))
      .map((found) => `${where(found.file)} imports ${found.specifier}, not in dependencies or peerDependencies`);
    expect(breaches, `rule 4: ${name} imports an undeclared @sessionkit package`).toEqual([]);
  });
});

describe('independent releases: one copy of each package', () => {
  // `workspace:*` is published as the exact version: a user who upgrades core-session alone
  // would get a second copy of it under http-client: twice the code, and an error made by one
  // copy is no `instanceof` the other's class. `workspace:^` is published as a caret range,
  // which the newer copy meets.
  it.each(clients)('%s names its @sessionkit dependencies as workspace:^ (published as ^version)', (name) => {
    const manifest = readManifest(packageDir(name));
    const breaches = runtimeFields.flatMap((field) =>
      Object.entries(manifest[field] ?? {})
        .filter(([dependency, range]) => isSessionkit(dependency) && range !== 'workspace:^')
        .map(([dependency, range]) => `${where(join(packageDir(name), 'package.json'))}: ${field} has ${dependency} at ${range}`),
    );
    expect(breaches, 'an exact pin makes a user who upgrades one package install two copies of another').toEqual([]);
  });
});
