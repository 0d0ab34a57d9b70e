// The code examples of the documentation, type-checked against the packages' sources: the
// `ts` blocks of every README and GUIDE, and the `@example` blocks of the public API's doc
// comments (what editors show on hover). An example that calls a method that is gone, passes an
// option under an old name or a value of the wrong type fails here, not in a user's editor.
//
// A Markdown block that imports anything is a program to copy as it is: it is checked alone.
// A block without imports, and every `@example`, is a fragment: it is checked with every public
// export of the packages in scope, and with the names fragments take as given (`session`,
// `client`, `password`, ...) declared with their types below. A name neither provides fails.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const here = fileURLToPath(new URL('..', import.meta.url));

/** The names fragments use without defining them, with the type each stands for. */
const givenNames: Record<string, string> = {
  api: 'ReturnType<typeof createApiClient>',
  audit: '(...values: unknown[]) => void',
  authenticator: 'Authenticator',
  client: 'CommandClient',
  clientSecret: 'string',
  credentials: 'CommandCredentials',
  ess: 'EssClient',
  handle: '(value: unknown) => void',
  logger: 'Logger',
  password: 'string',
  sandbox: 'Sandbox',
  session: 'Session',
  shutdown: 'AbortController',
  startSession: '(signal: AbortSignal) => Promise<string>',
  tokenUrl: 'string',
  url: 'string',
};

interface Example {
  /** Where it is written: `file:line` of its first line. */
  where: string;
  /** The file it is checked as. */
  file: string;
  code: string;
  /** Whether it gets the packages' exports and the given names. */
  fragment: boolean;
}

interface Manifest {
  name: string;
  private?: boolean;
  exports?: Record<string, unknown>;
}

const readManifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

const packageDirs = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .filter((dir) => existsSync(join(dir, 'package.json')) && readManifest(dir).private !== true);

/** Every entry point of the published packages, as imported: `@sessionkit/token-store/file`, ... */
const entrySpecifiers = packageDirs.flatMap((dir) => {
  const { name, exports = {} } = readManifest(dir);
  return Object.keys(exports)
    .filter((subpath) => subpath !== './package.json')
    .map((subpath) => name + subpath.slice(1));
});

/** The documents whose `ts` blocks are examples. */
const documents = [
  'README.md',
  ...['packages', 'apps'].flatMap((folder) =>
    readdirSync(join(root, folder)).flatMap((name) => ['README.md', 'GUIDE.md'].map((file) => `${folder}/${name}/${file}`)),
  ),
].filter((file) => existsSync(join(root, file)));

let counter = 0;
const virtualFile = (): string => join(here, `doc-example-${++counter}.ts`);

interface Fence {
  /** The language of its info string, lower-cased (`ts` for "```TS title=x"); '' for none. */
  language: string;
  /** The line number of its first line of code. */
  line: number;
  /** Its code, without the opening fence's indentation. */
  code: string;
}

/** The fenced code blocks of a Markdown document (backticks or tildes, indented or not, CommonMark's rules). */
function fences(document: string): Fence[] {
  const lines = readFileSync(join(root, document), 'utf8').split('\n');
  const found: Fence[] = [];
  for (let index = 0; index < lines.length; index++) {
    const open = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[index]!);
    // A backtick fence's info string holds no backtick: "```ts``` blocks" is text.
    if (!open || (open[2]!.startsWith('`') && lines[index]!.slice(open[0].length).includes('`'))) continue;
    const [, indent = '', marker = '', language = ''] = open;
    // Closed by the same character, at least as many, and nothing else; else at the end.
    let end = index + 1;
    while (end < lines.length && !new RegExp(`^ {0,3}${marker.startsWith('`') ? '`' : '~'}{${marker.length},}\\s*$`).test(lines[end]!)) end++;
    const code = lines.slice(index + 1, end).map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line.trimStart()));
    found.push({ language: language.toLowerCase(), line: index + 2, code: code.join('\n') });
    index = end;
  }
  return found;
}

function markdownExamples(document: string): Example[] {
  return fences(document)
    .filter(({ language }) => language === 'ts' || language === 'typescript')
    .map(({ line, code }) => ({ where: `${document}:${line}`, file: virtualFile(), code, fragment: !/^\s*import\s/m.test(code) }));
}

const options = ((): ts.CompilerOptions => {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(here, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  });
  if (!parsed) throw new Error('tooling/architecture/tsconfig.json could not be read');
  // Examples are programs, not declarations of a package.
  return { ...parsed.options, noEmit: true, declaration: false, declarationMap: false, isolatedDeclarations: false };
})();

/** A program over the given virtual files (path to text), the rest read from disk. */
function programOf(files: Map<string, string>, oldProgram?: ts.Program): ts.Program {
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const text = files.get(fileName);
    return text === undefined ? getSourceFile(fileName, languageVersion, onError, shouldCreate) : ts.createSourceFile(fileName, text, languageVersion, true);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => files.has(fileName) || fileExists(fileName);
  const readFile = host.readFile.bind(host);
  host.readFile = (fileName) => files.get(fileName) ?? readFile(fileName);
  return ts.createProgram({ rootNames: [...files.keys()], options, host, ...(oldProgram ? { oldProgram } : {}) });
}

/** One file importing every entry point as a namespace: its checker lists their exports and their doc comments. */
const probeFile = join(here, 'doc-example-probe.ts');
const probe = programOf(new Map([[probeFile, entrySpecifiers.map((specifier, index) => `import * as m${index} from '${specifier}';`).join('\n') + '\n']]));
const checker = probe.getTypeChecker();

/** The modules of the entry points, in the order of `entrySpecifiers`. */
const entryModules = entrySpecifiers.map((specifier, index) => {
  const probeSource = probe.getSourceFile(probeFile)!;
  const statement = probeSource.statements[index] as ts.ImportDeclaration;
  const symbol = checker.getSymbolAtLocation(statement.moduleSpecifier);
  if (!symbol) throw new Error(`${specifier} does not resolve from tooling/architecture`);
  return { specifier, exports: checker.getExportsOfModule(symbol) };
});

/** `import { ... } from ...` lines bringing every public export into scope, each name from the first entry point that has it. */
function importsOfEverything(except: ReadonlySet<string>): string {
  const taken = new Set(except);
  return entryModules
    .map(({ specifier, exports }) => {
      const names = exports
        .filter(({ name }) => name !== 'default' && !taken.has(name))
        .map((symbol) => {
          taken.add(symbol.name);
          const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
          return target.flags & ts.SymbolFlags.Value ? symbol.name : `type ${symbol.name}`;
        });
      return names.length ? `import { ${names.join(', ')} } from '${specifier}';` : '';
    })
    .join('\n');
}

/** The `@example` blocks of the exported declarations, and of the members of exported classes and interfaces. */
function apiExamples(): Example[] {
  const seen = new Set<string>();
  const examples: Example[] = [];
  const collect = (declaration: ts.Declaration): void => {
    const source = declaration.getSourceFile();
    for (const tag of ts.getJSDocTags(declaration)) {
      if (tag.tagName.text !== 'example') continue;
      const line = source.getLineAndCharacterOfPosition(tag.getStart(source)).line;
      const where = `${relative(root, source.fileName)}:${line + 2}`;
      if (seen.has(where)) continue;
      seen.add(where);
      // The lines after the tag's, up to the next tag or the comment's end, without their `* `.
      const lines = source.text.split('\n');
      const code: string[] = [];
      for (let index = line + 1; index < lines.length; index++) {
        const text = lines[index]!;
        if (/^\s*\*\//.test(text) || /^\s*\* @/.test(text)) break;
        code.push(text.replace(/^\s*\* ?/, ''));
      }
      examples.push({ where, file: virtualFile(), code: code.join('\n'), fragment: true });
    }
  };
  for (const { exports } of entryModules) {
    for (const exported of exports) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      for (const declaration of symbol.declarations ?? []) {
        collect(declaration);
        if (ts.isClassDeclaration(declaration) || ts.isInterfaceDeclaration(declaration)) declaration.members.forEach(collect);
      }
    }
  }
  return examples;
}

/** The names an example declares or imports at its top level. */
function topLevelNames(code: string): Set<string> {
  const source = ts.createSourceFile('example.ts', code, ts.ScriptTarget.ES2023, true);
  const names = new Set<string>();
  const addBinding = (name: ts.BindingName): void => {
    if (ts.isIdentifier(name)) names.add(name.text);
    else for (const element of name.elements) if (!ts.isOmittedExpression(element)) addBinding(element.name);
  };
  for (const statement of source.statements) {
    if (ts.isVariableStatement(statement)) statement.declarationList.declarations.forEach((declaration) => { addBinding(declaration.name); });
    else if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name) names.add(statement.name.text);
    else if (ts.isImportDeclaration(statement) && statement.importClause) {
      const { name, namedBindings } = statement.importClause;
      if (name) names.add(name.text);
      if (namedBindings && ts.isNamespaceImport(namedBindings)) names.add(namedBindings.name.text);
      else if (namedBindings) namedBindings.elements.forEach((element) => names.add(element.name.text));
    }
  }
  return names;
}

/** The example as checked: itself first (so that its lines keep their numbers), then what a fragment is given. */
function checkedText(example: Example): string {
  if (!example.fragment) return `${example.code}\nexport {};\n`;
  const own = topLevelNames(example.code);
  const given = Object.entries(givenNames)
    .filter(([name]) => !own.has(name))
    .map(([name, type]) => `declare const ${name}: ${type};`)
    .join('\n');
  // The given names' types come from the imports too, so those stay in even where the example declares the name.
  return `${example.code}\nexport {};\n${importsOfEverything(own)}\n${given}\n`;
}

const examples = [...documents.flatMap(markdownExamples), ...apiExamples()];

describe('documentation examples', () => {
  it('finds the examples of the READMEs, the GUIDEs and the API doc comments', () => {
    // So that a change in how they are found cannot make this test check nothing.
    expect(examples.filter((example) => /\.md:\d+$/.test(example.where)).length).toBeGreaterThanOrEqual(9);
    expect(examples.filter((example) => /\.ts:\d+$/.test(example.where)).length).toBeGreaterThanOrEqual(24);
    for (const file of ['README.md', 'packages/ess-client/README.md', 'packages/core-session/src/session.ts', 'packages/ess-client/src/ess-client.ts']) {
      expect(examples.some((example) => example.where.startsWith(`${file}:`)), file).toBe(true);
    }
  });

  it('leaves no JavaScript or TypeScript block unchecked: every such block is tagged ts', () => {
    // A block tagged js, tsx, mjs and the like would be skipped above.
    const untagged = documents.flatMap((document) =>
      fences(document)
        .filter(({ language }) => /^(js|javascript|[mc]js|jsx|tsx|[mc]ts|node)$/.test(language))
        .map(({ line, language }) => `${document}:${line - 1}: ${language}`),
    );
    expect(untagged).toEqual([]);
  });

  it('type-check against the packages', () => {
    const files = new Map(examples.map((example) => [example.file, checkedText(example)]));
    const program = programOf(files, probe);
    const problems: string[] = [];
    for (const example of examples) {
      const source = program.getSourceFile(example.file)!;
      const [document, line] = example.where.split(/:(?=\d+$)/) as [string, string];
      for (const diagnostic of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
        const at = diagnostic.start === undefined ? 0 : source.getLineAndCharacterOfPosition(diagnostic.start).line;
        problems.push(`${document}:${Number(line) + at}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
