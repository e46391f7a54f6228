/**
 * The bench's children (bench/child.ts: the real bot; bench/bare-bolt.ts: a Bolt app that only acks) run in their
 * own processes so that the load generator's event loop distorts neither. They answer the parent over Node's IPC
 * channel; each request carries an id its answer repeats.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What the parent needs of a finished job: its clock readings (the child's Date.now, the same clock). */
export interface JobTimes {
  id: string;
  channel: string;
  instances: number;
  verify: boolean;
  decidedAt: number | null;
  completedAt: number | null;
}

export type ChildRequest =
  | { id: number; type: 'completed-jobs' }
  | { id: number; type: 'max-rss' }
  | { id: number; type: 'settle'; timeoutMs: number }
  | { id: number; type: 'stop' };

export type ChildAnswer =
  | { id: number; type: 'completed-jobs'; jobs: JobTimes[] }
  | { id: number; type: 'max-rss'; bytes: number }
  | { id: number; type: 'settle'; settled: boolean }
  | { id: number; type: 'stop' };

export interface Ready {
  type: 'ready';
  url: string;
}

type Request = ChildRequest extends infer R ? (R extends { type: infer T } ? T : never) : never;
type AnswerOf<T extends Request> = Extract<ChildAnswer, { type: T }>;

/** A child started with `fork`, once it said it listens. */
export class BenchChild {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (answer: ChildAnswer) => void; reject: (error: Error) => void }>();

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.on('message', (raw) => {
      const answer = raw as ChildAnswer;
      this.waiting.get(answer.id)?.resolve(answer);
      this.waiting.delete(answer.id);
    });
    // A child that dies fails the questions put to it rather than leaving the bench waiting forever.
    child.on('exit', (code, signal) => {
      for (const { reject } of this.waiting.values()) reject(new Error(`bench child exited (${signal ?? code}) before it answered`));
      this.waiting.clear();
    });
  }

  static async start(script: URL, env: Record<string, string>): Promise<BenchChild> {
    // BENCH_CPU_PROF=<dir>: each child writes a V8 CPU profile there when it exits (stages stop it rather than kill it then).
    const profileDir = process.env.BENCH_CPU_PROF;
    const execArgv = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    const child = fork(fileURLToPath(script), [], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const url = await new Promise<string>((resolve, reject) => {
      child.once('message', (raw) => resolve((raw as Ready).url));
      child.once('exit', (code) => reject(new Error(`${script.pathname} exited with ${code} before it was ready`)));
    });
    return new BenchChild(child, url);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  ask<T extends Request>(request: Omit<Extract<ChildRequest, { type: T }>, 'id'> & { type: T }): Promise<AnswerOf<T>> {
    this.nextId += 1;
    const id = this.nextId;
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return reject(new Error('bench child is not running'));
      this.waiting.set(id, { resolve: (answer) => resolve(answer as AnswerOf<T>), reject });
      this.child.send({ ...request, id });
    });
  }

  /** Stops it (its own stop, then the process ends); kills it if it does not within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'stop', id: 0 });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /**
   * Freezes it (SIGSTOP) until `resume`: while the yardstick is measured, the bot's background work (pre-flight reads,
   * queued Slack writes) must not take the CPU the yardstick would otherwise have, or the comparison flatters the bot.
   */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child.kill('SIGCONT');
  }

  /** Ends it at once: a phase whose queued Slack writes are not worth waiting for. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }
}
