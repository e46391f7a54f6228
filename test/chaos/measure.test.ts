import { describe, expect, it } from 'vitest';
import type { FakeMessage } from '../../src/local/fake-slack.js';
import { incidentNotices, measure } from '../../chaos/observe.js';
import { planKillTrials } from '../../chaos/plan.js';
import { Rng } from '../../chaos/rng.js';
import { PHASES } from '../../chaos/trial.js';
import { CLOUDS } from '../../chaos/clouds.js';
import type { ProviderInfo } from '../../src/providers/provider.js';
import { huaweiInfo } from '../../src/providers/huawei/info.js';
import { alibabaInfo } from '../../src/providers/alibaba/info.js';
import { baiduInfo } from '../../src/providers/baidu/info.js';
import { volcengineInfo } from '../../src/providers/volcengine/info.js';

const JOB = 'r-abcdefghij';
const CH = 'C0CHAOS001';
const INC = 'C0INCID001';
let ts = 0;
function msg(channel: string, text: string, threadTs?: string, sectionText = text): FakeMessage {
  ts += 1;
  return {
    channel,
    ts: `1700000000.${String(ts).padStart(6, '0')}`,
    ...(threadTs ? { threadTs } : {}),
    text,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: sectionText } }],
    replyBroadcast: false,
    updates: 0,
  };
}

describe('measure: figures read from Slack and the cloud', () => {
  it('reads both incident notices out of one digest post, one notice per line', () => {
    const digest = msg(
      INC,
      ':rotating_light: Reboot of 1 instance on Alibaba Cloud ECS cn-hangzhou approved by <@U1>, requested by <@U2>.\n' +
        ':white_check_mark: Reboot of 1 instance on Alibaba Cloud ECS cn-hangzhou completed: 1 verified.',
    );
    expect(incidentNotices([digest], INC)).toEqual({ approved: 1, completed: 1 });
    expect(incidentNotices([digest, digest], INC)).toEqual({ approved: 2, completed: 2 });
  });

  it('counts lost, doubled, missing and unknown the way the run reports them', () => {
    const card = msg(CH, 'Reboot 3 instances: waiting', undefined, '*Instance ids*\n```i-aaa\ni-bbb\ni-ccc```');
    const lines = (body: string): FakeMessage => msg(CH, `Results:\n${body}`, card.ts, body);
    const messages = [
      card,
      msg(CH, 'Reboot 3 instances (again)'),
      lines(':white_check_mark: `i-aaa` rebooting'),
      lines(':white_check_mark: `i-aaa` rebooting\n:grey_question: `i-bbb` *unknown*: the bot restarted'),
      msg(CH, `:warning: Reboot \`${JOB}\` finished on Alibaba Cloud ECS cn-hangzhou: 1 rebooted`, card.ts),
      msg(INC, ':rotating_light: Reboot of 3 instances on Alibaba Cloud ECS cn-hangzhou approved by <@U1>, requested by <@U2>.'),
      msg('C0OTHER', ':white_check_mark: Reboot of 1 instance completed: 1 rebooted.'),
    ];
    const { figures, notes } = measure({
      jobId: JOB,
      ids: ['i-aaa', 'i-bbb', 'i-ccc'],
      channel: CH,
      incidentChannel: INC,
      messages,
      rebootCounts: new Map([
        ['i-aaa', 2],
        ['i-bbb', 1],
        ['i-ccc', 0],
      ]),
    });
    expect(figures).toEqual({ doubled: 1, missingFromThread: 1, slackLost: 1, slackDoubled: 2, unknown: 1, contradicted: 0, liveButtons: 0 });
    expect(notes).toContain("lost: incident 'completed' notice");
    expect(notes.some((n) => n.includes('i-ccc'))).toBe(true);
  });

  it('flags a line that contradicts the cloud', () => {
    const card = msg(CH, 'card');
    const { figures } = measure({
      jobId: JOB,
      ids: ['i-aaa'],
      channel: CH,
      incidentChannel: INC,
      messages: [card, msg(CH, 'Results:\n:white_check_mark: `i-aaa` rebooting', card.ts, ':white_check_mark: `i-aaa` rebooting')],
      rebootCounts: new Map([['i-aaa', 0]]),
    });
    expect(figures.contradicted).toBe(1);
    expect(figures.slackLost).toBe(3);
  });
});

describe('measure: the compact layout of large jobs', () => {
  it('reads ids in code blocks under a success heading, and still counts doubles, contradictions and missing ids', () => {
    const card = msg(CH, 'card');
    const grouped = (...sections: string[]): FakeMessage => ({
      ...msg(CH, 'Results: …', card.ts),
      blocks: sections.map((text) => ({ type: 'section', text: { type: 'mrkdwn', text } })),
    });
    const messages = [
      card,
      grouped(':x: *Failed* · 1\n:x: `i-bad` *Stopped*: stopped', ':white_check_mark: *Verified: back up and running* · 2\n```i-ok1  web-1\ni-never```'),
      grouped(':white_check_mark: *Verified: back up and running* · 1\n```i-ok1```', ':large_green_circle: *Would reboot* · 1\n```i-dry  web-9```'),
      msg(CH, `:warning: Reboot \`${JOB}\` finished on Alibaba Cloud ECS cn-hangzhou: 2 verified`, card.ts),
      msg(INC, ':rotating_light: Reboot of 4 instances on Alibaba Cloud ECS cn-hangzhou approved by <@U1>, requested by <@U2>.'),
      msg(INC, ':white_check_mark: Reboot of 4 instances completed: 2 verified.'),
    ];
    const { figures, notes } = measure({
      jobId: JOB,
      ids: ['i-bad', 'i-ok1', 'i-never', 'i-dry', 'i-lost'],
      channel: CH,
      incidentChannel: INC,
      messages,
      rebootCounts: new Map([
        ['i-ok1', 1],
        ['i-bad', 0],
        ['i-never', 0],
        ['i-dry', 0],
      ]),
    });
    expect(figures).toEqual({ doubled: 0, missingFromThread: 1, slackLost: 0, slackDoubled: 1, unknown: 0, contradicted: 1, liveButtons: 0 });
    expect(notes).toContain('doubled: 2 result lines for i-ok1 (succeeded, succeeded)');
    expect(notes).toContain('contradicted: i-never reported succeeded but the cloud rebooted it 0 time(s)');
    expect(notes.some((n) => n.startsWith('missing from thread: 1 of 5 (i-lost)'))).toBe(true);
  });
});

describe('trial plan', () => {
  it('is the same for the same seed, covers every phase, and makes ids each provider accepts', () => {
    const plan = (): ReturnType<typeof planKillTrials> => planKillTrials(new Rng(42), 12, PHASES, ['alibaba', 'volcengine', 'baidu', 'huawei'], new Set());
    const a = plan();
    expect(plan()).toEqual(a);
    expect(new Set(a.map((p) => p.phase))).toEqual(new Set(PHASES));
    const info: Record<string, ProviderInfo> = { alibaba: alibabaInfo, volcengine: volcengineInfo, baidu: baiduInfo, huawei: huaweiInfo };
    for (const p of a) {
      expect(info[p.provider]?.regions).toContain(p.region);
      for (const id of p.ids) expect(info[p.provider]?.isInstanceId(id)).toBe(true);
      expect(p.ids.length).toBeLessThanOrEqual(30);
      if (p.phase === 'huawei-polling') expect(p.provider).toBe('huawei');
    }
    expect(planKillTrials(new Rng(1), 6, PHASES, ['alibaba'], new Set()).some((p) => p.phase === 'huawei-polling')).toBe(false);
    expect(Object.keys(CLOUDS).sort()).toEqual(Object.keys(info).sort());
  });
});
