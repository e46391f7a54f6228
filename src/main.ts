/** Entry point: configuration → transport (Socket Mode, HTTP, or local mode) → start. */
import { databaseName, startBot } from './app.js';
import { errorMessage } from './errors.js';
import { ConfigError, loadConfig, secretsOf } from './config.js';
import { runLocalMode } from './local/local-mode.js';
import { createLogger, registerSecrets } from './log.js';
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
  if (config.approvers.users.length + config.approvers.groups.length === 0) {
    throw new ConfigError('REBOOT_APPROVERS is empty: nobody could approve a reboot');
  }
  // A credentials file that cannot be read at start throws here, so the bot never starts without its key.
  const providers = buildProviders(config.providers, { ...DEFAULT_PROVIDER_TUNING, logger: log });
  // Last resort: a stray rejection is logged, never allowed to end a process that may be mid-job.
  process.on('unhandledRejection', (reason) => log.error('unhandled rejection', { error: errorMessage(reason) }));
  const bot = await startBot({
    config,
    providers,
    log,
    onLeaseLost: () => {
      // Two writers would report each other's in-flight batches as unknown: the newcomer wins.
      process.stderr.write(`reboot-bot: another process took over ${databaseName(config)}; stopping\n`);
      process.exit(1);
    },
  });
  log.info('reboot-bot started', {
    mode: config.slack.appToken ? 'socket' : 'http',
    url: bot.url,
    providers: Object.keys(providers),
  });
  const shutdown = (signal: string): void => {
    // Bounded (REBOOT_SHUTDOWN_GRACE): nothing new is sent from now on; unfinished jobs resume at the next start.
    log.info('shutting down', { signal, graceMs: config.shutdownGraceMs });
    bot.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`reboot-bot: ${errorMessage(err)}\n`);
  process.exit(1);
});
