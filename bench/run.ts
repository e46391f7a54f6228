/**
 * `npm run bench`: the bot in its own process against a fake Slack that enforces Slack's rate limits and the cloud
 * simulators, every figure against a target from configuration and physics (bench/floors.ts), never from what the
 * bot did. Prints a table and exits non-zero on a MISS only with --strict.
 *
 *   --only acks,busy,clouds   run only these parts (default: all)
 *   --rounds N                bursts of 50 /reboot per app in the ack part (default 30: 1,500 requests each)
 *   --instances N             instances per cloud job (default 1,000)
 *   --big N                   instances of the one-request Alibaba job (default 5,000; 0 skips it)
 *   --providers a,b           clouds of the cloud part (default: all four)
 *   --strict                  exit 1 when any figure misses its target
 */
import { parseArgs } from 'node:util';
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { defaultCatalog } from '../src/providers/catalog.js';
import type { ProviderName } from '../src/providers/provider.js';
import { benchCommandAcks } from './acks.js';
import { benchApproveClicks } from './clicks.js';
import { benchBusyChannels } from './busy.js';
import { benchClouds } from './clouds.js';
import { atMost, type Figure } from './floors.js';
import { BenchChild } from './ipc.js';
import { SIGNING_SECRET } from './stage.js';

/**
 * Peak RSS target. The bot is meant to run in a 512 MiB container (the smallest memory limit worth giving a Node
 * process that holds a 5,000-instance job, REBOOT_MAX_INSTANCES' ceiling, with Bolt, undici and SQLite's page cache).
 */
const RSS_TARGET_MIB = 512;
const PARTS = ['acks', 'busy', 'clouds'] as const;
type Part = (typeof PARTS)[number];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    rounds: { type: 'string', default: '30' },
    instances: { type: 'string', default: '1000' },
    big: { type: 'string', default: '5000' },
    providers: { type: 'string' },
    strict: { type: 'boolean', default: false },
  },
});
const parts = new Set<Part>(values.only ? (values.only.split(',') as Part[]) : PARTS);
for (const p of parts) if (!PARTS.includes(p)) throw new Error(`--only: unknown part "${p}" (parts: ${PARTS.join(', ')})`);
const providers = (values.providers?.split(',') ?? defaultCatalog.names) as ProviderName[];

const figures: Figure[] = [];
const notes: string[] = [];
const rss: number[] = [];
const busiest: number[] = [];
const started = performance.now();
const bare = await BenchChild.start(new URL('./bare-bolt.js', import.meta.url), { SLACK_SIGNING_SECRET: SIGNING_SECRET });
try {
  if (parts.has('acks')) {
    log('ack latency: /reboot bursts against bare Bolt…');
    const r = await benchCommandAcks(bare, Number(values.rounds));
    figures.push(...r.figures);
    rss.push(r.maxRss);
  }
  if (parts.has('busy')) {
    log('approve clicks: rounds of 100 simultaneous clicks against bare Bolt…');
    const clicks = await benchApproveClicks(bare);
    figures.push(...clicks.figures);
    rss.push(clicks.maxRss);
    log('100 concurrent jobs in 100 channels + the incident channel…');
    const r = await benchBusyChannels();
    figures.push(...r.figures);
    notes.push(...r.notes);
    rss.push(r.maxRss);
    busiest.push(r.busiestSecond);
  }
  if (parts.has('clouds')) {
    log(`${values.instances} instances per cloud, verified and --no-verify, and ${values.big} on Alibaba, at once…`);
    const r = await benchClouds(Number(values.instances), Number(values.big), providers);
    figures.push(...r.figures, atMost('cloud jobs: calls answered 429', r.rateLimited, 0));
    notes.push(...r.notes);
    rss.push(r.maxRss);
    busiest.push(r.busiestSecond);
  }
} finally {
  await bare.stop();
}
if (busiest.length > 0) figures.push(atMost('most chat.postMessage to one channel in any 1 s (429s included)', Math.max(...busiest), 1));
if (rss.length > 0) figures.push(atMost('peak RSS of the bot process', Math.round(Math.max(...rss) / 2 ** 20), RSS_TARGET_MIB, ' MiB'));

printTable(figures);
for (const n of notes) console.log(`  · ${n}`);
const misses = figures.filter((f) => f.verdict === 'MISS').length;
console.log(`\n${figures.length - misses} PASS, ${misses} MISS in ${((performance.now() - started) / 1000).toFixed(0)} s on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
if (values.strict && misses > 0) process.exitCode = 1;

function printTable(rows: readonly Figure[]): void {
  const header = ['figure', 'measured', 'target', ''];
  const cells = rows.map((f) => [f.name, f.value, f.target, f.verdict]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
}

function log(text: string): void {
  console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${text}`);
}
