/**
 * Starts the real bot in HTTP mode against the fake Slack Web API and the provider simulators, all
 * on loopback, and drives it with signed Slack requests. Nothing of ours is mocked.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBot, type RunningBot, type Tuning } from '../../src/app.js';
import { loadConfig, secretsOf, type Config } from '../../src/config.js';
import { blockTexts, FakeSlack, type FakeMessage, type FakeView } from '../../src/local/fake-slack.js';
import { SlackDriver } from '../../src/local/slack-driver.js';
import { startSimulators, type SimulatorSet } from '../../src/local/simulators.js';
import { registerSecrets, silentLogger, type Logger } from '../../src/log.js';
import type { Catalog } from '../../src/providers/catalog.js';
import type { ProviderName } from '../../src/providers/provider.js';
import { policyContext, PolicyHolder } from '../../src/policy/load.js';
import { defaultCatalog } from '../../src/providers/catalog.js';
import { buildProviders } from '../../src/providers/registry.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

export const CHANNEL = 'C0OPS';
export const INCIDENT = 'C0INCIDENT';
export const REQUESTER = 'U0REQUESTER';
export const APPROVER_1 = 'U0APPROVER1';
export const APPROVER_2 = 'U0APPROVER2';
export const GROUP_MEMBER = 'U0GROUPMEMBER';
export const APPROVER_GROUP = 'S0ONCALL';
export const STRANGER = 'U0STRANGER';
const SIGNING_SECRET = 'test-signing-secret-0123456789';

export const FAST_TUNING: Partial<Tuning> = {
  channelIntervalMs: 20,
  outboxIdleMs: 20,
  expirySweepMs: 50,
  groupCacheMs: 60_000,
  outboxMaxBackoffMs: 200,
  verifyFirstReadMs: 10,
  verifyIntervalMs: 20,
  verifyMaxIntervalMs: 100,
};

export interface HarnessOptions {
  providers: readonly ProviderName[];
  /** The providers the bot knows, when not the built-in ones; `providers` must be in it. */
  catalog?: Catalog;
  env?: Record<string, string>;
  tuning?: Partial<Tuning>;
  slackRateLimitMs?: number;
  rebootMs?: number;
  /** The bot's logger; silent when absent. Its secrets are registered for redaction first, as main.ts does. */
  log?: Logger;
  /** Makes each simulated account a temporary key with this security token (set in the token variables too). */
  securityToken?: string;
  /** Socket Mode instead of HTTP: the app token and the WebSocket URL apps.connections.open hands out. */
  socketMode?: { appToken: string; url: string };
  /** A policy file's text (YAML or JSON): written to a temporary file that REBOOT_POLICY names. */
  policy?: string;
  /** PostgreSQL instead of the SQLite file (REBOOT_DATABASE_URL): a database the test owns (test/replicas/pg.ts). */
  databaseUrl?: string;
}

export class Harness {
  readonly slack: FakeSlack;
  driver!: SlackDriver;
  bot!: RunningBot;
  /** The configuration the running bot was started with. */
  config!: Config;
  /** The policy in force; `reload()` is what SIGHUP does. */
  policy!: PolicyHolder;
  private readonly dir: string;
  private env: Record<string, string> = {};

  private constructor(
    readonly sims: SimulatorSet,
    private readonly opts: HarnessOptions,
  ) {
    this.slack = new FakeSlack({
      ...(opts.slackRateLimitMs !== undefined ? { channelRateLimitMs: opts.slackRateLimitMs } : {}),
      ...(opts.socketMode ? { appToken: opts.socketMode.appToken } : {}),
    });
    this.slack.socketModeUrl = opts.socketMode?.url;
    this.slack.userGroups.set(APPROVER_GROUP, [GROUP_MEMBER]);
    this.dir = mkdtempSync(join(tmpdir(), 'reboot-bot-test-'));
  }

  static async start(opts: HarnessOptions): Promise<Harness> {
    const sims = await startSimulators({
      providers: opts.providers,
      rebootMs: opts.rebootMs ?? 300,
      ...(opts.securityToken === undefined ? {} : { securityToken: opts.securityToken }),
      ...(opts.catalog ? { catalog: opts.catalog } : {}),
    });
    const h = new Harness(sims, opts);
    await h.slack.start();
    if (opts.policy !== undefined) writeFileSync(h.policyPath, opts.policy);
    h.env = {
      SLACK_BOT_TOKEN: h.slack.botToken,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: h.slack.apiUrl,
      PORT: '0',
      REBOOT_APPROVERS: `${APPROVER_1},${APPROVER_2},${APPROVER_GROUP}`,
      REBOOT_INCIDENT_CHANNEL: INCIDENT,
      REBOOT_DB: join(h.dir, 'reboot-bot.db'),
      REBOOT_VERIFY_TIMEOUT: '10s',
      ...(opts.socketMode ? { SLACK_APP_TOKEN: opts.socketMode.appToken } : {}),
      ...(opts.databaseUrl ? { REBOOT_DATABASE_URL: opts.databaseUrl } : {}),
      ...sims.env,
      ...(opts.policy !== undefined ? { REBOOT_POLICY: h.policyPath } : {}),
      ...opts.env,
    };
    await h.boot();
    return h;
  }

  private async boot(): Promise<void> {
    const { catalog } = this.opts;
    const config = loadConfig(this.env, catalog);
    this.config = config;
    if (this.opts.log) registerSecrets(secretsOf(config));
    const tuning = {
      retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
      timeoutMs: 2000,
      poll: { initialDelayMs: 10, maxDelayMs: 40, timeoutMs: 5000 },
    };
    const providers = buildProviders(config.providers, tuning, catalog);
    // As main.ts does: the policy file is read at start (an invalid one stops it) and reloaded by `policy.reload()`.
    this.policy = new PolicyHolder({
      ...(config.policyPath ? { path: config.policyPath } : {}),
      context: policyContext(config, this.env, catalog ?? defaultCatalog, tuning),
      log: this.opts.log ?? silentLogger,
      onLoaded: (loaded) => registerSecrets(loaded.secrets),
      debounceMs: 20,
    });
    this.bot = await startBot({
      config,
      providers,
      policy: this.policy,
      log: this.opts.log ?? silentLogger,
      tuning: { ...FAST_TUNING, ...this.opts.tuning },
      ...(catalog ? { catalog } : {}),
    });
    this.driver = new SlackDriver(this.bot.url, SIGNING_SECRET, this.slack);
  }

  /**
   * Stops the bot as a crash would leave it (store on disk), then starts a new one on the same
   * database; `env` changes the environment of the new process (a variable set to undefined is removed).
   */
  async restart(whileDown?: (dbPath: string) => void | Promise<void>, env: Record<string, string | undefined> = {}): Promise<void> {
    this.policy.close();
    await this.bot.stop();
    await whileDown?.(this.env.REBOOT_DB as string);
    for (const [name, value] of Object.entries(env)) {
      if (value === undefined) delete this.env[name];
      else this.env[name] = value;
    }
    await this.boot();
  }

  /** The bot's SQLite store, which tests read synchronously; a harness on PostgreSQL has none. */
  get sqlite(): SqliteStore {
    const { store } = this.bot;
    if (!(store instanceof SqliteStore)) throw new Error('this harness runs on PostgreSQL: read h.bot.store, awaiting its answers');
    return store;
  }

  get dbPath(): string {
    return this.env.REBOOT_DB as string;
  }

  /** A file in the test's own temporary directory (removed with it). */
  file(name: string): string {
    return join(this.dir, name);
  }

  /** Where the `policy` option's file is written. */
  get policyPath(): string {
    return this.file('policy.yaml');
  }

  /** Replaces the policy file's text (the bot sees it on `policy.reload()` or through its file watch). */
  writePolicy(text: string): void {
    writeFileSync(this.policyPath, text);
  }

  async stop(): Promise<void> {
    this.policy.close();
    await this.bot.stop();
    await this.slack.stop();
    await this.sims.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The request cards posted in the ops channel, oldest first. */
  cards(): FakeMessage[] {
    return this.slack.topLevel(CHANNEL);
  }

  lastCard(): FakeMessage {
    const card = this.cards().at(-1);
    if (!card) throw new Error('no request card posted');
    return card;
  }

  /** Signed Slack requests to another bot on this harness's workspace (a second replica). */
  driverAt(url: string): SlackDriver {
    return new SlackDriver(url, SIGNING_SECRET, this.slack);
  }

  async request(text: string, user = REQUESTER): Promise<{ reply: string; card: FakeMessage }> {
    const before = this.cards().length;
    const res = await this.driver.command(user, CHANNEL, text);
    if (res.status !== 200) throw new Error(`command answered HTTP ${res.status}`);
    const card = await waitFor(() => (this.cards().length > before ? this.cards().at(-1) : undefined), 'request card');
    // Pre-flight's card update (and a dry run's whole run) lands before the test goes on, so what it asserts next
    // does not race the reads.
    await this.settle();
    return { reply: res.body, card };
  }

  /** The ephemeral text the bot sent back through a click's response_url (it answers after the ack). */
  async replyTo(click: { responseUrl: string }): Promise<string> {
    const body = await waitFor(() => this.driver.responsesTo(click.responseUrl)[0], 'ephemeral reply');
    expectEphemeral(body);
    return String(body.text);
  }

  /** Sends a signed Events API event (an `event_callback` envelope) to the bot; its answer is the ack. */
  async event(event: Record<string, unknown>): Promise<{ status: number; body: string }> {
    return this.driver.event(event);
  }

  /** `user` opens the bot's Home tab; resolves with the view the bot published for it. */
  async openHome(user: string): Promise<FakeView> {
    const before = this.slack.views.length;
    const res = await this.driver.openHome(user);
    if (res.status !== 200) throw new Error(`app_home_opened answered HTTP ${res.status}`);
    return waitFor(() => this.slack.views.slice(before).find((v) => v.method === 'views.publish' && v.userId === user), 'Home tab view');
  }

  /** Waits for the job's run to finish and the outbox to empty. */
  async settle(): Promise<void> {
    await this.bot.settle();
  }
}

export async function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** All visible text of a message: top-level text plus every text inside its blocks. */
export function textOf(message: { text: string; blocks: unknown[] }): string {
  return [message.text, ...blockTexts(message.blocks)].join('\n');
}

export function hasButtons(message: { blocks: unknown[] }): boolean {
  return (message.blocks as Array<{ type?: string }>).some((b) => b.type === 'actions');
}

function expectEphemeral(body: Record<string, unknown>): void {
  if (body.response_type !== 'ephemeral' || body.replace_original !== false) {
    throw new Error(`reply is not an ephemeral addition: ${JSON.stringify(body)}`);
  }
}
