/**
 * A verified reboot of many instances on each cloud, against its simulator, with production polling
 * (first read at once, then 3 s backing off to 15 s) and production rate limits. It prints, per cloud, how
 * many read calls the job made against the floor of one read per `maxDescribe` instances, and whether the
 * traffic the cloud saw kept to the limiter: at most `maxConcurrent` calls in flight, and in any second at most
 * the calls that starts `minTimeMs` apart allow (1000 / minTimeMs, plus the one at the window's edge). Both come
 * from the simulator's own view of the wire, so a read that bypassed the limiter would show.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cloudOf } from '../chaos/clouds.js';
import { Rng } from '../chaos/rng.js';
import { startBot } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { FakeSlack } from '../src/local/fake-slack.js';
import { SlackDriver } from '../src/local/slack-driver.js';
import { startSimulators } from '../src/local/simulators.js';
import { silentLogger } from '../src/log.js';
import { defaultCatalog } from '../src/providers/catalog.js';
import type { ProviderName } from '../src/providers/provider.js';
import { buildProviders } from '../src/providers/registry.js';
import type { SimulatorRequest, SimulatorServer } from '../src/providers/simulator-kit.js';

/** How long one simulated reboot takes: long enough that a first read sees it under way, as on a real cloud. */
const REBOOT_MS = 4000;

interface Traffic {
  starts: number[];
  inFlight: number;
  maxInFlight: number;
  reads: number;
  reboots: number;
}

function watchTraffic(sim: SimulatorServer, provider: ProviderName): Traffic {
  const cloud = cloudOf(provider);
  const traffic: Traffic = { starts: [], inFlight: 0, maxInFlight: 0, reads: 0, reboots: 0 };
  // Huawei's job polls follow a cloud job outside the per-region call limiter; they are not counted here.
  const limited = (req: SimulatorRequest): boolean => !cloud.isJobPoll(req);
  sim.onRequest((req) => {
    if (!limited(req)) return;
    traffic.starts.push(performance.now());
    traffic.inFlight += 1;
    traffic.maxInFlight = Math.max(traffic.maxInFlight, traffic.inFlight);
    if (cloud.isMutating(req)) traffic.reboots += 1;
    else traffic.reads += 1;
  });
  sim.onResponded((req) => {
    if (limited(req)) traffic.inFlight -= 1;
  });
  return traffic;
}

async function verifiedJob(provider: ProviderName, instances: number): Promise<string> {
  const info = defaultCatalog.get(provider)!.info;
  const region = info.regions[0]!;
  const cloud = cloudOf(provider);
  const rng = new Rng(42);
  const ids = Array.from({ length: instances }, () => cloud.newId(rng));
  const dir = mkdtempSync(join(tmpdir(), 'reboot-bench-verify-'));
  const slack = new FakeSlack();
  await slack.start();
  const sims = await startSimulators({ providers: [provider], rebootMs: REBOOT_MS });
  const sim = sims.sims[provider] as SimulatorServer;
  for (const id of ids) sim.fleet.add(region, id);
  const config = loadConfig({
    ...sims.env,
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: 'bench-secret',
    SLACK_API_URL: slack.apiUrl,
    PORT: '0',
    REBOOT_APPROVERS: 'U0APPROVER',
    REBOOT_DB: join(dir, 'bench.db'),
    REBOOT_MAX_INSTANCES: String(Math.max(instances, 500)),
  });
  // Slack is not what this measures: its pacing is taken out so the cloud's limits decide.
  const bot = await startBot({ config, providers: buildProviders(config.providers), log: silentLogger, tuning: { channelIntervalMs: 0 } });
  const driver = new SlackDriver(bot.url, 'bench-secret', slack);
  try {
    await driver.command('U0REQUESTER', 'C0BENCH', `${provider} ${region} ${ids.join(' ')}`);
    await bot.settle(120_000);
    const card = slack.topLevel('C0BENCH')[0]!;
    const traffic = watchTraffic(sim, provider);
    const started = performance.now();
    await driver.clickButton('U0APPROVER', card, 'reboot_approve');
    await bot.settle(30 * 60_000);
    const seconds = (performance.now() - started) / 1000;
    const limits = info.limits;
    const busiest = busiestSecond(traffic.starts);
    const allowed = Math.floor(1000 / limits.minTimeMs) + 1;
    const readFloor = Math.ceil(instances / info.maxDescribe);
    const counts = new Map<string, number>();
    for (const o of bot.store.outcomes(bot.store.jobsInState('completed')[0]?.id ?? '')) counts.set(o.status, (counts.get(o.status) ?? 0) + 1);
    const verdicts = [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
    const within = traffic.maxInFlight <= limits.maxConcurrent && busiest <= allowed;
    return (
      `${provider.padEnd(10)} ${instances} instances in ${seconds.toFixed(1)} s (${verdicts}) · ` +
      `read calls ${traffic.reads} (floor ${readFloor} = ${instances}/${info.maxDescribe}; ratio ${(traffic.reads / readFloor).toFixed(2)}; ${(traffic.reads / instances).toFixed(3)} per instance) · ` +
      `reboot calls ${traffic.reboots} · in flight max ${traffic.maxInFlight} / limit ${limits.maxConcurrent} · ` +
      `busiest second ${busiest} calls / limiter's ${allowed} (${(busiest / allowed).toFixed(2)}) → ${within ? 'within the limiter' : 'OVER THE LIMIT'}`
    );
  } finally {
    await bot.stop();
    await sims.stop();
    await slack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The most call starts inside any one-second window. */
function busiestSecond(starts: readonly number[]): number {
  let most = 0;
  for (let i = 0, j = 0; i < starts.length; i++) {
    while (starts[i]! - starts[j]! >= 1000) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/** Every cloud at once (each has its own simulator, limiter and bot); Baidu's one-id reboot calls take longest. */
export async function benchVerification(instances: number): Promise<void> {
  console.log(`verified ${instances}-instance jobs (reboot takes ${REBOOT_MS / 1000} s in the simulators; production polling)…`);
  const lines = await Promise.all(defaultCatalog.names.map((name) => verifiedJob(name, instances)));
  for (const line of lines) console.log(line);
}
