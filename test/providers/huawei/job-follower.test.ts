import { describe, expect, it } from 'vitest';
import { followJob, type FollowOptions, type Job, type JobQuery } from '../../../src/providers/huawei/job-follower.js';

const A = '616fb98f-46ca-475e-917e-2563e5a8cd19';
const B = '616fb98f-46ca-475e-917e-2563e5a8cd20';

function job(status: string, subs: Array<[id: string, status: string]>): JobQuery {
  const body: Job = {
    status,
    entities: { sub_jobs_total: subs.length, sub_jobs: subs.map(([id, s]) => ({ status: s, entities: { server_id: id } })) },
  };
  return { kind: 'job', job: body };
}

/** A clock that only moves when the follower sleeps, and the answers it gets, in order. */
function scripted(answers: JobQuery[], timeoutMs = 60_000): { options: FollowOptions; sleeps: number[]; query: () => Promise<JobQuery> } {
  let now = 0;
  const sleeps: number[] = [];
  const options: FollowOptions = {
    initialDelayMs: 1_000,
    maxDelayMs: 2_000,
    timeoutMs,
    now: () => new Date(now),
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  };
  const query = async (): Promise<JobQuery> => answers.shift() ?? { kind: 'retry', why: 'no more answers scripted' };
  return { options, sleeps, query };
}

describe('followJob', () => {
  it('waits longer each time up to the ceiling, a Retry-After stretches one wait, progress is told only when it moves', async () => {
    const { options, sleeps, query } = scripted([
      job('RUNNING', [[A, 'RUNNING'], [B, 'RUNNING']]),
      { kind: 'retry', why: 'APIGW.0308: throttled', afterMs: 5_000 },
      job('RUNNING', [[A, 'SUCCESS'], [B, 'RUNNING']]),
      job('RUNNING', [[A, 'SUCCESS'], [B, 'RUNNING']]),
      job('SUCCESS', [[A, 'SUCCESS'], [B, 'SUCCESS']]),
    ]);
    const progress: Array<[number, number]> = [];
    const outcomes = await followJob({ jobId: 'j1', ids: [A, B] }, query, (d, t) => progress.push([d, t]), options);
    expect(sleeps).toEqual([1_000, 1_500, 5_000, 2_000, 2_000]);
    expect(progress).toEqual([[0, 2], [1, 2], [2, 2]]);
    expect(outcomes).toEqual([
      { id: A, status: 'succeeded', detail: 'Huawei job j1: SUCCESS' },
      { id: B, status: 'succeeded', detail: 'Huawei job j1: SUCCESS' },
    ]);
  });

  it('at the deadline, a finished sub-job keeps its outcome and an unfinished one is unknown, naming the job and its last state', async () => {
    const { options, query } = scripted([job('RUNNING', [[A, 'FAIL'], [B, 'RUNNING']])], 3_000);
    const outcomes = await followJob({ jobId: 'j2', ids: [A, B] }, query, undefined, options);
    expect(outcomes).toEqual([
      { id: A, status: 'failed', code: 'Ecs.SubJobFailed', message: 'sub-job of Huawei job j2 failed without a reason' },
      { id: B, status: 'unknown', reason: expect.stringMatching(/^Huawei job j2 had not finished for this server after 3 s \(last query failed: no more answers scripted\)/) },
    ]);
  });

  it('a query that cannot go on leaves the servers unknown at once, never failed', async () => {
    const { options, sleeps, query } = scripted([{ kind: 'fatal', why: 'Ecs.0005: no such job' }]);
    const outcomes = await followJob({ jobId: 'j3', ids: [A] }, query, undefined, options);
    expect(outcomes).toEqual([{ id: A, status: 'unknown', reason: expect.stringContaining('could not follow Huawei job j3 (Ecs.0005: no such job)') }]);
    expect(sleeps).toEqual([1_000]);
  });
});
