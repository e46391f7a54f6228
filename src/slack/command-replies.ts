/**
 * The ephemeral replies of `/reboot status` and `/reboot list` (src/jobs/queries.ts): mrkdwn text, pure.
 * What a user typed never reaches these; ids, names and states come from the store.
 */
import type { Approval, Job, JobState, Tally } from '../domain/job.js';
import type { JobSummary } from '../store/contract.js';
import { defaultCatalog, type Catalog } from '../providers/catalog.js';
import { escapeMrkdwn, isWithdrawn, plural, providerLabel, slackDate, tallyText } from './messages.js';

export interface StatusView {
  job: Job;
  approvals: readonly Approval[];
  tally: Tally;
  wave?: { current: number; total: number };
  /** A link to the card, when one can be given. */
  cardLink: string | null;
}

function users(ids: readonly string[]): string {
  return ids.map((u) => `<@${u}>`).join(', ');
}

function stateWords(job: Job): string {
  switch (job.state) {
    case 'pending':
      return 'waiting for approval';
    case 'approved':
      return 'approved, starting';
    case 'running':
      return job.cancelledAt === null ? 'running' : 'cancelled, finishing what was sent';
    case 'completed':
      return job.cancelledAt === null ? 'finished' : 'finished after a cancel';
    case 'denied':
      return isWithdrawn(job) ? 'withdrawn' : 'denied';
    case 'expired':
      return 'expired';
    case 'cancelled':
      return 'cancelled';
  }
}

/** Who decided and when: the approvers, the denier or the requester who withdrew, or the clock. */
function decisionLine(job: Job, approvals: readonly Approval[]): string | undefined {
  const at = job.decidedAt === null ? '' : ` at ${slackDate(job.decidedAt)}`;
  switch (job.state) {
    case 'pending':
      return `Approvals: ${approvals.length} of ${job.approvalsNeeded}${approvals.length > 0 ? ` (${users(approvals.map((a) => a.userId))})` : ''} · expires ${slackDate(job.expiresAt)}`;
    case 'approved':
    case 'running':
    case 'completed':
      if (job.dryRun) return undefined;
      return `Approved by ${users(approvals.map((a) => a.userId))} (${approvals.length} of ${job.approvalsNeeded} needed)${at}`;
    case 'denied':
      return `${isWithdrawn(job) ? 'Withdrawn' : 'Denied'} by <@${job.decidedBy ?? 'unknown'}>${at}`;
    case 'expired':
      return `Expired without enough approvals${at}`;
    case 'cancelled':
      return `Cancelled by <@${job.cancelledBy ?? 'unknown'}>${job.cancelledAt === null ? '' : ` at ${slackDate(job.cancelledAt)}`} before it started`;
  }
}

export function statusText({ job, approvals, tally, wave, cardLink }: StatusView, catalog: Catalog = defaultCatalog): string {
  const kind = job.dryRun ? 'dry run' : job.force ? 'FORCE reboot' : 'reboot';
  const lines = [
    `*Request \`${job.id}\`*: ${stateWords(job)} · ${kind} of ${plural(job.ids.length, 'instance')} on ${providerLabel(job, catalog)} \`${job.region}\`, account \`${job.account}\``,
    `Requested by <@${job.requester}> at ${slackDate(job.createdAt)}${job.reason ? ` · reason: ${escapeMrkdwn(job.reason)}` : ''}`,
  ];
  const decision = decisionLine(job, approvals);
  if (decision !== undefined) lines.push(decision);
  if (job.cancelledAt !== null && (job.state === 'running' || job.state === 'completed')) {
    lines.push(`Cancelled by <@${job.cancelledBy ?? 'unknown'}> at ${slackDate(job.cancelledAt)}: nothing further was sent`);
  }
  if (job.state === 'running' || job.state === 'completed') {
    lines.push(`Results: ${tallyText(tally, job)}${job.completedAt === null ? '' : ` · finished at ${slackDate(job.completedAt)}`}`);
  }
  if (wave !== undefined && job.rolling !== null) lines.push(`Rolling: wave ${wave.current} of ${wave.total} (${job.rolling} at a time)`);
  lines.push(cardLink !== null ? `<${cardLink}|Open the card>` : job.cardTs === null ? '_Its card was never posted._' : '_The card is in this channel._');
  return lines.join('\n');
}

/** "just now", "5 min ago", "3 h ago", "2 days ago": for `/reboot list`, and the fallback of the Home tab's live {ago} date token. */
export function ageText(ms: number): string {
  const minutes = Math.floor(Math.max(0, ms) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${plural(Math.floor(hours / 24), 'day')} ago`;
}

const LIST_STATE: Record<JobState, string> = {
  pending: 'pending',
  approved: 'approved',
  running: 'running',
  completed: 'completed',
  denied: 'denied',
  expired: 'expired',
  cancelled: 'cancelled',
};

/** One line per request; `mine` adds where each one is, since those span channels. */
export function listText(jobs: readonly JobSummary[], opts: { mine: boolean; now: number }, catalog: Catalog = defaultCatalog): string {
  if (jobs.length === 0) return opts.mine ? 'You have made no requests yet (or they are past retention).' : 'No requests in this channel yet (or they are past retention).';
  const head = opts.mine ? `*Your last ${plural(jobs.length, 'request')}*, newest first:` : `*The last ${plural(jobs.length, 'request')} in this channel*, newest first:`;
  const lines = jobs.map((j) => {
    const where = opts.mine ? ` · in <#${j.channel}>` : '';
    const dry = j.dryRun ? ' (dry run)' : '';
    return `• \`${j.id}\` ${LIST_STATE[j.state]}${dry} · ${providerLabel(j, catalog)} \`${j.region}\` · ${plural(j.instances, 'instance')} · <@${j.requester}> · ${ageText(opts.now - j.createdAt)}${where}`;
  });
  return [head, ...lines].join('\n');
}

/**
 * A link to a message built from the workspace's domain, the channel and the ts, in the shape Slack's own
 * permalinks have (https://api.slack.com/methods/chat.getPermalink shows one): no API call in the slash
 * command's 3 s acknowledgement, and none of chat.getPermalink's budget, which the outbox spends on notices.
 */
export function cardPermalink(teamDomain: string | undefined, channel: string, ts: string | null): string | null {
  if (teamDomain === undefined || ts === null || !/^[a-z0-9-]+$/.test(teamDomain) || !/^\d+\.\d+$/.test(ts)) return null;
  return `https://${teamDomain}.slack.com/archives/${channel}/p${ts.replace('.', '')}`;
}
