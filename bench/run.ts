/**
 * Benchmarks, run by hand (`npm run bench [instances] [verified-instances]`). Each prints a ratio against the
 * limit that matters: parsing against Slack's 3 s acknowledgement deadline, signing against the rate the limiter
 * allows, a real 500-instance job against the Slack write budget of about 1 message per second per channel, and a
 * verified 1,000-instance job per cloud: its read calls against one per read batch, its traffic against the limiter.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseRebootCommand } from '../commands/reboot.js';
import { DEFAULT_TUNING, startBot } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { FakeSlack } from '../src/local/fake-slack.js';
import { SlackDriver } from '../src/local/slack-driver.js';
import { startSimulators } from '../src/local/simulators.js';
import { silentLogger } from '../src/log.js';
import { sign as signAlibaba } from '../src/providers/alibaba/signer.js';
import { alibaba } from '../src/providers/alibaba/index.js';
import { buildProviders } from '../src/providers/registry.js';
import { sha256Hex } from '../src/providers/signing.js';
import { benchVerification } from './verification.js';

function timeIt(iterations: number, fn: () => void): number {
  for (let i = 0; i < Math.min(100, iterations); i++) fn();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  return (performance.now() - start) / iterations;
}

function benchParse(): void {
  const ids = Array.from({ length: 500 }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`).join(',');
  const text = `alibaba cn-hangzhou ${ids} --force --reason "bench run"`;
  const ctx = { availability: () => 'ready' as const, maxInstances: 500 };
  const ms = timeIt(200, () => parseRebootCommand(text, ctx));
  console.log(`parse 500-id command: ${ms.toFixed(3)} ms; ack deadline 3000 ms → ${(3000 / ms).toFixed(0)}× headroom`);
}

function benchSign(): void {
  const ids = Array.from({ length: 100 }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);
  const query = ids.map((id, i) => [`InstanceId.${i + 1}`, id] as const);
  const ms = timeIt(2000, () =>
    signAlibaba({
      method: 'POST',
      path: '/',
      query,
      headers: { host: 'ecs.cn-hangzhou.aliyuncs.com', 'x-acs-action': 'RebootInstances', 'x-acs-date': '2024-01-01T00:00:00Z' },
      hashedPayload: sha256Hex(''),
      accessKeyId: 'AK',
      accessKeySecret: 'SK',
    }),
  );
  const allowedPerSecond = 1000 / alibaba.info.limits.minTimeMs;
  console.log(`sign a 100-id Alibaba batch: ${ms.toFixed(3)} ms; limiter allows ${allowedPerSecond}/s → ${(1000 / ms / allowedPerSecond).toFixed(0)}× headroom`);
}

async function benchJob(instances: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'reboot-bench-'));
  const slack = new FakeSlack({ channelRateLimitMs: 1000 });
  await slack.start();
  const sims = await startSimulators({ providers: ['alibaba'], rebootMs: 10 });
  const ids = Array.from({ length: instances }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);
  for (const id of ids) sims.sims.alibaba!.fleet.add('cn-hangzhou', id);
  const config = loadConfig({
    ...sims.env,
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: 'bench-secret',
    SLACK_API_URL: slack.apiUrl,
    PORT: '0',
    REBOOT_APPROVERS: 'U0APPROVER',
    REBOOT_DB: join(dir, 'bench.db'),
  });
  // Verification is measured by benchVerification; here only the Slack side counts.
  const bot = await startBot({ config, providers: buildProviders(config.providers), log: silentLogger });
  const driver = new SlackDriver(bot.url, 'bench-secret', slack);
  try {
    await driver.command('U0REQUESTER', 'C0BENCH', `alibaba cn-hangzhou ${ids.join(' ')} --no-verify`);
    while (slack.topLevel('C0BENCH').length === 0) await new Promise((r) => setTimeout(r, 20));
    // Pre-flight's card update goes out before the clock starts.
    await bot.settle(60_000);
    const card = slack.topLevel('C0BENCH')[0]!;
    const isWrite = (c: { method: string }): boolean => c.method === 'chat.postMessage' || c.method === 'chat.update';
    const before = slack.calls.filter(isWrite).length;
    const start = performance.now();
    await driver.clickButton('U0APPROVER', card, 'reboot_approve');
    await bot.settle(300_000);
    const seconds = (performance.now() - start) / 1000;
    // The card was posted (and updated by pre-flight) before the clock started: only the job's own writes count.
    const writes = slack.calls.filter(isWrite).length - before;
    const floor = ((writes - 1) * DEFAULT_TUNING.channelIntervalMs) / 1000;
    console.log(
      `${instances}-instance job: ${seconds.toFixed(1)} s, ${writes} Slack writes (${(instances / writes).toFixed(1)} instances per write), ` +
        `429s from the 1/s limit: ${slack.violations.length}; time / write-budget floor (${floor.toFixed(1)} s) = ${(seconds / floor).toFixed(2)}`,
    );
  } finally {
    await bot.stop();
    await sims.stop();
    await slack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

benchParse();
benchSign();
await benchJob(Number(process.argv[2] ?? 500));
await benchVerification(Number(process.argv[3] ?? 1000));
