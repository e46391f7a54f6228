/** Entry point: configuration → transport (Socket Mode, HTTP, or local mode) → start. */
import { startBot } from './app.js';
import { errorMessage } from './errors.js';
import { ConfigError, loadConfig, secretsOf } from './config.js';
import { runLocalMode } from './local/local-mode.js';
import { createLogger, registerSecrets } from './log.js';
import { policyContext, PolicyHolder } from './policy/load.js';
import { defaultCatalog } from './providers/catalog.js';
import { buildProviders, DEFAULT_PROVIDER_TUNING } from './providers/registry.js';

async function main(): Promise<void> {
  // Configuration first: LOG_LEVEL is part of it, and an invalid value stops the start with its reason.
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  registerSecrets(secretsOf(config));
  if (!config.slack.botToken) {
    await runLocalMode(process.env);
    process.exit(0);
  }
  // With a policy file, each rule names its approvers (and the load refuses a rule nobody could approve).
  if (!config.policyPath && config.approvers.users.length + config.approvers.groups.length === 0) {
    throw new ConfigError('REBOOT_APPROVERS is empty: nobody could approve a reboot');
  }
  // A credentials file that cannot be read at start throws here, so the bot never starts without its key.
  const providers = buildProviders(config.providers, { ...DEFAULT_PROVIDER_TUNING, logger: log });
  // Invalid at start-up stops the start; invalid on reload is logged and the old policy stays (src/policy/load.ts).
  const policy = new PolicyHolder({
    ...(config.policyPath ? { path: config.policyPath } : {}),
    context: policyContext(config, process.env, defaultCatalog, { ...DEFAULT_PROVIDER_TUNING, logger: log }),
    log,
    onLoaded: (loaded) => registerSecrets(loaded.secrets),
  });
  // Last resort: a stray rejection is logged, never allowed to end a process that may be mid-job.
  process.on('unhandledRejection', (reason) => log.error('unhandled rejection', { error: errorMessage(reason) }));
  const bot = await startBot({
    config,
    providers,
    log,
    policy,
    onLeaseLost: (why) => {
      // Two writers would report each other's in-flight batches as unknown: the newcomer wins.
      process.stderr.write(`reboot-bot: ${why}; stopping\n`);
      process.exit(1);
    },
  });
  log.info('reboot-bot started', {
    mode: config.slack.appToken ? 'socket' : 'http',
    url: bot.url,
    providers: Object.keys(providers),
  });
  const shutdown = (signal: string): void => {
    policy.close();
    // Bounded (REBOOT_SHUTDOWN_GRACE): nothing new is sent from now on; unfinished jobs resume at the next start.
    log.info('shutting down', { signal, graceMs: config.shutdownGraceMs });
    bot.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  policy.watch();
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading the policy', { path: config.policyPath ?? null });
    policy.reload();
  });
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`reboot-bot: ${errorMessage(err)}\n`);
  process.exit(1);
});
