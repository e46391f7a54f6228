/**
 * Following a Huawei ECS asynchronous job to its end: waits that grow between queries, progress as sub-jobs
 * finish, a deadline, and each server's outcome from its sub-job. It knows nothing of HTTP or signing: the
 * transport (client.ts) answers each job query. Job shape: ShowJob, GET /v1/{project_id}/jobs/{job_id}
 * (https://support.huaweicloud.com/intl/en-us/api-ecs/ecs_02_0901.html; huaweicloud/huaweicloud-sdk-nodejs-v3
 * services/ecs/v2/model/ShowJobResponse.ts, JobEntities.ts, SubJob.ts, SubJobEntities.ts).
 */
import { z } from 'zod';
import { failedOutcome, unknownOutcome } from '../outcomes.js';
import type { AsyncJobHandle, InstanceOutcome, PollCall } from '../provider.js';

const text = z.string().nullish();

const SubJobSchema = z.object({
  status: z.string(),
  job_id: text,
  error_code: text,
  fail_reason: text,
  entities: z.object({ server_id: text }).nullish(),
});

export const JobSchema = z.object({
  status: z.string(),
  job_id: text,
  error_code: text,
  fail_reason: text,
  entities: z
    .object({
      sub_jobs_total: z.number().nullish(),
      sub_jobs: z.array(SubJobSchema).nullish(),
      // A single-server job may name its server directly instead of listing sub-jobs.
      server_id: text,
    })
    .nullish(),
});
export type Job = z.infer<typeof JobSchema>;
type SubJob = z.infer<typeof SubJobSchema>;

/** What one job query came to, as the transport judged it. */
export type JobQuery =
  | { kind: 'job'; job: Job }
  /** Worth asking again (a read changes nothing); `why` is kept for the reason should the deadline pass. */
  | { kind: 'retry'; why: string; afterMs?: number }
  | { kind: 'fatal'; why: string };

export interface FollowOptions {
  /** Wait before the first query: a reboot job is never done sooner. */
  initialDelayMs: number;
  /** Ceiling of the growing wait between queries. */
  maxDelayMs: number;
  /** Give up after this long; servers whose sub-job has not finished become 'unknown'. */
  timeoutMs: number;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
}

const POLL_GROWTH = 1.5;
// Both are final; the top-level job can be FAIL while some sub-jobs succeeded, hence the per-sub-job mapping.
const FINAL = new Set(['SUCCESS', 'FAIL']);

function subJobsOf(job: Job): SubJob[] {
  const listed = job.entities?.sub_jobs;
  if (listed && listed.length > 0) return listed;
  const serverId = job.entities?.server_id;
  if (!serverId) return [];
  return [{ status: job.status, error_code: job.error_code, fail_reason: job.fail_reason, entities: { server_id: serverId } }];
}

export function jobProgress(job: Job, expected: number): { done: number; total: number } {
  const subJobs = subJobsOf(job);
  return {
    done: subJobs.filter((s) => FINAL.has(s.status)).length,
    total: job.entities?.sub_jobs_total ?? (subJobs.length || expected),
  };
}

/** Final outcomes of the servers whose sub-job has finished; servers still running are left out. */
export function finishedOutcomes(job: Job, jobId: string): Map<string, InstanceOutcome> {
  const out = new Map<string, InstanceOutcome>();
  for (const sub of subJobsOf(job)) {
    const id = sub.entities?.server_id;
    if (!id) continue;
    if (sub.status === 'SUCCESS') {
      out.set(id, { id, status: 'succeeded', detail: `Huawei job ${jobId}: SUCCESS` });
    } else if (sub.status === 'FAIL') {
      // A sub-job may fail without a code; ours names the job so a human can find it.
      out.set(id, failedOutcome(id, sub.error_code ?? 'Ecs.SubJobFailed', sub.fail_reason ?? `sub-job of Huawei job ${jobId} failed without a reason`));
    }
  }
  return out;
}

/** The accepted reboot may still be running for a server without a finished sub-job: unknown, never failed. */
function withRest(ids: readonly string[], done: Map<string, InstanceOutcome>, reason: string): InstanceOutcome[] {
  return ids.map((id) => done.get(id) ?? unknownOutcome(id, reason));
}

/** One final outcome per id of the handle, however the queries go. */
export async function followJob(
  handle: AsyncJobHandle,
  query: () => Promise<JobQuery>,
  onProgress: PollCall['onProgress'],
  options: FollowOptions,
): Promise<InstanceOutcome[]> {
  const deadline = options.now().getTime() + options.timeoutMs;
  let delay = options.initialDelayMs;
  let wait = delay;
  let lastDone = -1;
  let finished = new Map<string, InstanceOutcome>();
  let lastState = 'not yet queried';
  for (;;) {
    const remaining = deadline - options.now().getTime();
    if (remaining <= 0) {
      const after = Math.round(options.timeoutMs / 1000);
      return withRest(handle.ids, finished, `Huawei job ${handle.jobId} had not finished for this server after ${after} s (${lastState}); check the job in the console`);
    }
    await options.sleep(Math.min(wait, remaining));
    const verdict = await query();
    delay = Math.min(options.maxDelayMs, delay * POLL_GROWTH);
    wait = delay;
    if (verdict.kind === 'retry') {
      lastState = `last query failed: ${verdict.why}`;
      wait = Math.max(delay, verdict.afterMs ?? 0);
      continue;
    }
    if (verdict.kind === 'fatal') {
      return withRest(handle.ids, finished, `could not follow Huawei job ${handle.jobId} (${verdict.why}); the reboot was accepted — check the job in the console`);
    }
    const { job } = verdict;
    lastState = `job ${job.status}`;
    finished = finishedOutcomes(job, handle.jobId);
    const { done, total } = jobProgress(job, handle.ids.length);
    if (done !== lastDone) {
      lastDone = done;
      onProgress?.(done, total);
    }
    if (FINAL.has(job.status)) {
      const cause = [job.error_code, job.fail_reason].filter(Boolean).join(' ');
      const jobFailure = cause ? ` (job: ${cause})` : '';
      return withRest(handle.ids, finished, `Huawei job ${handle.jobId} ended ${job.status} without a sub-job for this server${jobFailure}; check it in the console`);
    }
  }
}
