/**
 * Pure Block Kit builders. Every message stays inside Slack's limits (50 blocks, 3,000 characters per
 * section, 150 per header), and every message carries a top-level `text` for notifications and
 * screen readers.
 */
import type { types } from '@slack/bolt';
import { escapeMrkdwn } from '../mrkdwn.js';
import { defaultCatalog, type Catalog } from '../providers/catalog.js';
import type { InstanceOutcome } from '../providers/provider.js';
import type { Approval, Job, Tally } from '../domain/job.js';

type KnownBlock = types.KnownBlock;

export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

export const APPROVE_ACTION = 'reboot_approve';
export const DENY_ACTION = 'reboot_deny';

const SECTION_LIMIT = 3000;
/** Ids shown on the card before the list collapses to "… and N more". */
const CARD_ID_LIMIT = 40;

export { escapeMrkdwn };

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

function slackDate(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return `<!date^${seconds}^{date_short_pretty} {time}|${new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')}>`;
}

function section(text: string): KnownBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: truncate(text, SECTION_LIMIT) } };
}

function context(text: string): KnownBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: truncate(text, SECTION_LIMIT) }] };
}

// A job outlives catalog changes: one whose provider has since left the catalog still gets a card.
function providerLabel(job: Pick<Job, 'provider'>, catalog: Catalog): string {
  return catalog.get(job.provider)?.info.displayName ?? job.provider;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The id list for the card: a code block, collapsed past CARD_ID_LIMIT so it always fits. */
export function idListText(ids: readonly string[]): string {
  const shown = ids.slice(0, CARD_ID_LIMIT);
  const more = ids.length - shown.length;
  const body = '```' + shown.join('\n') + '```';
  return more > 0 ? `${body}\n_… and ${more} more (full list in the audit trail)_` : body;
}

export function tallyText(t: Tally, dryRun: boolean): string {
  const parts = dryRun
    ? [`${t.checked} would reboot`, `${t.failed} would fail`]
    : [`${t.succeeded} rebooted`, `${t.failed} failed`];
  if (t.unknown > 0) parts.push(`${t.unknown} unknown`);
  if (t.waiting > 0) parts.push(`${t.waiting} waiting`);
  return parts.join(' · ');
}

export interface CardView {
  job: Job;
  approvals: readonly Approval[];
  tally?: Tally;
}

/** The request card, rendered from the job's current state: the same function serves post and every update. */
export function requestCard({ job, approvals, tally }: CardView, catalog: Catalog = defaultCatalog): SlackMessage {
  const count = plural(job.ids.length, 'instance');
  const title = `${job.dryRun ? 'Dry run: reboot' : 'Reboot'} ${count} on ${providerLabel(job, catalog)} ${job.region}`;
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(title, 150) } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Provider*\n${providerLabel(job, catalog)}` },
        { type: 'mrkdwn', text: `*Region*\n\`${job.region}\`` },
        { type: 'mrkdwn', text: `*Instances*\n${job.ids.length}` },
        { type: 'mrkdwn', text: `*Requested by*\n<@${job.requester}>` },
        { type: 'mrkdwn', text: `*Mode*\n${job.dryRun ? 'dry run (nothing is rebooted)' : job.force ? '*FORCE* (hard power cycle)' : 'graceful reboot'}` },
        { type: 'mrkdwn', text: `*Request*\n\`${job.id}\`` },
      ],
    },
  ];
  if (job.force) {
    blocks.push(
      section(
        `:warning: *--force*: instances are powered off hard; data not yet written to disk is lost. ` +
          `Needs ${plural(job.approvalsNeeded, 'approval')} from distinct approvers.`,
      ),
    );
  }
  blocks.push(section(`*Reason*\n${job.reason ? escapeMrkdwn(job.reason) : '_none given_'}`));
  blocks.push(section(`*Instance ids*\n${idListText(job.ids)}`));
  blocks.push(...statusBlocks(job, approvals, tally));
  return { text: `${title}: ${stateLine(job, approvals, tally)}`, blocks };
}

function approverList(approvals: readonly Approval[]): string {
  return approvals.map((a) => `<@${a.userId}>`).join(', ');
}

function stateLine(job: Job, approvals: readonly Approval[], tally?: Tally): string {
  switch (job.state) {
    case 'pending':
      return approvals.length > 0
        ? `waiting for approval (${approvals.length} of ${job.approvalsNeeded}: ${approverList(approvals)})`
        : `waiting for approval from <@${job.requester}>'s approvers`;
    case 'approved':
      return `approved by ${approverList(approvals)}, starting`;
    case 'running':
      return `running${tally ? `: ${tallyText(tally, job.dryRun)}` : ''}`;
    case 'completed':
      return `finished${tally ? `: ${tallyText(tally, job.dryRun)}` : ''}`;
    case 'denied':
      return `denied by <@${job.decidedBy ?? 'unknown'}>`;
    case 'expired':
      return 'expired without approval';
  }
}

function statusBlocks(job: Job, approvals: readonly Approval[], tally?: Tally): KnownBlock[] {
  const decided = job.decidedAt ? ` at ${slackDate(job.decidedAt)}` : '';
  switch (job.state) {
    case 'pending': {
      const lines = [`:hourglass_flowing_sand: Waiting for approval · expires ${slackDate(job.expiresAt)}`];
      if (job.reapprovalReason) lines.unshift(`:warning: *Approval lapsed*: ${escapeMrkdwn(job.reapprovalReason)}.`);
      if (job.approvalsNeeded > 1) {
        lines.push(`Approvals: ${approvals.length} of ${job.approvalsNeeded}${approvals.length ? ` (${approverList(approvals)})` : ''}`);
      }
      return [context(lines.join('\n')), approvalButtons(job)];
    }
    case 'approved':
      return [context(`:white_check_mark: Approved by ${approverList(approvals)}${decided}. Starting…`)];
    case 'running':
      return [
        context(`:white_check_mark: Approved by ${approverList(approvals)}${decided}.`),
        section(`:arrows_counterclockwise: *In progress*: ${tally ? tallyText(tally, job.dryRun) : 'starting'}`),
      ];
    case 'completed': {
      const icon = tally && tally.failed + tally.unknown > 0 ? ':warning:' : ':white_check_mark:';
      return [
        context(`Approved by ${approverList(approvals)}${decided}.`),
        section(`${icon} *Finished*: ${tally ? tallyText(tally, job.dryRun) : ''} · details in the thread`),
      ];
    }
    case 'denied':
      return [context(`:no_entry: Denied by <@${job.decidedBy ?? 'unknown'}>${decided}. Nothing was rebooted.`)];
    case 'expired':
      return [context(`:hourglass: Expired${decided} without enough approvals. Nothing was rebooted.`)];
  }
}

function approvalButtons(job: Job): KnownBlock {
  return {
    type: 'actions',
    // A new block_id per approval count, so Slack re-renders the buttons after each update.
    block_id: `approval:${job.id}`,
    elements: [
      {
        type: 'button',
        action_id: APPROVE_ACTION,
        text: { type: 'plain_text', text: job.force ? 'Approve FORCE reboot' : 'Approve' },
        style: 'primary',
        value: job.id,
        ...(job.force
          ? {
              confirm: {
                title: { type: 'plain_text', text: 'Approve a forced reboot?' },
                text: {
                  type: 'mrkdwn',
                  text: truncate(`${job.ids.length} instances will be powered off hard. Unsaved data is lost.`, 300),
                },
                confirm: { type: 'plain_text', text: 'Approve force' },
                deny: { type: 'plain_text', text: 'Cancel' },
                style: 'danger',
              },
            }
          : {}),
      },
      { type: 'button', action_id: DENY_ACTION, text: { type: 'plain_text', text: 'Deny' }, style: 'danger', value: job.id },
    ],
  };
}

// ---- thread ------------------------------------------------------------------------------------

export function outcomeLine(o: InstanceOutcome): string {
  const id = '`' + o.id + '`';
  switch (o.status) {
    case 'succeeded':
      return `:white_check_mark: ${id} rebooting${o.detail ? ` (${escapeMrkdwn(o.detail)})` : ''}`;
    case 'checked':
      return `:large_green_circle: ${id} would reboot${o.detail ? ` (${escapeMrkdwn(o.detail)})` : ''}`;
    case 'failed':
      return truncate(
        `:x: ${id} *${escapeMrkdwn(o.code)}*: ${escapeMrkdwn(o.message)}${o.requestId ? ` _(request ${escapeMrkdwn(o.requestId)})_` : ''}`,
        600,
      );
    case 'unknown':
      return truncate(`:grey_question: ${id} *unknown*: ${escapeMrkdwn(o.reason)}`, 600);
  }
}

/** Thread reply listing outcomes: lines are packed into sections of at most 3,000 characters. */
export function resultLinesMessage(lines: readonly string[]): SlackMessage {
  const blocks: KnownBlock[] = [];
  let current = '';
  for (const line of lines) {
    if (current && current.length + 1 + line.length > SECTION_LIMIT) {
      blocks.push(section(current));
      current = '';
    }
    current = current ? `${current}\n${line}` : line;
  }
  if (current) blocks.push(section(current));
  return { text: truncate(`Results:\n${lines.join('\n')}`, 3900), blocks: blocks.slice(0, 45) };
}

/** What a second copy of a card (posted twice across a crash) is rewritten to: no buttons, a link to the live one. */
export function supersededCard(job: Job, livePermalink: string | null): SlackMessage {
  const live = livePermalink ? `<${livePermalink}|live card>` : 'live card in this channel';
  const text = `:no_entry_sign: This copy of request \`${job.id}\` is superseded: it was posted twice after a restart. Use the ${live}.`;
  return noteMessage(text);
}

export function noteMessage(text: string): SlackMessage {
  return { text, blocks: [section(text)] };
}

export function summaryMessage(job: Job, tally: Tally, catalog: Catalog = defaultCatalog): SlackMessage {
  const bad = tally.failed + tally.unknown;
  const icon = bad > 0 ? ':warning:' : ':white_check_mark:';
  const what = job.dryRun ? 'Dry run' : 'Reboot';
  const text =
    `${icon} ${what} \`${job.id}\` finished on ${providerLabel(job, catalog)} ${job.region}: ${tallyText(tally, job.dryRun)}` +
    (tally.unknown > 0 ? `. Instances marked unknown may or may not be rebooting: check them before retrying.` : '');
  return noteMessage(text);
}

export function incidentMessage(
  job: Job,
  event: 'approved' | 'completed',
  permalink: string | null,
  tally?: Tally,
  catalog: Catalog = defaultCatalog,
): SlackMessage {
  const link = permalink ? ` <${permalink}|thread>` : '';
  const head = `${job.dryRun ? 'Dry-run reboot' : job.force ? 'FORCE reboot' : 'Reboot'} of ${plural(job.ids.length, 'instance')} on ${providerLabel(job, catalog)} ${job.region}`;
  const text =
    event === 'approved'
      ? `:rotating_light: ${head} approved by ${job.decidedBy ? job.decidedBy.split(',').map((u) => `<@${u}>`).join(', ') : 'approvers'}, requested by <@${job.requester}>.${link}`
      : `${tally && tally.failed + tally.unknown > 0 ? ':warning:' : ':white_check_mark:'} ${head} completed: ${tally ? tallyText(tally, job.dryRun) : ''}.${link}`;
  return noteMessage(text);
}
