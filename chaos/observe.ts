/**
 * Reads a trial's outcome from the outside, the way an SRE would: what the fake Slack workspace
 * shows (cards, their threads, the incident channel) and how often the simulated cloud rebooted
 * each instance. `measure` is pure so it can be tested on hand-made messages.
 */
import { blockTexts, type FakeMessage } from '../src/local/fake-slack.js';
import { findButtonValue } from '../src/local/slack-driver.js';
import { APPROVE_ACTION, CANCEL_ACTION, DENY_ACTION } from '../src/slack/messages.js';

export interface TrialEvidence {
  jobId: string;
  /** The instance ids of the request. */
  ids: readonly string[];
  /** The channel the request was made in (one per trial). */
  channel: string;
  incidentChannel: string;
  /** Everything the fake Slack holds; only this trial's channels are read. */
  messages: readonly FakeMessage[];
  /** The cloud's reboot count per requested id (0 when it never rebooted it). */
  rebootCounts: ReadonlyMap<string, number>;
}

export interface Figures {
  /** Instances the cloud rebooted more than once for this one approval. */
  doubled: number;
  /** Requested ids that no thread reply of the job's card(s) mentions. */
  missingFromThread: number;
  /** Expected messages that never arrived: card, summary, incident 'approved', incident 'completed'. */
  slackLost: number;
  /** Extra cards, extra summaries, extra incident notices, and result lines for one instance posted again. */
  slackDoubled: number;
  /** Instances whose thread line reports unknown (allowed, only counted). */
  unknown: number;
  /** A thread line contradicting the cloud: "rebooting" for an instance never rebooted, or "failed" for one that was. */
  contradicted: number;
  /**
   * Cards of the job still offering Approve, Deny or Cancel once the job's summary is in its thread: the job's card
   * whose final update never came, or a second copy posted after a kill that the bot never learned of (a card found
   * again by its metadata is adopted instead, src/slack/outbox.ts). Either invites a click on a job that is over.
   */
  liveButtons: number;
}

export const ZERO: Figures = { doubled: 0, missingFromThread: 0, slackLost: 0, slackDoubled: 0, unknown: 0, contradicted: 0, liveButtons: 0 };

export function addFigures(a: Figures, b: Figures): Figures {
  return {
    doubled: a.doubled + b.doubled,
    missingFromThread: a.missingFromThread + b.missingFromThread,
    slackLost: a.slackLost + b.slackLost,
    slackDoubled: a.slackDoubled + b.slackDoubled,
    unknown: a.unknown + b.unknown,
    contradicted: a.contradicted + b.contradicted,
    liveButtons: a.liveButtons + b.liveButtons,
  };
}

export type LineStatus = 'succeeded' | 'unconfirmed' | 'failed' | 'not_back' | 'unknown' | 'checked' | 'not_started' | 'cancelled' | 'other';

/** The text a reader sees in a message's blocks (sections, fields, context); the top-level text when it has none. */
export function visibleText(message: Pick<FakeMessage, 'text' | 'blocks'>): string {
  const parts = blockTexts(message.blocks);
  return parts.length > 0 ? parts.join('\n') : message.text;
}

export function cardsOf(messages: readonly FakeMessage[], channel: string): FakeMessage[] {
  return messages.filter((m) => m.channel === channel && !m.threadTs);
}

export function threadOf(messages: readonly FakeMessage[], channel: string): FakeMessage[] {
  const parents = new Set(cardsOf(messages, channel).map((m) => m.ts));
  return messages.filter((m) => m.channel === channel && m.threadTs !== undefined && parents.has(m.threadTs));
}

export const isSummary = (m: FakeMessage, jobId: string): boolean => visibleText(m).includes(`\`${jobId}\` finished on`);
/** The card's request buttons (src/slack/messages.ts); "Show all N ids" is harmless on a finished card and not one. */
const JOB_BUTTONS = [APPROVE_ACTION, DENY_ACTION, CANCEL_ACTION] as const;

/** The request buttons a message still shows, e.g. ['reboot_approve', 'reboot_deny']. */
export function liveJobButtons(message: Pick<FakeMessage, 'blocks'>): string[] {
  return JOB_BUTTONS.filter((action) => findButtonValue(message.blocks, action) !== undefined);
}

export const isResultLines = (m: FakeMessage): boolean => m.text.startsWith('Results:');
const isApprovedNotice = (line: string): boolean => line.startsWith(':rotating_light:') && line.includes(' approved by ');
const isCompletedNotice = (line: string): boolean => / completed: /.test(line) && !line.startsWith(':rotating_light:');

/**
 * Notices counted per line of each post: several waiting notices leave as one digest, one notice per line
 * (src/slack/incident-digest.ts).
 */
export function incidentNotices(messages: readonly FakeMessage[], incidentChannel: string): { approved: number; completed: number } {
  const lines = messages.filter((m) => m.channel === incidentChannel && !m.threadTs).flatMap((m) => m.text.split('\n'));
  return { approved: lines.filter(isApprovedNotice).length, completed: lines.filter(isCompletedNotice).length };
}

/**
 * Headings of the compact lists a large job's results use (src/slack/messages.ts): the ids in the code block
 * under one have that status. An unrecognised heading leaves its ids 'other'.
 */
const COMPACT_HEADINGS: ReadonlyArray<[prefix: string, status: LineStatus]> = [
  [':white_check_mark: *Verified: back up and running*', 'succeeded'],
  [':white_check_mark: *Reboot accepted*', 'succeeded'],
  [':large_green_circle: *Would reboot*', 'checked'],
  [':stop_button: *Cancelled: not sent*', 'cancelled'],
];

/**
 * Outcome lines of the thread: instance id → the statuses its lines reported, in order. Reads both layouts:
 * one line per instance (`id` in backticks, status from the line's icon), and the compact lists, where
 * every line of a code block is an id (then its name) with the status of the heading above the block.
 */
export function outcomeLines(thread: readonly FakeMessage[]): Map<string, LineStatus[]> {
  const out = new Map<string, LineStatus[]>();
  const add = (id: string, status: LineStatus): void => {
    const list = out.get(id) ?? [];
    list.push(status);
    out.set(id, list);
  };
  for (const message of thread.filter(isResultLines)) {
    let heading: LineStatus = 'other';
    let inCode = false;
    for (const raw of visibleText(message).split('\n')) {
      let line = raw;
      if (!inCode && line.startsWith('```')) {
        inCode = true;
        line = line.slice(3);
      } else if (!inCode) {
        const compact = COMPACT_HEADINGS.find(([prefix]) => line.startsWith(prefix));
        if (compact) heading = compact[1];
        else if (/^:[a-z_]+: \*[^*`]+\*/.test(line)) heading = 'other';
      }
      if (inCode) {
        const closes = line.endsWith('```');
        const id = (closes ? line.slice(0, -3) : line).trim().split(/\s+/)[0];
        if (id) add(id, heading);
        if (closes) inCode = false;
        continue;
      }
      const id = /`([^`]+)`/.exec(line)?.[1];
      if (id) add(id, lineStatus(line));
    }
  }
  return out;
}

function lineStatus(line: string): LineStatus {
  if (line.includes(' not running after ')) return 'not_back';
  if (line.startsWith(':white_check_mark:')) return 'succeeded';
  if (line.startsWith(':large_yellow_circle:')) return 'unconfirmed';
  if (line.startsWith(':white_circle:')) return 'not_started';
  if (line.startsWith(':stop_button:')) return 'cancelled';
  if (line.startsWith(':x:')) return 'failed';
  if (line.startsWith(':grey_question:')) return 'unknown';
  if (line.startsWith(':large_green_circle:')) return 'checked';
  return 'other';
}

export interface Measurement {
  figures: Figures;
  /** Human-readable reasons behind nonzero figures. */
  notes: string[];
}

export function measure(e: TrialEvidence): Measurement {
  const notes: string[] = [];
  const cards = cardsOf(e.messages, e.channel);
  const thread = threadOf(e.messages, e.channel);
  const summaries = thread.filter((m) => isSummary(m, e.jobId)).length;
  const incident = incidentNotices(e.messages, e.incidentChannel);
  const lines = outcomeLines(thread);
  const threadText = thread.map(visibleText).join('\n');

  let slackLost = 0;
  let slackDoubled = 0;
  const expectOne = (what: string, n: number): void => {
    if (n === 0) {
      slackLost += 1;
      notes.push(`lost: ${what}`);
    } else if (n > 1) {
      slackDoubled += n - 1;
      notes.push(`doubled: ${n} × ${what}`);
    }
  };
  expectOne('request card', cards.length);
  expectOne('completion summary', summaries);
  expectOne("incident 'approved' notice", incident.approved);
  expectOne("incident 'completed' notice", incident.completed);

  let doubled = 0;
  let missingFromThread = 0;
  let unknown = 0;
  let contradicted = 0;
  const missing: string[] = [];
  for (const id of e.ids) {
    const count = e.rebootCounts.get(id) ?? 0;
    if (count > 1) {
      doubled += 1;
      notes.push(`rebooted ${count} times: ${id}`);
    }
    if (!lines.has(id) && !threadText.includes(`\`${id}\``)) {
      missingFromThread += 1;
      missing.push(id);
    }
    const statuses = lines.get(id) ?? [];
    if (statuses.length > 1) {
      slackDoubled += statuses.length - 1;
      notes.push(`doubled: ${statuses.length} result lines for ${id} (${statuses.join(', ')})`);
    }
    if (statuses.includes('unknown')) unknown += 1;
    if ((statuses.includes('succeeded') && count === 0) || (statuses.includes('failed') && count > 0)) {
      contradicted += 1;
      notes.push(`contradicted: ${id} reported ${statuses.join('/')} but the cloud rebooted it ${count} time(s)`);
    }
  }
  // Only once the job has ended (its summary is there): before that, buttons are the card's business. The job's
  // card is the one the summary is threaded under: the bot threads only under the card whose ts it stored.
  let liveButtons = 0;
  const summaryParents = new Set(thread.filter((m) => isSummary(m, e.jobId)).map((m) => m.threadTs));
  if (summaries > 0) {
    for (const card of cards) {
      const buttons = liveJobButtons(card);
      if (buttons.length === 0) continue;
      liveButtons += 1;
      const which = summaryParents.has(card.ts) ? 'the job\'s card' : "a second copy of the card (the bot never learned its ts)";
      notes.push(`live buttons after the job ended: ${which} ${card.ts} still offers ${buttons.join(', ')}`);
    }
  }
  if (missing.length > 0) notes.push(`missing from thread: ${missing.length} of ${e.ids.length} (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})`);
  return { figures: { doubled, missingFromThread, slackLost, slackDoubled, unknown, contradicted, liveButtons }, notes };
}
