/**
 * Thin Bolt listeners: acknowledge, validate the payload with zod, hand over to the core, answer
 * the clicking or typing user ephemerally. Nothing here talks to a cloud.
 */
import { randomBytes } from 'node:crypto';
import type { App, RespondFn } from '@slack/bolt';
import { z } from 'zod';
import { errorReply, parseRebootCommand, usageText, type ParseContext } from '../../commands/reboot.js';
import { errorMessage } from '../errors.js';
import type { Job } from '../jobs/job.js';
import { approvalsNeeded, mayApprove, type ApproverDirectory } from '../jobs/policy.js';
import type { Runner } from '../jobs/runner.js';
import type { Logger } from '../log.js';
import type { ApprovalResult, CreateResult, Store } from '../store/store.js';
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
  trigger_id: z.string().min(1).optional(),
});

const JobId = z.string().regex(/^r-[a-z2-7]{10}$/);

// A click must name the card it came from: without message_ts, the button's value alone would
// decide which job is approved.
const ButtonClick = z.object({
  user: z.object({ id: z.string().min(1) }),
  channel: z.object({ id: z.string().min(1) }).optional(),
  container: z.object({ message_ts: z.string().min(1), channel_id: z.string().optional() }),
  actions: z
    .array(z.object({ action_id: z.enum([APPROVE_ACTION, DENY_ACTION]), value: JobId }))
    .length(1),
});

export function newJobId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return 'r-' + [...randomBytes(10)].map((b) => alphabet[b % 32]).join('');
}

const STORE_FAILED = 'The bot could not store this (its database is failing). Nothing was changed; try again in a minute.';

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
    let created: CreateResult;
    try {
      // The job and the outbox row that posts its card commit together: a job never waits unseen.
      created = deps.store.atomically(() => {
        const result = deps.store.createJob(
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
          body.data.trigger_id,
        );
        if (result.kind === 'created') deps.reporter.postCard(result.job);
        return result;
      });
    } catch (err) {
      deps.log.error('could not store a reboot request', { error: errorMessage(err), requester: user });
      await ack({ response_type: 'ephemeral', text: STORE_FAILED });
      return;
    }
    const job = created.job;
    if (created.kind === 'replay') {
      deps.log.warn('replayed slash command ignored', { jobId: job.id, requester: user });
      await ack({ response_type: 'ephemeral', text: `This command was already received as request \`${job.id}\`; nothing new was requested.` });
      return;
    }
    await ack({
      response_type: 'ephemeral',
      text: `Request \`${job.id}\` for ${job.ids.length} instance(s) is posted for approval (${job.approvalsNeeded} needed).`,
    });
    if (body.data.response_url) deps.responseUrls.set(job.id, body.data.response_url);
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
    const channel = click.data.channel?.id ?? click.data.container.channel_id;
    const messageTs = click.data.container.message_ts;
    const kind = action.action_id === APPROVE_ACTION ? 'approve' : 'deny';
    // The button value alone is never trusted: it must belong to the card it was clicked on.
    if (!job || job.channel !== channel) {
      if (job) refuse(deps, job, user, `${kind} click from another channel`, { channel, messageTs });
      await tell(respond, 'This request is not known here; nothing was changed.');
      return;
    }
    if (job.cardTs === null) {
      refuse(deps, job, user, `${kind} click before the card was confirmed`, { messageTs });
      await tell(respond, `The card of \`${job.id}\` is still being posted; nothing was changed. Use the card once it has appeared.`);
      return;
    }
    if (job.cardTs !== messageTs) {
      await onStaleCopy(deps, job, user, messageTs, respond);
      return;
    }
    await (kind === 'approve' ? onApprove(deps, job, user, respond) : onDeny(deps, job, user, respond));
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

/** A refused click leaves an audit row; a failure to write it must not hide the refusal itself. */
function refuse(deps: ListenerDeps, job: Job, user: string, reason: string, data?: Record<string, unknown>): void {
  try {
    deps.store.recordRefusal(job.id, user, deps.now(), reason, data);
  } catch (err) {
    deps.log.error('could not audit a refused click', { jobId: job.id, user, reason, error: errorMessage(err) });
  }
  deps.log.warn('click refused', { jobId: job.id, user, reason });
}

/**
 * A click on a copy of the card that is not the stored one: a crash between Slack accepting the card
 * and the bot storing its ts posted the card twice. That copy is rewritten as superseded, so its
 * buttons stop looking live.
 */
async function onStaleCopy(deps: ListenerDeps, job: Job, user: string, staleTs: string, respond: RespondFn): Promise<void> {
  try {
    deps.store.atomically(() => {
      deps.store.recordRefusal(job.id, user, deps.now(), 'click on a superseded copy of the card', { messageTs: staleTs });
      deps.store.recordSupersededCard(job.id, staleTs, deps.now());
      deps.reporter.supersedeCard(job, staleTs);
    });
    deps.kick();
  } catch (err) {
    deps.log.error('could not mark a stale card copy', { jobId: job.id, error: errorMessage(err) });
  }
  await tell(respond, `This is an old copy of request \`${job.id}\`'s card; nothing was changed. Use the live card in this channel.`);
}

function approverRefusalText(verdict: 'self' | 'not-approver' | 'unverified', action: 'approve' | 'deny'): string {
  switch (verdict) {
    case 'self':
      return 'You cannot approve your own request. Another approver has to.';
    case 'not-approver':
      return `You are not allowed to ${action} reboots. Nothing was changed.`;
    case 'unverified':
      return 'Your approver group membership cannot be confirmed right now (Slack does not answer the user-group lookup). Nothing was changed; try again in a few minutes.';
  }
}

async function onApprove(deps: ListenerDeps, job: Job, user: string, respond: RespondFn): Promise<void> {
  if (job.state !== 'pending') {
    await tell(respond, notPendingText(job));
    return;
  }
  const verdict = mayApprove(job.requester, user, await deps.approvers.membership(user));
  if (verdict !== 'ok') {
    refuse(deps, job, user, verdict === 'self' ? 'self-approval' : verdict === 'unverified' ? 'approver membership unverified' : 'not an approver');
    await tell(respond, approverRefusalText(verdict, 'approve'));
    return;
  }
  let result: ApprovalResult;
  try {
    // The approval and every Slack message it causes commit together (card update, incident notice).
    result = deps.store.atomically(() => {
      const r = deps.store.approve(job.id, user, deps.now());
      if (r.kind === 'approved') {
        deps.reporter.updateCard(r.job);
        deps.reporter.incident(r.job, 'approved');
      } else if (r.kind === 'recorded' || r.kind === 'expired') {
        deps.reporter.updateCard(r.job);
      }
      return r;
    });
  } catch (err) {
    deps.log.error('could not store an approval', { jobId: job.id, user, error: errorMessage(err) });
    await tell(respond, `Your approval of \`${job.id}\` could not be recorded: ${STORE_FAILED}`);
    return;
  }
  deps.kick();
  switch (result.kind) {
    case 'approved':
      deps.log.info('reboot approved', { jobId: job.id, approvers: result.approvals.map((a) => a.userId) });
      deps.runner.start(job.id);
      return;
    case 'recorded':
      await tell(respond, `Your approval is recorded (${result.approvals.length} of ${job.approvalsNeeded}). Another approver is needed.`);
      return;
    case 'duplicate':
      await tell(respond, `You have already approved \`${job.id}\`; a different approver is needed.`);
      return;
    case 'expired':
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
  if (user !== job.requester) {
    const membership = await deps.approvers.membership(user);
    if (membership !== 'approver') {
      refuse(deps, job, user, membership === 'unverified' ? 'deny: approver membership unverified' : 'deny by a non-approver');
      await tell(respond, approverRefusalText(membership, 'deny'));
      return;
    }
  }
  const now = deps.now();
  let outcome: 'denied' | 'not-pending';
  try {
    outcome = deps.store.atomically(() => {
      if (now >= job.expiresAt) {
        for (const expired of deps.store.expireDue(now)) deps.reporter.updateCard(expired);
        return 'not-pending';
      }
      if (!deps.store.deny(job.id, user, now)) return 'not-pending';
      deps.reporter.updateCard(deps.store.requireJob(job.id));
      return 'denied';
    });
  } catch (err) {
    deps.log.error('could not store a denial', { jobId: job.id, user, error: errorMessage(err) });
    await tell(respond, `Your denial of \`${job.id}\` could not be recorded: ${STORE_FAILED}`);
    return;
  }
  deps.kick();
  if (outcome === 'not-pending') {
    await tell(respond, notPendingText(deps.store.requireJob(job.id)));
    return;
  }
  deps.log.info('reboot denied', { jobId: job.id, by: user });
}
