import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  errorReply,
  formatRebootCommand,
  regionsText,
  MAX_REASON_LENGTH,
  MAX_ROLLING,
  parseRebootCommand,
  rebootRequestSchema,
  usageText,
} from '../../commands/reboot.js';
import type { ParseContext, ParsedCommand, ProviderAvailability, RebootRequest } from '../../commands/reboot.js';
import { alibaba } from '../../src/providers/alibaba/index.js';
import { defaultCatalog } from '../../src/providers/catalog.js';
import type { ProviderName } from '../../src/providers/provider.js';

const ALI = 'i-bp1g6zv0ce8oghu7abcd';
const ALI2 = 'i-bp1g6zv0ce8oghu7abce';
const ALI3 = 'i-bp1g6zv0ce8oghu7abcf';
const VOLC = 'i-ycc01lmwecgh9z3sqqfl';
const BAIDU = 'i-YufwpQAe';
const HW = '616fb98f-46ca-475e-917e-2563e5a8cd19';
const HW2 = '0b7c4e1a-9d3f-4c2b-8a6e-5f1d2c3b4a59';

function ctx(over: Partial<ParseContext> = {}): ParseContext {
  return { availability: () => 'ready', maxInstances: 500, ...over };
}

function parse(text: string, c: ParseContext = ctx()): ParsedCommand {
  return parseRebootCommand(text, c);
}

function run(text: string, c?: ParseContext): RebootRequest {
  const parsed = parse(text, c);
  if (parsed.kind !== 'run') throw new Error(`expected run, got ${JSON.stringify(parsed)}`);
  return parsed.request;
}

function error(text: string, c?: ParseContext): Extract<ParsedCommand, { kind: 'error' }> {
  const parsed = parse(text, c);
  if (parsed.kind !== 'error') throw new Error(`expected error, got ${JSON.stringify(parsed)}`);
  return parsed;
}

describe('subcommands', () => {
  const ID = 'r-abcdefgh23';

  it.each([
    ['status', `status ${ID}`],
    ['status, capitals and backticks', `STATUS \`${ID.toUpperCase()}\``],
    ['audit', `audit ${ID}`],
    ['audit, dashes as Slack smart punctuation leaves them', `Audit ${ID}`],
  ])('%s', (_, text) => {
    const parsed = parse(text);
    expect(parsed).toEqual({ kind: text.toLowerCase().startsWith('status') ? 'status' : 'audit', requestId: ID });
  });

  it('list, and list --mine (any dash spelling)', () => {
    expect(parse('list')).toEqual({ kind: 'list', mine: false });
    expect(parse('list --mine')).toEqual({ kind: 'list', mine: true });
    expect(parse('LIST —mine')).toEqual({ kind: 'list', mine: true });
  });

  it('regions takes a provider or an alias and lists its regions with config extras, each once', () => {
    const parsed = parse('regions aliyun', ctx({ extraRegions: { alibaba: ['cn-extra-1', 'cn-hangzhou'] } }));
    if (parsed.kind !== 'regions') throw new Error(JSON.stringify(parsed));
    expect(parsed.provider).toBe('alibaba');
    expect(parsed.configured).toBe(true);
    expect(parsed.regions).toEqual([...alibaba.info.regions, 'cn-extra-1']);
    const text = regionsText(parsed);
    for (const r of alibaba.info.regions) expect(text).toContain(`\`${r}\``);
    expect(text).toContain('`cn-extra-1`');
    expect(text).not.toContain('not configured');
    const unconfigured = parse('regions alibaba', ctx({ availability: () => 'not-configured' }));
    if (unconfigured.kind !== 'regions') throw new Error(JSON.stringify(unconfigured));
    expect(regionsText(unconfigured)).toContain('not configured');
  });

  it('help is a subcommand too, whatever follows it', () => {
    expect(parse('help me please')).toEqual({ kind: 'help' });
    expect(parse(`status ${ID} --help`)).toEqual({ kind: 'help' });
    expect(parse('list -h')).toEqual({ kind: 'help' });
  });

  it.each<[string, RegExp]>([
    ['status', /^`\/reboot status` needs a request id, e\.g\. `\/reboot status r-/],
    [`status ${ID} ${ID}`, /takes one request id; unexpected `r-abcdefgh23`/],
    ['status r-1234567890', /`r-1234567890` is not a request id/],
    ['status i-bp1g6zv0ce8oghu7abcd', /is not a request id/],
    ['audit', /^`\/reboot audit` needs a request id/],
    ['audit "r-abcdefgh23"', /quoted text/],
    ['list mine', /^`\/reboot list` takes no arguments; unexpected `mine`/],
    ['list --all', /unknown flag `--all` for `\/reboot list` \(its flags: `--mine`\)/],
    ['list --mien', /Did you mean `--mine`\?/],
    [`status ${ID} --force`, /unknown flag `--force` for `\/reboot status` \(its flags: none\)/],
    ['regions', /^`\/reboot regions` needs a provider; known providers: `alibaba`/],
    ['regions gcp', /^unknown provider `gcp`; known providers/],
    ['regions alibab', /^unknown provider `alibab`\. Did you mean `alibaba`\?$/],
    ['regions alibaba volc', /takes one provider; unexpected `volc`/],
  ])('%j is an error', (text, pattern) => {
    expect(error(text).message).toMatch(pattern);
  });

  it('no provider or alias of the catalog is shadowed by a subcommand', () => {
    for (const { info } of defaultCatalog.descriptors) {
      for (const word of [info.name, ...info.aliases]) expect(['status', 'list', 'audit', 'regions', 'help']).not.toContain(word);
      expect(parse(`${info.name} ${info.regions[0]} ${info.exampleId}`).kind).toBe('run');
    }
  });

  it('a subcommand name is looked up before providers, and only as the first word', () => {
    // `status` as a second word is a region, so the region error is what is said.
    expect(error(`alibaba status ${ALI}`).message).toMatch(/^unknown region `status`/);
  });
});

describe('did you mean', () => {
  it.each<[string, string]>([
    [`alibab cn-hangzhou ${ALI}`, 'unknown provider or subcommand `alibab`. Did you mean `alibaba`?'],
    [`huawie cn-north-4 ${HW}`, 'unknown provider or subcommand `huawie`. Did you mean `huawei`?'],
    ['stauts r-abcdefgh23', 'unknown provider or subcommand `stauts`. Did you mean `status`?'],
    ['lsit', 'unknown provider or subcommand `lsit`. Did you mean `list`?'],
    ['regoins alibaba', 'unknown provider or subcommand `regoins`. Did you mean `regions`?'],
    [`alibaba cn-hangzou ${ALI}`, 'unknown region `cn-hangzou` for `alibaba`. Did you mean `cn-hangzhou`?'],
    [
      `alibaba cn-hangzhou ${ALI} --forse`,
      'unknown flag `--forse`. Did you mean `--force`? Known flags: `--account`, `--force`, `--dry-run`, `--no-verify`, `--rolling`, `--reason`, `--help`',
    ],
  ])('%j', (text, message) => {
    expect(error(text).message).toBe(message);
  });

  it('suggests nothing past the threshold: a different word keeps the full list', () => {
    expect(error(`gcp us-east1 ${ALI}`).message).toMatch(/^unknown provider `gcp`; known providers: `alibaba` \(`aliyun`\)/);
    expect(error(`aws us-east-1 ${ALI}`).message).not.toContain('Did you mean');
    expect(error(`alibaba mars-1 ${ALI}`).message).toMatch(/valid regions include .*; `\/reboot regions alibaba` lists them all$/);
    expect(error(`alibaba cn-hangzhou ${ALI} --yolo`).message).toMatch(/^unknown flag `--yolo`; known flags/);
  });

  it('an instance id in the region slot is explained rather than "corrected"', () => {
    expect(error(`alibaba ${ALI} cn-hangzhou`).message).toContain('it looks like an instance id');
  });
});

describe('help', () => {
  it.each(['help', 'HELP', '  help  ', '-h', '--help', '—help', '–help', '-H'])('%j is help', (text) => {
    expect(parse(text)).toEqual({ kind: 'help' });
  });

  it('a help flag anywhere wins over other problems', () => {
    expect(parse(`alibaba cn-atlantis ${ALI} --help`)).toEqual({ kind: 'help' });
    expect(parse('help me please')).toEqual({ kind: 'help' });
  });

  it.each(['', '   ', '\n\t ', '--force', '—dry-run --force'])('%j has no provider', (text) => {
    const e = error(text);
    expect(e.message).toMatch(/^no provider given/);
    expect(e.message).toContain('`alibaba`');
    expect(e.token).toBeUndefined();
  });
});

describe('cancel', () => {
  it.each(['cancel r-abcdefgh23', 'CANCEL r-abcdefgh23', '  cancel  `r-abcdefgh23` ', 'Cancel,r-abcdefgh23', 'cancel r-ABCDEFGH23'])('%j cancels the request', (text) => {
    expect(parse(text)).toEqual({ kind: 'cancel', jobId: 'r-abcdefgh23' });
  });

  it.each([
    ['cancel', '`/reboot cancel` needs a request id'],
    ['cancel r-abcdefgh23 r-abcdefgh24', '`/reboot cancel` takes one request id'],
    ['cancel r-abc', 'is not a request id'],
    ['cancel <!channel>', 'is not a request id'],
  ])('%j is an error naming what is wrong', (text, message) => {
    expect(error(text).message).toContain(message);
  });

  it('is listed in the usage', () => {
    expect(usageText()).toContain('`/reboot cancel <request>`');
  });
});

describe('provider', () => {
  it.each<[string, ProviderName, string, string]>([
    ['alibaba', 'alibaba', 'cn-hangzhou', ALI],
    ['aliyun', 'alibaba', 'cn-hangzhou', ALI],
    ['ALIYUN', 'alibaba', 'cn-hangzhou', ALI],
    ['Alibaba', 'alibaba', 'cn-hangzhou', ALI],
    ['volcengine', 'volcengine', 'cn-beijing', VOLC],
    ['volc', 'volcengine', 'cn-beijing', VOLC],
    ['baidu', 'baidu', 'bj', BAIDU],
    ['bce', 'baidu', 'bj', BAIDU],
    ['huawei', 'huawei', 'cn-north-4', HW],
    ['hwc', 'huawei', 'cn-north-4', HW],
    ['HwC', 'huawei', 'cn-north-4', HW],
  ])('%s means %s', (word, name, region, id) => {
    expect(run(`${word} ${region} ${id}`)).toStrictEqual({
      provider: name,
      region,
      ids: [id],
      force: false,
      dryRun: false,
      verify: true,
      rolling: null,
    });
  });

  it('unknown provider names the word and lists the known ones with aliases', () => {
    const e = error(`aws us-east-1 ${ALI}`);
    expect(e.token).toBe('aws');
    expect(e.message).toMatch(/^unknown provider `aws`/);
    for (const word of ['alibaba', 'aliyun', 'volcengine', 'volc', 'baidu', 'bce', 'huawei', 'hwc']) {
      expect(e.message).toContain(`\`${word}\``);
    }
  });

  it('a provider without credentials says they are not configured on this bot', () => {
    const c = ctx({ availability: (n): ProviderAvailability => (n === 'baidu' ? 'not-configured' : 'ready') });
    const e = error(`bce bj ${BAIDU}`, c);
    expect(e.message).toContain('`baidu` credentials are not configured on this bot');
    expect(e.token).toBe('bce');
  });

  it('availability is checked before region and ids', () => {
    const c = ctx({ availability: (): ProviderAvailability => 'not-configured' });
    expect(error('alibaba nowhere not-an-id', c).message).toContain('not configured');
  });
});

describe('region', () => {
  it('is lower-cased', () => {
    expect(run(`alibaba CN-Hangzhou ${ALI}`).region).toBe('cn-hangzhou');
  });

  it('unknown region names it and lists close valid ones', () => {
    const e = error(`alibaba cn-atlantis ${ALI}`);
    expect(e.token).toBe('cn-atlantis');
    expect(e.message).toMatch(/^unknown region `cn-atlantis` for `alibaba`/);
    expect(e.message).toContain('`cn-qingdao`');
    expect(e.message).not.toContain('`us-east-1`');
    expect(e.message).toMatch(/and \d+ more/);
  });

  it('a region of another provider is not accepted', () => {
    expect(error(`baidu cn-hangzhou ${BAIDU}`).token).toBe('cn-hangzhou');
  });

  it('a missing region is reported', () => {
    expect(error('huawei').message).toMatch(/^no region given for `huawei`/);
  });

  it('an id in the region slot gets a hint', () => {
    const e = error(`alibaba ${ALI} ${ALI2}`);
    expect(e.token).toBe(ALI);
    expect(e.message).toContain('the region comes first');
  });

  it('config can add regions per provider', () => {
    const c = ctx({ extraRegions: { volcengine: ['cn-wulanchabu'] } });
    expect(run(`volc cn-wulanchabu ${VOLC}`, c).region).toBe('cn-wulanchabu');
    expect(error(`volc cn-wulanchabu ${VOLC}`).token).toBe('cn-wulanchabu');
    expect(error(`bce cn-wulanchabu ${BAIDU}`, c).token).toBe('cn-wulanchabu');
  });
});

describe('instance ids', () => {
  it.each([
    ['spaces', `alibaba cn-hangzhou ${ALI} ${ALI2} ${ALI3}`],
    ['commas', `alibaba cn-hangzhou ${ALI},${ALI2},${ALI3}`],
    ['comma and space', `alibaba cn-hangzhou ${ALI}, ${ALI2} ,${ALI3},`],
    ['new lines', `alibaba cn-hangzhou\n${ALI}\n${ALI2}\r\n${ALI3}\n`],
    ['tabs', `alibaba\tcn-hangzhou\t${ALI}\t${ALI2}\t${ALI3}`],
    ['backticks', `alibaba cn-hangzhou \`${ALI}\` \`${ALI2}, ${ALI3}\``],
    ['a code block', `alibaba cn-hangzhou \`\`\`\n${ALI}\n${ALI2}\n${ALI3}\n\`\`\``],
    ['non-breaking and zero-width spaces', `alibaba\u00a0cn-hangzhou ${ALI}\u200b${ALI2}\u2060${ALI3}`],
  ])('are separated by %s', (_, text) => {
    expect(run(text).ids).toEqual([ALI, ALI2, ALI3]);
  });

  it('duplicates are dropped, first order kept', () => {
    expect(run(`alibaba cn-hangzhou ${ALI2} ${ALI} ${ALI2},${ALI3} ${ALI}`).ids).toEqual([ALI2, ALI, ALI3]);
  });

  it('the first malformed id is named, with the format and an example', () => {
    const e = error(`alibaba cn-hangzhou ${ALI} i-SHOUTING123 i-x`);
    expect(e.token).toBe('i-SHOUTING123');
    expect(e.message).toContain('`i-SHOUTING123` is not a valid Alibaba Cloud ECS instance id');
    expect(e.message).toContain(alibaba.info.idFormat);
    expect(e.message).toContain(alibaba.info.exampleId);
  });

  it('follows each provider format', () => {
    expect(run(`bce bj ${BAIDU}`).ids).toEqual([BAIDU]);
    expect(error(`volc cn-beijing i-short1234`).token).toBe('i-short1234'); // 9 chars: too short for volcengine
    expect(run(`aliyun cn-hangzhou i-short1234`).ids).toEqual(['i-short1234']);
    expect(error(`hwc cn-north-4 ${HW.toUpperCase()}`).message).toContain('a lowercase UUID');
    expect(run(`hwc cn-north-4 ${HW} ${HW2}`).ids).toEqual([HW, HW2]);
  });

  it('angle brackets are not stripped', () => {
    expect(error(`alibaba cn-hangzhou <${ALI}>`).token).toBe(`<${ALI}>`);
  });

  it('no ids is an error', () => {
    const e = error('alibaba cn-hangzhou --force');
    expect(e.message).toMatch(/^no instance ids given after `cn-hangzhou`/);
    expect(e.message).toContain(alibaba.info.exampleId);
  });

  it('more distinct ids than maxInstances is an error with the count and the limit', () => {
    const c = ctx({ maxInstances: 2 });
    const e = error(`alibaba cn-hangzhou ${ALI} ${ALI2} ${ALI3}`, c);
    expect(e.message).toContain('3 distinct instance ids');
    expect(e.message).toContain('at most 2');
    expect(run(`alibaba cn-hangzhou ${ALI} ${ALI2} ${ALI} ${ALI2}`, c).ids).toEqual([ALI, ALI2]);
  });
});

describe('flags', () => {
  const base = `alibaba cn-hangzhou ${ALI}`;

  it.each(['--force', '-force', '—force', '–force', '——force', '−force', '--FORCE', '—Force'])('%s forces', (flag) => {
    expect(run(`${base} ${flag}`)).toMatchObject({ force: true, dryRun: false });
  });

  it.each(['--dry-run', '-dry-run', '—dry-run', '–dry-run', '--dryrun', '—dryrun', '--dry—run', '--Dry-Run'])(
    '%s is a dry run',
    (flag) => {
      expect(run(`${base} ${flag}`)).toMatchObject({ force: false, dryRun: true });
    },
  );

  it('may appear anywhere, even between ids or before the provider', () => {
    expect(run(`—force alibaba cn-hangzhou ${ALI} --dry-run ${ALI2}`)).toStrictEqual({
      provider: 'alibaba',
      region: 'cn-hangzhou',
      ids: [ALI, ALI2],
      force: true,
      dryRun: true,
      verify: true,
      rolling: null,
    });
  });

  it('repeating a flag is harmless', () => {
    expect(run(`${base} --force —force --dry-run --dryrun`)).toMatchObject({ force: true, dryRun: true });
  });

  it.each(['--forse', '—yes', '-f', '—', '--', '---reason-x'])('unknown flag %s is named', (flag) => {
    const e = error(`${base} ${flag}`);
    expect(e.token).toBe(flag);
    expect(e.message).toMatch(/^unknown flag `/);
    expect(e.message).toContain('--force');
  });

  it('a switch given a value is an error', () => {
    const e = error(`${base} --force=yes`);
    expect(e.token).toBe('--force=yes');
    expect(e.message).toContain('takes no value');
  });

  it('a flag wrapped in backticks still counts', () => {
    expect(run(`${base} \`--force\``).force).toBe(true);
  });

  it('reports the leftmost problem', () => {
    expect(error(`aws cn-hangzhou ${ALI} --bogus`).token).toBe('aws');
    expect(error(`--bogus aws cn-hangzhou ${ALI}`).token).toBe('--bogus');
    expect(error(`alibaba cn-hangzhou i-bad --bogus`).token).toBe('i-bad');
  });
});

describe('--reason', () => {
  const base = `alibaba cn-hangzhou ${ALI}`;

  it.each([
    ['a single token', '--reason hotfix', 'hotfix'],
    ['double quotes', '--reason "kernel patch, urgent"', 'kernel patch, urgent'],
    ['single quotes', "--reason 'kernel patch'", 'kernel patch'],
    ['smart double quotes', '--reason “kernel patch”', 'kernel patch'],
    ['smart single quotes', '--reason ‘kernel patch’', 'kernel patch'],
    ['=', '--reason=hotfix', 'hotfix'],
    ['= and quotes', '--reason="kernel patch"', 'kernel patch'],
    ['= and smart quotes', '—reason=“kernel patch”', 'kernel patch'],
    ['an em dash', '—reason "a b"', 'a b'],
    ['an apostrophe inside a word', "--reason customer's", "customer's"],
    ['other quotes inside', `--reason "it's 'fine' “really”"`, `it's 'fine' “really”`],
    ['escaped quotes', String.raw`--reason "say \"hi\" to C:\\tmp"`, String.raw`say "hi" to C:\tmp`],
    ['a lone backslash', String.raw`--reason "a\b"`, String.raw`a\b`],
    ['new lines and runs of spaces', '--reason "  disk\n\nfull   again "', 'disk full again'],
    ['a leading dash when quoted', '--reason "--force was needed"', '--force was needed'],
    ['backticks inside quotes', '--reason="`kernel` patch"', '`kernel` patch'],
  ])('with %s', (_, flag, reason) => {
    expect(run(`${base} ${flag}`).reason).toBe(reason);
  });

  it('the reason may come before the ids', () => {
    expect(run(`alibaba cn-hangzhou --reason "x y" ${ALI}`)).toStrictEqual({
      provider: 'alibaba',
      region: 'cn-hangzhou',
      ids: [ALI],
      force: false,
      dryRun: false,
      verify: true,
      rolling: null,
      reason: 'x y',
    });
  });

  it('an unquoted reason stops at a comma, so the rest is read as an id', () => {
    expect(error(`${base} --reason hotfix,urgent`).token).toBe('urgent');
  });

  it.each([
    ['at the end', '--reason'],
    ['followed by a flag', '--reason --force'],
    ['empty quotes', '--reason ""'],
    ['blank quotes', "--reason '   '"],
    ['empty =', '--reason='],
  ])('without a value (%s) is an error', (_, flag) => {
    const e = error(`${base} ${flag}`);
    expect(e.message).toContain('needs a value');
    expect(e.token).toBe(flag.split(' ')[0]);
  });

  it('twice is an error naming the second', () => {
    const e = error(`${base} --reason a —reason b`);
    expect(e.token).toBe('—reason');
    expect(e.message).toContain('given twice');
  });

  it(`is at most ${MAX_REASON_LENGTH} characters`, () => {
    expect(run(`${base} --reason ${'x'.repeat(MAX_REASON_LENGTH)}`).reason).toHaveLength(MAX_REASON_LENGTH);
    expect(run(`${base} --reason ${'😀'.repeat(MAX_REASON_LENGTH)}`).reason).toBe('😀'.repeat(MAX_REASON_LENGTH));
    const e = error(`${base} --reason ${'x'.repeat(MAX_REASON_LENGTH + 1)}`);
    expect(e.message).toContain(`${MAX_REASON_LENGTH + 1} characters`);
    expect(e.token).toBe('--reason');
  });

  it('rejects control and text-direction characters', () => {
    expect(error(`${base} --reason "a\u0007b"`).message).toContain('control character');
    expect(error(`${base} --reason "a\u202Eb"`).message).toContain('text-direction');
  });
});

describe('--no-verify', () => {
  const base = `alibaba cn-hangzhou ${ALI}`;

  it('verify is on by default', () => {
    expect(run(base)).toMatchObject({ verify: true, rolling: null });
  });

  it.each(['--no-verify', '--noverify', '--no_verify', '—no-verify', '–noverify', '-no-verify', '--no—verify', '--No-Verify', '`--no-verify`'])(
    '%s turns verification off',
    (flag) => {
      expect(run(`${base} ${flag}`)).toMatchObject({ verify: false, rolling: null, force: false, dryRun: false });
    },
  );

  it('may be repeated and placed anywhere', () => {
    expect(run(`--no-verify alibaba cn-hangzhou ${ALI} --noverify ${ALI2}`)).toMatchObject({ ids: [ALI, ALI2], verify: false });
  });

  it('takes no value', () => {
    const e = error(`${base} --no-verify=yes`);
    expect(e.token).toBe('--no-verify=yes');
    expect(e.message).toContain('`--no-verify` takes no value');
  });

  it.each(['--verify', '--no-verif', '--noverifyy'])('%s is an unknown flag, and the message lists the new flags', (flag) => {
    const e = error(`${base} ${flag}`);
    expect(e.token).toBe(flag);
    expect(e.message).toMatch(/^unknown flag `/);
    expect(e.message).toContain('`--no-verify`');
    expect(e.message).toContain('`--rolling`');
  });

  it('combines with --dry-run (a no-op) and with --force', () => {
    expect(run(`${base} --dry-run --no-verify`)).toMatchObject({ dryRun: true, verify: false });
    expect(run(`${base} --force --no-verify`)).toMatchObject({ force: true, verify: false });
    expect(run(`${base} --force --dry-run`)).toMatchObject({ force: true, dryRun: true, verify: true });
  });
});

describe('--rolling', () => {
  const base = `alibaba cn-hangzhou ${ALI} ${ALI2} ${ALI3}`;
  const needsNumber = `\`--rolling\` needs a number: how many instances to reboot at a time, from 1 to ${MAX_ROLLING}, e.g. \`--rolling 5\``;
  const badNumber = (got: string): string =>
    `\`--rolling\` needs a whole number from 1 to ${MAX_ROLLING} (how many instances to reboot at a time); got \`${got}\``;

  it.each<[string, number]>([
    ['--rolling 2', 2],
    ['--rolling=2', 2],
    ['—rolling 2', 2],
    ['–rolling=2', 2],
    ['--Rolling 2', 2],
    ['--ROLLING=2', 2],
    ['--rolling 1', 1],
    [`--rolling ${MAX_ROLLING}`, MAX_ROLLING],
    [`--rolling=${MAX_ROLLING}`, MAX_ROLLING],
    ['--rolling 007', 7],
    ['--rolling `3`', 3],
    ['--rolling\n2', 2],
    ['--rolling,2', 2],
  ])('%j sets the wave size to %d', (flag, n) => {
    expect(run(`${base} ${flag}`)).toStrictEqual({
      provider: 'alibaba',
      region: 'cn-hangzhou',
      ids: [ALI, ALI2, ALI3],
      force: false,
      dryRun: false,
      verify: true,
      rolling: n,
    });
  });

  it('takes the next token as its number even between ids, so the number is never read as an id', () => {
    expect(run(`alibaba cn-hangzhou ${ALI} --rolling 2 ${ALI2}`)).toMatchObject({ ids: [ALI, ALI2], rolling: 2 });
    expect(run(`--rolling 1 alibaba cn-hangzhou ${ALI}`)).toMatchObject({ provider: 'alibaba', ids: [ALI], rolling: 1 });
  });

  it('a wave size larger than the number of ids is kept as given (one wave)', () => {
    expect(run(`alibaba cn-hangzhou ${ALI} --rolling 50`)).toMatchObject({ ids: [ALI], rolling: 50 });
  });

  it('combines with --dry-run (the dry run shows the plan) and with --force', () => {
    expect(run(`${base} --dry-run --rolling 2`)).toMatchObject({ dryRun: true, verify: true, rolling: 2 });
    expect(run(`${base} --force --rolling=2 --dry-run`)).toMatchObject({ force: true, dryRun: true, rolling: 2 });
  });

  it.each([
    ['at the end', '--rolling', '--rolling'],
    ['with an empty =', '--rolling=', '--rolling='],
    ['followed by another flag', '--rolling --force', '--rolling'],
    ['followed by a switch in em dashes', '—rolling —dry-run', '—rolling'],
    ['followed by backticks only', '--rolling ``', '--rolling'],
  ])('without a number (%s) says what is expected', (_, flag, token) => {
    const e = error(`${base} ${flag}`);
    expect(e.message).toBe(needsNumber);
    expect(e.token).toBe(token);
  });

  it.each<[string, string, string]>([
    ['--rolling 0', '0', '--rolling'],
    ['--rolling=0', '0', '--rolling=0'],
    ['--rolling -3', '-3', '--rolling'],
    ['--rolling −3', '−3', '--rolling'],
    ['--rolling=-3', '-3', '--rolling=-3'],
    ['--rolling -.5', '-.5', '--rolling'],
    ['--rolling 2.5', '2.5', '--rolling'],
    ['--rolling=2.5', '2.5', '--rolling=2.5'],
    ['--rolling abc', 'abc', '--rolling'],
    ['--rolling +5', '+5', '--rolling'],
    ['--rolling 1e3', '1e3', '--rolling'],
    ['--rolling 0x10', '0x10', '--rolling'],
    ['--rolling ５', '５', '--rolling'],
    ['--rolling ٣', '٣', '--rolling'],
    [`--rolling ${MAX_ROLLING + 1}`, `${MAX_ROLLING + 1}`, '--rolling'],
    ['--rolling 99999999999999999999999', '99999999999999999999999', '--rolling'],
    ['--rolling "5"', '"5"', '--rolling'],
    [`--rolling ${ALI}`, ALI, '--rolling'],
  ])('%j is an error naming --rolling and the expected number', (flag, got, token) => {
    const e = error(`${base} ${flag}`);
    expect(e.message).toBe(badNumber(got));
    expect(e.token).toBe(token);
  });

  it('an error in --rolling wins over a later missing id, since it comes first', () => {
    expect(error('alibaba cn-hangzhou --rolling 0').message).toBe(badNumber('0'));
  });

  it('repeating the same number is harmless', () => {
    expect(run(`${base} --rolling 2 —rolling=2 --rolling 02`).rolling).toBe(2);
  });

  it('two different numbers are an error naming the second', () => {
    const e = error(`${base} --rolling 2 —rolling=3`);
    expect(e.message).toBe('`--rolling` given twice with different values (`2` and `3`); give one');
    expect(e.token).toBe('—rolling=3');
  });

  it('--help wins over a --rolling problem', () => {
    expect(parse(`${base} --rolling --help`)).toEqual({ kind: 'help' });
  });

  describe('with --no-verify', () => {
    const combined =
      '`--rolling` and `--no-verify` cannot be combined: each rolling wave must come back running (verified) before the next one starts; drop one of them';

    it.each<[string, string]>([
      ['--rolling 2 --no-verify', '--no-verify'],
      ['--no-verify --rolling 2', '--rolling'],
      ['—noverify --rolling=2', '--rolling=2'],
      ['--rolling=2 --dry-run --no_verify', '--no_verify'],
      ['--no-verify --rolling 2 --no-verify', '--rolling'],
    ])('%j is an error at the flag that came second', (flags, token) => {
      const e = error(`${base} ${flags}`);
      expect(e.message).toBe(combined);
      expect(e.token).toBe(token);
    });

    it('still reports an earlier problem first, and itself before a later one', () => {
      expect(error(`--bogus ${base} --rolling 2 --no-verify`).token).toBe('--bogus');
      expect(error(`aws cn-hangzhou ${ALI} --rolling 2 --no-verify`).token).toBe('aws');
      expect(error(`${base} --rolling 2 --no-verify --bogus`).message).toBe(combined);
      expect(error(`alibaba cn-hangzhou --rolling 2 --no-verify`).message).toBe(combined);
    });

    it('a bad --rolling number is reported instead of the combination', () => {
      expect(error(`${base} --rolling 0 --no-verify`).message).toBe(badNumber('0'));
    });
  });
});

describe('quotes', () => {
  const base = `alibaba cn-hangzhou ${ALI}`;

  it.each([
    ['"disk full', '"'],
    ['“disk full', '”'],
    ["'disk full", "'"],
    ['‘disk', '’'],
    ['"disk full”', '"'],
  ])('unterminated %s is named', (open, closer) => {
    const e = error(`${base} --reason ${open}`);
    expect(e.message).toMatch(/^unterminated quote/);
    expect(e.message).toContain(`has no closing \`${closer}\``);
    expect(e.token).toBe(open);
  });

  it('text glued after a closing quote is an error', () => {
    const e = error(`${base} --reason "a b"c`);
    expect(e.token).toBe('"a b"c');
    expect(e.message).toContain('after the closing quote');
  });

  it('quoted text is only allowed as the reason', () => {
    const e = error(`${base} "${ALI2}"`);
    expect(e.token).toBe(`"${ALI2}"`);
    expect(e.message).toContain('only allowed after `--reason`');
    expect(error(`alibaba cn-hangzhou ${ALI} "forgot the flag"`).token).toBe('"forgot the flag"');
  });

  it('long or backticked tokens are shown shortened and without breaking the code span', () => {
    const junk = `\`x\`${'y'.repeat(200)}`;
    const e = error(`${junk} cn-hangzhou ${ALI}`);
    expect(e.token).toBe(junk);
    expect(e.message).toContain('`x');
    expect(e.message).toContain('…`');
    expect(e.message.length).toBeLessThan(400);
  });
});

describe('formatRebootCommand', () => {
  it('prints the canonical text', () => {
    expect(
      formatRebootCommand({
        provider: 'huawei',
        region: 'cn-north-4',
        ids: [HW, HW2],
        force: true,
        dryRun: true,
        verify: true,
        rolling: 1,
        reason: 'hung',
      }),
    ).toBe(`huawei cn-north-4 ${HW} ${HW2} --force --dry-run --rolling 1 --reason "hung"`);
    expect(
      formatRebootCommand({ provider: 'baidu', region: 'bj', ids: [BAIDU], force: false, dryRun: false, verify: true, rolling: null }),
    ).toBe(`baidu bj ${BAIDU}`);
    expect(
      formatRebootCommand({ provider: 'baidu', region: 'bj', ids: [BAIDU], force: false, dryRun: true, verify: false, rolling: null }),
    ).toBe(`baidu bj ${BAIDU} --dry-run --no-verify`);
    expect(
      formatRebootCommand({ provider: 'baidu', region: 'bj', ids: [BAIDU], force: false, dryRun: false, verify: true, rolling: MAX_ROLLING }),
    ).toBe(`baidu bj ${BAIDU} --rolling ${MAX_ROLLING}`);
  });

  it('picks a quote absent from the reason, escaping only when both are present', () => {
    const req = (reason: string): RebootRequest => ({
      provider: 'alibaba',
      region: 'cn-hangzhou',
      ids: [ALI],
      force: false,
      dryRun: false,
      verify: true,
      rolling: null,
      reason,
    });
    expect(formatRebootCommand(req('say "hi"'))).toMatch(/--reason 'say "hi"'$/);
    expect(formatRebootCommand(req(`it's "x"`))).toMatch(/--reason "it's \\"x\\""$/);
    expect(formatRebootCommand(req(String.raw`C:\tmp`))).toMatch(/--reason "C:\\\\tmp"$/);
    for (const r of ['say "hi"', `it's "x"`, String.raw`C:\tmp\\`, '\\"\'']) {
      expect(parse(formatRebootCommand(req(r)))).toStrictEqual({ kind: 'run', request: req(r) });
    }
  });
});

describe('usageText and errorReply', () => {
  it('lists every provider, alias and flag', () => {
    const usage = usageText();
    for (const { info } of defaultCatalog.descriptors) {
      expect(usage).toContain(`\`${info.name}\``);
      for (const alias of info.aliases) expect(usage).toContain(`\`${alias}\``);
      expect(usage).toContain(info.exampleId);
    }
    for (const flag of ['--force', '--dry-run', '--reason', '—force', '--help', '--no-verify', '--rolling N']) {
      expect(usage).toContain(flag);
    }
    expect(usage).toContain('[--no-verify | --rolling N]');
  });

  it('explains what --dry-run, --no-verify and --rolling do', () => {
    const usage = usageText();
    expect(usage).toContain('read-only: shows what would happen, sends no reboot, needs no approval');
    expect(usage).toContain("skip waiting for instances to come back; results say 'reboot accepted'");
    expect(usage).toContain('reboot N at a time; each wave must come back running before the next; the first failure stops the job');
  });

  it('every example in the usage parses, and the examples show --rolling and --no-verify at work', () => {
    const examples = [...usageText().matchAll(/^`\/reboot (.*)`$/gmu)].map((m) => m[1] ?? '');
    expect(examples.length).toBeGreaterThanOrEqual(5);
    const requests = examples.map((text) => run(text));
    expect(requests.some((r) => r.rolling !== null)).toBe(true);
    expect(requests.some((r) => !r.verify)).toBe(true);
    expect(requests.some((r) => r.dryRun)).toBe(true);
    expect(requests.some((r) => r.force)).toBe(true);
  });

  it('puts the problem first, then points at the usage in one more line', () => {
    const e = error('nope');
    const reply = errorReply(e);
    expect(reply).toBe(`:warning: ${e.message}\n\`/reboot help\` for usage`);
    expect(reply).not.toContain('*Usage:*');
  });

  it('lists every subcommand with its arguments', () => {
    const usage = usageText();
    for (const line of ['`/reboot status <request>`', '`/reboot list [--mine]`', '`/reboot audit <request>`', '`/reboot regions <provider>`', '`/reboot help`']) {
      expect(usage).toContain(line);
    }
  });
});

describe('rebootRequestSchema', () => {
  const ok: RebootRequest = {
    provider: 'alibaba',
    region: 'cn-hangzhou',
    ids: [ALI],
    force: false,
    dryRun: false,
    verify: true,
    rolling: null,
  };

  it('accepts a valid request and rejects what the parser never produces', () => {
    expect(rebootRequestSchema.safeParse(ok).success).toBe(true);
    expect(rebootRequestSchema.safeParse({ ...ok, ids: [ALI, ALI] }).success).toBe(false);
    expect(rebootRequestSchema.safeParse({ ...ok, ids: [HW] }).success).toBe(false);
    expect(rebootRequestSchema.safeParse({ ...ok, ids: [] }).success).toBe(false);
    expect(rebootRequestSchema.safeParse({ ...ok, region: 'CN-X' }).success).toBe(false);
    expect(rebootRequestSchema.safeParse({ ...ok, reason: ' padded ' }).success).toBe(false);
    expect(rebootRequestSchema.safeParse({ ...ok, reason: 'two\nlines' }).success).toBe(false);
    expect(rebootRequestSchema.safeParse({ ...ok, extra: 1 }).success).toBe(false);
  });

  it('accepts every verify and rolling combination the parser produces', () => {
    for (const extra of [
      { verify: false, rolling: null },
      { verify: true, rolling: 1 },
      { verify: true, rolling: MAX_ROLLING },
      { dryRun: true, verify: false, rolling: null },
      { dryRun: true, verify: true, rolling: 3 },
    ]) {
      expect(rebootRequestSchema.safeParse({ ...ok, ...extra }).success).toBe(true);
    }
  });

  it.each<[string, Record<string, unknown>]>([
    ['verify missing', { verify: undefined }],
    ['verify as a string', { verify: 'false' }],
    ['verify as a number', { verify: 0 }],
    ['rolling missing', { rolling: undefined }],
    ['rolling 0', { rolling: 0 }],
    ['rolling negative', { rolling: -3 }],
    ['rolling fractional', { rolling: 2.5 }],
    ['rolling above the limit', { rolling: MAX_ROLLING + 1 }],
    ['rolling as a string', { rolling: '5' }],
    ['rolling NaN', { rolling: Number.NaN }],
    ['rolling Infinity', { rolling: Number.POSITIVE_INFINITY }],
  ])('rejects %s', (_, extra) => {
    const bad: Record<string, unknown> = { ...ok, ...extra };
    for (const [k, v] of Object.entries(extra)) if (v === undefined) delete bad[k];
    expect(rebootRequestSchema.safeParse(bad).success).toBe(false);
  });

  it('rejects rolling without verify, explaining that waves are verified', () => {
    const checked = rebootRequestSchema.safeParse({ ...ok, verify: false, rolling: 2 });
    expect(checked.success).toBe(false);
    const issue = checked.error?.issues[0];
    expect(issue?.path).toEqual(['verify']);
    expect(issue?.message).toContain('before the next one starts');
  });

  it('a config region that is not a region id is reported, not thrown', () => {
    const e = error(`alibaba Bad_Region! ${ALI}`, ctx({ extraRegions: { alibaba: ['bad_region!'] } }));
    expect(e.message).toContain('region id');
  });
});

describe('properties', () => {
  const kinds = new Set(['help', 'run', 'error', 'status', 'list', 'audit', 'regions']);
  const anyAvailability = fc.func(fc.constantFrom<ProviderAvailability>('ready', 'not-configured'));

  function neverThrows(texts: fc.Arbitrary<string>): void {
    fc.assert(
      fc.property(texts, anyAvailability, fc.integer({ min: -1, max: 5 }), (text, availability, maxInstances) => {
        const parsed = parseRebootCommand(text, { availability, maxInstances });
        expect(kinds.has(parsed.kind)).toBe(true);
        if (parsed.kind === 'error') expect(parsed.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  }

  it('never throws on ASCII strings', () => neverThrows(fc.string({ maxLength: 200 })));
  it('never throws on grapheme strings', () => neverThrows(fc.string({ unit: 'grapheme', maxLength: 100 })));
  it('never throws on arbitrary code points', () => neverThrows(fc.string({ unit: 'binary', maxLength: 100 })));

  const pieces = [
    'alibaba', 'ALIYUN', 'volc', 'bce', 'hwc', 'aws', 'help', '-h', 'cn-hangzhou', 'cn-beijing', 'bj', 'cn-north-4',
    ALI, VOLC, BAIDU, HW, 'i-bad', '--force', '—force', '–dry-run', '--dryrun', '--reason', '--reason=', '—reason=',
    '--no-verify', '—noverify', '--rolling', '--rolling=', '—rolling=', '0', '5', '-3', '−3', '2.5', '10000', '１',
    '-', '—', '–', '--', '=', '"', "'", '“', '”', '‘', '’', '\\', '`', '```', ',', ', ', ' ', '\n', '\t', '\u00a0',
    '\u200b', '\u202e', '\u0000', '\ud800', 'x', '😀',
  ];
  const soup = fc.array(fc.constantFrom(...pieces), { maxLength: 30 });
  it('never throws on token soups', () => {
    neverThrows(soup.map((p) => p.join(' ')));
    neverThrows(soup.map((p) => p.join('')));
  });

  // Requests generated straight from the catalog, so a new region or id format is covered automatically.
  const idArbitrary: Record<ProviderName, fc.Arbitrary<string>> = {
    alibaba: fc.stringMatching(/^i-[a-z0-9]{8,32}$/),
    volcengine: fc.stringMatching(/^i-[a-z0-9]{10,32}$/),
    baidu: fc.stringMatching(/^i-[A-Za-z0-9]{8,32}$/),
    huawei: fc.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
  };
  const reasonChar = fc.oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
    fc.constantFrom('"', "'", '“', '”', '‘', '’', '\\', '`', ' ', '  ', ',', '-', '—', '=', '\n', '\t'),
  );
  const reasonArbitrary = fc
    .string({ unit: reasonChar, minLength: 1, maxLength: 60 })
    .map((r) => r.replace(/\s+/gu, ' ').trim())
    .filter((r) => r !== '');
  const rollingArbitrary = fc.oneof(fc.integer({ min: 1, max: MAX_ROLLING }), fc.constantFrom(1, 2, MAX_ROLLING));
  const requestArbitrary: fc.Arbitrary<RebootRequest> = fc
    .constantFrom(...defaultCatalog.descriptors.map((d) => d.info))
    .chain((info) =>
      fc.record({
        provider: fc.constant(info.name),
        region: fc.constantFrom(...info.regions),
        ids: fc.uniqueArray(idArbitrary[info.name] ?? fc.constant(info.exampleId), { minLength: 1, maxLength: 12 }),
        force: fc.boolean(),
        dryRun: fc.boolean(),
        // Rolling waves are always verified, so `--no-verify` only comes without `--rolling`.
        waves: fc.oneof(
          fc.record({ verify: fc.boolean(), rolling: fc.constant(null) }),
          fc.record({ verify: fc.constant(true), rolling: rollingArbitrary }),
        ),
        reason: fc.option(reasonArbitrary, { nil: undefined }),
      }),
    )
    .map(({ reason, waves, ...rest }) => (reason === undefined ? { ...rest, ...waves } : { ...rest, ...waves, reason }));

  it('rolling with --no-verify never parses, whatever else the request holds', () => {
    fc.assert(
      fc.property(requestArbitrary, rollingArbitrary, (req, n) => {
        const parsed = parse(formatRebootCommand({ ...req, verify: false, rolling: n }));
        expect(parsed.kind).toBe('error');
        if (parsed.kind === 'error') expect(parsed.message).toContain('cannot be combined');
      }),
      { numRuns: 200 },
    );
  });

  it('generated requests are valid (sanity check of the generators)', () => {
    fc.assert(
      fc.property(requestArbitrary, (req) => {
        expect(rebootRequestSchema.safeParse(req).success).toBe(true);
      }),
    );
  });

  it('parse(format(req)) gives back req', () => {
    fc.assert(
      fc.property(requestArbitrary, (req) => {
        expect(parse(formatRebootCommand(req))).toStrictEqual({ kind: 'run', request: req });
      }),
      { numRuns: 500 },
    );
  });

  it('the separators between ids do not matter', () => {
    const separator = fc.constantFrom(' ', ',', '\n', '\t', ', ', ' ,', ',\n', '\r\n', ',,', '  \n ');
    fc.assert(
      fc.property(
        requestArbitrary.chain((req) =>
          fc.tuple(fc.constant(req), fc.array(separator, { minLength: req.ids.length + 2, maxLength: req.ids.length + 2 })),
        ),
        ([req, seps]) => {
          const words = [req.provider, req.region, ...req.ids];
          const head = words.map((w, i) => (i === 0 ? w : `${seps[i - 1] ?? ' '}${w}`)).join('');
          const flags = formatRebootCommand({ ...req, ids: [] }).split(' ').slice(2).join(' ');
          const text = `${head}${seps[words.length - 1] ?? ''}${flags}`;
          expect(parse(text)).toStrictEqual(parse(formatRebootCommand(req)));
          expect(parse(text)).toStrictEqual({ kind: 'run', request: req });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('--account', () => {
  const ID = 'i-bp1g6zv0ce8oghu7abcd';
  it.each([`alibaba cn-hangzhou ${ID} --account prod`, `alibaba cn-hangzhou ${ID} -a prod`, `alibaba cn-hangzhou ${ID} --account=PROD`, `--account prod alibaba cn-hangzhou ${ID}`])(
    '%j names the account',
    (text) => {
      expect(run(text).account).toBe('prod');
    },
  );

  it('absent, the request names no account (the default one is used)', () => {
    expect(run(`alibaba cn-hangzhou ${ID}`).account).toBeUndefined();
  });

  it.each([
    [`alibaba cn-hangzhou ${ID} --account`, '`--account` needs an account name'],
    [`alibaba cn-hangzhou ${ID} --account --force`, '`--account` needs an account name'],
    [`alibaba cn-hangzhou ${ID} --account pr/od`, 'is not an account name'],
    [`alibaba cn-hangzhou ${ID} -a prod -a staging`, 'given twice with different values'],
  ])('%j is an error', (text, message) => {
    expect(error(text).message).toContain(message);
  });

  it('round-trips through formatRebootCommand', () => {
    const req = run(`alibaba cn-hangzhou ${ID} -a staging --force --reason "disk full"`);
    expect(formatRebootCommand(req)).toBe(`alibaba cn-hangzhou ${ID} --account staging --force --reason "disk full"`);
    expect(run(formatRebootCommand(req))).toStrictEqual(req);
  });

  it('`/reboot policy` takes no arguments', () => {
    expect(parse('policy')).toEqual({ kind: 'policy' });
    expect(error('policy everything').message).toContain('takes no arguments');
  });
});
