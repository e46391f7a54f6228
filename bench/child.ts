/**
 * The bot under test, in its own process: the real `startBot` (src/app.ts) in HTTP mode with production tuning,
 * configured from the environment the parent hands it (fake Slack and simulators live in the parent). It answers
 * the parent's questions over IPC (bench/ipc.ts).
 */
import { startBot } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { buildProviders } from '../src/providers/registry.js';
import type { ChildAnswer, ChildRequest, JobTimes, Ready } from './ipc.js';

const config = loadConfig(process.env);
const bot = await startBot({ config, providers: buildProviders(config.providers), log: silentLogger });

function send(message: ChildAnswer | Ready): void {
  process.send?.(message);
}

async function answer(request: ChildRequest): Promise<void> {
  switch (request.type) {
    case 'completed-jobs': {
      const jobs: JobTimes[] = (await bot.store.jobsInState('completed')).map((j) => ({
        id: j.id,
        channel: j.channel,
        instances: j.ids.length,
        verify: j.verify,
        decidedAt: j.decidedAt,
        completedAt: j.completedAt,
      }));
      send({ id: request.id, type: 'completed-jobs', jobs });
      return;
    }
    case 'max-rss':
      // resourceUsage().maxRSS is the process's peak resident set, in KiB (https://nodejs.org/api/process.html#processresourceusage).
      send({ id: request.id, type: 'max-rss', bytes: process.resourceUsage().maxRSS * 1024 });
      return;
    case 'settle': {
      const settled = await bot.settle(request.timeoutMs).then(
        () => true,
        () => false,
      );
      send({ id: request.id, type: 'settle', settled });
      return;
    }
    case 'stop':
      // A profiled run (BENCH_CPU_PROF, bench/ipc.ts) only needs the process to exit for V8 to write the profile;
      // a clean stop would first wait for every queued pre-flight read.
      if (!process.env.BENCH_CPU_PROF) await bot.stop();
      send({ id: request.id, type: 'stop' });
      process.exit(0);
  }
}

process.on('message', (raw) => void answer(raw as ChildRequest));
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', url: bot.url });
