/**
 * The channels a user is a member of, from users.conversations (https://api.slack.com/methods/users.conversations),
 * cached briefly: the App Home lists requests of those channels only, and every opening of the tab would
 * otherwise cost a Tier 3 call per page. A failed lookup is not cached, so the next opening tries again.
 */
import { z } from 'zod';
import { slackErrorLabel } from './error-label.js';

const ConversationsPage = z.object({
  ok: z.literal(true),
  channels: z.array(z.object({ id: z.string().min(1) })),
  response_metadata: z.object({ next_cursor: z.string().optional() }).optional(),
});

/** One page of users.conversations, as the Web API answers it. */
export type ConversationsLookup = (user: string, cursor: string | undefined) => Promise<unknown>;

export type Membership = { kind: 'known'; channels: string[] } | { kind: 'unknown'; error: string };

/** Pages read at most per lookup (200 channels each): past that, the channels read so far stand. */
const MAX_PAGES = 20;
/** Users kept in the cache; the oldest entry leaves first. */
const MAX_USERS = 1000;

export class ChannelMemberships {
  private readonly cache = new Map<string, { channels: string[]; at: number }>();

  constructor(
    private readonly lookup: ConversationsLookup,
    private readonly cacheMs: number,
    private readonly now: () => number,
  ) {}

  async of(user: string): Promise<Membership> {
    const cached = this.cache.get(user);
    if (cached && this.now() - cached.at < this.cacheMs) return { kind: 'known', channels: cached.channels };
    const channels: string[] = [];
    let cursor: string | undefined;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        const parsed = ConversationsPage.safeParse(await this.lookup(user, cursor));
        if (!parsed.success) return { kind: 'unknown', error: 'unexpected answer' };
        channels.push(...parsed.data.channels.map((c) => c.id));
        cursor = parsed.data.response_metadata?.next_cursor || undefined;
        if (cursor === undefined) break;
      }
    } catch (err) {
      return { kind: 'unknown', error: slackErrorLabel(err) };
    }
    this.cache.delete(user);
    this.cache.set(user, { channels, at: this.now() });
    if (this.cache.size > MAX_USERS) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    return { kind: 'known', channels };
  }
}

