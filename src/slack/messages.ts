/**
 * Pure Block Kit builders. Every message stays inside Slack's limits (50 blocks, 3,000 characters per
 * section, 150 per header), and every message carries a top-level `text` for notifications and
 * screen readers.
 */
import type { types } from '@slack/bolt';
import { escapeMrkdwn } from '../mrkdwn.js';
import { defaultCatalog, type Catalog } from '../providers/catalog.js';
import { failedCount, wavePlanText, type Approval, type Job, type Tally } from '../domain/job.js';
import type { ResultEntry, ResultsLayout } from '../domain/outbox-message.js';
import type { JobOutcome, OutcomeStatus } from '../domain/outcome.js';
import { countStandings, standingOf, stateText, WILL_FAIL, type Preflight, type Standing } from '../domain/preflight.js';
import { plural } from '../plural.js';

type KnownBlock = types.KnownBlock;

export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

export const APPROVE_ACTION = 'reboot_approve';
export const DENY_ACTION = 'reboot_deny';
/** The card's "Show all N ids" button: opens the full list in a modal (src/slack/views.ts). */
export const SHOW_IDS_ACTION = 'reboot_show_ids';
export const CANCEL_ACTION = 'reboot_cancel';

const SECTION_LIMIT = 3000;
/** Ids shown on the card before the list collapses to "… and N more". */
export const CARD_ID_LIMIT = 40;

export { escapeMrkdwn };

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

export function slackDate(ms: number): string {
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
export function providerLabel(job: Pick<Job, 'provider'>, catalog: Catalog): string {
  return catalog.get(job.provider)?.info.displayName ?? job.provider;
}

export { plural };

/** The id list for the card: a code block, collapsed past CARD_ID_LIMIT so it always fits. */
/** "Alibaba Cloud ECS cn-hangzhou, account `prod`": where a job reboots, as the summary and notices say it. */
export function placeText(job: Pick<Job, 'provider' | 'region' | 'account'>, catalog: Catalog): string {
  return `${providerLabel(job, catalog)} ${job.region}, account \`${job.account}\``;
}

export function idListText(ids: readonly string[]): string {
  const shown = ids.slice(0, CARD_ID_LIMIT);
  const more = ids.length - shown.length;
  const body = '```' + shown.join('\n') + '```';
  return more > 0 ? `${body}\n${moreText(more)}` : body;
}

/** What stands for the ids a card leaves out: the button beside the list shows them all. */
function moreText(more: number): string {
  return `_… and ${more} more (*Show all* lists them)_`;
}

/**
 * The card's instance list, with a "Show all N ids" button beside it once the list is cut: the button opens
 * every id in a modal (src/slack/views.ts). Its value is the job id; the click is validated with zod there.
 */
function instancesSection(job: Job, text: string): KnownBlock {
  if (job.ids.length <= CARD_ID_LIMIT) return section(text);
  return {
    type: 'section',
    text: { type: 'mrkdwn', text: truncate(text, SECTION_LIMIT) },
    accessory: { type: 'button', action_id: SHOW_IDS_ACTION, text: { type: 'plain_text', text: `Show all ${job.ids.length} ids` }, value: job.id },
  };
}

/** The counts a card and a summary show; a verified job always names its five verdicts. */
export function tallyText(t: Tally, job: Pick<Job, 'dryRun' | 'verify'>): string {
  const parts = job.dryRun
    ? [`${t.checked} would reboot`, `${t.failed} would fail`]
    : job.verify
      ? [`${t.verified} verified`, `${t.unconfirmed} running, unconfirmed`, `${t.not_back} not back`, `${t.failed} failed`, `${t.unknown} unknown`]
      : [`${t.succeeded} reboot accepted`, `${t.failed} failed`];
  // Reboots accepted by a call but reported without a look (e.g. a follow-up read of a job that does not verify).
  if (!job.dryRun && job.verify && t.succeeded > 0) parts.push(`${t.succeeded} reboot accepted`);
  if ((job.dryRun || !job.verify) && t.unknown > 0) parts.push(`${t.unknown} unknown`);
  if (t.not_started > 0) parts.push(`${t.not_started} not started`);
  if (t.cancelled > 0) parts.push(`${t.cancelled} cancelled`);
  if (t.waiting > 0) parts.push(`${t.waiting} waiting`);
  return parts.join(' · ');
}

/** Anything that did not end as asked: the card and summary get a warning icon. */
function anyTrouble(t: Tally): boolean {
  return failedCount(t) + t.unknown + t.unconfirmed + t.not_started + t.cancelled > 0;
}

export interface CardView {
  job: Job;
  approvals: readonly Approval[];
  tally?: Tally;
  preflight?: Preflight;
  /** Rolling jobs: the wave being sent or watched, counted from 1. */
  wave?: { current: number; total: number };
}

/** Pre-flight lists at most this many problem instances by id before summarising. */
const WARNING_ID_LIMIT = 20;

const STANDING_WORDS: Record<Standing, string> = {
  running: 'running',
  'not found': 'not found',
  stopped: 'stopped',
  locked: 'locked',
  busy: 'busy (in transition)',
  other: 'in another state',
  unread: 'not read',
};

function standingCounts(ids: readonly string[], preflight: Preflight, only: readonly Standing[]): string {
  const counts = countStandings(ids, preflight);
  return only.flatMap((st) => (counts.get(st) ? [`${counts.get(st)} ${STANDING_WORDS[st]}`] : [])).join(', ');
}

function instanceLine(id: string, preflight: Preflight): string {
  const reading = preflight.readings.get(id);
  const name = reading?.found && reading.name ? ` ${escapeMrkdwn(reading.name)}` : '';
  return `\`${id}\`${name} · ${escapeMrkdwn(stateText(reading))}`;
}

/**
 * What pre-flight found, for the top of the card: ids that will fail, or why it could not tell. It informs;
 * the buttons work whatever it says.
 */
function preflightWarnings(job: Job, preflight: Preflight | undefined): KnownBlock[] {
  if (preflight === undefined) return [];
  if (preflight.checkedAt === null && !job.dryRun) return [context(':mag: Checking the instances\' current state…')];
  const blocks: KnownBlock[] = [];
  const failing = job.ids.filter((id) => WILL_FAIL.includes(standingOf(preflight.readings.get(id))));
  if (failing.length > 0) {
    const shown = linesWithin(failing.slice(0, WARNING_ID_LIMIT).map((id) => instanceLine(id, preflight)), SECTION_LIMIT - 400);
    const more = failing.length - shown.length;
    const verb = job.dryRun ? 'these would fail' : 'these will fail';
    blocks.push(section(`:warning: *${standingCounts(job.ids, preflight, WILL_FAIL)}: ${verb}.*\n${shown.join('\n')}${more > 0 ? `\n_… and ${more} more_` : ''}`));
  }
  const unread = preflight.errors.reduce((n, e) => n + e.ids, 0);
  const first = preflight.errors[0];
  if (first !== undefined) {
    blocks.push(
      section(`:grey_question: Could not read the state of ${plural(unread, 'instance')}: ${escapeMrkdwn(first.code)}: ${escapeMrkdwn(truncate(first.message, 300))}.${job.dryRun ? '' : ' Approval still works; the card just cannot say what they are doing.'}`),
    );
  }
  return blocks;
}

/** Up to CARD_ID_LIMIT instances with name and state; past that, counts per state and the first names. */
function instanceList(job: Job, preflight: Preflight | undefined): string {
  if (preflight === undefined || preflight.readings.size === 0) return idListText(job.ids);
  const head = job.ids.length > CARD_ID_LIMIT ? `${standingCounts(job.ids, preflight, ['running', ...WILL_FAIL, 'unread'])}. The first ` : '';
  // Long names could push 40 lines past a section's 3,000 characters: fewer are shown rather than cut mid-line.
  const lines = linesWithin(job.ids.slice(0, CARD_ID_LIMIT).map((id) => instanceLine(id, preflight)), SECTION_LIMIT - head.length - 120);
  const more = job.ids.length - lines.length;
  const intro = head === '' && more === 0 ? '' : `${head === '' ? 'The first ' : head}${lines.length}:\n`;
  return `${intro}${lines.join('\n')}${more > 0 ? `\n${moreText(more)}` : ''}`;
}

/** As many whole lines as fit in `budget` characters, joined by new lines. */
function linesWithin(lines: readonly string[], budget: number): string[] {
  const kept: string[] = [];
  let used = 0;
  for (const line of lines) {
    if (used + line.length + 1 > budget) break;
    kept.push(line);
    used += line.length + 1;
  }
  return kept;
}

function modeText(job: Job): string {
  if (job.dryRun) return `dry run (nothing is rebooted)${job.force ? ', as *FORCE*' : ''}`;
  const how = job.force ? '*FORCE* (hard power cycle)' : 'graceful reboot';
  const rolling = job.rolling === null ? '' : `, rolling: ${wavePlanText(job.ids.length, job.rolling)}`;
  return `${how}${rolling}${job.verify ? ', verified' : ', not verified (--no-verify)'}`;
}

/** The request card, rendered from the job's current state: the same function serves post and every update. */
export function requestCard({ job, approvals, tally, preflight, wave }: CardView, catalog: Catalog = defaultCatalog): SlackMessage {
  const count = plural(job.ids.length, 'instance');
  const title = `${job.dryRun ? 'Dry run: reboot' : 'Reboot'} ${count} on ${providerLabel(job, catalog)} ${job.region}`;
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(title, 150) } },
    ...preflightWarnings(job, preflight),
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Provider*\n${providerLabel(job, catalog)}` },
        { type: 'mrkdwn', text: `*Region*\n\`${job.region}\`` },
        { type: 'mrkdwn', text: `*Account*\n\`${job.account}\`` },
        { type: 'mrkdwn', text: `*Instances*\n${job.ids.length}` },
        { type: 'mrkdwn', text: `*Requested by*\n<@${job.requester}>` },
        { type: 'mrkdwn', text: `*Mode*\n${modeText(job)}` },
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
  const when = preflight !== undefined && preflight.readings.size > 0 ? ' · state when requested' : '';
  blocks.push(instancesSection(job, `*Instances*${when}\n${instanceList(job, preflight)}`));
  blocks.push(...statusBlocks(job, approvals, tally, wave));
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
      return `${job.cancelledAt !== null ? 'cancelling' : 'running'}${tally ? `: ${tallyText(tally, job)}` : ''}`;
    case 'completed':
      return `finished${job.cancelledAt !== null ? ` (cancelled by <@${job.cancelledBy ?? 'unknown'}>)` : ''}${tally ? `: ${tallyText(tally, job)}` : ''}`;
    case 'cancelled':
      return `cancelled by <@${job.cancelledBy ?? 'unknown'}>`;
    case 'denied':
      return `${deniedVerb(job)} by <@${job.decidedBy ?? 'unknown'}>`;
    case 'expired':
      return 'expired without approval';
  }
}

/** A requester who clicks Deny on their own card withdraws it (src/jobs/requests.ts deny); anyone else denies it. */
export function isWithdrawn(job: Pick<Job, 'state' | 'decidedBy' | 'requester'>): boolean {
  return job.state === 'denied' && job.decidedBy === job.requester;
}

function deniedVerb(job: Job): 'withdrawn' | 'denied' {
  return isWithdrawn(job) ? 'withdrawn' : 'denied';
}

function statusBlocks(job: Job, approvals: readonly Approval[], tally?: Tally, wave?: CardView['wave']): KnownBlock[] {
  const decided = job.decidedAt ? ` at ${slackDate(job.decidedAt)}` : '';
  if (job.state === 'cancelled') return [context(`${cancelledText(job)} Nothing was ${job.dryRun ? 'read' : 'rebooted'}.`)];
  if (job.dryRun) {
    const done = job.state === 'completed';
    const icon = !done ? ':mag:' : tally && tally.failed + tally.unknown > 0 ? ':warning:' : ':white_check_mark:';
    return [
      context('Dry run: read calls only, so no approval is needed and nothing is rebooted.'),
      section(`${icon} *${done ? 'Finished' : 'Checking'}*: ${tally ? tallyText(tally, job) : 'starting'}${done ? ' · details in the thread' : ''}`),
    ];
  }
  const progress = wave && wave.total > 1 ? ` (wave ${wave.current} of ${wave.total})` : '';
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
      return [context(`:white_check_mark: Approved by ${approverList(approvals)}${decided}. Starting…`), cancelButton(job)];
    case 'running':
      if (job.cancelledAt !== null) {
        return [
          context(`:white_check_mark: Approved by ${approverList(approvals)}${decided}.`),
          context(`${cancelledText(job)} No further batch or wave is sent; what was already sent is verified to its verdict.`),
          section(`:arrows_counterclockwise: *Finishing what was sent*${progress}: ${tally ? tallyText(tally, job) : ''}`),
        ];
      }
      return [
        context(`:white_check_mark: Approved by ${approverList(approvals)}${decided}.`),
        section(`:arrows_counterclockwise: *In progress*${progress}: ${tally ? tallyText(tally, job) : 'starting'}`),
        cancelButton(job),
      ];
    case 'completed': {
      const icon = tally && anyTrouble(tally) ? ':warning:' : ':white_check_mark:';
      return [
        context(`Approved by ${approverList(approvals)}${decided}.`),
        ...(job.cancelledAt !== null ? [context(cancelledText(job))] : []),
        section(`${icon} *Finished*: ${tally ? tallyText(tally, job) : ''} · details in the thread`),
      ];
    }
    case 'denied':
      return [context(`:no_entry: ${isWithdrawn(job) ? 'Withdrawn' : 'Denied'} by <@${job.decidedBy ?? 'unknown'}>${decided}. Nothing was rebooted.`)];
    case 'expired':
      return [context(`:hourglass: Expired${decided} without enough approvals. Nothing was rebooted.`)];
  }
}

function cancelledText(job: Job): string {
  return `:octagonal_sign: Cancelled by <@${job.cancelledBy ?? 'unknown'}>${job.cancelledAt !== null ? ` at ${slackDate(job.cancelledAt)}` : ''}.`;
}

/**
 * Cancel of an approved or running job, behind Slack's confirm dialog
 * (https://api.slack.com/reference/block-kit/composition-objects#confirm): a stray click stops a reboot half done.
 */
function cancelButton(job: Job): KnownBlock {
  return {
    type: 'actions',
    block_id: `cancel:${job.id}`,
    elements: [
      {
        type: 'button',
        action_id: CANCEL_ACTION,
        text: { type: 'plain_text', text: 'Cancel' },
        style: 'danger',
        value: job.id,
        confirm: {
          title: { type: 'plain_text', text: 'Cancel this reboot?' },
          text: {
            type: 'mrkdwn',
            text: truncate(`No further batch or wave of \`${job.id}\` is sent; instances not yet sent are reported cancelled. Reboots already sent cannot be undone and are verified to their verdict.`, 300),
          },
          confirm: { type: 'plain_text', text: 'Cancel the reboot' },
          deny: { type: 'plain_text', text: 'Keep it running' },
          style: 'danger',
        },
      },
    ],
  };
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
      // Unstyled: red would mark Deny as the dangerous choice, when it is the safe one (nothing is rebooted).
      // https://api.slack.com/reference/block-kit/block-elements#button
      { type: 'button', action_id: DENY_ACTION, text: { type: 'plain_text', text: 'Deny' }, value: job.id },
    ],
  };
}

// ---- thread ------------------------------------------------------------------------------------

export function outcomeLine(o: JobOutcome): string {
  const id = '`' + o.id + '`';
  switch (o.status) {
    case 'succeeded':
      return `:white_check_mark: ${id} reboot accepted${o.detail ? ` (${escapeMrkdwn(o.detail)})` : ''}`;
    case 'verified':
      return `:white_check_mark: ${id} ${escapeMrkdwn(o.detail)}`;
    case 'unconfirmed':
      return `:large_yellow_circle: ${id} ${escapeMrkdwn(o.detail)}`;
    case 'not_back':
      return truncate(`:x: ${id} ${escapeMrkdwn(o.detail)}`, 600);
    case 'not_started':
      return `:white_circle: ${id} ${escapeMrkdwn(o.reason)}`;
    case 'cancelled':
      return `:stop_button: ${id} ${o.reason}`;
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

/** Thread reply listing pre-rendered outcome lines (rows queued before results were structured). */
export function resultLinesMessage(lines: readonly string[]): SlackMessage {
  return { text: truncate(`Results:\n${lines.join('\n')}`, 3900), blocks: packLines(lines).slice(0, 45).map(section) };
}

/** Lines packed into section texts of at most 3,000 characters; a longer line is cut to fit. */
function packLines(lines: readonly string[]): string[] {
  const texts: string[] = [];
  let current = '';
  for (const line of lines) {
    if (current && current.length + 1 + line.length > SECTION_LIMIT) {
      texts.push(current);
      current = '';
    }
    current = current ? `${current}\n${line}` : line;
  }
  if (current) texts.push(current);
  return texts;
}

// ---- structured results --------------------------------------------------------------------------

/**
 * Slack rejects a message whose blocks hold too much text (msg_blocks_too_long, well below the 50 blocks of
 * 3,000 characters each that https://api.slack.com/reference/block-kit/blocks allows; see
 * https://api.slack.com/methods/chat.postMessage#errors). Every results message stays under this.
 */
export const MESSAGE_TEXT_LIMIT = 9000;
/**
 * What the entries of one results message may cost, leaving room under MESSAGE_TEXT_LIMIT for the group
 * headings and code fences the layout adds (at most RESULT_SECTIONS_MAX sections of HEADING_MAX each).
 */
export const RESULTS_BUDGET = 7600;
/** Up to this many instances, a job's results are one line per instance; above, grouped. */
export const LINES_LAYOUT_MAX_INSTANCES = 50;
/** Names longer than this are cut in the compact lists. */
const NAME_MAX = 40;
/** Longest heading a grouped section starts with, fences included. */
const HEADING_MAX = 100;

/** Statuses listed compactly (ids in a code block): those that ended as asked, and those a cancel kept from being sent (one reason for all). */
const COMPACT: ReadonlySet<OutcomeStatus> = new Set(['verified', 'succeeded', 'checked', 'cancelled']);

/** Group order and heading per status: what needs a look first. */
const GROUPS: ReadonlyArray<{ status: OutcomeStatus; heading: string }> = [
  { status: 'failed', heading: ':x: *Failed*' },
  { status: 'not_back', heading: ':x: *Not back*' },
  { status: 'unknown', heading: ':grey_question: *Unknown*: check these before retrying' },
  { status: 'unconfirmed', heading: ':large_yellow_circle: *Running, unconfirmed*' },
  { status: 'not_started', heading: ':white_circle: *Not started*' },
  { status: 'cancelled', heading: ':stop_button: *Cancelled: not sent*' },
  { status: 'verified', heading: ':white_check_mark: *Verified: back up and running*' },
  { status: 'succeeded', heading: ':white_check_mark: *Reboot accepted*' },
  { status: 'checked', heading: ':large_green_circle: *Would reboot*' },
];

/** The most sections a grouped message can need: one part-filled per group, the rest at least this full. */
export const RESULT_SECTIONS_MAX = GROUPS.length + Math.ceil(RESULTS_BUDGET / (SECTION_LIMIT - HEADING_MAX - 600));

/** A name as shown inside a code block: escaped, no backticks (they would end the block), cut short. */
export function codeName(name: string): string {
  return escapeMrkdwn(truncate(name.replace(/[`\r\n]/g, "'"), NAME_MAX));
}

/** One instance in a compact list: its id and, when pre-flight read one, its name. */
function compactLine(entry: Pick<ResultEntry, 'outcome' | 'name'>): string {
  return entry.name ? `${entry.outcome.id}  ${codeName(entry.name)}` : entry.outcome.id;
}

function renderedLine(entry: Pick<ResultEntry, 'outcome' | 'name'>, layout: ResultsLayout): string {
  return layout === 'grouped' && COMPACT.has(entry.outcome.status) ? compactLine(entry) : outcomeLine(entry.outcome);
}

/**
 * The characters an outcome adds to a results message in `layout`, its line break included. Section
 * headings and fences are not counted: RESULTS_BUDGET leaves room for them.
 */
export function resultEntryCost(entry: Pick<ResultEntry, 'outcome' | 'name'>, layout: ResultsLayout): number {
  return Math.min(SECTION_LIMIT, renderedLine(entry, layout).length) + 1;
}

/** The entry a results row carries for one outcome. */
export function resultEntry(outcome: JobOutcome, name: string | undefined, layout: ResultsLayout): ResultEntry {
  const base = name === undefined || layout === 'lines' ? { outcome } : { outcome, name };
  return { ...base, cost: resultEntryCost(base, layout) };
}

function countsText(entries: readonly ResultEntry[]): string {
  const counts = new Map<OutcomeStatus, number>();
  for (const e of entries) counts.set(e.outcome.status, (counts.get(e.outcome.status) ?? 0) + 1);
  return GROUPS.flatMap((g) => (counts.get(g.status) ? [`${counts.get(g.status)} ${STATUS_WORDS[g.status]}`] : [])).join(', ');
}

export const STATUS_WORDS: Record<OutcomeStatus, string> = {
  failed: 'failed',
  not_back: 'not back',
  unknown: 'unknown',
  unconfirmed: 'running, unconfirmed',
  not_started: 'not started',
  cancelled: 'cancelled',
  verified: 'verified',
  succeeded: 'reboot accepted',
  checked: 'would reboot',
};

/**
 * Thread reply for structured results. `lines`: one line per instance, exactly as outcomeLine says it.
 * `grouped`: failures, not-back, unknown, unconfirmed and not-started instances one per line with the
 * cloud's code and message; successes as ids (and names) in a code block under one heading per status.
 * Every entry appears exactly once.
 */
export function resultsMessage(layout: ResultsLayout, entries: readonly ResultEntry[]): SlackMessage {
  const text = `Results: ${countsText(entries)}`;
  if (layout === 'lines') return { text, blocks: packLines(entries.map((e) => outcomeLine(e.outcome))).map(section) };
  const texts: string[] = [];
  for (const group of GROUPS) {
    const members = entries.filter((e) => e.outcome.status === group.status);
    if (members.length === 0) continue;
    const heading = `${group.heading} · ${members.length}`;
    const lines = members.map((e) => renderedLine(e, layout));
    texts.push(...(COMPACT.has(group.status) ? packCodeBlocks(heading, lines) : packLines([heading, ...lines])));
  }
  return { text, blocks: texts.map(section) };
}

/**
 * Lines in code blocks, each section opened by the heading (marked as continued after the first) so a
 * reader, and the chaos observer, can tell every id's status from the section it is in.
 */
function packCodeBlocks(heading: string, lines: readonly string[]): string[] {
  const texts: string[] = [];
  let body: string[] = [];
  let used = 0;
  const flush = (): void => {
    texts.push(`${heading}${texts.length > 0 ? ' (continued)' : ''}\n\`\`\`${body.join('\n')}\`\`\``);
    body = [];
    used = 0;
  };
  for (const line of lines) {
    if (body.length > 0 && used + line.length + 1 > SECTION_LIMIT - HEADING_MAX) flush();
    body.push(line);
    used += line.length + 1;
  }
  if (body.length > 0) flush();
  return texts;
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
  if (job.state === 'cancelled') {
    return noteMessage(`:octagonal_sign: Reboot \`${job.id}\` on ${placeText(job, catalog)} was cancelled by <@${job.cancelledBy ?? 'unknown'}> before it started: nothing was rebooted.`);
  }
  const cancelled = job.cancelledAt !== null ? ` (cancelled by <@${job.cancelledBy ?? 'unknown'}>: ${tally.cancelled} not sent)` : '';
  const icon = anyTrouble(tally) ? ':warning:' : ':white_check_mark:';
  const what = job.dryRun ? 'Dry run' : 'Reboot';
  const failed = job.dryRun ? '' : ` (${failedCount(tally)} failed in all, not-back included)`;
  const text =
    `${icon} ${what} \`${job.id}\` finished${cancelled} on ${placeText(job, catalog)}: ${tallyText(tally, job)}${failedCount(tally) > 0 ? failed : ''}` +
    (tally.unknown > 0 && !job.dryRun ? `. Instances marked unknown may or may not be rebooting: check them before retrying.` : '');
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
  const head = `${job.dryRun ? 'Dry-run reboot' : job.force ? 'FORCE reboot' : 'Reboot'} of ${plural(job.ids.length, 'instance')} (account \`${job.account}\`) on ${providerLabel(job, catalog)} ${job.region}`;
  const ended =
    job.state === 'cancelled'
      ? `:octagonal_sign: ${head} cancelled by <@${job.cancelledBy ?? 'unknown'}> before it started; nothing was rebooted.${link}`
      : `${tally && anyTrouble(tally) ? ':warning:' : ':white_check_mark:'} ${head} completed${job.cancelledAt !== null ? ` after a cancel by <@${job.cancelledBy ?? 'unknown'}>` : ''}: ${tally ? tallyText(tally, job) : ''}.${link}`;
  const text =
    event === 'approved'
      ? `:rotating_light: ${head} approved by ${job.decidedBy ? job.decidedBy.split(',').map((u) => `<@${u}>`).join(', ') : 'approvers'}, requested by <@${job.requester}>.${link}`
      : ended;
  return noteMessage(text);
}
