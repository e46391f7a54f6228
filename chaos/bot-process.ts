/**
 * The bot as a child process, started exactly as `npm start` runs it after the build
 * (`node dist/src/main.js` from the repository root), with an environment that points it at the
 * harness's fake Slack and simulators. Killing is SIGKILL: no handler of the bot runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'undici';

export interface BotProcessOptions {
  /** Repository root: the working directory of `npm start`. */
  cwd: string;
  env: Record<string, string>;
  /** stdout and stderr of every start are appended here. */
  logFile: string;
  readyTimeoutMs: number;
}

/** Environment the bot inherits from the harness: enough to run node, nothing that configures the bot. */
const INHERITED = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'SYSTEMROOT'];

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every bot process the harness started and has not seen exit: killed on SIGINT or a crash of the harness. */
export const liveBots = new Set<ChildProcess>();

export class BotProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private port = 0;
  starts = 0;

  constructor(private readonly opts: BotProcessOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the bot on a fresh port and resolves once GET /healthz answers 200. */
  async start(): Promise<void> {
    if (this.child) throw new Error('bot already running');
    this.port = await freePort();
    const env: Record<string, string> = {};
    for (const name of INHERITED) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, this.opts.env, { PORT: String(this.port) });
    const fd = openSync(this.opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, ['dist/src/main.js'], { cwd: this.opts.cwd, env, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.starts += 1;
    this.child = child;
    liveBots.add(child);
    let exitInfo: string | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = signal ?? `code ${code ?? '?'}`;
        liveBots.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      });
      child.once('error', () => {
        exitInfo = 'spawn error';
        liveBots.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    while (Date.now() < deadline) {
      if (exitInfo !== undefined) throw new Error(`bot exited during start-up (${exitInfo}); see ${this.opts.logFile}`);
      if (await healthy(this.url)) return;
      await sleep(25);
    }
    await this.kill();
    throw new Error(`bot not ready within ${this.opts.readyTimeoutMs} ms; see ${this.opts.logFile}`);
  }

  /**
   * SIGKILL, sent synchronously so a caller inside an event callback kills at that very moment.
   * Returns a promise for the process's exit.
   */
  killNow(): Promise<void> {
    this.child?.kill('SIGKILL');
    return this.exited;
  }

  async kill(): Promise<void> {
    await this.killNow();
  }

  /** SIGTERM (the bot's graceful stop), SIGKILL when it takes longer than `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await request(`${url}/healthz`, { method: 'GET', headersTimeout: 1000, bodyTimeout: 1000 });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}
