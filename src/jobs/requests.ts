/**
 * The use cases around a request: ask, approve, deny or withdraw, expire, abandon. Each takes a
 * small context and plain input and returns a tagged result; the Slack listeners only translate
 * payloads in and results out. Every rule about who may do what lives here.
 */
import type { Job } from '../domain/job.js';
import type { OutboxWrite } from '../domain/outbox-message.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { RequestMetrics } from '../observability/metrics.js';
import type { Awaitable, CancelResult, Store } from '../store/contract.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { JobEvents } from './events.js';
import type { Policy } from '../policy/rules.js';
import { decide } from '../policy/requesters.js';
import { approvalsNeeded, mayApprove, type ApproverDirectory, type Membership } from './policy.js';

export interface RequestContext {
  store: Store;
  events: JobEvents;
  approvers: ApproverDirectory;
  /** Starts an approved job's run in the background. */
  startRun(jobId: string): void;
  /** Reads the new request's instances in the background, for its card (pre-flight). */
  inspect(jobId: string): void;
  now: () => number;
  log: Logger;
  /** Counts how requests leave the pending state, once the store has recorded it (GET /metrics). */
  metrics?: RequestMetrics;
  forceApprovals: number;
  approvalTtlMs: number;
  /**
   * The policy in force, read afresh for each request (src/policy/load.ts reloads it). Absent: no rule is checked,
   * REBOOT_APPROVERS approves and forceApprovals counts.
   */
  policy?: () => Policy;
  /** Requests, approvals and denials are stored through it, those of one turn of the event loop in one commit; absent: a commit each. */
  groupCommit?: GroupCommit;
}

export type NewRequest = Pick<Job, 'id' | 'provider' | 'account' | 'region' | 'ids' | 'force' | 'dryRun' | 'verify' | 'rolling' | 'reason' | 'requester' | 'channel'> & {
  /** As typed, for the audit trail. */
  commandText: string;
  /** Slack's id of this command invocation: a replay carries the same one. */
  triggerId?: string;
};

export type RequestResult =
  | { kind: 'created'; job: Job }
  | { kind: 'replay'; job: Job }
  /** No policy rule allows it: nothing was stored or posted; `message` says why. */
  | { kind: 'refused'; message: string }
  | { kind: 'store-failed' };

/**
 * Stores a new request with the outbox row that posts its card: a job never waits unseen. The card is posted
 * at once; pre-flight's readings update it when they arrive. A dry run needs no approval and starts at once.
 */
export async function request(ctx: RequestContext, input: NewRequest): Promise<RequestResult> {
  let approvers: Job['approvers'] = null;
  let needed = input.dryRun ? 0 : approvalsNeeded(input.force, ctx.forceApprovals);
  if (ctx.policy) {
    const facts = { ...input, instances: input.ids.length };
    const decision = await decide(ctx.policy(), facts, ctx.approvers);
    if (decision.kind === 'refused') {
      ctx.log.info('reboot request refused by the policy', { requester: input.requester, channel: input.channel, provider: input.provider, account: input.account, region: input.region });
      return decision;
    }
    // Stored with the job: a reload of the policy does not change who may approve a pending request.
    approvers = { users: [...decision.approvers.users], groups: [...decision.approvers.groups] };
    needed = decision.approvalsNeeded;
  }
  const now = ctx.now();
  try {
    const result = await stored(ctx, () =>
      ctx.store.createJob(
        {
          id: input.id,
          provider: input.provider,
          account: input.account,
          approvers,
          region: input.region,
          ids: input.ids,
          force: input.force,
          dryRun: input.dryRun,
          verify: input.verify,
          rolling: input.rolling,
          reason: input.reason,
          requester: input.requester,
          channel: input.channel,
          approvalsNeeded: needed,
          createdAt: now,
          expiresAt: now + ctx.approvalTtlMs,
        },
        input.commandText,
        input.triggerId,
        (job) => ctx.events.requested(job),
      ),
    );
    if (result.kind === 'replay') ctx.log.warn('replayed slash command ignored', { jobId: result.job.id, requester: input.requester });
    else {
      ctx.log.info(input.dryRun ? 'dry run requested' : 'reboot requested', { jobId: result.job.id, provider: input.provider, account: input.account, region: input.region, count: input.ids.length, requester: input.requester });
      if (input.dryRun) ctx.startRun(result.job.id);
      else ctx.inspect(result.job.id);
    }
    return result;
  } catch (err) {
    ctx.log.error('could not store a reboot request', { error: errorMessage(err), requester: input.requester });
    return { kind: 'store-failed' };
  }
}

/** One store call that Slack waits on, committed with the others of this turn when the context groups commits. */
async function stored<T>(ctx: RequestContext, call: () => Awaitable<T>): Promise<T> {
  return ctx.groupCommit ? ctx.groupCommit.run(call) : call();
}

/** A button click, as far as the core cares: who, on which card, about which job. */
export interface Click {
  jobId: string;
  user: string;
  channel: string;
  messageTs: string;
}

export type Refusal = 'other-channel' | 'card-unconfirmed' | 'self' | 'not-approver' | 'unverified';

/** What every click can come to before its own rules apply. */
export type ClickRejection =
  | { kind: 'unknown-job' }
  | { kind: 'refused'; job: Job; refusal: Refusal }
  | { kind: 'stale-copy'; job: Job }
  | { kind: 'not-pending'; job: Job }
  | { kind: 'store-failed'; job: Job };

export type ApproveResult =
  | ClickRejection
  | { kind: 'approved'; job: Job }
  | { kind: 'recorded'; job: Job; count: number }
  | { kind: 'duplicate'; job: Job };

export type DenyResult = ClickRejection | { kind: 'denied'; job: Job } | { kind: 'withdrawn'; job: Job };

export async function approve(ctx: RequestContext, click: Click): Promise<ApproveResult> {
  const checked = await checkCard(ctx, click, 'approve', true);
  if ('kind' in checked) return checked;
  const { job } = checked;
  const verdict = mayApprove(job.requester, click.user, await approverOf(ctx, job, click.user));
  if (verdict !== 'ok') return refuse(ctx, job, click, verdict, 'approve');
  try {
    // The approval and every Slack message it causes commit together (card update, incident notice).
    const result = await stored(ctx, () =>
      ctx.store.approve(job.id, click.user, ctx.now(), (r) => {
        if (r.kind === 'approved') return ctx.events.approved(r.job);
        return r.kind === 'recorded' || r.kind === 'expired' ? ctx.events.cardChanged(r.job) : [];
      }),
    );
    switch (result.kind) {
      case 'approved':
        ctx.metrics?.requestDecided('approved');
        ctx.log.info('reboot approved', { jobId: job.id, approvers: result.approvals.map((a) => a.userId) });
        ctx.startRun(job.id);
        return { kind: 'approved', job: result.job };
      case 'recorded':
        return { kind: 'recorded', job: result.job, count: result.approvals.length };
      case 'duplicate':
        return { kind: 'duplicate', job: result.job };
      case 'expired':
        // The click found the request past its deadline: the store expired it in the same transaction.
        ctx.metrics?.requestDecided('expired');
        return { kind: 'not-pending', job: result.job };
      case 'not-pending':
        return { kind: 'not-pending', job: result.job };
    }
  } catch (err) {
    ctx.log.error('could not store an approval', { jobId: job.id, user: click.user, error: errorMessage(err) });
    return { kind: 'store-failed', job };
  }
}

/** The job's own approvers decide; REBOOT_APPROVERS for a job stored before it had them. */
function approverOf(ctx: RequestContext, job: Job, user: string): Promise<Membership> {
  return job.approvers === null ? ctx.approvers.membership(user) : ctx.approvers.membershipIn(user, job.approvers);
}

/** Deny by an approver, or withdrawal by the requester. */
export async function deny(ctx: RequestContext, click: Click): Promise<DenyResult> {
  const checked = await checkCard(ctx, click, 'deny', true);
  if ('kind' in checked) return checked;
  const { job } = checked;
  const withdrawal = click.user === job.requester;
  if (!withdrawal) {
    const membership = await approverOf(ctx, job, click.user);
    if (membership !== 'approver') return refuse(ctx, job, click, membership, 'deny');
  }
  const now = ctx.now();
  try {
    if (now >= job.expiresAt) {
      await expireDue(ctx);
      return { kind: 'not-pending', job: (await ctx.store.getJob(job.id)) ?? job };
    }
    const denied = await stored(ctx, () => ctx.store.deny(job.id, click.user, now, (d) => ctx.events.cardChanged(d)));
    if (!denied) return { kind: 'not-pending', job: (await ctx.store.getJob(job.id)) ?? job };
    ctx.metrics?.requestDecided(withdrawal ? 'withdrawn' : 'denied');
    ctx.log.info(withdrawal ? 'reboot withdrawn' : 'reboot denied', { jobId: job.id, by: click.user });
    return { kind: withdrawal ? 'withdrawn' : 'denied', job: denied };
  } catch (err) {
    ctx.log.error('could not store a denial', { jobId: job.id, user: click.user, error: errorMessage(err) });
    return { kind: 'store-failed', job };
  }
}

/**
 * The button's value alone is never trusted: the click must come from the job's channel and from the
 * card the bot stored. A click on another copy of the card (posted twice across a crash) rewrites
 * that copy as superseded.
 */
async function checkCard(ctx: RequestContext, click: Click, action: CardAction, pendingOnly: boolean): Promise<ClickRejection | { job: Job }> {
  const job = await ctx.store.getJob(click.jobId);
  if (!job) return { kind: 'unknown-job' };
  if (job.channel !== click.channel) return refuse(ctx, job, click, 'other-channel', action);
  if (job.cardTs === null) return refuse(ctx, job, click, 'card-unconfirmed', action);
  if (job.cardTs !== click.messageTs) {
    try {
      await ctx.store.supersedeCard(job.id, click.messageTs, click.user, ctx.now(), (j) => ctx.events.superseded(j, click.messageTs));
    } catch (err) {
      ctx.log.error('could not mark a stale card copy', { jobId: job.id, error: errorMessage(err) });
    }
    return { kind: 'stale-copy', job };
  }
  if (pendingOnly && job.state !== 'pending') return { kind: 'not-pending', job };
  return { job };
}

/** A refused click leaves an audit row; failing to write it must not hide the refusal itself. */
async function refuse(ctx: RequestContext, job: Job, click: Pick<Click, 'user'> & Partial<Click>, refusal: Refusal, action: CardAction): Promise<ClickRejection> {
  const reason = auditReason(refusal, action);
  try {
    await ctx.store.recordRefusal(job.id, click.user, ctx.now(), reason, click.messageTs === undefined ? { via: 'command' } : { messageTs: click.messageTs, channel: click.channel });
  } catch (err) {
    ctx.log.error('could not audit a refused click', { jobId: job.id, user: click.user, reason, error: errorMessage(err) });
  }
  ctx.log.warn('click refused', { jobId: job.id, user: click.user, reason });
  return { kind: 'refused', job, refusal };
}

function auditReason(refusal: Refusal, action: CardAction): string {
  switch (refusal) {
    case 'other-channel':
      return `${action} click from another channel`;
    case 'card-unconfirmed':
      return `${action} click before the card was confirmed`;
    case 'self':
      return 'self-approval';
    case 'not-approver':
      return action === 'approve' ? 'not an approver' : `${action} by a non-approver`;
    case 'unverified':
      return action === 'approve' ? 'approver membership unverified' : `${action}: approver membership unverified`;
  }
}

type CardAction = 'approve' | 'deny' | 'cancel';

export type CancelOutcome =
  | ClickRejection
  /** A pending or approved job: it ends now, nothing was sent. */
  | { kind: 'cancelled'; job: Job }
  /** A running job: nothing more is sent; `notSent` instances are reported cancelled, `inFlight` batches run to their verdict. */
  | { kind: 'stopping'; job: Job; notSent: number; inFlight: number }
  | { kind: 'already-cancelled'; job: Job }
  /** Completed, denied, expired or cancelled before: nothing to stop. */
  | { kind: 'finished'; job: Job };

/** `/reboot cancel <request>`: typed anywhere, so only the permission rule applies, not the card checks. */
export async function cancelCommand(ctx: RequestContext, jobId: string, user: string): Promise<CancelOutcome> {
  const job = await ctx.store.getJob(jobId);
  if (!job) return { kind: 'unknown-job' };
  return cancelJob(ctx, job, { user });
}

/** The card's Cancel button: the same checks as approve and deny (right channel, live card), then the same rule. */
export async function cancelClick(ctx: RequestContext, click: Click): Promise<CancelOutcome> {
  const checked = await checkCard(ctx, click, 'cancel', false);
  if ('kind' in checked) return checked;
  return cancelJob(ctx, checked.job, click);
}

/**
 * The requester or one of the job's approvers may cancel. The cancel is stored (with its card update, thread lines and note) before
 * anything else happens; the runner reads it before each batch and wave (src/jobs/runner.ts).
 */
async function cancelJob(ctx: RequestContext, job: Job, who: Pick<Click, 'user'> & Partial<Click>): Promise<CancelOutcome> {
  if (who.user !== job.requester) {
    // The job's own approvers, as for approve and deny: the rule that allowed it named them.
    const membership = await approverOf(ctx, job, who.user);
    if (membership !== 'approver') return refuse(ctx, job, who, membership, 'cancel');
  }
  const reason = `cancelled by <@${who.user}> before it was sent`;
  try {
    const result = await ctx.store.cancel(job.id, who.user, ctx.now(), reason, (r) => cancelReport(ctx, r));
    if (!result) return { kind: 'unknown-job' };
    switch (result.kind) {
      case 'cancelled':
        ctx.log.info('request cancelled', { jobId: job.id, by: who.user, was: result.was });
        // Requests are counted as they leave the pending state: an approved one was counted approved already.
        if (result.was === 'pending') ctx.metrics?.requestDecided('cancelled');
        return { kind: 'cancelled', job: result.job };
      case 'stopping':
        ctx.log.info('running job cancelled', { jobId: job.id, by: who.user, notSent: result.cancelled.length, batchesInFlight: result.inFlight });
        // Its instances not sent are settled here, not by the runner: they count once, as `cancelled`.
        ctx.metrics?.instancesSettled(job.provider, result.cancelled);
        return { kind: 'stopping', job: result.job, notSent: result.cancelled.length, inFlight: result.inFlight };
      default:
        return result;
    }
  } catch (err) {
    ctx.log.error('could not store a cancel', { jobId: job.id, user: who.user, error: errorMessage(err) });
    return { kind: 'store-failed', job };
  }
}

/** What Slack hears of a cancel, committed with it. An approved job was announced to the incident channel, so its end is too. */
function cancelReport(ctx: RequestContext, result: CancelResult): OutboxWrite[] {
  switch (result.kind) {
    case 'cancelled':
      return result.was === 'approved' ? ctx.events.completed(result.job) : ctx.events.cardChanged(result.job);
    case 'stopping': {
      const { job, cancelled, names, inFlight } = result;
      const sent = inFlight > 0 ? ` What was already sent (${inFlight} batch${inFlight === 1 ? '' : 'es'}) is followed to its verdict.` : '';
      const text = `:octagonal_sign: Cancelled by <@${job.cancelledBy ?? 'unknown'}>: no further batch or wave is sent; ${cancelled.length} instance${cancelled.length === 1 ? '' : 's'} not sent.${sent}`;
      return [...ctx.events.outcomes(job, cancelled, names), ...ctx.events.note(job, text)];
    }
    default:
      return [];
  }
}

/** Moves every pending job past its deadline to expired, each with its card update. */
export async function expireDue(ctx: RequestContext): Promise<Job[]> {
  const expired = await ctx.store.expireDue(ctx.now(), (job) => ctx.events.cardChanged(job));
  ctx.metrics?.requestDecided('expired', expired.length);
  for (const job of expired) ctx.log.info('request expired', { jobId: job.id });
  return expired;
}

/** The card could not be posted for good: nobody can see the buttons, so the request is cancelled. */
export async function abandonCard(ctx: RequestContext, jobId: string, slackError: string): Promise<boolean> {
  const abandoned = await ctx.store.abandon(jobId, ctx.now(), slackError);
  if (abandoned) ctx.metrics?.requestDecided('abandoned');
  return abandoned;
}

/** News about a job that its channel refused for good goes to the requester directly, once per job. */
export async function reportUndelivered(ctx: RequestContext, jobId: string, text: (job: Job) => string): Promise<void> {
  const job = await ctx.store.getJob(jobId);
  if (job) await ctx.store.enqueue(ctx.events.undelivered(job, text(job)));
}
