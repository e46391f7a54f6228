/**
 * `npm run chaos`: kill -9 trials against the real bot process, measured from outside.
 *
 * This process hosts, on loopback only, the in-repo fake Slack, the four provider simulators and a
 * Slack driver that signs slash commands and button clicks. It starts the bot as `npm start` does
 * after the build (`node dist/src/main.js`), SIGKILLs it at a chosen moment of a job, restarts it on
 * the same database and checks what Slack and the clouds saw. Then, unless --no-faults, it runs the
 * Slack fault cases of faults.ts. Exit status 1 when an instance was rebooted twice, an outcome is
 * missing from the thread, a Slack message was lost, a card kept live buttons after its job ended, or a
 * trial could not be run.
 *
 * `--replicas 2` runs every trial on two replicas sharing a fresh PostgreSQL database and a Redis key prefix
 * (replica-services.ts, trial.ts): the replica doing the work is killed and the other must finish the job.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../src/errors.js';
import { FakeSlack } from '../src/local/fake-slack.js';
import { startSimulators } from '../src/local/simulators.js';
import type { ProviderName } from '../src/providers/provider.js';
import { liveBots } from './bot-process.js';
import { parseArgs, USAGE, UsageError, type ChaosOptions } from './cli.js';
import { FAULT_CASES } from './faults.js';
import { applicablePhases, planFaultTrials, planKillTrials } from './plan.js';
import { failing, figuresLine, table, total, trialLine } from './report.js';
import { requireServices, trialServices } from './replica-services.js';
import { Rng } from './rng.js';
import { PHASE_HELP, runTrial, type Lab, type TrialPlan, type TrialResult } from './trial.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Longest a single trial can take given the waits in trial.ts, with margin; the run's watchdog uses it. */
const TRIAL_BUDGET_MS = 150_000;

let tempRoot: string | undefined;
let keepTemp = false;
const labs: Lab[] = [];

/**
 * Synchronous last resort (SIGINT, watchdog, unexpected error): no bot and no temp dir outlive the run. With
 * --replicas 2 the database of the trial under way (reboot_chaos_…) is left behind: dropping it needs a round trip.
 */
function hardStop(code: number, why: string): never {
  console.error(`chaos: ${why}; stopping`);
  for (const child of liveBots) child.kill('SIGKILL');
  if (tempRoot && !keepTemp) rmSync(tempRoot, { recursive: true, force: true });
  process.exit(code);
}

async function startLab(providers: readonly ProviderName[], configFile: string): Promise<Lab> {
  const slack = new FakeSlack();
  await slack.start();
  const sims = await startSimulators({ providers, rebootMs: 100 });
  const lab = { slack, sims, signingSecret: randomBytes(24).toString('hex'), configFile };
  labs.push(lab);
  return lab;
}

async function stopLabs(): Promise<void> {
  await Promise.all(labs.map(async (lab) => Promise.all([lab.slack.stop(), lab.sims.stop()])));
}

/** The bot logs' warnings and errors (bot.log, or bot-A.log and bot-B.log of two replicas), for --verbose on a failing trial. */
function logTail(dir: string): string[] {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /^bot(-[AB])?\.log$/.test(f)).sort() : [];
  return files.flatMap((file) => {
    const lines = readFileSync(join(dir, file), 'utf8')
      .split('\n')
      .filter((l) => /"level":"(warn|error)"|^reboot-bot:/.test(l))
      .slice(-8);
    return files.length > 1 ? lines.map((l) => `${file}: ${l}`) : lines;
  });
}

async function runAll(opts: ChaosOptions, plans: TrialPlan[], root: string): Promise<TrialResult[]> {
  const configFile = join(root, 'config.json');
  writeFileSync(configFile, '{}\n');
  const workers = Math.max(1, Math.min(opts.concurrency, plans.length));
  const queue = [...plans];
  const results: TrialResult[] = [];
  await Promise.all(
    Array.from({ length: workers }, async () => {
      const lab = await startLab(opts.providers, configFile);
      for (let plan = queue.shift(); plan; plan = queue.shift()) {
        const dir = join(root, `trial-${String(plan.index).padStart(3, '0')}`);
        mkdirSync(dir);
        const services = opts.replicas === 2 ? await trialServices() : undefined;
        let result: TrialResult;
        try {
          result = await runTrial(plan, { lab, dir, repoRoot, readyTimeoutMs: 20_000, ...(services ? { replicas: { env: services.env } } : {}) });
        } finally {
          // --keep keeps the trial's database and Redis keys too, named in its directory, for a look afterwards.
          if (services && opts.keep) writeFileSync(join(dir, 'replicas.txt'), `${services.shown}\n`);
          else await services?.release().catch((err: unknown) => console.error(`chaos: could not clean up trial ${plan.index}'s database or Redis keys: ${String(err)}`));
        }
        results.push(result);
        console.log(trialLine(result, opts.verbose));
        if (opts.verbose && (result.error || failing(result.figures))) {
          for (const line of logTail(dir)) console.log(`      bot: ${line.slice(0, 300)}`);
        }
      }
    }),
  );
  return results.sort((a, b) => a.plan.index - b.plan.index);
}

async function main(): Promise<number> {
  let opts: ChaosOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (!err.message) {
      console.log(USAGE);
      return 0;
    }
    console.error(`chaos: ${err.message}`);
    console.error(USAGE);
    return 2;
  }
  if (opts.trials > 0 && applicablePhases(opts.phases, opts.providers).length === 0) {
    console.error(`chaos: none of the phases ${opts.phases.join(', ')} applies to ${opts.providers.join(', ')}`);
    return 2;
  }
  if (!existsSync(join(repoRoot, 'dist', 'src', 'main.js'))) {
    console.error('chaos: dist/src/main.js is missing; run `npm run build` (npm run chaos does)');
    return 2;
  }
  if (opts.replicas === 2) {
    try {
      await requireServices();
    } catch (err) {
      console.error(`chaos: ${errorMessage(err)}`);
      return 2;
    }
  }
  keepTemp = opts.keep;
  tempRoot = mkdtempSync(join(tmpdir(), 'reboot-bot-chaos-'));
  process.once('SIGINT', () => hardStop(130, 'interrupted'));
  process.once('SIGTERM', () => hardStop(143, 'terminated'));

  const rng = new Rng(opts.seed);
  const used = new Set<string>();
  const killPlans = planKillTrials(rng, opts.trials, opts.phases, opts.providers, used);
  const faultPlans = opts.faults ? planFaultTrials(rng, FAULT_CASES, opts.providers, killPlans.length + 1, used) : [];
  const plans = [...killPlans, ...faultPlans];
  const workers = Math.max(1, Math.min(opts.concurrency, plans.length));
  const budgetMs = Math.ceil(plans.length / workers) * TRIAL_BUDGET_MS + 60_000;
  const watchdog = setTimeout(() => hardStop(2, `the run exceeded its time budget of ${Math.round(budgetMs / 1000)} s`), budgetMs);

  console.log(
    `chaos: seed=${opts.seed} kill_trials=${killPlans.length} fault_trials=${faultPlans.length} providers=${opts.providers.join(',')} ` +
      `concurrency=${workers} replicas=${opts.replicas}${opts.keep ? ` dir=${tempRoot}` : ''}`,
  );
  for (const phase of opts.phases) console.log(`  ${phase.padEnd(16)} kill when ${PHASE_HELP[phase]}`);
  if (opts.replicas === 2) {
    console.log(
      '  two replicas per trial: the command goes to one, the click to the other (alternating); the one doing the work ' +
        '(card-posted: the command\'s, else the click\'s) is SIGKILLed and started again only once the survivor has finished the job',
    );
  }
  const started = Date.now();
  let results: TrialResult[];
  try {
    results = await runAll(opts, plans, tempRoot);
  } finally {
    clearTimeout(watchdog);
    await stopLabs();
    if (!opts.keep) rmSync(tempRoot, { recursive: true, force: true });
  }

  const figures = total(results);
  const errors = results.filter((r) => r.error).length;
  console.log('');
  console.log(table(results));
  console.log('');
  console.log(`chaos: ${plans.length} trials in ${((Date.now() - started) / 1000).toFixed(0)} s (seed ${opts.seed}; repeat with --seed ${opts.seed})`);
  if (figures.slackDoubled > 0) {
    console.log(
      `chaos: slack_doubled=${figures.slackDoubled} is reported, not failed: a message Slack accepted just before a kill, ` +
        'whose answer the bot never stored, is sent again (at least once).',
    );
  }
  if (figures.contradicted > 0) console.log(`chaos: contradicted=${figures.contradicted}: a thread line disagrees with what the cloud did (see the notes above).`);
  console.log(figuresLine(killPlans.length, faultPlans.length, figures, errors));
  return failing(figures) || errors > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => hardStop(2, `harness failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
);
