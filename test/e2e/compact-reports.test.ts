/**
 * Compact, complete reports, driven through the real bot over HTTP against the fake Slack and the Alibaba
 * simulator: a 1,000-instance job's results fit in a handful of thread messages, every id appears in the
 * thread exactly once with its true status, every message keeps to Block Kit's limits, and a job over
 * 1,000 instances also gets its whole table as a CSV file in the thread.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { outcomeLines } from '../../chaos/observe.js';
import { blockTexts, type FakeMessage } from '../../src/local/fake-slack.js';
import type { JobOutcome } from '../../src/domain/outcome.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { RESULTS_CSV_HEADER } from '../../src/slack/results-csv.js';
import { APPROVER_1, Harness, textOf } from '../helpers/harness.js';

const REGION = 'cn-hangzhou';
const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);
const isResults = (m: FakeMessage): boolean => m.text.startsWith('Results:');

describe('compact, complete reports', () => {
  let h: Harness;
  afterEach(async () => {
    await h.stop();
  });

  /** Runs an approved job over `all`, the `stopped` ones refused by the cloud; returns its card's ts. */
  async function run(
    all: readonly string[],
    stopped: ReadonlySet<string>,
    names: (id: string, i: number) => string | undefined = () => undefined,
    beforeRequest: () => void = () => undefined,
  ): Promise<string> {
    // Held part-filled messages wait for the summary however slow a loaded machine makes the run.
    h = await Harness.start({ providers: ['alibaba'], env: { REBOOT_MAX_INSTANCES: '5000' }, tuning: { resultsHoldMs: 600_000 } });
    beforeRequest();
    const fleet = h.sims.sims.alibaba!.fleet;
    all.forEach((id, i) => {
      const name = names(id, i);
      fleet.add(REGION, id, stopped.has(id) ? 'stopped' : 'running', name === undefined ? {} : { name });
    });
    const { card } = await h.request(`alibaba ${REGION} ${all.join(' ')}`);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.bot.settle(30_000);
    return card.ts;
  }

  function storedOutcomes(): JobOutcome[] {
    const store = new SqliteStore(h.dbPath);
    try {
      const job = store.db.prepare('SELECT id FROM jobs').get() as { id: string };
      return store.outcomes(job.id);
    } finally {
      store.close();
    }
  }

  it('1,000 instances with 10 refused: 5 result messages, every id once with its true status, within Block Kit limits, no file', async () => {
    const all = ids(1000);
    const stopped = new Set(all.filter((_, i) => i % 100 === 42));
    const cardTs = await run(all, stopped);

    const thread = h.slack.thread(cardTs);
    const results = thread.filter(isResults);
    // 990 ids with their names ("web-" and 4 characters) and 10 failure lines, in messages of at most
    // RESULTS_BUDGET characters: 5 messages, where one line per instance in messages of 25 took 40.
    expect(results).toHaveLength(5);
    // The summary is the only other thread message.
    expect(thread.filter((m) => !isResults(m)).map((m) => m.replyBroadcast)).toEqual([true]);
    expect(thread.length).toBeLessThanOrEqual(6);

    const seen = outcomeLines(results);
    expect(seen.size).toBe(1000);
    for (const id of all) expect(seen.get(id), id).toEqual([stopped.has(id) ? 'failed' : 'succeeded']);
    const text = results.map(textOf).join('\n');
    for (const id of stopped) expect(text).toContain(`:x: \`${id}\` *IncorrectInstanceStatus*: The current status of the resource does not support this operation.`);
    expect(text).toContain(`${all[0]}  web-0000`);
    expect(text).toContain(':white_check_mark: *Verified: back up and running*');

    for (const m of results) {
      expect(m.blocks.length).toBeLessThanOrEqual(50);
      const texts = blockTexts(m.blocks);
      for (const t of texts) expect(t.length).toBeLessThanOrEqual(3000);
      expect(texts.join('').length).toBeLessThanOrEqual(9000);
    }
    expect(h.slack.violations).toEqual([]);
    expect(h.slack.files).toEqual([]);
    expect(h.slack.callsTo('files.getUploadURLExternal')).toHaveLength(0);
  }, 120_000);

  it('1,001 instances: the whole table is uploaded as a CSV file in the thread, every row once, formulas defused', async () => {
    const all = ids(1001);
    const stopped = new Set([all[7]!, all[500]!]);
    const cardTs = await run(all, stopped, (_, i) => (i === 3 ? '=HYPERLINK("http://evil.test","x")' : i === 4 ? '+cmd, "quoted"' : undefined));

    expect(h.slack.violations).toEqual([]);
    const seen = outcomeLines(h.slack.thread(cardTs).filter(isResults));
    expect(seen.size).toBe(1001);
    for (const id of all) expect(seen.get(id)).toEqual([stopped.has(id) ? 'failed' : 'succeeded']);

    expect(h.slack.files).toHaveLength(1);
    const file = h.slack.files[0]!;
    expect(file).toMatchObject({ channel: 'C0OPS', threadTs: cardTs });
    expect(file.filename).toMatch(/^reboot-r-[a-z0-9]+\.csv$/);
    expect(h.slack.thread(cardTs).filter((m) => m.fileIds?.includes(file.id))).toHaveLength(1);
    for (const method of ['files.getUploadURLExternal', 'files.completeUploadExternal']) expect(h.slack.callsTo(method)).toHaveLength(1);

    const lines = file.content.split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines[0]).toBe(RESULTS_CSV_HEADER.join(','));
    const rows = lines.slice(1, -1);
    expect(rows).toHaveLength(1001);
    const byId = new Map(storedOutcomes().map((o) => [o.id, o]));
    rows.forEach((row, i) => {
      const id = all[i]!;
      expect(row.startsWith(`${id},`)).toBe(true);
      expect(row).toContain(`,${byId.get(id)!.status},`);
    });
    expect(rows[3]).toBe(`${all[3]},"'=HYPERLINK(""http://evil.test"",""x"")",verified,,"${(byId.get(all[3]!) as { detail: string }).detail.replace(/"/g, '""')}",`);
    expect(rows[4]!.startsWith(`${all[4]},"'+cmd, ""quoted""",verified,`)).toBe(true);
    expect(rows[7]).toBe(`${all[7]},web-0007,failed,IncorrectInstanceStatus,The current status of the resource does not support this operation.,${(byId.get(all[7]!) as { requestId?: string }).requestId ?? ''}`);
  }, 120_000);

  it('without the files:write scope, the thread says the table could not be attached, and the bot stays healthy', async () => {
    const all = ids(1001);
    const cardTs = await run(all, new Set(), undefined, () => h.slack.injectFault('files.getUploadURLExternal', { error: 'missing_scope' }));
    expect(h.slack.files).toEqual([]);
    const thread = h.slack.thread(cardTs);
    expect(thread.map(textOf).join('\n')).toContain('The full table of results could not be attached: the app lacks the `files:write` scope');
    expect(outcomeLines(thread.filter(isResults)).size).toBe(1001);
    const health = await fetch(`${h.bot.url}/healthz`);
    expect(health.status).toBe(200);
  }, 120_000);
});
