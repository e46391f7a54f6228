/**
 * Thin Bolt listeners: acknowledge, validate the payload with zod, hand over to the core, answer
 * the clicking or typing user ephemerally. Nothing here talks to a cloud.
 */
import { randomBytes } from 'node:crypto';
import type { App, RespondFn } from '@slack/bolt';
import { z } from 'zod';
import { errorReply, parseRebootCommand, usageText, type ParseContext } from '../../commands/reboot.js';
import type { Job } from '../jobs/job.js';
import { approvalsNeeded, mayApprove, type ApproverDirectory } from '../jobs/policy.js';
import type { Runner } from '../jobs/runner.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { APPROVE_ACTION, DENY_ACTION } from './messages.js';
import type { Reporter } from './reporter.js';

export interface ListenerDeps {
  store: Store;
  runner: Runner;
  reporter: Reporter;
  approvers: ApproverDirectory;
  parseContext: ParseContext;
  forceApprovals: number;
  approvalTtlMs: number;
  now: () => number;
  log: Logger;
  kick: () => void;
  /** Where to answer the requester later (e.g. their card could not be posted); kept in memory only. */
  responseUrls: Map<string, string>;
}

const CommandBody = z.object({
  user_id: z.string().min(1),
  channel_id: z.string().min(1),
  text: z.string().default(''),
  response_url: z.url().optional(),
});

const JobId = z.string().regex(/^r-[a-z2-7]{10}$/);

const ButtonClick = z.object({
  user: z.object({ id: z.string().min(1) }),
  channel: z.object({ id: z.string().min(1) }).optional(),
  container: z.object({ message_ts: z.string().optional(), channel_id: z.string().optional() }).optional(),
  actions: z
    .array(z.object({ action_id: z.enum([APPROVE_ACTION, DENY_ACTION]), value: JobId }))
    .length(1),
});

export function newJobId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return 'r-' + [...randomBytes(10)].map((b) => alphabet[b % 32]).join('');
}

export function registerListeners(app: App, deps: ListenerDeps): void {
  app.command('/reboot', async ({ command, ack }) => {
    const body = CommandBody.safeParse(command);
    if (!body.success) {
      await ack({ response_type: 'ephemeral', text: 'This request could not be read. Please try again.' });
      return;
    }
    const { user_id: user, channel_id: channel, text } = body.data;
    const parsed = parseRebootCommand(decodeSlackEntities(text), deps.parseContext);
    if (parsed.kind === 'help') {
      await ack({ response_type: 'ephemeral', text: usageText() });
      return;
    }
    if (parsed.kind === 'error') {
      await ack({ response_type: 'ephemeral', text: errorReply(parsed) });
      return;
    }
    const now = deps.now();
    const req = parsed.request;
    // Persisted before anything is posted: the card's buttons name this row.
    const job = deps.store.createJob(
      {
        id: newJobId(),
        provider: req.provider,
        region: req.region,
        ids: req.ids,
        force: req.force,
        dryRun: req.dryRun,
        reason: req.reason ?? null,
        requester: user,
        channel,
        approvalsNeeded: approvalsNeeded(req.force, deps.forceApprovals),
        createdAt: now,
        expiresAt: now + deps.approvalTtlMs,
      },
      text,
    );
    await ack({
      response_type: 'ephemeral',
      text: `Request \`${job.id}\` for ${job.ids.length} instance(s) is posted for approval (${job.approvalsNeeded} needed).`,
    });
    if (body.data.response_url) deps.responseUrls.set(job.id, body.data.response_url);
    deps.reporter.postCard(job);
    deps.kick();
    deps.log.info('reboot requested', { jobId: job.id, provider: job.provider, region: job.region, count: job.ids.length, requester: user });
  });

  app.action({ type: 'block_actions', action_id: new RegExp(`^(${APPROVE_ACTION}|${DENY_ACTION})$`) }, async ({ ack, body, respond }) => {
    await ack();
    const click = ButtonClick.safeParse(body);
    if (!click.success) {
      await tell(respond, 'This button could not be read; nothing was changed.');
      return;
    }
    const action = click.data.actions[0];
    if (!action) return;
    const user = click.data.user.id;
    const job = deps.store.getJob(action.value);
    const channel = click.data.channel?.id ?? click.data.container?.channel_id;
    const messageTs = click.data.container?.message_ts;
    // The button value alone is never trusted: it must belong to the card it was clicked on.
    if (!job || job.channel !== channel || (job.cardTs !== null && messageTs !== undefined && job.cardTs !== messageTs)) {
      await tell(respond, 'This request is not known here; nothing was changed.');
      return;
    }
    await (action.action_id === APPROVE_ACTION ? onApprove(deps, job, user, respond) : onDeny(deps, job, user, respond));
  });
}

/** Slack sends command text with &, < and > as HTML entities; the parser and the store want what was typed. */
export function decodeSlackEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

async function tell(respond: RespondFn, text: string): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text });
}

function notPendingText(job: Job): string {
  switch (job.state) {
    case 'expired':
      return `Request \`${job.id}\` has expired; nothing was changed. Ask for a new one if it is still needed.`;
    case 'denied':
      return `Request \`${job.id}\` was already denied; nothing was changed.`;
    default:
      return `Request \`${job.id}\` was already approved; it runs once.`;
  }
}

async function onApprove(deps: ListenerDeps, job: Job, user: string, respond: RespondFn): Promise<void> {
  if (job.state !== 'pending') {
    await tell(respond, notPendingText(job));
    return;
  }
  const verdict = mayApprove(job.requester, user, await deps.approvers.isApprover(user));
  if (verdict === 'self') {
    await tell(respond, 'You cannot approve your own request. Another approver has to.');
    return;
  }
  if (verdict === 'not-approver') {
    await tell(respond, 'You are not allowed to approve reboots. Nothing was changed.');
    return;
  }
  const result = deps.store.approve(job.id, user, deps.now());
  switch (result.kind) {
    case 'approved':
      deps.reporter.updateCard(result.job);
      deps.reporter.incident(result.job, 'approved');
      deps.kick();
      deps.log.info('reboot approved', { jobId: job.id, approvers: result.approvals.map((a) => a.userId) });
      deps.runner.start(job.id);
      return;
    case 'recorded':
      deps.reporter.updateCard(result.job);
      deps.kick();
      await tell(respond, `Your approval is recorded (${result.approvals.length} of ${job.approvalsNeeded}). Another approver is needed.`);
      return;
    case 'duplicate':
      await tell(respond, `You have already approved \`${job.id}\`; a different approver is needed.`);
      return;
    case 'expired':
      deps.reporter.updateCard(result.job);
      deps.kick();
      await tell(respond, notPendingText(result.job));
      return;
    case 'not-pending':
      await tell(respond, notPendingText(result.job));
      return;
  }
}

async function onDeny(deps: ListenerDeps, job: Job, user: string, respond: RespondFn): Promise<void> {
  if (job.state !== 'pending') {
    await tell(respond, notPendingText(job));
    return;
  }
  // The requester may withdraw their own request; anyone else needs to be an approver.
  if (user !== job.requester && !(await deps.approvers.isApprover(user))) {
    await tell(respond, 'You are not allowed to deny reboots. Nothing was changed.');
    return;
  }
  const now = deps.now();
  if (now >= job.expiresAt) {
    for (const expired of deps.store.expireDue(now)) deps.reporter.updateCard(expired);
    deps.kick();
    await tell(respond, notPendingText(deps.store.requireJob(job.id)));
    return;
  }
  if (!deps.store.deny(job.id, user, now)) {
    await tell(respond, notPendingText(deps.store.requireJob(job.id)));
    return;
  }
  deps.reporter.updateCard(deps.store.requireJob(job.id));
  deps.kick();
  deps.log.info('reboot denied', { jobId: job.id, by: user });
}
