import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CreateResult } from '../../src/store/contract.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { job } from './contract.js';
import { resetWal, walCommits } from './wal-commits.js';

/** A slash command's store call, as src/jobs/requests.ts makes it. */
const request = (store: SqliteStore, id: string): (() => CreateResult) => () =>
  store.createJob(job({ id }), `alibaba cn-hangzhou … (${id})`, undefined, (j) => [{ channel: j.channel, jobId: j.id, message: { kind: 'post_card' } }]);

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `r-group${String(i).padStart(5, '0')}`);

describe('GroupCommit: the store calls of one turn of the event loop share one commit', () => {
  let dir: string;
  let path: string;
  let store: SqliteStore;
  let reader: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'reboot-group-'));
    path = join(dir, 'db.sqlite');
    store = new SqliteStore(path);
    // A second connection, as another process would read the file: it sees only what was committed.
    reader = new SqliteStore(path);
    resetWal(store.db);
  });
  afterEach(() => {
    store.close();
    reader.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fifty requests made in one turn are one commit, and each answer comes after it', async () => {
    const group = new GroupCommit(store);
    const seenWhenAnswered: boolean[] = [];
    const answers = ids(50).map((id) =>
      group.run(request(store, id)).then((result) => {
        // The job is on disk for another connection by the time its request is answered.
        seenWhenAnswered.push(reader.getJob(id) !== undefined);
        return result;
      }),
    );
    expect(walCommits(path)).toBe(0);
    const results = await Promise.all(answers);
    expect(results.every((r) => r.kind === 'created')).toBe(true);
    expect(seenWhenAnswered).toEqual(Array.from({ length: 50 }, () => true));
    expect(walCommits(path)).toBe(1);
    expect(reader.outboxPendingCount()).toBe(50);
  });

  it('requests that keep arriving over several turns join one group until a lull', async () => {
    const group = new GroupCommit(store, { lullMs: 50, maxDelayMs: 5000 });
    const answers: Array<Promise<CreateResult>> = [];
    for (const id of ids(10)) {
      answers.push(group.run(request(store, id)));
      // The next request is read on a later turn, as a burst spread over a few reads of the sockets is.
      await new Promise((r) => setImmediate(r));
    }
    expect(walCommits(path)).toBe(0);
    await Promise.all(answers);
    expect(walCommits(path)).toBe(1);
  });

  it('a group that never sees a lull still commits once its first call has waited maxDelayMs', async () => {
    const group = new GroupCommit(store, { lullMs: 1000, maxDelayMs: 20 });
    const firstAnswer = group.run(request(store, ids(1)[0]!));
    const answers = [firstAnswer];
    let first: CreateResult | undefined;
    void firstAnswer.then((r) => (first = r));
    // Requests go on joining every few milliseconds; the first is answered all the same.
    for (const id of ids(30).slice(1)) {
      if (first) break;
      await new Promise((r) => setTimeout(r, 5));
      answers.push(group.run(request(store, id)));
    }
    expect(first?.kind).toBe('created');
    await Promise.all(answers);
    expect(walCommits(path)).toBeGreaterThan(1);
  });

  it('in front of a store that commits each call alone (PostgreSQL), a group waits for no lull: the calls of one turn, no more', async () => {
    // This store's own calls, told (as PgStore tells it) that together() makes no one commit of them.
    const eachAlone = { together: (calls: Parameters<SqliteStore['together']>[0]) => store.together(calls), togetherIsOneCommit: false };
    const group = new GroupCommit(eachAlone, { maxDelayMs: 5000 });
    const answers = [group.run(request(store, ids(3)[0]!)), group.run(request(store, ids(3)[1]!))];
    // Read on the next turn: with a lull it would have joined the first two.
    await new Promise((r) => setImmediate(r));
    answers.push(group.run(request(store, ids(3)[2]!)));
    await Promise.all(answers);
    expect(walCommits(path)).toBe(2);
  });

  it('requests of later turns get commits of their own', async () => {
    const group = new GroupCommit(store);
    const [first, second] = [ids(2)[0]!, ids(2)[1]!];
    await group.run(request(store, first));
    await group.run(request(store, second));
    expect(walCommits(path)).toBe(2);
  });

  it('one request that cannot be stored fails alone; the others of its group are stored', async () => {
    store.createJob(job({ id: 'r-taken00000' }), 'earlier');
    resetWal(store.db);
    const group = new GroupCommit(store);
    const settled = await Promise.allSettled([group.run(request(store, 'r-group00001')), group.run(request(store, 'r-taken00000')), group.run(request(store, 'r-group00002'))]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(reader.getJob('r-group00001')).toBeDefined();
    expect(reader.getJob('r-group00002')).toBeDefined();
    expect(reader.auditTrail('r-taken00000').map((e) => e.data)).toEqual([{ command: 'earlier', account: 'default' }]);
    expect(walCommits(path)).toBe(1);
  });

  it('when the commit itself fails, every request of the group is refused and none is stored', async () => {
    // Another connection holds the write lock past the busy timeout: BEGIN IMMEDIATE fails for the whole group.
    store.db.pragma('busy_timeout = 50');
    reader.db.exec('BEGIN IMMEDIATE');
    const group = new GroupCommit(store);
    const settled = await Promise.allSettled(ids(3).map((id) => group.run(request(store, id))));
    reader.db.exec('ROLLBACK');
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const id of ids(3)) expect(reader.getJob(id)).toBeUndefined();
    expect(reader.outboxPendingCount()).toBe(0);
  });

  it('a call that makes SQLite roll back the whole transaction (disk full) refuses every request of the group, and none is stored', async () => {
    // Full after a few pages more (https://www.sqlite.org/pragma.html#pragma_max_page_count): SQLITE_FULL rolls back
    // the transaction, not only the statement (https://www.sqlite.org/lang_transaction.html#response_to_errors_within_a_transaction).
    const pages = store.db.pragma('page_count', { simple: true }) as number;
    store.db.pragma(`max_page_count = ${pages + 4}`);
    const huge = (): CreateResult => store.createJob(job({ id: 'r-huge000000', ids: Array.from({ length: 20_000 }, (_, i) => `i-full${i}`) }), 'huge');
    const group = new GroupCommit(store);
    const settled = await Promise.allSettled([group.run(request(store, 'r-group00001')), group.run(huge), group.run(request(store, 'r-group00002'))]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const s of settled) if (s.status === 'rejected') expect(s.reason).toMatchObject({ code: 'SQLITE_FULL' });
    for (const id of ['r-group00001', 'r-huge000000', 'r-group00002']) expect(reader.getJob(id)).toBeUndefined();
    expect(reader.outboxPendingCount()).toBe(0);
    // The store is whole and goes on once there is room.
    store.db.pragma('max_page_count = 1073741823');
    await group.run(request(store, 'r-group00003'));
    expect(reader.getJob('r-group00003')).toBeDefined();
  });

  it('answers each request with its own result, in the order asked', async () => {
    const group = new GroupCommit(store);
    const results: CreateResult[] = await Promise.all(ids(5).map((id) => group.run(request(store, id))));
    expect(results.map((r) => r.job.id)).toEqual(ids(5));
  });
  it('the clicks of one turn are one commit too, each approval decided as if alone', async () => {
    for (const id of ids(3)) store.createJob(job({ id, approvalsNeeded: 2 }), 'x');
    resetWal(store.db);
    const group = new GroupCommit(store);
    const approvals = Promise.all([
      group.run(() => store.approve(ids(3)[0]!, 'U0APP1', 2000)),
      group.run(() => store.approve(ids(3)[0]!, 'U0APP1', 2000)),
      group.run(() => store.approve(ids(3)[0]!, 'U0APP2', 2000)),
    ]);
    const denial = group.run(() => store.deny(ids(3)[1]!, 'U0APP1', 2000));
    expect((await approvals).map((r) => r.kind)).toEqual(['recorded', 'duplicate', 'approved']);
    expect(await denial).toMatchObject({ state: 'denied' });
    expect(reader.getJob(ids(3)[0]!)?.state).toBe('approved');
    expect(reader.getJob(ids(3)[1]!)?.state).toBe('denied');
    expect(walCommits(path)).toBe(1);
  });

  it('a call that would go on after an await is refused: its work could not be in the transaction', async () => {
    const group = new GroupCommit(store);
    const [early, late] = await Promise.allSettled([group.run(request(store, 'r-group00001')), group.run(async () => request(store, 'r-group00002')())]);
    expect(early.status).toBe('fulfilled');
    expect(late).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/one call of this store/) } });
  });
});
