/**
 * The `/reboot` grammar: Slack's `text` in, a validated request, a help request or a reply-ready error out.
 * Pure (no I/O, no clock), so the listener, local mode and the tests share one definition of the language.
 *
 *   /reboot <provider> <region> <id>… [--account <name>] [--force] [--dry-run] [--no-verify | --rolling <n>] [--reason <text>]
 *   /reboot status <request>      one request: state, approvals, tally, wave, link to its card
 *   /reboot list [--mine]         the last 10 requests of this channel, or the caller's own in any channel
 *   /reboot audit <request>       the request's audit trail and outcomes as a CSV file in its thread
 *   /reboot regions <provider>    every region of a provider (aliases accepted), config's extra ones included
 *   /reboot policy                what the caller may do in this channel (src/policy/rules.ts)
 *   /reboot cancel <request>      stop a request: withdrawn if pending, no further batch or wave if running
 *   /reboot help | -h | --help
 *
 * Subcommands are the first word and are looked up (in SUBCOMMANDS, the one table to extend) before provider
 * names, so no provider may be named like one. A `--help` anywhere still wins. A first word that is neither a
 * subcommand nor a provider gets a "did you mean" (commands/did-you-mean.ts) over both, as do regions and flags.
 *
 * Lexical rules, in the order they apply:
 * - Whitespace (any Unicode space, tabs, new lines) and commas separate tokens, so ids pasted from a
 *   spreadsheet column or a comma list both work. A reason containing spaces or commas must be quoted.
 * - A quote opens only at the start of a token or right after `=` (`--reason="…"`), so apostrophes inside
 *   words (`customer's`) need no quoting. Pairs: "…", '…', “…”, ‘…’. Inside quotes a backslash escapes the
 *   closing quote or another backslash; any other backslash is literal. A closing quote must end the token.
 * - Quoted text is only meaningful as the `--reason` value; anywhere else it is an error rather than a
 *   guess (a quoted id list is more likely a forgotten `--reason`).
 * - Surrounding backticks are stripped from unquoted tokens, because people paste ids as `code`.
 * - A token starting with a dash is a flag. Any run of hyphens, en or em dashes counts as the prefix:
 *   Slack clients turn `--force` into `—force` (smart punctuation; the command text arrives as typed after it). Flag names are case-insensitive
 *   because phone keyboards capitalise the first letter.
 * - `--rolling` takes its number as `--rolling=5` or as the next token; a next token that looks like a negative
 *   number (`--rolling -3`) is read as the value, so the error names `--rolling` rather than an unknown flag `-3`.
 *
 * Flag combinations:
 * - `--rolling` with `--no-verify` is an error: a rolling wave must be seen running again before the next one
 *   starts, so rolling without verifying has no meaning.
 * - `--dry-run` combines with everything: with `--rolling` the dry run shows the wave plan, with `--no-verify`
 *   it is a harmless no-op (nothing is rebooted, so there is nothing to wait for), with `--force` it checks a
 *   forced reboot. Rejecting these would only make people delete flags to preview the command they mean to run.
 * - `--rolling` larger than the number of ids is kept as given: it is one wave.
 */
import { escapeMrkdwn } from '../src/mrkdwn.js';
import { didYouMean } from './did-you-mean.js';
import { z } from 'zod';
import { defaultCatalog, type Catalog } from '../src/providers/catalog.js';
import type { ProviderInfo, ProviderName } from '../src/providers/provider.js';

export interface RebootRequest {
  provider: ProviderName;
  /** `--account <name>` (`-a`): one of the provider's named accounts (src/policy/accounts.ts); absent: `default`. */
  account?: string;
  region: string;
  ids: string[];
  force: boolean;
  dryRun: boolean;
  /** Wait for every instance to come back running and report that; false (`--no-verify`) reports "reboot accepted". */
  verify: boolean;
  /** `--rolling N`: reboot N instances at a time, each wave verified before the next; null reboots all at once. */
  rolling: number | null;
  reason?: string;
}

export type ProviderAvailability = 'ready' | 'not-configured';

export interface ParseContext {
  /** The providers a request may name; the built-in catalog when absent. */
  catalog?: Catalog;
  availability: (name: ProviderName) => ProviderAvailability;
  /** REBOOT_MAX_INSTANCES; see DEFAULT_MAX_INSTANCES. */
  maxInstances: number;
  /** Regions added by config on top of each provider's known list. */
  extraRegions?: Partial<Record<ProviderName, readonly string[]>>;
}

export type ParsedCommand =
  | { kind: 'help' }
  | { kind: 'run'; request: RebootRequest }
  | { kind: 'status'; requestId: string }
  | { kind: 'audit'; requestId: string }
  | { kind: 'list'; mine: boolean }
  | { kind: 'regions'; provider: ProviderName; regions: string[]; configured: boolean }
  | { kind: 'policy' }
  | { kind: 'cancel'; jobId: string }
  | { kind: 'error'; message: string; token?: string };

/** What a request id looks like (src/slack/listeners.ts newJobId): `r-` and ten base32 characters. */
export const REQUEST_ID = /^r-[a-z2-7]{10}$/;
const EXAMPLE_REQUEST_ID = 'r-7kq2mzx4ab';

type ParseError = Extract<ParsedCommand, { kind: 'error' }>;

export const DEFAULT_MAX_INSTANCES = 500;
/** In code points, so an emoji counts as the one character the requester sees. */
export const MAX_REASON_LENGTH = 500;
/** The largest `--rolling` wave size. */
export const MAX_ROLLING = 10_000;

const ROLLING_WITHOUT_VERIFY =
  '`--rolling` and `--no-verify` cannot be combined: each rolling wave must come back running (verified) before the next one starts; drop one of them';

// ---------------------------------------------------------------------------------------------------------
// The boundary shape. Region membership and the instance limit depend on config, so the parser checks those;
// everything that holds for every deployment lives here, so a store or a test can validate a request too.

const REGION_ID = /^[a-z0-9][a-z0-9._-]*$/;
/** The policy file's account names (src/policy/load.ts). */
export const ACCOUNT_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
// Bidirectional overrides can make the reason an approver reads differ from what was typed.
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;
const CONTROL = /\p{Cc}/u;
const LONE_SURROGATE = /\p{Cs}/u;

/** The one reason spelling the parser produces: whitespace runs (new lines included) become one space. */
function normalizeReason(text: string): string {
  return text.replace(/\s+/gu, ' ').trim();
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Why `reason` cannot be stored, or undefined when it can. */
function reasonProblem(reason: string): string | undefined {
  if (reason === '') return '`--reason` needs a value';
  if (normalizeReason(reason) !== reason) return 'the reason must be trimmed, with single spaces between words';
  if (CONTROL.test(reason)) return 'the reason contains a control character';
  if (LONE_SURROGATE.test(reason)) return 'the reason contains an invalid character';
  if (BIDI_CONTROL.test(reason)) return 'the reason contains a text-direction control character';
  const length = codePoints(reason);
  if (length > MAX_REASON_LENGTH) {
    return `the reason is ${length} characters long; at most ${MAX_REASON_LENGTH} are allowed`;
  }
  return undefined;
}

function buildRequestSchema(catalog: Catalog): z.ZodType<RebootRequest> {
  return z
    .strictObject({
      provider: z.enum(catalog.names),
      account: z.string().regex(ACCOUNT_NAME, { message: 'an account name is lower-case letters, digits, - and _' }).optional(),
      region: z.string().regex(REGION_ID, { message: 'a region id is lower-case letters, digits, dots and dashes' }),
      ids: z.array(z.string()).min(1, { message: 'no instance ids given' }),
      force: z.boolean(),
      dryRun: z.boolean(),
      verify: z.boolean(),
      rolling: z
        .number()
        .int({ message: '`rolling` is a whole number' })
        .min(1, { message: `\`rolling\` is from 1 to ${MAX_ROLLING}` })
        .max(MAX_ROLLING, { message: `\`rolling\` is from 1 to ${MAX_ROLLING}` })
        .nullable(),
      reason: z.string().optional(),
    })
    .superRefine((req, ctx) => {
      if (req.rolling !== null && !req.verify) ctx.addIssue({ code: 'custom', path: ['verify'], message: ROLLING_WITHOUT_VERIFY });
      const info = catalog.get(req.provider)?.info;
      if (info === undefined) return;
      const seen = new Set<string>();
      req.ids.forEach((id, i) => {
        if (!info.isInstanceId(id)) {
          ctx.addIssue({ code: 'custom', path: ['ids', i], message: badIdMessage(info, id) });
        } else if (seen.has(id)) {
          ctx.addIssue({ code: 'custom', path: ['ids', i], message: `instance id ${show(id)} appears twice` });
        }
        seen.add(id);
      });
      if (req.reason !== undefined) {
        const problem = reasonProblem(req.reason);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['reason'], message: problem });
      }
    });
}

// Built once per catalog: the parser checks every request against it, and a schema is not free to build.
const requestSchemas = new WeakMap<Catalog, z.ZodType<RebootRequest>>();

/** The boundary shape of a request for the providers of `catalog`. */
export function requestSchemaFor(catalog: Catalog): z.ZodType<RebootRequest> {
  let schema = requestSchemas.get(catalog);
  if (schema === undefined) {
    schema = buildRequestSchema(catalog);
    requestSchemas.set(catalog, schema);
  }
  return schema;
}

export const rebootRequestSchema = requestSchemaFor(defaultCatalog);

// ---------------------------------------------------------------------------------------------------------
// Tokenizer

interface Token {
  /** Quotes removed, escapes applied. */
  text: string;
  /** As typed, for error messages. */
  raw: string;
  /** 'whole': the token is one quoted string; 'after-equals': `name="…"`. */
  quoted: 'none' | 'whole' | 'after-equals';
  /** Position among all tokens, so the leftmost problem is the one reported. */
  index: number;
}

const CLOSING_QUOTE: ReadonlyMap<string, string> = new Map([
  ['"', '"'],
  ["'", "'"],
  ['\u201C', '\u201D'], // “ ”
  ['\u2018', '\u2019'], // ‘ ’
]);

// Zero-width space and word joiner sneak in when ids are copied from web consoles.
const SEPARATOR = /^[\s,\u200B\u2060]$/u;
const isSeparator = (ch: string): boolean => SEPARATOR.test(ch);

function tokenize(text: string): { tokens: Token[] } | { error: ParseError } {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    if (isSeparator(text.charAt(i))) {
      i++;
      continue;
    }
    const start = i;
    let value = '';
    let quoted: Token['quoted'] = 'none';
    while (i < text.length && !isSeparator(text.charAt(i))) {
      const ch = text.charAt(i);
      const closer = CLOSING_QUOTE.get(ch);
      const mayOpen = i === start || text.charAt(i - 1) === '=';
      if (closer === undefined || !mayOpen) {
        value += ch;
        i++;
        continue;
      }
      const openedAt = i;
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text.charAt(i);
        const next = text.charAt(i + 1);
        if (c === '\\' && (next === closer || next === '\\')) {
          value += next;
          i += 2;
        } else if (c === closer) {
          closed = true;
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) {
        const rest = text.slice(start);
        return {
          error: { kind: 'error', message: `unterminated quote: ${show(rest)} has no closing \`${closer}\``, token: rest },
        };
      }
      if (i < text.length && !isSeparator(text.charAt(i))) {
        let end = i;
        while (end < text.length && !isSeparator(text.charAt(end))) end++;
        const raw = text.slice(start, end);
        return {
          error: {
            kind: 'error',
            message: `unexpected ${show(text.charAt(i))} after the closing quote in ${show(raw)}; put a space after the quote`,
            token: raw,
          },
        };
      }
      quoted = openedAt === start ? 'whole' : 'after-equals';
      break;
    }
    tokens.push({ text: value, raw: text.slice(start, i), quoted, index: tokens.length });
  }
  return { tokens };
}

// ---------------------------------------------------------------------------------------------------------
// Parser

// Hyphen-minus, the Unicode hyphens, figure dash, en dash, em dash, horizontal bar, minus sign.
const DASH_PREFIX = /^[-\u2010-\u2015\u2212]+/u;
const DASHES = /[-\u2010-\u2015\u2212]/gu;
type FlagName = 'help' | 'force' | 'dry-run' | 'no-verify' | 'rolling' | 'reason' | 'account';
const FLAG_NAMES: ReadonlyMap<string, FlagName> = new Map<string, FlagName>([
  ['help', 'help'],
  ['h', 'help'],
  ['force', 'force'],
  ['dry-run', 'dry-run'],
  ['dryrun', 'dry-run'],
  ['dry_run', 'dry-run'],
  ['no-verify', 'no-verify'],
  ['noverify', 'no-verify'],
  ['no_verify', 'no-verify'],
  ['rolling', 'rolling'],
  ['reason', 'reason'],
  ['account', 'account'],
  ['a', 'account'],
]);
/** The flag spellings a "did you mean" offers: the canonical names only. */
const SPELLED_FLAGS: readonly string[] = ['account', 'force', 'dry-run', 'no-verify', 'rolling', 'reason', 'help'];
/** Flags that take a value; the others are switches. */
const VALUE_FLAGS: ReadonlySet<FlagName> = new Set<FlagName>(['rolling', 'reason', 'account']);
const KNOWN_FLAGS = '`--account`, `--force`, `--dry-run`, `--no-verify`, `--rolling`, `--reason`, `--help`';
/** A dash word that is a value rather than a flag: a negative or decimal number such as `-3` or `-.5`. */
const NEGATIVE_NUMBER = /^[-\u2010-\u2015\u2212]+[0-9.]/u;
const ASCII_DIGITS = /^[0-9]+$/;

/** The wave size typed after `--rolling`, or why it is not one. */
function rollingValue(typed: string | undefined): number | string {
  if (typed === undefined || typed === '') {
    return `\`--rolling\` needs a number: how many instances to reboot at a time, from 1 to ${MAX_ROLLING}, e.g. \`--rolling 5\``;
  }
  const n = ASCII_DIGITS.test(typed) ? Number(typed) : NaN;
  if (!(n >= 1 && n <= MAX_ROLLING)) {
    return `\`--rolling\` needs a whole number from 1 to ${MAX_ROLLING} (how many instances to reboot at a time); got ${show(typed)}`;
  }
  return n;
}

interface Word {
  text: string;
  raw: string;
  index: number;
}

/** An error found at a token position; unpositioned errors (Infinity) lose to positioned ones. */
interface Located {
  at: number;
  error: ParseError;
}

function fail(message: string, token?: string): ParseError {
  return token === undefined ? { kind: 'error', message } : { kind: 'error', message, token };
}

function stripBackticks(text: string): string {
  return text.replace(/^`+|`+$/gu, '');
}

/** Shows user text inside a mrkdwn code span without letting it break the span or flood the reply. */
function show(text: string): string {
  const flat = text.replace(/\s+/gu, ' ').replace(/`/gu, '\u02CB');
  const chars = [...flat];
  const cut = chars.length > 60 ? `${chars.slice(0, 57).join('')}…` : flat;
  // Slack reads <!channel>, <@U…> and <http…> as markup even inside a code span: escaped after the
  // cut, so an entity is never split.
  return `\`${cut === '' ? ' ' : escapeMrkdwn(cut)}\``;
}

function badIdMessage(info: ProviderInfo, id: string): string {
  return `${show(id)} is not a valid ${info.displayName} instance id: expected ${info.idFormat}, e.g. \`${info.exampleId}\``;
}

function knownProviders(catalog: Catalog): string {
  return catalog.descriptors
    .map(({ info: p }) => `\`${p.name}\`${p.aliases.length > 0 ? ` (${p.aliases.map((a) => `\`${a}\``).join(', ')})` : ''}`)
    .join(', ');
}

/** A handful of valid regions, preferring those that share the typed region's first segment. */
function suggestRegions(regions: readonly string[], typed: string): string {
  const prefix = typed.split('-')[0] ?? '';
  const close = prefix === '' ? [] : regions.filter((r) => r.startsWith(`${prefix}-`));
  const pick = (close.length > 0 ? close : regions).slice(0, 8);
  const more = regions.length - pick.length;
  return `${pick.map((r) => `\`${r}\``).join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}

function validatePositionals(words: readonly Word[], ctx: ParseContext): Located | { request: RebootRequest } {
  const [providerWord, regionWord, ...idWords] = words;
  const catalog = ctx.catalog ?? defaultCatalog;
  if (providerWord === undefined) {
    return { at: Infinity, error: fail(`no provider given; known providers: ${knownProviders(catalog)}`) };
  }
  const info = catalog.find(providerWord.text)?.info;
  if (info === undefined) {
    const hint = didYouMean(providerWord.text, [...providerWords(catalog), ...SUBCOMMAND_NAMES]);
    return {
      at: providerWord.index,
      error: fail(
        hint === ''
          ? `unknown provider ${show(providerWord.text)}; known providers: ${knownProviders(catalog)}`
          : `unknown provider or subcommand ${show(providerWord.text)}.${hint}`,
        providerWord.raw,
      ),
    };
  }
  if (ctx.availability(info.name) === 'not-configured') {
    return {
      at: providerWord.index,
      error: fail(`\`${info.name}\` credentials are not configured on this bot, so it cannot reboot ${info.displayName} instances`, providerWord.raw),
    };
  }

  const regions = regionsOf(info, ctx);
  if (regionWord === undefined) {
    return { at: Infinity, error: fail(`no region given for \`${info.name}\`; e.g. ${suggestRegions(regions, '')}`) };
  }
  const region = regionWord.text.toLowerCase();
  if (!regions.includes(region)) {
    const idHint = info.isInstanceId(regionWord.text) ? ' (it looks like an instance id: the region comes first)' : '';
    const near = idHint === '' ? didYouMean(region, regions) : '';
    return {
      at: regionWord.index,
      error: fail(
        near !== ''
          ? `unknown region ${show(regionWord.text)} for \`${info.name}\`.${near}`
          : `unknown region ${show(regionWord.text)} for \`${info.name}\`${idHint}; valid regions include ${suggestRegions(regions, region)}; \`/reboot regions ${info.name}\` lists them all`,
        regionWord.raw,
      ),
    };
  }

  if (idWords.length === 0) {
    return {
      at: Infinity,
      error: fail(`no instance ids given after ${show(regionWord.text)}; expected ${info.idFormat}, e.g. \`${info.exampleId}\``),
    };
  }
  const bad = idWords.find((w) => !info.isInstanceId(w.text));
  if (bad !== undefined) return { at: bad.index, error: fail(badIdMessage(info, bad.text), bad.raw) };
  const ids = [...new Set(idWords.map((w) => w.text))];
  const max = Number.isFinite(ctx.maxInstances) && ctx.maxInstances >= 1 ? ctx.maxInstances : DEFAULT_MAX_INSTANCES;
  if (ids.length > max) {
    return {
      at: Infinity,
      error: fail(`${ids.length} distinct instance ids given; at most ${max} are allowed in one request, split it up`),
    };
  }
  return { request: { provider: info.name, region, ids, force: false, dryRun: false, verify: true, rolling: null } };
}

// ---------------------------------------------------------------------------------------------------------
// Subcommands: the first word, looked up before provider names. Adding one (e.g. `cancel <request>`) is one
// entry here: its usage line, what it does, the flags it takes and how its words become a ParsedCommand.

interface SubcommandArgs {
  name: string;
  /** The words after the subcommand's name, flags taken out. */
  words: readonly Word[];
  /** The subcommand's own flags that were given, by canonical name. */
  flags: ReadonlySet<string>;
}

interface Subcommand {
  /** Arguments as the usage shows them, after `/reboot <name>`. */
  args: string;
  summary: string;
  /** Flags it accepts besides `--help`, without dashes. */
  flags: readonly string[];
  parse(args: SubcommandArgs, ctx: ParseContext): ParsedCommand;
}

/** The one request id a subcommand takes, or why the words are not that. */
function requestIdArg({ name, words }: SubcommandArgs): { requestId: string } | ParseError {
  const [word, extra] = words;
  if (word === undefined) return fail(`\`/reboot ${name}\` needs a request id, e.g. \`/reboot ${name} ${EXAMPLE_REQUEST_ID}\``);
  if (extra !== undefined) return fail(`\`/reboot ${name}\` takes one request id; unexpected ${show(extra.raw)}`, extra.raw);
  const id = word.text.toLowerCase();
  if (!REQUEST_ID.test(id)) {
    return fail(`${show(word.raw)} is not a request id: \`r-\` and 10 letters or digits, e.g. \`${EXAMPLE_REQUEST_ID}\``, word.raw);
  }
  return { requestId: id };
}

function noWords({ name, words }: SubcommandArgs): ParseError | undefined {
  const extra = words[0];
  return extra === undefined ? undefined : fail(`\`/reboot ${name}\` takes no arguments; unexpected ${show(extra.raw)}`, extra.raw);
}

const SUBCOMMANDS = {
  status: {
    args: '<request>',
    summary: "one request's state, approvals, results so far and a link to its card",
    flags: [],
    parse: (args) => {
      const id = requestIdArg(args);
      return 'kind' in id ? id : { kind: 'status', requestId: id.requestId };
    },
  },
  list: {
    args: '[--mine]',
    summary: 'the last 10 requests in this channel, newest first; `--mine`: your own, in any channel',
    flags: ['mine'],
    parse: (args) => noWords(args) ?? { kind: 'list', mine: args.flags.has('mine') },
  },
  audit: {
    args: '<request>',
    summary: "the request's full audit trail and per-instance results, attached to its thread as a CSV file (anyone in its channel)",
    flags: [],
    parse: (args) => {
      const id = requestIdArg(args);
      return 'kind' in id ? id : { kind: 'audit', requestId: id.requestId };
    },
  },
  regions: {
    args: '<provider>',
    summary: 'every region of a provider',
    flags: [],
    parse: ({ name, words }, ctx) => {
      const catalog = ctx.catalog ?? defaultCatalog;
      const [word, extra] = words;
      if (word === undefined) return fail(`\`/reboot ${name}\` needs a provider; known providers: ${knownProviders(catalog)}`);
      if (extra !== undefined) return fail(`\`/reboot ${name}\` takes one provider; unexpected ${show(extra.raw)}`, extra.raw);
      const info = catalog.find(word.text)?.info;
      if (info === undefined) {
        const hint = didYouMean(word.text, providerWords(catalog));
        return fail(hint === '' ? `unknown provider ${show(word.raw)}; known providers: ${knownProviders(catalog)}` : `unknown provider ${show(word.raw)}.${hint}`, word.raw);
      }
      return { kind: 'regions', provider: info.name, regions: [...regionsOf(info, ctx)], configured: ctx.availability(info.name) === 'ready' };
    },
  },
  policy: {
    args: '',
    summary: 'what you may reboot in this channel: accounts, regions, approvers and the approvals needed (only you see it)',
    flags: [],
    parse: (args) => noWords(args) ?? { kind: 'policy' },
  },
  cancel: {
    args: '<request>',
    summary: 'stops a request (its requester or an approver): a pending one is withdrawn; a running one sends no further batch or wave, and what was sent is verified to its verdict',
    flags: [],
    parse: (args) => {
      const id = requestIdArg(args);
      return 'kind' in id ? id : { kind: 'cancel', jobId: id.requestId };
    },
  },
  help: {
    args: '',
    summary: 'this message (also `--help` anywhere)',
    flags: [],
    // Anything after `help` is read as "help me": `/reboot help me please`.
    parse: () => ({ kind: 'help' }),
  },
} as const satisfies Record<string, Subcommand>;

type SubcommandName = keyof typeof SUBCOMMANDS;
const SUBCOMMAND_NAMES = Object.keys(SUBCOMMANDS) as SubcommandName[];

function subcommandNamed(word: string): SubcommandName | undefined {
  const name = word.toLowerCase();
  return (SUBCOMMAND_NAMES as readonly string[]).includes(name) ? (name as SubcommandName) : undefined;
}

/** Provider names and aliases, as a "did you mean" may offer them. */
function providerWords(catalog: Catalog): string[] {
  return catalog.descriptors.flatMap(({ info }) => [info.name, ...info.aliases]);
}

/** regionsOf's last answer per provider, with the extra regions it was built from (a bot has one list per provider). */
const knownRegions = new WeakMap<ProviderInfo, { extra: readonly string[]; regions: readonly string[] }>();
const NO_EXTRA_REGIONS: readonly string[] = [];

/** A provider's regions with config's extra ones, lower-case, each once, in catalog order. */
function regionsOf(info: ProviderInfo, ctx: ParseContext): readonly string[] {
  const extra = ctx.extraRegions?.[info.name] ?? NO_EXTRA_REGIONS;
  const known = knownRegions.get(info);
  if (known?.extra === extra) return known.regions;
  const regions = [...new Set([...info.regions, ...extra].map((r) => r.toLowerCase()))];
  knownRegions.set(info, { extra, regions });
  return regions;
}

/** The tokens after a subcommand's name: words, its own flags, `--help`; anything else is an error. */
function parseSubcommand(name: SubcommandName, tokens: readonly Token[], ctx: ParseContext): ParsedCommand {
  const sub: Subcommand = SUBCOMMANDS[name];
  const words: Word[] = [];
  const flags = new Set<string>();
  let problem: ParseError | undefined;
  for (const tok of tokens) {
    if (tok.quoted !== 'none') {
      problem ??= fail(`quoted text ${show(tok.raw)} is not expected after \`/reboot ${name}\``, tok.raw);
      continue;
    }
    const body = stripBackticks(tok.text);
    if (body === '') continue;
    const dashes = DASH_PREFIX.exec(body)?.[0];
    if (dashes === undefined) {
      words.push({ text: body, raw: tok.raw, index: tok.index });
      continue;
    }
    const flag = body.slice(dashes.length).toLowerCase().replace(DASHES, '-');
    if (flag === 'help' || flag === 'h') return { kind: 'help' };
    if (sub.flags.includes(flag)) {
      flags.add(flag);
      continue;
    }
    const known = sub.flags.length > 0 ? sub.flags.map((f) => `\`--${f}\``).join(', ') : 'none';
    problem ??= fail(`unknown flag ${show(tok.raw)} for \`/reboot ${name}\` (its flags: ${known})${didYouMean(flag, sub.flags, (f) => `--${f}`)}`, tok.raw);
  }
  return problem ?? sub.parse({ name, words, flags }, ctx);
}

function parseUnsafe(text: string, ctx: ParseContext): ParsedCommand {
  const tokenized = tokenize(text);
  if ('error' in tokenized) return tokenized.error;
  const { tokens } = tokenized;
  const first = tokens[0];
  const subcommand = first?.quoted === 'none' ? subcommandNamed(stripBackticks(first.text)) : undefined;
  if (subcommand !== undefined) return parseSubcommand(subcommand, tokens.slice(1), ctx);

  const words: Word[] = [];
  let help = false;
  let force = false;
  let dryRun = false;
  let verify = true;
  // The wave size, and where `--rolling` and `--no-verify` first appeared, for the error when both are given.
  let rolling: { n: number; at: number; raw: string } | undefined;
  let noVerifyAt: { at: number; raw: string } | undefined;
  let reason: string | undefined;
  let account: string | undefined;
  let flagError: Located | undefined;
  // Tokens are read left to right, so the first failure is the leftmost.
  const flagFail = (at: number, error: ParseError): void => {
    flagError ??= { at, error };
  };

  for (let j = 0; j < tokens.length; j++) {
    const tok = tokens[j];
    if (tok === undefined) break;
    if (tok.quoted === 'whole') {
      flagFail(tok.index, fail(`quoted text ${show(tok.raw)} is only allowed after \`--reason\``, tok.raw));
      continue;
    }
    // A quoted `--reason="…"` value keeps its backticks: they were inside the quotes.
    const body = tok.quoted === 'none' ? stripBackticks(tok.text) : tok.text;
    if (body === '') continue;

    const dashes = DASH_PREFIX.exec(body)?.[0];
    if (dashes === undefined) {
      if (tok.quoted !== 'none') {
        flagFail(tok.index, fail(`quoted text in ${show(tok.raw)} is only allowed after \`--reason\``, tok.raw));
      } else {
        words.push({ text: body, raw: tok.raw, index: tok.index });
      }
      continue;
    }

    const rest = body.slice(dashes.length);
    const eq = rest.indexOf('=');
    const typedName = eq === -1 ? rest : rest.slice(0, eq);
    const value = eq === -1 ? undefined : rest.slice(eq + 1);
    const flag = FLAG_NAMES.get(typedName.toLowerCase().replace(DASHES, '-'));
    if (flag === undefined) {
      const hint = didYouMean(typedName, SPELLED_FLAGS, (name) => `--${name}`);
      const message = hint === '' ? `unknown flag ${show(tok.raw)}; known flags: ${KNOWN_FLAGS}` : `unknown flag ${show(tok.raw)}.${hint} Known flags: ${KNOWN_FLAGS}`;
      flagFail(tok.index, fail(message, tok.raw));
      continue;
    }
    if (!VALUE_FLAGS.has(flag) && value !== undefined) {
      flagFail(tok.index, fail(`${show(tok.raw)}: \`--${flag}\` takes no value`, tok.raw));
      continue;
    }
    switch (flag) {
      case 'help':
        help = true;
        break;
      case 'force':
        force = true;
        break;
      case 'dry-run':
        dryRun = true;
        break;
      case 'no-verify':
        verify = false;
        noVerifyAt ??= { at: tok.index, raw: tok.raw };
        break;
      case 'rolling': {
        let given = value;
        const next = tokens[j + 1];
        // The next token is the value unless it is another flag; quoted or not, so `--rolling "5"` and
        // `--rolling -3` are reported as bad values of `--rolling`.
        if (given === undefined && next !== undefined) {
          const nextBody = next.quoted === 'none' ? stripBackticks(next.text) : next.raw;
          if (next.quoted !== 'none' || !DASH_PREFIX.test(nextBody) || NEGATIVE_NUMBER.test(nextBody)) {
            given = nextBody;
            j++;
          }
        }
        const n = rollingValue(given);
        if (typeof n === 'string') {
          flagFail(tok.index, fail(n, tok.raw));
        } else if (rolling === undefined) {
          rolling = { n, at: tok.index, raw: tok.raw };
        } else if (rolling.n !== n) {
          flagFail(tok.index, fail(`\`--rolling\` given twice with different values (\`${rolling.n}\` and \`${n}\`); give one`, tok.raw));
        }
        break;
      }
      case 'account': {
        let given = value;
        const next = tokens[j + 1];
        if (given === undefined && next !== undefined && next.quoted === 'none' && !DASH_PREFIX.test(stripBackticks(next.text))) {
          given = stripBackticks(next.text);
          j++;
        }
        const name = given?.toLowerCase();
        if (name === undefined || name === '') {
          flagFail(tok.index, fail(`${show(tok.raw)} needs an account name, e.g. \`--account prod\`; \`/reboot policy\` lists the accounts you may use`, tok.raw));
        } else if (!ACCOUNT_NAME.test(name)) {
          flagFail(tok.index, fail(`${show(given ?? '')} is not an account name: lower-case letters, digits, - and _`, tok.raw));
        } else if (account !== undefined && account !== name) {
          flagFail(tok.index, fail(`\`--account\` given twice with different values (\`${account}\` and \`${name}\`); give one`, tok.raw));
        } else {
          account = name;
        }
        break;
      }
      case 'reason': {
        let given = value;
        const next = tokens[j + 1];
        // An unquoted dash word after `--reason` is the next flag, not the reason: `--reason --force`
        // almost always means the reason was forgotten. Quote a reason that starts with a dash.
        if (given === undefined && next !== undefined && (next.quoted === 'whole' || !DASH_PREFIX.test(next.text))) {
          given = next.text;
          j++;
        }
        const normalized = given === undefined ? '' : normalizeReason(given);
        if (normalized === '') {
          flagFail(tok.index, fail(`${show(tok.raw)} needs a value, e.g. \`--reason "kernel patch"\``, tok.raw));
        } else if (reason !== undefined) {
          flagFail(tok.index, fail(`${show(tok.raw)} given twice; give one reason`, tok.raw));
        } else {
          const problem = reasonProblem(normalized);
          if (problem === undefined) reason = normalized;
          else flagFail(tok.index, fail(problem, tok.raw));
        }
        break;
      }
    }
  }

  if (help) return { kind: 'help' };

  if (rolling !== undefined && noVerifyAt !== undefined) {
    // Reported at whichever of the two came second: that is where the command stopped making sense.
    const second = rolling.at > noVerifyAt.at ? rolling : noVerifyAt;
    if (flagError === undefined || second.at < flagError.at) flagError = { at: second.at, error: fail(ROLLING_WITHOUT_VERIFY, second.raw) };
  }

  const positional = validatePositionals(words, ctx);
  if (flagError !== undefined && (!('at' in positional) || flagError.at <= positional.at)) return flagError.error;
  if ('at' in positional) return positional.error;

  const candidate: RebootRequest = { ...positional.request, force, dryRun, verify, rolling: rolling?.n ?? null };
  if (reason !== undefined) candidate.reason = reason;
  if (account !== undefined) candidate.account = account;
  const checked = requestSchemaFor(ctx.catalog ?? defaultCatalog).safeParse(candidate);
  if (!checked.success) {
    // The checks above mirror the schema, so this is reached only by config oddities such as an extra
    // region that is not a valid region id.
    const issue = checked.error.issues[0];
    return fail(issue?.message ?? 'invalid request');
  }
  const request: RebootRequest = checked.data;
  return { kind: 'run', request };
}

export function parseRebootCommand(text: string, ctx: ParseContext): ParsedCommand {
  try {
    return parseUnsafe(typeof text === 'string' ? text : '', ctx);
  } catch {
    // Not expected: the grammar has no throwing path. A caller-supplied availability() could still throw,
    // and a slash command must always get an answer.
    return fail('could not read this command');
  }
}

// ---------------------------------------------------------------------------------------------------------
// Printing

/** Picks the quote kind absent from the text when possible, so the usual reason needs no escapes. */
function quoteReason(text: string): string {
  const quote = !text.includes('"') ? '"' : !text.includes("'") ? "'" : '"';
  const special = quote === '"' ? /[\\"]/gu : /[\\']/gu;
  return `${quote}${text.replace(special, '\\$&')}${quote}`;
}

/** Canonical text for `req`: parseRebootCommand(formatRebootCommand(req)) gives back req for every valid req. */
export function formatRebootCommand(req: RebootRequest): string {
  const parts = [req.provider, req.region, ...req.ids];
  if (req.account !== undefined) parts.push('--account', req.account);
  if (req.force) parts.push('--force');
  if (req.dryRun) parts.push('--dry-run');
  if (!req.verify) parts.push('--no-verify');
  if (req.rolling !== null) parts.push('--rolling', String(req.rolling));
  if (req.reason !== undefined) parts.push('--reason', quoteReason(req.reason));
  return parts.join(' ');
}

type ExampleFlags = Pick<RebootRequest, 'force' | 'dryRun' | 'verify' | 'rolling' | 'reason'>;
const PLAIN: ExampleFlags = { force: false, dryRun: false, verify: true, rolling: null };
// One flag combination per example, so the usage shows each flag at work.
const EXAMPLE_FLAGS: readonly ExampleFlags[] = [
  { ...PLAIN, reason: 'kernel patch' },
  { ...PLAIN, dryRun: true },
  { ...PLAIN, force: true, reason: 'hung, not answering ssh' },
  { ...PLAIN, rolling: 5, reason: 'kernel patch, five at a time' },
  { ...PLAIN, verify: false, reason: 'batch workers, no need to wait' },
];

/** Examples drawn from the catalog, taking its providers in turn, so every example parses. */
function examples(catalog: Catalog): RebootRequest[] {
  const infos = catalog.descriptors.map((d) => d.info);
  return EXAMPLE_FLAGS.flatMap((flags, i) => {
    const info = infos[i % Math.max(infos.length, 1)];
    const region = info?.regions[0];
    if (info === undefined || region === undefined) return [];
    const { reason, ...rest } = flags;
    return [{ provider: info.name, region, ids: [info.exampleId], ...rest, ...(reason === undefined ? {} : { reason }) }];
  });
}

export function usageText(catalog: Catalog = defaultCatalog): string {
  const providers = catalog.descriptors.map(({ info: p }) => {
    const aliases = p.aliases.length > 0 ? ` (alias ${p.aliases.map((a) => `\`${a}\``).join(', ')})` : '';
    return `• \`${p.name}\`${aliases}: ${p.displayName}; regions like \`${p.regions.slice(0, 3).join('`, `')}\`; ids like \`${p.exampleId}\``;
  });
  return [
    '*Usage:* `/reboot <provider> <region> <id>… [--account <name>] [--force] [--dry-run] [--no-verify | --rolling N] [--reason "<text>"]`',
    'Separate instance ids with spaces, commas or new lines; duplicates are dropped.',
    '',
    '*Providers*',
    ...providers,
    '',
    '*Flags* (anywhere after the command; `-force` and `—force` work too)',
    '• `--account <name>` (or `-a <name>`): one of the provider\'s named accounts from the policy file; without it, its `default` account',
    '• `--force`: force the reboot even if the guest OS does not respond; may need extra approvals',
    '• `--dry-run` (or `--dryrun`): read-only: shows what would happen, sends no reboot, needs no approval',
    "• `--no-verify` (or `--noverify`): skip waiting for instances to come back; results say 'reboot accepted'",
    `• \`--rolling N\` (or \`--rolling=N\`): reboot N at a time; each wave must come back running before the next; the first failure stops the job; N is 1 to ${MAX_ROLLING}; not with \`--no-verify\``,
    `• \`--reason "<text>"\`: why, shown to approvers; quote it if it has spaces or commas; at most ${MAX_REASON_LENGTH} characters`,
    '• `--help`: this message',
    '',
    '*Subcommands*',
    ...SUBCOMMAND_NAMES.map((name) => {
      const sub: Subcommand = SUBCOMMANDS[name];
      return `• \`/reboot ${name}${sub.args === '' ? '' : ` ${sub.args}`}\`: ${sub.summary}`;
    }),
    '',
    '*Examples*',
    ...examples(catalog).map((req) => `\`/reboot ${formatRebootCommand(req)}\``),
  ].join('\n');
}

/** Closes every error reply: the full usage is one command away rather than twenty lines under each mistake. */
export const USAGE_POINTER = '`/reboot help` for usage';

/** The ephemeral reply to a command that did not parse: what is wrong, then where the usage is. */
export function errorReply(parsed: Extract<ParsedCommand, { kind: 'error' }>): string {
  return `:warning: ${parsed.message}\n${USAGE_POINTER}`;
}

/** The reply to `/reboot regions <provider>`: every region, one code span each. */
export function regionsText(parsed: Extract<ParsedCommand, { kind: 'regions' }>, catalog: Catalog = defaultCatalog): string {
  const info = catalog.get(parsed.provider)?.info;
  const name = info ? `${info.displayName} (\`${info.name}\`)` : `\`${parsed.provider}\``;
  const note = parsed.configured ? '' : `\n_Credentials for \`${parsed.provider}\` are not configured on this bot, so it cannot reboot there yet._`;
  return `*Regions of ${name}* (${parsed.regions.length}):\n${parsed.regions.map((r) => `\`${r}\``).join(', ')}${note}`;
}
