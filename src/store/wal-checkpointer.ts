/**
 * WAL checkpoints off the event loop. In WAL mode SQLite appends commits to the `-wal` file and copies them back into
 * the database at a checkpoint; by default the commit that takes the WAL past 1,000 pages runs that checkpoint itself
 * (https://www.sqlite.org/wal.html#automatic_checkpoint), and under `synchronous = NORMAL` a checkpoint is where the
 * syncs happen (https://www.sqlite.org/pragma.html#pragma_synchronous). better-sqlite3 is synchronous, so that commit
 * held the event loop for 10–15 ms of fsync on the bench machine: whichever click or slash command it fell on, and
 * every request queued behind it, waited.
 *
 * Here a worker thread with its own connection runs a PASSIVE checkpoint on a timer. A PASSIVE checkpoint never
 * waits for a lock and never blocks the writer; readers and the writer go on while it copies
 * (https://www.sqlite.org/c3ref/wal_checkpoint_v2.html). The main connection keeps an automatic checkpoint only as
 * a backstop, far above what the worker lets the WAL reach, in case the worker falls behind or has died.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { HealthBoard } from '../health.js';
import type { Logger } from '../log.js';

/** How often the worker checkpoints: the WAL holds at most about this long of commits. */
export const CHECKPOINT_INTERVAL_MS = 1000;
/** The main connection's own automatic checkpoint, in pages (4 KiB each: about 40 MiB): a backstop only. */
export const BACKSTOP_CHECKPOINT_PAGES = 10_000;

export interface CheckpointerOptions {
  intervalMs?: number;
}

/**
 * The worker's code. It is evaluated as a script (`eval: true`) rather than loaded from a file so that it runs the
 * same from `dist/` and under the test runner, which compiles TypeScript only in the main thread. A checkpoint that
 * fails (an I/O error) is reported and tried again at the next tick: the WAL keeps every commit meanwhile, and the
 * backstop checkpoint is still there.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const closed = new Int32Array(workerData.closed);
const done = () => {
  Atomics.store(closed, 0, 1);
  Atomics.notify(closed, 0);
  parentPort.close();
};
let db;
try {
  db = new (require(workerData.driver))(workerData.path, { fileMustExist: true });
  db.pragma('synchronous = NORMAL');
} catch (error) {
  parentPort.postMessage({ kind: 'failed', error: String(error && error.message) });
  done();
}
if (db) {
  const timer = setInterval(() => {
    try {
      const [result] = db.pragma('wal_checkpoint(PASSIVE)');
      parentPort.postMessage({ kind: 'checkpointed', walFrames: result.log, copied: result.checkpointed });
    } catch (error) {
      parentPort.postMessage({ kind: 'failed', error: String(error && error.message) });
    }
  }, workerData.intervalMs);
  parentPort.on('message', () => {
    clearInterval(timer);
    try {
      db.close();
    } finally {
      done();
    }
  });
}
`;

/** The longest close() waits for the worker's connection to close (a checkpoint under way finishes first). */
const CLOSE_WAIT_MS = 2000;

export type CheckpointReport = { kind: 'checkpointed'; walFrames: number; copied: number } | { kind: 'failed'; error: string };

/** The /healthz key of failing background checkpoints. */
export const CHECKPOINT_PROBLEM = 'database checkpoint';

/**
 * A report listener for the bot: failing checkpoints are listed on /healthz, not fatal (commits stay durable in the
 * WAL, and the main connection's backstop checkpoint still runs), and logged when they start failing and when they
 * succeed again, not once a second.
 */
export function checkpointHealth(health: HealthBoard, log: Logger): (report: CheckpointReport) => void {
  return (report) => {
    const failing = health.has(CHECKPOINT_PROBLEM);
    if (report.kind === 'failed') {
      if (!failing) log.warn('WAL checkpoint failed; commits stay in the WAL until one succeeds', { error: report.error });
      health.set(CHECKPOINT_PROBLEM, `WAL checkpoints fail: ${report.error}`, false);
    } else if (failing) {
      health.clear(CHECKPOINT_PROBLEM);
      log.info('WAL checkpoints succeed again');
    }
  };
}

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly listeners = new Set<(report: CheckpointReport) => void>();
  /** Set to 1 by the worker once its connection is closed (or was never opened). */
  private readonly closed = new Int32Array(new SharedArrayBuffer(4));
  /** Resolves once the worker thread has exited (after close(), or when it could not start). */
  readonly exited: Promise<void>;

  constructor(path: string, options: CheckpointerOptions = {}) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const workerData = { path, driver, intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS, closed: this.closed.buffer };
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
    // Never what keeps the process alive: the WAL is safe without it, and the next start checkpoints anyway.
    this.worker.unref();
    this.worker.on('message', (report: CheckpointReport) => this.tell(report));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    // A worker that dies leaves the backstop in charge; it must not crash the process.
    this.worker.on('error', (error: Error) => this.tell({ kind: 'failed', error: error.message }));
  }

  /** Hears every checkpoint the worker runs (tests, and whoever wants to log failures); returns how to stop hearing. */
  onReport(listener: (report: CheckpointReport) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Stops the timer and closes the worker's connection, waiting for that (at most CLOSE_WAIT_MS) so that the store's
   * own connection, closed next, is the last: SQLite then checkpoints and removes the WAL before the store's close
   * returns, and nothing is left writing in the directory (https://www.sqlite.org/wal.html#the_wal_file). The wait
   * blocks (Atomics.wait) because SqliteStore.close is synchronous.
   */
  close(): void {
    this.worker.postMessage('close');
    Atomics.wait(this.closed, 0, 0, CLOSE_WAIT_MS);
  }

  private tell(report: CheckpointReport): void {
    for (const listener of this.listeners) listener(report);
  }
}
