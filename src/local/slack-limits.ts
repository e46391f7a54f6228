/**
 * Slack's Web API rate limits, as the fake enforces them when asked (`new FakeSlack({ slackLimits: SLACK_LIMITS })`).
 * Two rules, both from https://api.slack.com/apis/rate-limits :
 * - posting: "1 message per second per channel" for chat.postMessage (https://api.slack.com/methods/chat.postMessage ,
 *   "Rate limits: Special");
 * - per-method tiers, counted per workspace over a sliding minute: Tier 2 = 20+/min, Tier 3 = 50+/min,
 *   Tier 4 = 100+/min. The fake holds each method to the tier's floor, the only figure Slack promises.
 * A call over either answers HTTP 429 with Retry-After (seconds), as Slack does.
 */

/** Calls a tier allows per minute (https://api.slack.com/apis/rate-limits#tiers). */
export const TIER_PER_MINUTE = { tier2: 20, tier3: 50, tier4: 100 } as const;

export interface SlackLimits {
  /** Least time between two accepted writes to one channel by the methods in `channelWriteMethods`. */
  channelWriteMs: number;
  channelWriteMethods: readonly string[];
  /** Accepted calls per sliding minute, per method, across the workspace. */
  perMinute: Readonly<Record<string, number>>;
}

export const SLACK_LIMITS: SlackLimits = {
  channelWriteMs: 1000,
  channelWriteMethods: ['chat.postMessage'],
  perMinute: {
    // https://api.slack.com/methods/chat.update : Tier 3.
    'chat.update': TIER_PER_MINUTE.tier3,
    // https://api.slack.com/methods/chat.getPermalink : Tier 4.
    'chat.getPermalink': TIER_PER_MINUTE.tier4,
    // https://api.slack.com/methods/chat.postEphemeral : Tier 4.
    'chat.postEphemeral': TIER_PER_MINUTE.tier4,
    // https://api.slack.com/methods/files.getUploadURLExternal and .../files.completeUploadExternal : Tier 4.
    'files.getUploadURLExternal': TIER_PER_MINUTE.tier4,
    'files.completeUploadExternal': TIER_PER_MINUTE.tier4,
    // https://api.slack.com/methods/usergroups.users.list : Tier 2.
    'usergroups.users.list': TIER_PER_MINUTE.tier2,
  },
};

const MINUTE_MS = 60_000;

/** Why a call was refused and when it may come again. */
export interface RateLimited {
  rule: string;
  retryAfterS: number;
}

/** Admits or refuses calls under SlackLimits; only admitted calls count against the limits. */
export class SlackRateLimiter {
  private readonly lastChannelWrite = new Map<string, number>();
  /** Per method, the times of the calls admitted in the last minute, oldest first. */
  private readonly recent = new Map<string, number[]>();

  constructor(private readonly limits: SlackLimits) {}

  /** Undefined when the call may go ahead (it is then counted); else the rule it broke and the Retry-After. */
  admit(method: string, channel: string | undefined, now: number): RateLimited | undefined {
    const perMinute = this.limits.perMinute[method];
    const times = perMinute === undefined ? undefined : this.window(method, now);
    if (perMinute !== undefined && times !== undefined && times.length >= perMinute) {
      return { rule: `${method}: more than ${perMinute} calls in a minute`, retryAfterS: secondsUntil(times[0]! + MINUTE_MS, now) };
    }
    const paced = channel !== undefined && this.limits.channelWriteMethods.includes(method);
    if (paced) {
      const last = this.lastChannelWrite.get(channel);
      if (last !== undefined && now - last < this.limits.channelWriteMs) {
        return { rule: `${method} to ${channel} ${now - last} ms after the previous write`, retryAfterS: secondsUntil(last + this.limits.channelWriteMs, now) };
      }
      this.lastChannelWrite.set(channel, now);
    }
    times?.push(now);
    return undefined;
  }

  private window(method: string, now: number): number[] {
    let times = this.recent.get(method);
    if (!times) {
      times = [];
      this.recent.set(method, times);
    }
    while (times.length > 0 && times[0]! <= now - MINUTE_MS) times.shift();
    return times;
  }
}

/** Retry-After is whole seconds; a wait of any length asks for at least one. */
function secondsUntil(at: number, now: number): number {
  return Math.max(1, Math.ceil((at - now) / 1000));
}
