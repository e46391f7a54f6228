import { describe, expect, it } from 'vitest';
import type { FakeMessage } from '../../src/local/fake-slack.js';
import { parseArgs, UsageError } from '../../chaos/cli.js';
import { liveJobButtons, measure } from '../../chaos/observe.js';
import { replicaRoles } from '../../chaos/plan.js';
import { failing } from '../../chaos/report.js';
import { PHASES } from '../../chaos/trial.js';
import { requestCard } from '../../src/slack/messages.js';
import { storedJob } from '../helpers/fixtures.js';

describe('--replicas', () => {
  it('is one process unless asked for two, and takes only 1 or 2', () => {
    expect(parseArgs([]).replicas).toBe(1);
    expect(parseArgs(['--replicas', '2']).replicas).toBe(2);
    expect(parseArgs(['--replicas=2', '--trials', '4']).replicas).toBe(2);
    expect(parseArgs(['--replicas', '1']).replicas).toBe(1);
    expect(() => parseArgs(['--replicas', '3'])).toThrow(UsageError);
    expect(() => parseArgs(['--replicas'])).toThrow('--replicas needs an integer from 1 to 2');
  });
});

describe('replica roles', () => {
  it('sends the command and the click to different replicas, alternating by trial', () => {
    const odd = replicaRoles(1, 'verifying');
    const even = replicaRoles(2, 'verifying');
    expect(odd.command).not.toBe(odd.click);
    expect(even.command).not.toBe(even.click);
    expect(even.command).toBe(odd.click);
  });

  it('kills the replica doing the work: the command taker while the card is posted, the click taker afterwards', () => {
    for (const index of [1, 2]) {
      const roles = replicaRoles(index, 'card-posted');
      expect(roles.victim).toBe(roles.command);
      for (const phase of PHASES.filter((p) => p !== 'card-posted')) {
        const r = replicaRoles(index, phase);
        expect(r.victim, phase).toBe(r.click);
      }
    }
    // A fault trial kills nobody.
    expect(replicaRoles(3, undefined).victim).toBeUndefined();
  });
});

const JOB = 'r-abcdefghij';
const CH = 'C0CHAOS001';
const INC = 'C0INCID001';
let ts = 0;
function msg(channel: string, text: string, blocks: unknown[], threadTs?: string): FakeMessage {
  ts += 1;
  return { channel, ts: `1700000000.${String(ts).padStart(6, '0')}`, ...(threadTs ? { threadTs } : {}), text, blocks, replyBroadcast: false, updates: 0 };
}
const section = (text: string): unknown[] => [{ type: 'section', text: { type: 'mrkdwn', text } }];

describe('live buttons once the job ended', () => {
  // The bot's own pending card, so the check reads the buttons the bot really draws.
  const pending = requestCard({ job: storedJob({ id: JOB }), approvals: [] });

  it('finds the Approve and Deny buttons of a pending card, and none on a plain message', () => {
    expect(liveJobButtons(pending).sort()).toEqual(['reboot_approve', 'reboot_deny']);
    expect(liveJobButtons({ blocks: section('done') })).toEqual([]);
  });

  it('counts a card still offering buttons after the summary, fails the run, and leaves a job under way alone', () => {
    const card = msg(CH, pending.text, pending.blocks);
    const summary = msg(CH, `:white_check_mark: Reboot \`${JOB}\` finished on Alibaba Cloud ECS cn-hangzhou`, section(`Reboot \`${JOB}\` finished on x`), card.ts);
    const evidence = { jobId: JOB, ids: [], channel: CH, incidentChannel: INC, rebootCounts: new Map<string, number>() };

    const ended = measure({ ...evidence, messages: [card, summary] });
    expect(ended.figures.liveButtons).toBe(1);
    expect(ended.notes.some((n) => n.startsWith('live buttons after the job ended'))).toBe(true);
    expect(failing(ended.figures)).toBe(true);

    expect(measure({ ...evidence, messages: [card] }).figures.liveButtons).toBe(0);

    // A second copy the bot never learned of (posted again after a kill) keeps its buttons: doubled, and live too.
    const orphan = msg(CH, pending.text, pending.blocks);
    const finished = msg(CH, 'Reboot: finished', section('finished'));
    const summaryUnderFinished = { ...summary, threadTs: finished.ts };
    const doubledCard = measure({ ...evidence, messages: [orphan, finished, summaryUnderFinished] });
    expect(doubledCard.figures.liveButtons).toBe(1);
    expect(doubledCard.figures.slackDoubled).toBe(1);
    expect(doubledCard.notes.some((n) => n.includes('a second copy of the card') && n.includes('still offers reboot_approve'))).toBe(true);

    const finishedCard = msg(CH, 'Reboot: finished', section('finished'));
    const summaryOfFinished = { ...summary, threadTs: finishedCard.ts };
    expect(measure({ ...evidence, messages: [finishedCard, summaryOfFinished] }).figures.liveButtons).toBe(0);
  });
});
