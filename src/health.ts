/**
 * What is wrong with the bot right now, for /healthz and the logs. A fatal problem (the database
 * cannot be written, Slack refuses the bot's token) fails the health check; a non-fatal one (one
 * channel the bot cannot post in) is listed so it cannot pile up silently, but the bot still serves.
 */
export interface Problem {
  reason: string;
  fatal: boolean;
  since: number;
}

export interface HealthReport {
  ok: boolean;
  problems: Array<Problem & { key: string }>;
}

export class HealthBoard {
  private readonly problems = new Map<string, Problem>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Records a problem; an ongoing one keeps its first `since`. */
  set(key: string, reason: string, fatal: boolean): void {
    const current = this.problems.get(key);
    this.problems.set(key, { reason, fatal, since: current?.since ?? this.now() });
  }

  clear(key: string): void {
    this.problems.delete(key);
  }

  has(key: string): boolean {
    return this.problems.has(key);
  }

  report(): HealthReport {
    const problems = [...this.problems].map(([key, p]) => ({ key, ...p }));
    return { ok: problems.every((p) => !p.fatal), problems };
  }
}
