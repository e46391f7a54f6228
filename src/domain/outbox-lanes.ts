/**
 * Priority lanes of a channel's Slack writes. A channel sends one write at a time; when it is free it
 * takes the highest lane whose head is due, so an approval card or a reply to a person never waits
 * behind thousands of result rows (issue 9). Within the thread lane each job keeps its own order.
 */
import type { OutboxMessage } from './outbox-message.js';

export type OutboxLane = 'top' | 'rewrite' | 'thread';

/** Highest priority first. */
export const LANES: readonly OutboxLane[] = ['top', 'rewrite', 'thread'];

/** The kinds of the top and rewrite lanes; every other kind (an unknown one too) is a thread row. */
export const LANE_KINDS = {
  /** New top-level messages people wait for: a request card, an incident notice, a direct message. */
  top: ['post_card', 'incident', 'requester_notice'],
  /** Rewrites of a card already posted. */
  rewrite: ['update_card', 'supersede_card'],
} as const satisfies Record<Exclude<OutboxLane, 'thread'>, readonly OutboxMessage['kind'][]>;

export function laneOf(kind: string): OutboxLane {
  if ((LANE_KINDS.top as readonly string[]).includes(kind)) return 'top';
  if ((LANE_KINDS.rewrite as readonly string[]).includes(kind)) return 'rewrite';
  return 'thread';
}

/** Lane priority as a number, 0 first. */
export function laneRank(kind: string): number {
  return LANES.indexOf(laneOf(kind));
}
