/**
 * The load generator: Slack's requests, built and signed as Slack builds and signs them (src/local/slack-driver.ts),
 * fired at once over keep-alive connections, each timed from send to the end of the answer.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { blockActionsPayload, newTriggerId, slackSignatureHeaders, slashCommandFields } from '../src/local/slack-driver.js';

export function commandBody(user: string, channel: string, text: string, responseUrl: string): string {
  return new URLSearchParams(slashCommandFields({ user, channel, text, responseUrl, team: 'T0FAKE', triggerId: newTriggerId() })).toString();
}

export function clickBody(user: string, channel: string, messageTs: string, actionId: string, value: string, responseUrl: string): string {
  const payload = blockActionsPayload({ user, channel, messageTs, actionId, value, responseUrl, team: 'T0FAKE' });
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

export interface Answer {
  ms: number;
  status: number;
  /** When it was sent (Date.now: the clock the bot stamps jobs with). */
  sentAt: number;
}

/** Keep-alive connections to one app, enough for every request of a burst to be in flight at once. */
export function poolFor(url: string, connections: number): Pool {
  return new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
}

/** Sends every body at once (signed now, as Slack signs at send time) and times each answer. */
export async function burst(pool: Pool, secret: string, bodies: readonly string[]): Promise<Answer[]> {
  return Promise.all(
    bodies.map(async (body) => {
      const sentAt = Date.now();
      const start = performance.now();
      const res = await pool.request({ path: '/slack/events', method: 'POST', headers: slackSignatureHeaders(secret, body), body });
      await res.body.text();
      return { ms: performance.now() - start, status: res.statusCode, sentAt };
    }),
  );
}

/** The q-quantile (0..1) of a sample, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
