/**
 * One crash trial against the real bot process: seed a fleet, ask for a reboot, approve it, SIGKILL
 * the bot at the trial's phase, restart it on the same database, wait for the job to finish, and
 * measure from outside. A fault trial is the same without the kill, with a fault armed instead.
 *
 * With two replicas (TrialContext.replicas) the command goes to one and the click to the other
 * (plan.ts replicaRoles), the replica doing the work is killed and NOT restarted until the job is over:
 * the survivor must finish it alone. Then the victim is started again and the thread must stay quiet.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FakeMessage, FakeSlack } from '../src/local/fake-slack.js';
import { SlackDriver, findButtonValue } from '../src/local/slack-driver.js';
import type { SimulatorSet } from '../src/local/simulators.js';
import type { ProviderName } from '../src/providers/provider.js';
import { SimulatorServer, type SimulatorRequest } from '../src/providers/simulator-kit.js';
import { BotProcess } from './bot-process.js';
import { cloudOf } from './clouds.js';
import { replicaRoles, type ReplicaRoles } from './plan.js';
import type { Disarm, FaultCase } from './faults.js';
import { cardsOf, incidentNotices, isSummary, liveJobButtons, measure, threadOf, visibleText, ZERO, type Figures } from './observe.js';
import { expectSoon, poll, sleep, within } from './wait.js';

export const PHASES = ['card-posted', 'mid-approval', 'batch-in-flight', 'cloud-answered', 'verifying', 'outbox-draining', 'huawei-polling'] as const;
export type Phase = (typeof PHASES)[number];

export const PHASE_HELP: Record<Phase, string> = {
  'card-posted': 'the card reached Slack (at once, or a moment later), before any approval',
  'mid-approval': "the approver's click was sent (a few ms later, or when its ack arrives)",
  'batch-in-flight': 'the simulator holds the reboot request; afterwards it either acts on it or drops it',
  'cloud-answered': 'the simulator has written its answer to the reboot request',
  verifying: 'the cloud has answered the reboot and the first read that watches the instances come back arrives',
  'outbox-draining': "Slack received the job's first thread reply (at once, or up to 1.5 s later)",
  'huawei-polling': "the Huawei job was accepted and the bot's first job poll arrives",
};

export const APPROVE = 'reboot_approve';
export const REQUESTER = 'U0CHAOSREQ';
export const APPROVER = 'U0CHAOSAPPROVER';

export interface TrialPlan {
  index: number;
  provider: ProviderName;
  region: string;
  ids: string[];
  /** Ids seeded as stopped: the cloud refuses them (a failed line, no reboot). */
  stopped: string[];
  /** A kill trial's phase; undefined for a fault trial. */
  phase?: Phase;
  fault?: FaultCase;
  /** Milliseconds between the triggering event and SIGKILL (0: inside the event itself). */
  killDelayMs: number;
  /** mid-approval: kill when the click's ack arrives rather than killDelayMs after sending it. */
  killOnAck: boolean;
  /** batch-in-flight: once the bot is dead, the held request is handled (the cloud acts) or dropped unhandled. */
  heldActs: boolean;
}

export interface TrialResult {
  plan: TrialPlan;
  figures: Figures;
  notes: string[];
  /** What triggered the kill, if it happened. */
  killed?: string;
  /** The summary and the incident 'completed' notice arrived before the deadline. */
  completed: boolean;
  /** The harness could not run the trial (the bot did not start, no card…). */
  error?: string;
  approveClicks: number;
  durationMs: number;
  /** --replicas 2: who got the command and the click, and who was killed. */
  roles?: ReplicaRoles;
}

/** What one worker owns: a fake Slack and the simulators, on loopback. Trials on one lab run one at a time. */
export interface Lab {
  slack: FakeSlack;
  sims: SimulatorSet;
  signingSecret: string;
  /** An empty REBOOT_CONFIG file, so a developer's ./reboot-bot.config.json does not change the runs. */
  configFile: string;
}

export interface TrialContext {
  lab: Lab;
  /** This trial's directory: database and bot log. */
  dir: string;
  repoRoot: string;
  /** Bot start-ups allowed this long to answer /healthz. */
  readyTimeoutMs: number;
  /** Two replicas sharing this environment (database, Redis, replica timeout); absent, one process on SQLite. */
  replicas?: { env: Record<string, string> };
}

const pad = (n: number): string => String(n).padStart(3, '0');

/** Fires SIGKILL once: at once, or after a delay; later triggers are ignored. */
class Killer {
  reason: string | undefined;
  private exit: Promise<void> = Promise.resolve();
  private resolveFired: () => void = () => undefined;
  /** Resolves (true) once SIGKILL has been sent. */
  readonly fired = new Promise<true>((resolve) => {
    this.resolveFired = () => resolve(true);
  });

  constructor(private readonly bot: BotProcess) {}

  trigger(reason: string, delayMs = 0): void {
    if (this.reason !== undefined) return;
    this.reason = delayMs > 0 ? `${reason} +${delayMs}ms` : reason;
    const go = (): void => {
      this.exit = this.bot.killNow();
      this.resolveFired();
    };
    if (delayMs > 0) setTimeout(go, delayMs);
    else go();
  }

  get exited(): Promise<void> {
    return this.exit;
  }
}

export async function runTrial(plan: TrialPlan, ctx: TrialContext): Promise<TrialResult> {
  const started = Date.now();
  const { slack, sims, signingSecret } = ctx.lab;
  const channel = `C0CHAOS${pad(plan.index)}`;
  const incidentChannel = `C0INCID${pad(plan.index)}`;
  const sim = sims.sims[plan.provider];
  if (!(sim instanceof SimulatorServer)) throw new Error(`no simulator for ${plan.provider}`);
  const cloud = cloudOf(plan.provider);
  for (const id of plan.ids) sim.fleet.add(plan.region, id, plan.stopped.includes(id) ? 'stopped' : 'running');
  const mentionsOurs = (req: SimulatorRequest): boolean => plan.ids.some((id) => req.path.includes(id) || req.query.includes(id) || req.body.includes(id));
  const isOurReboot = (req: SimulatorRequest): boolean => cloud.isMutating(req) && mentionsOurs(req);

  const env = {
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_API_URL: slack.apiUrl,
    REBOOT_APPROVERS: APPROVER,
    REBOOT_INCIDENT_CHANNEL: incidentChannel,
    REBOOT_CONFIG: ctx.lab.configFile,
    // The bot logs' level (info by default): REBOOT_CHAOS_LOG_LEVEL=debug when a trial needs a closer look.
    LOG_LEVEL: process.env.REBOOT_CHAOS_LOG_LEVEL ?? 'info',
    ...sims.env,
  };
  const botProcess = (logName: string, own: Record<string, string>): BotProcess =>
    new BotProcess({ cwd: ctx.repoRoot, logFile: join(ctx.dir, logName), readyTimeoutMs: ctx.readyTimeoutMs, env: { ...env, ...own } });
  const replicaMode = ctx.replicas !== undefined;
  const bots: BotProcess[] = ctx.replicas
    ? [botProcess('bot-A.log', ctx.replicas.env), botProcess('bot-B.log', ctx.replicas.env)]
    : [botProcess('bot.log', { REBOOT_DB: join(ctx.dir, 'reboot-bot.db') })];
  // One process plays every role.
  const roles: ReplicaRoles = replicaMode ? replicaRoles(plan.index, plan.phase) : { command: 0, click: 0, victim: 0 };
  const botAt = (replica: 0 | 1 | undefined): BotProcess => bots[replica ?? 0] ?? (bots[0] as BotProcess);
  const commandBot = botAt(roles.command);
  const clickBot = botAt(roles.click);
  const victim = botAt(roles.victim);
  /** The process that serves the trial's clicks from now on: after a kill, the restarted bot or the survivor. */
  let serving = clickBot;
  // A restarted bot listens on a new port, so a driver is made for the process's current URL at each use.
  const driverOf = (bot: BotProcess): SlackDriver => new SlackDriver(bot.url, signingSecret, slack);
  const killer = new Killer(victim);
  /** Watchers for the whole trial; the phase's trigger and the fault have their own lists. */
  const watchers: Disarm[] = [];
  const triggers: Disarm[] = [];
  const faults: Disarm[] = [];
  const notes: string[] = [];
  let jobId = '';
  let completed = false;
  let approveClicks = 0;
  let error: string | undefined;

  // Watching from outside: any reboot request for our ids proves the approval took.
  let rebootRequested = false;
  watchers.push(
    sim.onRequest((req) => {
      if (isOurReboot(req)) rebootRequested = true;
    }),
  );
  let lastActivity = Date.now();
  const onSlack = (m: FakeMessage): void => {
    if (m.channel === channel || m.channel === incidentChannel) lastActivity = Date.now();
  };
  slack.on('message', onSlack);
  slack.on('update', onSlack);
  watchers.push(() => {
    slack.off('message', onSlack);
    slack.off('update', onSlack);
  });

  // The phase's trigger, armed before anything happens so no moment is missed.
  let releaseHeld: (() => void) | undefined;
  const armSlack = (pick: (m: FakeMessage) => boolean, reason: string): void => {
    const listener = (m: FakeMessage): void => {
      if (pick(m)) killer.trigger(reason, plan.killDelayMs);
    };
    slack.on('message', listener);
    triggers.push(() => slack.off('message', listener));
  };
  switch (plan.phase) {
    case 'card-posted':
      armSlack((m) => m.channel === channel && !m.threadTs, 'card received by Slack');
      break;
    case 'outbox-draining':
      armSlack((m) => m.channel === channel && m.threadTs !== undefined, 'first thread reply received by Slack');
      break;
    case 'batch-in-flight':
      triggers.push(
        sim.onRequest((req) => {
          if (killer.reason !== undefined || !isOurReboot(req)) return undefined;
          killer.trigger('reboot request held by the cloud');
          return new Promise<void | 'drop'>((resolve) => {
            releaseHeld = () => resolve(plan.heldActs ? undefined : 'drop');
          });
        }),
      );
      break;
    case 'cloud-answered':
      triggers.push(
        sim.onResponded((req, res) => {
          if (isOurReboot(req)) killer.trigger(`cloud answered ${res.status}`);
        }),
      );
      break;
    case 'huawei-polling':
      triggers.push(
        sim.onRequest((req) => {
          if (cloud.isJobPoll(req)) killer.trigger('first job poll');
        }),
      );
      break;
    case 'verifying': {
      let answered = false;
      triggers.push(
        sim.onResponded((req) => {
          if (isOurReboot(req)) answered = true;
        }),
        sim.onRequest((req) => {
          if (answered && !cloud.isMutating(req) && !cloud.isJobPoll(req) && mentionsOurs(req)) killer.trigger('first verification read');
        }),
      );
      break;
    }
    case 'mid-approval':
    case undefined:
      break;
  }
  const approvedEvidence = (): boolean =>
    rebootRequested ||
    incidentNotices(slack.messages, incidentChannel).approved > 0 ||
    cardsOf(slack.messages, channel).some((c) => c.updates > 0 && findButtonValue(c.blocks, APPROVE) === undefined);
  const violationsBefore = slack.violations.length;
  let faultArmedAt: number | undefined;
  const armFault = (): void => {
    faultArmedAt = Date.now();
    if (plan.fault) faults.push(plan.fault.arm({ slack, sim, provider: plan.provider, region: plan.region, ids: plan.ids }));
  };

  try {
    // Both replicas serve at once (issue 12's core), so each must answer /healthz.
    await Promise.all(bots.map(async (bot) => bot.start()));
    if (plan.fault?.when === 'before-command') armFault();

    const reply = await driverOf(commandBot).command(REQUESTER, channel, `${plan.provider} ${plan.region} ${plan.ids.join(' ')}`);
    if (reply.status !== 200) throw new Error(`/reboot answered HTTP ${reply.status}: ${reply.body.slice(0, 200)}`);
    const card = await expectSoon(() => cardsOf(slack.messages, channel)[0], 'the request card', 15_000);
    jobId = findButtonValue(card.blocks, APPROVE) ?? '';
    if (!jobId) throw new Error('the request card has no Approve button');

    if (plan.phase === 'mid-approval') {
      approveClicks += 1;
      const click = driverOf(clickBot).clickButton(APPROVER, card, APPROVE);
      if (plan.killOnAck) {
        click.then(
          () => killer.trigger('approve click acknowledged'),
          () => killer.trigger('approve click failed'),
        );
      } else {
        click.catch(() => undefined);
        killer.trigger('approve click sent', plan.killDelayMs);
      }
    } else if (plan.phase !== 'card-posted') {
      // Fault trials (no phase) come this way: an 'after-approval' fault is armed at the first click's ack.
      approveClicks += await approveFirstTime(() => driverOf(clickBot), card, approvedEvidence, () => {
        if (plan.fault?.when === 'after-approval') armFault();
      });
    }

    if (plan.phase) {
      const fired = await within(killer.fired, plan.provider === 'huawei' ? 30_000 : 20_000);
      if (fired === undefined) notes.push('the kill trigger never fired; no kill');
      // Nothing more of this trial's kill: the restarted bot runs undisturbed.
      for (const disarm of triggers.splice(0)) disarm();
      if (fired !== undefined) {
        await within(killer.exited.then(() => true), 10_000);
        if (victim.running) throw new Error('the bot survived SIGKILL');
        releaseHeld?.();
        // Give a held request the cloud acts on time to take effect before the bot comes back.
        if (releaseHeld) await sleep(50);
        if (replicaMode) {
          // No restart: the survivor takes the job over alone; the victim comes back once the job is over.
          serving = bots.find((b) => b !== victim) ?? victim;
        } else {
          await victim.start();
          serving = victim;
        }
      }
    }

    // After a kill before the approval, nothing can show it yet: no grace for late notices.
    const graceMs = plan.phase === 'card-posted' ? 0 : 2000;
    approveClicks += await ensureApproved(slack, () => driverOf(serving), channel, jobId, approvedEvidence, graceMs);

    const deadline = plan.provider === 'huawei' ? 60_000 : 40_000;
    completed =
      (await poll(
        () =>
          threadOf(slack.messages, channel).some((m) => isSummary(m, jobId)) &&
          incidentNotices(slack.messages, incidentChannel).completed > 0,
        deadline,
        50,
      )) !== undefined;
    if (!completed) notes.push(`no summary and 'completed' notice within ${deadline / 1000} s`);
    // Late duplicates (a resent reply, a second summary) come within a pacing slot or two.
    await poll(() => Date.now() - lastActivity >= 2500, 10_000, 100);
    if (replicaMode && !victim.running && completed) {
      // Back to two replicas, as the next trial starts with: the returning replica must not redo the ended job.
      await victim.start();
      lastActivity = Date.now();
      await poll(() => Date.now() - lastActivity >= 2500, 10_000, 100);
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    releaseHeld?.();
    for (const disarm of [...triggers, ...faults, ...watchers]) disarm();
    await Promise.all(bots.map(async (bot) => bot.stop()));
  }

  const result: TrialResult = {
    plan,
    figures: ZERO,
    notes,
    completed,
    approveClicks,
    durationMs: Date.now() - started,
    ...(replicaMode ? { roles } : {}),
    ...(killer.reason !== undefined ? { killed: killer.reason } : {}),
    ...(error !== undefined ? { error } : {}),
  };
  if (error !== undefined || !jobId) return result;
  // Not figures, but worth seeing: rules a real workspace enforces, and a card left unfinished.
  // A lab runs one trial at a time, so whatever its fake Slack objected to meanwhile is this trial's.
  for (const v of slack.violations.slice(violationsBefore)) notes.push(`Slack rule broken: ${v}`);
  if (completed && !cardsOf(slack.messages, channel).some((c) => c.text.includes(': finished'))) notes.push('no card shows the job finished');
  if (plan.fault && faultArmedAt !== undefined) notes.push(faultHits(slack, [channel, incidentChannel], faultArmedAt));
  const rebootCounts = new Map(plan.ids.map((id) => [id, sim.fleet.get(plan.region, id)?.rebootCount ?? 0]));
  // What the trial's channels show, beside the bot logs (kept with --keep): the evidence behind a failing figure.
  writeFileSync(join(ctx.dir, 'slack.txt'), slackTranscript(slack.messages, [channel, incidentChannel], rebootCounts));
  const m = measure({ jobId, ids: plan.ids, channel, incidentChannel, messages: slack.messages, rebootCounts });
  return { ...result, figures: m.figures, notes: [...notes, ...m.notes] };
}

/** The bot's answer to a click on a card whose ts it has not stored yet (src/slack/listeners.ts 'card-unconfirmed'). */
const STILL_POSTING = 'is still being posted';

/**
 * The approval click of a run phase. The card is in Slack before the bot has stored its ts, and a click in between
 * is refused ("still being posted", nothing changed); with two replicas the card's poster and the click's taker
 * differ, so that window includes a database round trip. As a person would, click again. Returns the clicks made.
 */
async function approveFirstTime(driver: () => SlackDriver, card: FakeMessage, evidence: () => boolean, onFirstAck: () => void): Promise<number> {
  for (let clicks = 1; ; clicks += 1) {
    const ack = await driver().clickButton(APPROVER, card, APPROVE);
    if (ack.status !== 200) throw new Error(`approve click answered HTTP ${ack.status}`);
    if (clicks === 1) onFirstAck();
    const refused = (): boolean => driver().responsesTo(ack.responseUrl).some((r) => String(r.text ?? '').includes(STILL_POSTING));
    const answer = await poll(() => (refused() ? 'refused' : evidence() ? 'approved' : undefined), 1500, 20);
    if (answer !== 'refused' || clicks >= 5) return clicks;
    await sleep(100);
  }
}

/**
 * Makes sure the request is approved, as an approver would after a crash: if nothing shows the
 * approval took (no reboot request, no incident notice, the card still has its buttons), click
 * Approve again on the newest card that offers it. Returns the number of clicks made.
 */
async function ensureApproved(
  slack: FakeSlack,
  driver: () => SlackDriver,
  channel: string,
  jobId: string,
  evidence: () => boolean,
  graceMs: number,
): Promise<number> {
  let clicks = 0;
  /** Clicks answered "still being posted": the card's poster died before storing its ts, and it is posted again. */
  let early = 0;
  const deadline = Date.now() + 25_000;
  // A restarted bot may still be delivering the card update and incident notice of an approval it stored.
  if (await poll(evidence, graceMs, 25)) return 0;
  while (Date.now() < deadline) {
    if (evidence()) return clicks;
    const open = cardsOf(slack.messages, channel)
      .filter((c) => findButtonValue(c.blocks, APPROVE) === jobId)
      .at(-1);
    if (!open || clicks - early >= 5) {
      await sleep(100);
      continue;
    }
    clicks += 1;
    const click = await driver()
      .clickButton(APPROVER, open, APPROVE)
      .catch(() => undefined);
    if (!click) continue;
    const answer = await poll(
      () => (evidence() ? 'approved' : driver().responsesTo(click.responseUrl).map((r) => String(r.text ?? ''))[0]),
      3000,
      25,
    );
    if (answer === 'approved' || answer?.includes('already approved')) return clicks;
    if (answer?.includes(STILL_POSTING)) {
      // Not a lost click: wait for the card to be stored (after a kill, reposted by the survivor or the restart).
      early += 1;
      await sleep(500);
    }
  }
  throw new Error(`the approval of ${jobId} never took`);
}

/** Which Slack errors the trial's channels met once the fault was armed: proof that the fault bit. */
function faultHits(slack: FakeSlack, channels: readonly string[], since: number): string {
  const counts = new Map<string, number>();
  for (const call of slack.calls) {
    if (call.at < since || call.error === undefined || !channels.includes(String(call.args.channel))) continue;
    const key = `${call.method} ${call.error}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (counts.size === 0) return 'the fault met no Slack call of this trial';
  return `Slack errors met: ${[...counts].map(([k, n]) => `${k} ×${n}`).join(', ')}`;
}

/** The trial's channels as a reader sees them, with each card's live buttons, and the cloud's reboot counts. */
function slackTranscript(messages: readonly FakeMessage[], channels: readonly string[], rebootCounts: ReadonlyMap<string, number>): string {
  const lines = messages
    .filter((m) => channels.includes(m.channel))
    .map((m) => {
      const where = m.threadTs ? `${m.channel} thread ${m.threadTs}` : `${m.channel} ${m.ts} (updates ${m.updates}, buttons ${liveJobButtons(m).join(',') || 'none'})`;
      return `--- ${where}\n${visibleText(m)}`;
    });
  return [...lines, `--- reboot counts: ${[...rebootCounts].map(([id, n]) => `${id}=${n}`).join(' ')}`, ''].join('\n');
}
