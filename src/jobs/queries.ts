/**
 * The read-side use cases of `/reboot`: one request's status, the recent requests of a channel or a
 * person, and the export of a request's audit trail. Like requests.ts they take plain input and return
 * tagged results; the rule of who may see what lives here: a request is shown in detail, and exported, only
 * from the channel its card is in, so `/reboot status` cannot read another channel's requests.
 */
import { waveProgress, type Approval, type Job, type Tally } from '../domain/job.js';
import { errorMessage } from '../errors.js';
import type { JobFilter, JobSummary } from '../store/contract.js';
import type { RequestContext } from './requests.js';

type QueryContext = Pick<RequestContext, 'store' | 'events' | 'now' | 'log'>;

/** How many requests `/reboot list` shows. */
export const LIST_LIMIT = 10;

/** Why a request cannot be shown here. */
export type NotHere = { kind: 'unknown' } | { kind: 'other-channel'; channel: string } | { kind: 'store-failed' };

export type StatusResult =
  | NotHere
  | { kind: 'found'; job: Job; approvals: Approval[]; tally: Tally; wave?: { current: number; total: number } };

async function jobHere(ctx: QueryContext, requestId: string, channel: string): Promise<{ job: Job } | NotHere> {
  const job = await ctx.store.getJob(requestId);
  if (job === undefined) return { kind: 'unknown' };
  if (job.channel !== channel) return { kind: 'other-channel', channel: job.channel };
  return { job };
}

export async function requestStatus(ctx: QueryContext, requestId: string, channel: string): Promise<StatusResult> {
  try {
    const here = await jobHere(ctx, requestId, channel);
    if (!('job' in here)) return here;
    const { job } = here;
    const wave = waveProgress(job, await ctx.store.batches(job.id));
    return { kind: 'found', job, approvals: await ctx.store.approvals(job.id), tally: await ctx.store.tally(job.id), ...(wave ? { wave } : {}) };
  } catch (err) {
    ctx.log.error('could not read a request for /reboot status', { jobId: requestId, error: errorMessage(err) });
    return { kind: 'store-failed' };
  }
}

export type ListResult = { kind: 'listed'; jobs: JobSummary[] } | { kind: 'store-failed' };

export async function recentRequests(ctx: QueryContext, filter: JobFilter): Promise<ListResult> {
  try {
    return { kind: 'listed', jobs: await ctx.store.recentJobs(filter, LIST_LIMIT) };
  } catch (err) {
    ctx.log.error('could not list requests', { error: errorMessage(err) });
    return { kind: 'store-failed' };
  }
}

export type AuditResult = NotHere | { kind: 'no-thread'; job: Job } | { kind: 'queued'; job: Job };

/**
 * Anyone in the request's channel may export its audit trail: the card, its thread and its results are
 * already visible to them, and the file lands in that same thread. The export is itself audited (who, when),
 * in the transaction that queues the file.
 */
export async function exportAudit(ctx: QueryContext, requestId: string, channel: string, user: string): Promise<AuditResult> {
  try {
    const here = await jobHere(ctx, requestId, channel);
    if (!('job' in here)) return here;
    const { job } = here;
    // A card that was never posted has no thread to attach to.
    if (job.cardTs === null) return { kind: 'no-thread', job };
    await ctx.store.recordAction(job.id, 'audit exported', user, ctx.now(), { channel }, (j) => ctx.events.auditRequested(j, user));
    ctx.log.info('audit trail export queued', { jobId: job.id, by: user });
    return { kind: 'queued', job };
  } catch (err) {
    ctx.log.error('could not queue an audit export', { jobId: requestId, error: errorMessage(err) });
    return { kind: 'store-failed' };
  }
}
