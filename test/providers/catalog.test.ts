import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { defaultCatalog, createCatalog } from '../../src/providers/catalog.js';
import type { ProviderDescriptor } from '../../src/providers/descriptor.js';

const ROOT = join(import.meta.dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path.split(sep).join('/')] : [];
  });
}

/** Every token of a file with the line it starts on: code only, since comments are trivia to the parser. */
function codeTokens(path: string): Array<{ line: number; text: string }> {
  const source = ts.createSourceFile(path, readFileSync(join(ROOT, path), 'utf8'), ts.ScriptTarget.Latest, true);
  const tokens: Array<{ line: number; text: string }> = [];
  const visit = (node: ts.Node): void => {
    if (node.kind >= ts.SyntaxKind.FirstJSDocNode && node.kind <= ts.SyntaxKind.LastJSDocNode) return;
    const children = node.getChildren(source);
    if (children.length > 0) {
      children.forEach(visit);
      return;
    }
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    tokens.push({ line, text: node.getText(source) });
  };
  visit(source);
  return tokens;
}

describe('the catalog is the only place that names a cloud', () => {
  const files = [...sourceFiles('src'), ...sourceFiles('commands')];

  it.each(defaultCatalog.descriptors.map((d) => [d.info.name, d] as const))(
    'no code outside src/providers/%s/ and the catalog names it',
    (name, { info }) => {
      const words = new RegExp([info.name, ...info.aliases].join('|'), 'i');
      const own = (path: string): boolean => path.startsWith(`src/providers/${name}/`) || path === 'src/providers/catalog.ts';
      const hits = files
        .filter((path) => !own(path))
        .flatMap((path) => codeTokens(path).flatMap(({ line, text }) => (words.test(text) ? [`${path}:${line}: ${text}`] : [])));
      expect(hits).toEqual([]);
    },
  );

  it('the scan sees code and skips comments', () => {
    const texts = codeTokens('src/providers/catalog.ts').map((t) => t.text);
    expect(texts).toContain('alibaba');
    expect(texts.some((t) => t.includes('The clouds this bot knows'))).toBe(false);
    expect(files.length).toBeGreaterThan(20);
  });
});

describe('the default catalog', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

  it.each(defaultCatalog.descriptors.map((d) => [d.info.name, d] as const))('%s: variables documented, seed fleet valid', (_name, d) => {
    for (const variable of d.env.variables) expect(readme).toContain(`\`${variable}\``);
    for (const seed of d.local.fleet) {
      expect(d.info.isInstanceId(seed.id)).toBe(true);
      expect(d.info.regions).toContain(seed.region);
    }
    expect(d.info.isInstanceId(d.info.exampleId)).toBe(true);
  });

  it('finds a provider by name or alias, in any case', () => {
    for (const { info } of defaultCatalog.descriptors) {
      for (const word of [info.name, ...info.aliases]) expect(defaultCatalog.find(word.toUpperCase())?.info.name).toBe(info.name);
    }
    expect(defaultCatalog.find('aws')).toBeUndefined();
    expect(defaultCatalog.get(defaultCatalog.names[0] ?? '')).toBe(defaultCatalog.descriptors[0]);
  });
});

describe('createCatalog', () => {
  const [first] = defaultCatalog.descriptors;
  if (!first) throw new Error('the default catalog is empty');
  const variant = (info: Partial<ProviderDescriptor['info']>, env: Partial<ProviderDescriptor['env']> = {}): ProviderDescriptor => ({
    ...first,
    info: { ...first.info, ...info },
    env: { ...first.env, variables: ['OTHER_KEY', 'OTHER_SECRET'], secrets: ['OTHER_SECRET'], ...env },
  });

  it('refuses names and aliases that collide or are taken by the grammar or the configuration file', () => {
    expect(() => createCatalog([first, variant({ name: 'other', aliases: [first.info.name] })])).toThrow(/already a name or alias/);
    expect(() => createCatalog([first, variant({ name: 'help', aliases: [] })])).toThrow(/reserved/);
    expect(() => createCatalog([first, variant({ name: 'regions', aliases: [] })])).toThrow(/reserved/);
    expect(() => createCatalog([first, variant({ name: 'Other', aliases: [] })])).toThrow(/must match/);
    expect(() => createCatalog([first, variant({ name: 'other', aliases: ['OT'] })])).toThrow(/lower case/);
  });

  it('refuses a variable read by two providers and a secret that is not a variable', () => {
    expect(() => createCatalog([first, variant({ name: 'other', aliases: [] }, { variables: first.env.variables })])).toThrow(/already read by/);
    expect(() => createCatalog([variant({ name: 'other', aliases: [] }, { secrets: ['NOT_READ'] })])).toThrow(/not one of its variables/);
  });
});
