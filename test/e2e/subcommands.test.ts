/**
 * The read-side subcommands end to end: signed slash commands to the real bot over HTTP, answered in the ack,
 * against the fake Slack (src/local/fake-slack.ts) and the Alibaba simulator.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alibaba } from '../../src/providers/alibaba/index.js';
import { APPROVER_1, CHANNEL, Harness, REQUESTER, STRANGER, hasButtons, textOf, waitFor } from '../helpers/harness.js';

const REGION = 'cn-hangzhou';
const A = 'i-bp1g6zv0ce8oghu7a001';
const B = 'i-bp1g6zv0ce8oghu7a002';
const OTHER = 'C0OTHER';

interface Ack {
  response_type: string;
  text: string;
}

describe('/reboot status, list, audit, regions and help', () => {
  let h: Harness;
  let configDir: string;

  beforeAll(async () => {
    configDir = mkdtempSync(join(tmpdir(), 'reboot-bot-subcommands-'));
    const config = join(configDir, 'config.json');
    writeFileSync(config, JSON.stringify({ regions: { alibaba: ['cn-wulanchabu-x'] } }));
    h = await Harness.start({ providers: ['alibaba'], env: { REBOOT_CONFIG: config } });
    const fleet = h.sims.sims.alibaba!.fleet;
    fleet.add(REGION, A);
    // A name a spreadsheet would run as a formula: the audit file must defuse it.
    fleet.add(REGION, B, 'running', { name: '=HYPERLINK("http://evil")' });
  });
  afterAll(async () => {
    await h.stop();
    rmSync(configDir, { recursive: true, force: true });
  });

  async function ask(text: string, user = REQUESTER, channel = CHANNEL): Promise<string> {
    const res = await h.driver.command(user, channel, text);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as Ack;
    expect(body.response_type).toBe('ephemeral');
    return body.text;
  }

  /** Every row the bot keeps, to prove a command stored nothing. */
  function rowCounts(): Record<string, number> {
    const count = (table: string): number => (h.sqlite.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { jobs: count('jobs'), audit: count('audit'), outbox: count('outbox'), approvals: count('approvals') };
  }

  function jobIdOf(reply: string): string {
    const id = /Request `(r-[a-z2-7]{10})`/.exec(reply)?.[1];
    if (id === undefined) throw new Error(`no request id in ${reply}`);
    return id;
  }

  it('status follows one request from pending to finished, with approvals, tally and a link to its card', async () => {
    const { reply, card } = await h.request(`alibaba ${REGION} ${A} ${B} --reason "kernel patch"`);
    expect(reply).toContain('for 2 instances is posted for approval');
    const id = jobIdOf(reply);

    const pending = await ask(`status ${id}`);
    expect(pending).toContain(`*Request \`${id}\`*: waiting for approval · reboot of 2 instances on Alibaba Cloud ECS \`${REGION}\``);
    expect(pending).toContain(`Requested by <@${REQUESTER}>`);
    expect(pending).toContain('reason: kernel patch');
    expect(pending).toContain('Approvals: 0 of 1');
    // The fake's slash commands come from team_domain "fake" (src/local/slack-driver.ts).
    expect(pending).toContain(`<https://fake.slack.com/archives/${CHANNEL}/p${card.ts.replace('.', '')}|Open the card>`);

    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    const done = await ask(`status ${id}`);
    expect(done).toContain(': finished · reboot of 2 instances');
    expect(done).toContain(`Approved by <@${APPROVER_1}> (1 of 1 needed) at <!date^`);
    expect(done).toContain('Results: 2 verified · 0 running, unconfirmed · 0 not back · 0 failed · 0 unknown · finished at <!date^');
  });

  it('status of a rolling job shows its wave', async () => {
    const { reply, card } = await h.request(`alibaba ${REGION} ${A} ${B} --rolling 1`);
    const id = jobIdOf(reply);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(await ask(`status ${id}`)).toContain('Rolling: wave 2 of 2 (1 at a time)');
  });

  it("status of another channel's request names that channel and nothing else; an unknown id says so", async () => {
    const reply = await ask(`alibaba ${REGION} ${A}`, REQUESTER, OTHER);
    const id = jobIdOf(reply);
    await h.settle();
    const elsewhere = await ask(`status ${id}`);
    expect(elsewhere).toBe(`Request \`${id}\` belongs to <#${OTHER}>; ask there.`);
    expect(await ask(`status ${id}`, STRANGER, OTHER)).toContain('waiting for approval');
    expect(await ask('status r-zzzzzzzzzz')).toContain('There is no request `r-zzzzzzzzzz`');
  });

  it('a requester who denies their own request has withdrawn it: the card and status say so', async () => {
    const { reply, card } = await h.request(`alibaba ${REGION} ${A}`);
    await h.driver.clickButton(REQUESTER, card, 'reboot_deny');
    await h.settle();
    const after = h.slack.message(CHANNEL, card.ts)!;
    expect(hasButtons(after)).toBe(false);
    expect(textOf(after)).toContain(`Withdrawn by <@${REQUESTER}>`);
    expect(textOf(after)).not.toContain('Denied');
    expect(await ask(`status ${jobIdOf(reply)}`)).toContain(`Withdrawn by <@${REQUESTER}>`);
  });

  it('list shows the last 10 of this channel newest first; --mine the caller\'s own in every channel', async () => {
    const mineBefore = h.sqlite.recentJobs({ requester: STRANGER }, 100).length;
    const ids: string[] = [];
    for (let i = 0; i < 11; i++) ids.push(jobIdOf((await h.request(`alibaba ${REGION} ${i % 2 === 0 ? A : `${A} ${B}`}`, STRANGER)).reply));
    const strangerElsewhere = jobIdOf(await ask(`alibaba ${REGION} ${B} --dry-run`, STRANGER, OTHER));
    await h.settle();

    const list = (await ask('list')).split('\n');
    expect(list[0]).toBe('*The last 10 requests in this channel*, newest first:');
    expect(list.slice(1).map((l) => /`(r-[a-z2-7]{10})`/.exec(l)?.[1])).toEqual(ids.slice(1).reverse());
    expect(list[1]).toBe(`• \`${ids[10]}\` pending · Alibaba Cloud ECS \`${REGION}\` · 1 instance · <@${STRANGER}> · just now`);
    expect(list[2]).toContain('· 2 instances ·');
    expect(list.join('\n')).not.toContain(strangerElsewhere);

    const mine = await ask('list --mine', STRANGER);
    expect(mine.split('\n')[0]).toBe('*Your last 10 requests*, newest first:');
    expect(mine.split('\n')[1]).toBe(`• \`${strangerElsewhere}\` completed (dry run) · Alibaba Cloud ECS \`${REGION}\` · 1 instance · <@${STRANGER}> · just now · in <#${OTHER}>`);
    expect(mine).toContain(`\`${ids[10]}\` pending`);
    expect(mine).not.toContain(`\`${ids[0]}\``);
    expect(mineBefore).toBe(0);
    expect(await ask('list --mine', 'U0NOBODY')).toBe('You have made no requests yet (or they are past retention).');
    expect(await ask('list', REQUESTER, 'C0EMPTY')).toBe('No requests in this channel yet (or they are past retention).');
  });

  it("audit attaches the request's audit trail and outcomes to its thread as CSV, formulas defused", async () => {
    const { reply, card } = await h.request(`alibaba ${REGION} ${A} ${B} --reason "=1+1"`);
    const id = jobIdOf(reply);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    const filesBefore = h.slack.files.length;

    expect(await ask(`audit ${id}`, STRANGER)).toBe(`The audit trail of \`${id}\` will be attached to its thread as a CSV file.`);
    await h.settle();
    const file = await waitFor(() => h.slack.files.slice(filesBefore).find((f) => f.filename === `audit-${id}.csv`), 'audit file');
    expect(file.channel).toBe(CHANNEL);
    expect(file.threadTs).toBe(card.ts);
    const shared = h.slack.messages.find((m) => m.fileIds?.includes(file.id))!;
    expect(shared.text).toContain(`asked for by <@${STRANGER}>`);

    const lines = file.content.trimEnd().split('\r\n');
    expect(lines[0]).toBe('record,at,event,actor,instance_id,name,status,code,message,request_id,data');
    expect(lines[1]).toMatch(/^request,\d{4}-\d\d-\d\dT[^,]+,completed,U0REQUESTER,/);
    const events = lines.filter((l) => l.startsWith('audit,')).map((l) => l.split(',')[2]);
    expect(events).toEqual(['requested', 'preflight', 'approval', 'approved', 'started', 'batch sent', 'verifying', 'outcome', 'outcome', 'completed', 'audit exported']);
    expect(lines.find((l) => l.startsWith('audit,') && l.includes(',audit exported,'))).toContain(`,${STRANGER},`);
    const instances = lines.filter((l) => l.startsWith('instance,'));
    expect(instances).toHaveLength(2);
    expect(instances[0]).toMatch(new RegExp(`^instance,,,,${A},[^,]*,verified,`));
    // The name the cloud gave B starts with "=": the file shows it as text.
    expect(instances[1]).toContain(`${B},"'=HYPERLINK(""http://evil"")",verified,`);
    expect(h.slack.violations).toEqual([]);
  });

  it('audit from another channel, of an unknown request or with a bad id uploads nothing and stores nothing', async () => {
    const { reply } = await h.request(`alibaba ${REGION} ${A}`);
    const id = jobIdOf(reply);
    const before = { rows: rowCounts(), files: h.slack.files.length };
    expect(await ask(`audit ${id}`, REQUESTER, OTHER)).toBe(`Request \`${id}\` belongs to <#${CHANNEL}>; ask there.`);
    expect(await ask('audit r-zzzzzzzzzz')).toContain('There is no request');
    expect(await ask('audit r-1')).toContain('is not a request id');
    await h.settle();
    expect(rowCounts()).toEqual(before.rows);
    expect(h.slack.files.length).toBe(before.files);
  });

  it('regions lists every region of a provider by name or alias, the config extras included', async () => {
    const text = await ask('regions aliyun');
    expect(text.split('\n')[0]).toBe(`*Regions of Alibaba Cloud ECS (\`alibaba\`)* (${alibaba.info.regions.length + 1}):`);
    for (const region of alibaba.info.regions) expect(text).toContain(`\`${region}\``);
    expect(text).toContain('`cn-wulanchabu-x`');
    expect(await ask('regions huawei')).toContain('not configured on this bot');
  });

  it('help is the full usage, subcommands included', async () => {
    const text = await ask('help');
    expect(text).toContain('*Usage:*');
    expect(text).toContain('*Subcommands*');
    expect(text).toContain('`/reboot audit <request>`');
  });

  it.each<[string, string]>([
    ['stauts r-abcdefgh23', 'Did you mean `status`?'],
    ['alibab cn-hangzhou i-bp1g6zv0ce8oghu7a001', 'Did you mean `alibaba`?'],
    ['alibaba cn-hangzou i-bp1g6zv0ce8oghu7a001', 'Did you mean `cn-hangzhou`?'],
    ['list --everything', 'unknown flag `--everything` for `/reboot list`'],
    ['status', 'needs a request id'],
    ['regions', 'needs a provider'],
  ])('%j: a short error with a suggestion where one is near, and nothing changes', async (text, expected) => {
    const before = { rows: rowCounts(), files: h.slack.files.length, posts: h.slack.calls.length };
    const reply = await ask(text);
    const lines = reply.split('\n');
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(lines[0]).toMatch(/^:warning: /);
    expect(lines[0]).toContain(expected);
    expect(lines[1]).toBe('`/reboot help` for usage');
    await h.settle();
    expect(rowCounts()).toEqual(before.rows);
    expect(h.slack.calls.length).toBe(before.posts);
  });
});
