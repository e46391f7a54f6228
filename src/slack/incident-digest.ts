/**
 * Several incident notices in one message. The incident channel hears of every job twice (approved,
 * completed) and takes about one post per second (https://api.slack.com/methods/chat.postMessage#rate_limiting),
 * so 100 concurrent jobs would queue for minutes; instead each post carries every notice waiting, each
 * rendered exactly as alone (incidentMessage), within Block Kit's limits: at most 50 blocks per message
 * and 3,000 characters per section (https://api.slack.com/reference/block-kit/blocks), and a total kept
 * under DIGEST_TEXT_LIMIT so the message stays readable and well inside what chat.postMessage accepts.
 */
import type { SlackMessage } from './messages.js';

export const DIGEST_MAX_BLOCKS = 50;
export const DIGEST_TEXT_LIMIT = 9_000;

/** How many of `notices`, from the first, fit in one message (always at least one). */
export function digestFit(notices: readonly SlackMessage[]): number {
  let blocks = 0;
  let chars = 0;
  let n = 0;
  for (const notice of notices) {
    const cost = textLength(notice.blocks);
    if (n > 0 && (blocks + notice.blocks.length > DIGEST_MAX_BLOCKS || chars + cost > DIGEST_TEXT_LIMIT)) break;
    blocks += notice.blocks.length;
    chars += cost;
    n += 1;
  }
  return n;
}

/** One message showing every notice in order; a single notice is returned as it is. */
export function incidentDigest(notices: readonly SlackMessage[]): SlackMessage {
  const [first] = notices;
  if (!first) throw new Error('an incident digest needs at least one notice');
  if (notices.length === 1) return first;
  return { text: notices.map((n) => n.text).join('\n'), blocks: notices.flatMap((n) => n.blocks) };
}

/** The characters of every `text` inside the blocks: what counts against the message's size. */
function textLength(node: unknown): number {
  if (Array.isArray(node)) return node.reduce((sum: number, child: unknown) => sum + textLength(child), 0);
  if (!node || typeof node !== 'object') return 0;
  let sum = 0;
  for (const [key, value] of Object.entries(node)) sum += key === 'text' && typeof value === 'string' ? value.length : textLength(value);
  return sum;
}
