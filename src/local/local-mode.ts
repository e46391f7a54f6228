/**
 * Local mode: the whole bot in one process with no Slack tokens. A fake Slack workspace and the
 * provider simulators run on loopback; the terminal plays Slack's client. The bot itself is the
 * production code in HTTP mode: commands and clicks reach it as signed HTTP requests.
 */
import { errorMessage } from '../errors.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startBot } from '../app.js';
import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { defaultCatalog, type Catalog } from '../providers/catalog.js';
import { DEFAULT_PROVIDER_TUNING, buildProviders } from '../providers/registry.js';
import { FakeSlack, type FakeMessage, type FakeView } from './fake-slack.js';
import { seedFleet } from './fleet-seed.js';
import { boxed, renderBlocks, type NameBook } from './render.js';
import { SlackDriver, findButtonValue } from './slack-driver.js';
import { startSimulators } from './simulators.js';
import { SHOW_IDS_ACTION } from '../slack/messages.js';

const CHANNEL = 'C0LOCALOPS';
const INCIDENT = 'C0INCIDENTS';
const USERS: Record<string, string> = { alice: 'U0ALICE', bob: 'U0BOB', carol: 'U0CAROL', dave: 'U0DAVE' };
const NAMES: NameBook = {
  name: (id) => Object.entries(USERS).find(([, v]) => v === id)?.[0] ?? id,
  channel: (id) => (id === INCIDENT ? 'incidents' : id === CHANNEL ? 'ops' : id),
};

function helpText(catalog: Catalog): string {
  const providers = catalog.descriptors.map(({ info }) => (info.aliases.length > 0 ? `${info.name} (${info.aliases.join(', ')})` : info.name));
  return `Local mode: a fake Slack workspace with simulated clouds. You type as a Slack user.
  /reboot <provider> <region> <ids…> [--force] [--dry-run] [--no-verify | --rolling N] [--reason "…"]
                                run the slash command (the card shows each instance's state first)
  /reboot status|audit <request>, /reboot list [--mine], /reboot regions <provider>
                                look a request up, list recent ones, attach its audit trail, list regions
  /reboot help                  the bot's own usage
  approve [as <user>]           click Approve on the latest open request (default user: bob)
  deny [as <user>]              click Deny on the latest open request
  as <user>                     type commands as another user: alice (requester), bob and carol
                                (approvers), dave (not an approver)
  ids                           click "Show all N ids" on the latest card that has it (over 40 ids)
  home                          open the bot's Home tab: recent requests in your channels
  fleet                         show the simulated instances: names, state, locks, the one that never comes back
  help | quit
Providers: ${providers.join(', ')}`;
}

/** A command that works against the seeded fleet, so the first thing typed can succeed. */
function firstTry(catalog: Catalog): string | undefined {
  for (const { info, local } of catalog.descriptors) {
    const instance = local.fleet.find((i) => i.state === 'running');
    if (instance) return `/reboot ${info.name} ${instance.region} ${instance.id} --reason "try it"`;
  }
  return undefined;
}

export async function runLocalMode(env: NodeJS.ProcessEnv, catalog: Catalog = defaultCatalog): Promise<void> {
  const out = (text: string): void => void process.stdout.write(text + '\n');
  const slack = new FakeSlack();
  await slack.start();
  const providers = catalog.names;
  const sims = await startSimulators({ providers, rebootMs: 3000, catalog });
  out(`Simulated clouds: ${providers.join(', ')}; fleet: type "fleet".`);
  for (const { info, local } of catalog.descriptors) {
    const sim = sims.sims[info.name];
    if (sim) seedFleet(local, sim);
  }
  const signingSecret = randomBytes(24).toString('hex');
  const config = loadConfig(
    {
      ...env,
      ...sims.env,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_SIGNING_SECRET: signingSecret,
      SLACK_API_URL: slack.apiUrl,
      SLACK_APP_TOKEN: '',
      PORT: env.PORT ?? '0',
      REBOOT_APPROVERS: `${USERS.bob},${USERS.carol}`,
      REBOOT_INCIDENT_CHANNEL: INCIDENT,
      REBOOT_DB: env.REBOOT_DB ?? join(mkdtempSync(join(tmpdir(), 'reboot-bot-local-')), 'local.db'),
      // Simulated reboots take 3 s: the machine that never comes back is given up on in 30 s, not 10 minutes.
      REBOOT_VERIFY_TIMEOUT: env.REBOOT_VERIFY_TIMEOUT ?? '30s',
    },
    catalog,
  );
  const logLines: string[] = [];
  const log = createLogger('warn', (line) => {
    logLines.push(line);
    out(`  (bot log) ${terminalLine(line)}`);
  });
  // Simulated jobs finish in seconds, so poll them faster than a real cloud's.
  const tuning = { ...DEFAULT_PROVIDER_TUNING, poll: { initialDelayMs: 1000, maxDelayMs: 2000, timeoutMs: 60_000 }, logger: log };
  const bot = await startBot({ config, providers: buildProviders(config.providers, tuning, catalog), log, catalog });
  const driver = new SlackDriver(bot.url, signingSecret, slack);

  const channelName = (id: string): string => (id === INCIDENT ? '#incidents' : id === CHANNEL ? '#ops' : id);
  slack.on('message', (m: FakeMessage) => {
    const where = m.threadTs ? `${channelName(m.channel)} thread${m.replyBroadcast ? ' (also sent to channel)' : ''}` : channelName(m.channel);
    out(boxed(`rebootbot in ${where}`, renderBlocks(m.blocks, m.text, NAMES)));
  });
  slack.on('update', (m: FakeMessage) => out(boxed(`rebootbot updated its message in ${channelName(m.channel)}`, renderBlocks(m.blocks, m.text, NAMES))));
  slack.on('view', (v: FakeView) => out(boxed(v.method === 'views.open' ? `window: ${v.view.title?.text ?? ''}` : 'Home tab', renderBlocks(v.view.blocks, '', NAMES))));
  // Everyone is in the ops and incident channels, so the Home tab lists what they can see there.
  for (const id of Object.values(USERS)) slack.memberships.set(id, [CHANNEL, INCIDENT]);
  slack.on('response', (r: { body: Record<string, unknown> }) => out(boxed('only visible to you', renderBlocks([], String(r.body.text ?? ''), NAMES))));

  let user = 'alice';
  const help = helpText(catalog);
  out(help);
  const example = firstTry(catalog);
  if (example) out(`\nTry: ${example}`);
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true });
  const prompt = (): void => {
    rl.setPrompt(`${user}> `);
    rl.prompt();
  };
  prompt();

  const latestOpenCard = (): FakeMessage | undefined =>
    slack
      .topLevel(CHANNEL)
      .reverse()
      .find((m) => findButtonValue(m.blocks, 'reboot_approve') !== undefined);

  const click = async (actionId: string, who: string): Promise<void> => {
    const card = latestOpenCard();
    if (!card) return out('No open request to click on.');
    await driver.clickButton(USERS[who] ?? who, card, actionId);
  };

  for await (const raw of rl) {
    const line = raw.trim();
    try {
      if (line === '' ) {
        // nothing
      } else if (line === 'quit' || line === 'exit') {
        break;
      } else if (line === 'help') {
        out(help);
      } else if (line === 'fleet') {
        for (const name of providers) {
          for (const i of sims.sims[name]?.fleet.all() ?? []) {
            const notes = [i.lockReason ? `locked (${i.lockReason})` : '', i.neverComesBack ? 'never comes back' : ''].filter(Boolean).join(', ');
            out(`  ${name.padEnd(10)} ${i.region.padEnd(12)} ${i.id.padEnd(38)} ${i.name.padEnd(16)} ${i.state.padEnd(9)} reboots: ${i.rebootCount}${notes ? `  ${notes}` : ''}`);
          }
        }
      } else if (line === 'ids') {
        const card = slack.topLevel(CHANNEL).reverse().find((m) => findButtonValue(m.blocks, SHOW_IDS_ACTION) !== undefined);
        if (!card) out('No card with more than 40 ids.');
        else await driver.clickButton(USERS[user] ?? user, card, SHOW_IDS_ACTION);
      } else if (line === 'home') {
        await driver.openHome(USERS[user] ?? user);
      } else if (/^as\s+\w+$/.test(line)) {
        const who = line.split(/\s+/)[1] ?? '';
        if (USERS[who]) user = who;
        else out(`Unknown user ${who}. Users: ${Object.keys(USERS).join(', ')}`);
      } else if (/^(approve|deny)(\s+as\s+\w+)?$/.test(line)) {
        const [verb, , who] = line.split(/\s+/);
        await click(verb === 'approve' ? 'reboot_approve' : 'reboot_deny', who ?? (user === 'alice' ? 'bob' : user));
      } else if (line.startsWith('/reboot')) {
        const reply = await driver.command(USERS[user] ?? user, CHANNEL, line.slice('/reboot'.length).trim());
        const body = parseAck(reply.body);
        if (body) out(boxed('only visible to you', renderBlocks([], body, NAMES)));
      } else {
        out(`Not understood: ${line}. Type help.`);
      }
    } catch (err) {
      out(`error: ${errorMessage(err)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
    prompt();
  }
  out('Stopping…');
  await bot.stop();
  await sims.stop();
  await slack.stop();
}

function parseAck(body: string): string | undefined {
  if (!body) return undefined;
  try {
    const parsed = JSON.parse(body) as { text?: unknown };
    return typeof parsed.text === 'string' ? parsed.text : body;
  } catch {
    return body;
  }
}

/** A JSON log line as a person reads it in the terminal: `warn: message {fields}`, without the timestamp. */
function terminalLine(line: string): string {
  try {
    const { level, msg, time: _time, ...fields } = JSON.parse(line) as Record<string, unknown>;
    const rest = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    return `${String(level)}: ${String(msg)}${rest}`;
  } catch {
    return line;
  }
}
