/**
 * Pure builders of the two views the bot shows outside messages: the modal listing every id of a request
 * (opened by the card's "Show all N ids" button) and the App Home tab listing recent requests. Both stay
 * inside Slack's view limits (https://api.slack.com/reference/surfaces/views): 100 blocks, a modal title of
 * 24 characters, 3,000 characters per section (https://api.slack.com/reference/block-kit/blocks), and
 * views.open's 250 kB per view (view_too_large, https://api.slack.com/methods/views.open#errors).
 */
import type { types } from '@slack/bolt';
import type { Job, JobState, Tally } from '../domain/job.js';
import type { JobOutcome } from '../domain/outcome.js';
import { stateText, type Preflight } from '../domain/preflight.js';
import type { Catalog } from '../providers/catalog.js';
import type { JobSummary } from '../store/contract.js';
import { ageText } from './command-replies.js';
import { codeName, escapeMrkdwn, plural, providerLabel, STATUS_WORDS, tallyText, truncate } from './messages.js';

type KnownBlock = types.KnownBlock;

export const VIEW_BLOCK_LIMIT = 100;
export const MODAL_TITLE_LIMIT = 24;
export const SECTION_TEXT_LIMIT = 3000;
/** views.open and views.publish refuse a view above 250 kB. */
export const VIEW_BYTES_LIMIT = 250_000;
/** What the id lines of a modal may cost in JSON bytes: the rest of the view (head, block structure) fits in the difference. */
const ID_LINES_BYTES_BUDGET = 225_000;
/** Blocks a modal keeps for its head and the note on ids left out. */
const MODAL_HEAD_BLOCKS = 3;
const FENCE = '```';

export const STATE_LABELS: Record<JobState, string> = {
  pending: ':hourglass_flowing_sand: waiting for approval',
  approved: ':white_check_mark: approved, starting',
  running: ':arrows_counterclockwise: running',
  completed: ':checkered_flag: finished',
  denied: ':no_entry: denied',
  expired: ':hourglass: expired',
  cancelled: ':no_entry_sign: cancelled',
};

function section(text: string): KnownBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: truncate(text, SECTION_TEXT_LIMIT) } };
}

function context(text: string): KnownBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: truncate(text, SECTION_TEXT_LIMIT) }] };
}

/** An outcome in a few words: the verdict, and a failure's code. */
function outcomeWords(outcome: JobOutcome): string {
  return outcome.status === 'failed' ? `${STATUS_WORDS.failed}: ${outcome.code}` : STATUS_WORDS[outcome.status];
}

/** One id in the modal's code blocks: id, the name and state pre-flight read, and the outcome once there is one. */
export function idLine(id: string, preflight: Preflight, outcome: JobOutcome | undefined): string {
  const reading = preflight.readings.get(id);
  const name = reading?.found && reading.name ? `  ${codeName(reading.name)}` : '';
  const result = outcome ? `  → ${codeName(outcomeWords(outcome))}` : '';
  return `${id}${name}  ${codeName(stateText(reading))}${result}`;
}

/** What a line adds to the view's JSON: its characters as JSON encodes them, and the line break joining it. */
function lineBytes(line: string): number {
  return Buffer.byteLength(JSON.stringify(line)) - 2 + 2;
}

/** Lines packed into code-block section texts within every limit; `shown` counts the lines that fit. */
function packIds(lines: readonly string[], maxSections: number, bytesBudget: number): { texts: string[]; shown: number } {
  const texts: string[] = [];
  let body: string[] = [];
  let chars = 0;
  let bytes = 0;
  let shown = 0;
  const room = SECTION_TEXT_LIMIT - 2 * FENCE.length;
  for (const line of lines) {
    const cost = lineBytes(line);
    if (bytes + cost > bytesBudget) break;
    if (body.length > 0 && chars + line.length + 1 > room) {
      if (texts.length + 1 >= maxSections) break;
      texts.push(FENCE + body.join('\n') + FENCE);
      body = [];
      chars = 0;
    }
    // A single line longer than a section cannot happen: ids are short and names are cut (codeName).
    body.push(line);
    chars += line.length + 1;
    bytes += cost;
    shown += 1;
  }
  if (body.length > 0) texts.push(FENCE + body.join('\n') + FENCE);
  return { texts, shown };
}

export interface InstancesModalInput {
  job: Job;
  preflight: Preflight;
  outcomes: readonly JobOutcome[];
  tally?: Tally;
  catalog: Catalog;
}

/**
 * Every id of a request with its pre-flight state and name and, once run, its outcome, in code blocks. A list
 * too long for one view (100 blocks, 250 kB) shows what fits and says where the rest is: `/reboot audit`.
 */
export function instancesModal({ job, preflight, outcomes, tally, catalog }: InstancesModalInput): types.ModalView {
  const byId = new Map(outcomes.map((o) => [o.id, o]));
  const lines = job.ids.map((id) => idLine(id, preflight, byId.get(id)));
  const { texts, shown } = packIds(lines, VIEW_BLOCK_LIMIT - MODAL_HEAD_BLOCKS, ID_LINES_BYTES_BUDGET);
  const head = [
    `*${plural(job.ids.length, 'instance')}* on ${providerLabel(job, catalog)} \`${job.region}\` · request \`${job.id}\` · ${STATE_LABELS[job.state]}`,
    ...(tally && outcomes.length > 0 ? [tallyText(tally, job)] : []),
  ].join('\n');
  const legend =
    preflight.checkedAt === null && preflight.readings.size === 0
      ? 'Each line: id and state. The instances are still being read; their names and states follow.'
      : `Each line: id, name, state when requested${outcomes.length > 0 ? ', outcome' : ''}.`;
  const blocks: KnownBlock[] = [section(head), context(legend), ...texts.map(section)];
  if (shown < job.ids.length) {
    blocks.push(
      section(
        `:warning: ${shown} of ${job.ids.length} ids fit in one Slack window; ${job.ids.length - shown} more are not shown. ` +
          `Type \`/reboot audit ${job.id}\` for the full list.`,
      ),
    );
  }
  return {
    type: 'modal',
    title: { type: 'plain_text', text: truncate(`Ids of ${job.id}`, MODAL_TITLE_LIMIT) },
    close: { type: 'plain_text', text: 'Close' },
    blocks,
  };
}

// ---- App Home ------------------------------------------------------------------------------------

/** How many requests the Home tab lists. */
export const HOME_RECENT_LIMIT = 20;

export interface HomeInput {
  jobs: readonly JobSummary[];
  /** Null when the user's channels were read; else why not (the list then holds only the user's own requests). */
  channelsUnreadable: string | null;
  now: number;
  catalog: Catalog;
}

function requestLine(job: JobSummary, now: number, catalog: Catalog): string {
  // https://api.slack.com/reference/surfaces/formatting#date-formatting: {ago} renders relative to the reader's clock.
  const age = `<!date^${Math.floor(job.createdAt / 1000)}^{ago}|${ageText(now - job.createdAt)}>`;
  return (
    `${STATE_LABELS[job.state]} · \`${job.id}\` · ${escapeMrkdwn(providerLabel(job, catalog))} \`${escapeMrkdwn(job.region)}\` · ${plural(job.instances, 'instance')}\n` +
    `requested by <@${job.requester}> in <#${job.channel}> · ${age}`
  );
}

/** The Home tab: the user's recent requests and those of the channels they are in, newest first. */
export function homeView({ jobs, channelsUnreadable, now, catalog }: HomeInput): types.HomeView {
  const scope =
    channelsUnreadable === null
      ? `The last ${HOME_RECENT_LIMIT} reboot requests in the channels you are in, and your own, newest first.`
      : `:warning: Your channels could not be read from Slack (${escapeMrkdwn(truncate(channelsUnreadable, 100))}), so only your own requests are shown. Reopen this tab to try again.`;
  const blocks: KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: 'Recent reboot requests' } }, context(scope)];
  if (jobs.length === 0) blocks.push(section('_No reboot requests yet._ Type `/reboot help` in a channel to start.'));
  for (const job of jobs.slice(0, HOME_RECENT_LIMIT)) blocks.push({ type: 'divider' }, section(requestLine(job, now, catalog)));
  return { type: 'home', blocks };
}
