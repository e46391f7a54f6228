/**
 * The clouds this bot knows. Configuration, the registry, the command parser, the Slack cards and local
 * mode all read this list, so it is the one place a cloud is added; tests inject a catalog of their own.
 */
import { alibaba } from './alibaba/index.js';
import { baidu } from './baidu/index.js';
import type { ProviderDescriptor } from './descriptor.js';
import { huawei } from './huawei/index.js';
import { PROVIDER_NAME } from './provider.js';
import { volcengine } from './volcengine/index.js';

export interface Catalog {
  readonly descriptors: readonly ProviderDescriptor[];
  /** In catalog order, which is the order of listings and usage text. */
  readonly names: readonly string[];
  get(name: string): ProviderDescriptor | undefined;
  /** By name or alias, case-insensitively: what a requester may type. */
  find(nameOrAlias: string): ProviderDescriptor | undefined;
}

// Words that already mean something where provider names appear: the command's help word and the
// configuration file's own sections.
const RESERVED: ReadonlySet<string> = new Set(['help', 'regions', 'limits']);

/** Checks that the descriptors can live side by side: one word, one variable, one owner. */
export function createCatalog(descriptors: readonly ProviderDescriptor[]): Catalog {
  const words = new Map<string, string>();
  const variables = new Map<string, string>();
  for (const { info, env } of descriptors) {
    if (!PROVIDER_NAME.test(info.name)) throw new Error(`provider name "${info.name}" must match ${PROVIDER_NAME}`);
    for (const word of [info.name, ...info.aliases]) {
      if (word !== word.toLowerCase()) throw new Error(`${info.name}: "${word}" must be lower case`);
      if (RESERVED.has(word)) throw new Error(`${info.name}: "${word}" is reserved`);
      const owner = words.get(word);
      if (owner !== undefined) throw new Error(`${info.name}: "${word}" is already a name or alias of ${owner}`);
      words.set(word, info.name);
    }
    for (const variable of env.variables) {
      const owner = variables.get(variable);
      if (owner !== undefined) throw new Error(`${info.name}: ${variable} is already read by ${owner}`);
      variables.set(variable, info.name);
    }
    const stray = env.secrets.find((secret) => !env.variables.includes(secret));
    if (stray !== undefined) throw new Error(`${info.name}: secret ${stray} is not one of its variables`);
  }
  const byName = new Map(descriptors.map((d) => [d.info.name, d]));
  return {
    descriptors,
    names: descriptors.map((d) => d.info.name),
    get: (name) => byName.get(name),
    find: (nameOrAlias) => {
      const name = words.get(nameOrAlias.toLowerCase());
      return name === undefined ? undefined : byName.get(name);
    },
  };
}

export const defaultCatalog: Catalog = createCatalog([alibaba, volcengine, baidu, huawei]);
