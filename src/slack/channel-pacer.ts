/**
 * The one place the Slack write schedule lives: when the next write to a channel may start, and how
 * much of each workspace-wide method budget is left. The outbox asks it before every call and tells it
 * when Slack answered. LocalChannelPacer keeps the schedule in memory; a shared store (issue 12, several
 * replicas) can implement the same interface, which is why every method may answer with a promise.
 *
 * Slack's limits, as documented:
 * - chat.postMessage: about 1 message per second per channel
 *   (https://api.slack.com/methods/chat.postMessage#rate_limiting);
 * - other Web API methods are limited per method and per workspace by tier
 *   (https://api.slack.com/apis/rate-limits): chat.update is Tier 3, about 50 per minute
 *   (https://api.slack.com/methods/chat.update); chat.getPermalink is Tier 4, about 100 per minute
 *   (https://api.slack.com/methods/chat.getPermalink).
 * - a 429 carries Retry-After: for chat.postMessage it is the channel that is limited, for a tiered
 *   method the whole method (https://api.slack.com/apis/rate-limits#headers).
 */
import type { Awaitable } from '../store/contract.js';

/** The Web API methods the outbox calls that count against a limit. */
export type SlackMethod = 'chat.postMessage' | 'chat.update' | 'chat.getPermalink' | 'files.upload';

export interface PacerLimits {
  /** The gap between Slack's answer to one write to a channel and the start of the next. */
  channelIntervalMs: number;
  /** Workspace-wide calls per sliding minute, per tiered method; methods not named have no budget. */
  perMinute: Partial<Record<SlackMethod, number>>;
}

export interface ChannelPacer {
  /**
   * Asks to start a call of `method` now. Granted, the call takes one unit of the method's budget at
   * once (so two callers cannot both take the last one); refused, `retryAt` says when to ask again.
   * With a channel, the channel's gap and any pause of it count too; without one (a read such as
   * chat.getPermalink), only the method's budget and pause.
   */
  tryStart(method: SlackMethod, channel: string | undefined, now: number): Awaitable<Slot>;
  /** When a call of `method` could start as far as its workspace budget and pause go (no channel, nothing taken). */
  methodOpenAt(method: SlackMethod, now: number): Awaitable<number>;
  /** Slack answered a write to `channel` (with anything, a 429 included): the channel's gap starts now. */
  answered(channel: string, now: number): Awaitable<void>;
  /**
   * A write granted for `channel` was not sent after all (another process had claimed its rows): a pacer that
   * holds a channel from its grant (RedisChannelPacer, across replicas) lets it go; nothing is owed to Slack.
   */
  released(channel: string): Awaitable<void>;
  /** A 429: chat.postMessage pauses the channel, a tiered method pauses the method everywhere. */
  rateLimited(method: SlackMethod, channel: string | undefined, retryAfterMs: number, now: number): Awaitable<void>;
}

export type Slot = { granted: true } | { granted: false; retryAt: number };

/**
 * A budgeted call stays in its window a second longer than the minute: Slack counts a call when it arrives, a
 * little after it starts here, so a window timed exactly from the start could let one call too many arrive within
 * Slack's minute (the bench's fake Slack answered such calls 429).
 */
export const WINDOW_MS = 61_000;

/** Calls per sliding minute of the tiered methods (https://api.slack.com/apis/rate-limits#tiers). */
export const DEFAULT_METHOD_BUDGETS: Readonly<Partial<Record<SlackMethod, number>>> = {
  'chat.update': 50,
  'chat.getPermalink': 100,
};

/** The schedule of one process, in memory. */
export class LocalChannelPacer implements ChannelPacer {
  /** Per channel: when its next write may start. */
  private readonly channelNext = new Map<string, number>();
  /** Per method: until when a 429 paused it. */
  private readonly methodPaused = new Map<SlackMethod, number>();
  /** Per budgeted method: start times within the last minute, oldest first. */
  private readonly recent = new Map<SlackMethod, number[]>();

  constructor(private readonly limits: PacerLimits) {}

  tryStart(method: SlackMethod, channel: string | undefined, now: number): Slot {
    const at = Math.max(this.methodOpenAt(method, now), channel === undefined ? 0 : (this.channelNext.get(channel) ?? 0));
    if (at > now) return { granted: false, retryAt: at };
    if (this.limits.perMinute[method] !== undefined) this.window(method, now).push(now);
    return { granted: true };
  }

  methodOpenAt(method: SlackMethod, now: number): number {
    const at = Math.max(now, this.methodPaused.get(method) ?? 0);
    const budget = this.limits.perMinute[method];
    if (budget === undefined) return at;
    const starts = this.window(method, now);
    // The budget is spent: the next call may start when the oldest one in the window leaves it.
    return starts.length >= budget ? Math.max(at, (starts[starts.length - budget] ?? now) + WINDOW_MS) : at;
  }

  answered(channel: string, now: number): void {
    this.channelNext.set(channel, Math.max(this.channelNext.get(channel) ?? 0, now + this.limits.channelIntervalMs));
  }

  /** In one process the outbox sends one write per channel at a time (Outbox.inFlight): nothing is held here. */
  released(): void {}

  rateLimited(method: SlackMethod, channel: string | undefined, retryAfterMs: number, now: number): void {
    const until = now + retryAfterMs;
    if (method === 'chat.postMessage' && channel !== undefined) {
      this.channelNext.set(channel, Math.max(this.channelNext.get(channel) ?? 0, until));
    } else {
      this.methodPaused.set(method, Math.max(this.methodPaused.get(method) ?? 0, until));
    }
  }

  /** The method's start times within the window before `now` (older ones are dropped). */
  private window(method: SlackMethod, now: number): number[] {
    const starts = this.recent.get(method) ?? [];
    let drop = 0;
    while (drop < starts.length && (starts[drop] ?? 0) <= now - WINDOW_MS) drop += 1;
    if (drop > 0) starts.splice(0, drop);
    this.recent.set(method, starts);
    return starts;
  }
}
