/**
 * Plays Slack's part towards the bot: builds slash-command and block_actions bodies the way Slack
 * does, signs them with the signing secret (v0 HMAC-SHA256 over "v0:<ts>:<body>"), and POSTs them
 * to the bot's /slack/events with exactly the content type Slack uses.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { request } from 'undici';
import type { FakeMessage, FakeSlack } from './fake-slack.js';

export interface DriverReply {
  status: number;
  /** The acknowledgement body: for a slash command, the ephemeral reply the user sees. */
  body: string;
  /** The response_url handed to the bot with this request. */
  responseUrl: string;
  /** A click's trigger_id, which the fake Slack's views.open accepts once. */
  triggerId?: string;
}

export function slackSignatureHeaders(secret: string, rawBody: string, ts = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = 'v0=' + createHmac('sha256', secret).update(`v0:${ts}:${rawBody}`).digest('hex');
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(ts),
    'x-slack-signature': signature,
  };
}

export class SlackDriver {
  constructor(
    private readonly appUrl: string,
    private readonly signingSecret: string,
    private readonly slack: FakeSlack,
    private readonly team = 'T0FAKE',
  ) {}

  async command(user: string, channel: string, text: string): Promise<DriverReply> {
    const responseUrl = this.slack.newResponseUrl();
    const body = new URLSearchParams(slashCommandFields({ user, channel, text, responseUrl, team: this.team })).toString();
    return { ...(await this.post(body)), responseUrl };
  }

  async click(user: string, channel: string, messageTs: string, actionId: string, value: string): Promise<DriverReply> {
    const responseUrl = this.slack.newResponseUrl();
    const triggerId = this.slack.issueTriggerId();
    const payload = blockActionsPayload({ user, channel, messageTs, actionId, value, responseUrl, team: this.team, triggerId });
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    return { ...(await this.post(body)), responseUrl, triggerId };
  }

  /**
   * Delivers an Events API event the way Slack does over HTTP: an `event_callback` envelope as JSON, signed like
   * every request (https://api.slack.com/apis/connections/events-api#receiving-events).
   */
  async event(event: Record<string, unknown>): Promise<Omit<DriverReply, 'responseUrl'>> {
    eventCounter += 1;
    const envelope = {
      token: 'legacy-verification-token',
      team_id: this.team,
      api_app_id: 'A0FAKE',
      event: { event_ts: `${Date.now() / 1000}`, ...event },
      type: 'event_callback',
      event_id: `Ev0FAKE${String(eventCounter).padStart(6, '0')}`,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: this.team, user_id: 'U0BOT', is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
    };
    return this.post(JSON.stringify(envelope), undefined, 'application/json');
  }

  /** The user opens the app's Home tab (https://api.slack.com/events/app_home_opened). */
  async openHome(user: string, tab: 'home' | 'messages' = 'home'): Promise<Omit<DriverReply, 'responseUrl'>> {
    return this.event({ type: 'app_home_opened', user, channel: `D0${user.slice(1)}`, tab });
  }

  /** Clicks the button with `actionId` on a message, using the value the bot put on it. */
  async clickButton(user: string, message: FakeMessage, actionId: string): Promise<DriverReply> {
    const value = findButtonValue(message.blocks, actionId);
    if (value === undefined) throw new Error(`message ${message.ts} has no ${actionId} button`);
    return this.click(user, message.channel, message.ts, actionId, value);
  }

  /** Sends a raw, already built form body, signed now (or with the given timestamp): replays and clock tests. */
  async postRaw(body: string, timestamp?: number): Promise<Omit<DriverReply, 'responseUrl'>> {
    return this.post(body, timestamp);
  }

  /** What the bot answered through a response_url (ephemeral replies to clicks). */
  responsesTo(responseUrl: string): Array<Record<string, unknown>> {
    const id = responseUrl.slice(responseUrl.lastIndexOf('/') + 1);
    return this.slack.responses.filter((r) => r.id === id).map((r) => r.body);
  }

  private async post(body: string, timestamp?: number, contentType?: string): Promise<Omit<DriverReply, 'responseUrl'>> {
    const headers = slackSignatureHeaders(this.signingSecret, body, timestamp);
    const res = await request(`${this.appUrl}/slack/events`, {
      method: 'POST',
      headers: contentType ? { ...headers, 'content-type': contentType } : headers,
      body,
    });
    return { status: res.statusCode, body: await res.body.text() };
  }
}

/** The value of the button with `actionId`, in an actions block or as a section's accessory. */
export function findButtonValue(blocks: unknown[], actionId: string): string | undefined {
  type Button = { action_id?: string; value?: string };
  for (const block of blocks as Array<{ type?: string; elements?: Button[]; accessory?: Button }>) {
    const button = block.type === 'actions' ? block.elements?.find((e) => e.action_id === actionId) : block.type === 'section' && block.accessory?.action_id === actionId ? block.accessory : undefined;
    if (button?.value !== undefined) return button.value;
  }
  return undefined;
}

let eventCounter = 0;

export interface CommandInput {
  user: string;
  channel: string;
  text: string;
  responseUrl: string;
  team: string;
  /** Slack gives every command invocation its own; a replay carries the same one. */
  triggerId?: string;
}

let triggerCounter = 0;

/** A trigger id shaped like Slack's (digits.digits.hex), unique per invocation. */
export function newTriggerId(): string {
  triggerCounter += 1;
  return `${Date.now()}.${triggerCounter}.${randomBytes(8).toString('hex')}`;
}

/** The fields of a slash-command request, as Slack sends them (form body over HTTP, payload in Socket Mode). */
export function slashCommandFields({ user, channel, text, responseUrl, team, triggerId }: CommandInput): Record<string, string> {
  return {
    token: 'legacy-verification-token',
    team_id: team,
    team_domain: 'fake',
    channel_id: channel,
    channel_name: 'ops',
    user_id: user,
    user_name: user.toLowerCase(),
    command: '/reboot',
    text,
    response_url: responseUrl,
    trigger_id: triggerId ?? newTriggerId(),
    api_app_id: 'A0FAKE',
    is_enterprise_install: 'false',
  };
}

export interface ClickInput {
  user: string;
  channel: string;
  messageTs: string;
  actionId: string;
  value: string;
  responseUrl: string;
  team: string;
  /** The interaction's trigger_id (FakeSlack.issueTriggerId), which views.open exchanges. */
  triggerId?: string;
}

/** A block_actions payload for one button click on a channel message. */
export function blockActionsPayload({ user, channel, messageTs, actionId, value, responseUrl, team, triggerId }: ClickInput): Record<string, unknown> {
  return {
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: team },
    api_app_id: 'A0FAKE',
    token: 'legacy-verification-token',
    trigger_id: triggerId ?? '4.5.6',
    team: { id: team, domain: 'fake' },
    enterprise: null,
    is_enterprise_install: false,
    container: { type: 'message', message_ts: messageTs, channel_id: channel, is_ephemeral: false },
    channel: { id: channel, name: 'ops' },
    message: { type: 'message', ts: messageTs, bot_id: 'B0BOT', text: '', blocks: [] },
    state: { values: {} },
    response_url: responseUrl,
    actions: [
      { type: 'button', action_id: actionId, block_id: `approval:${value}`, value, text: { type: 'plain_text', text: actionId }, action_ts: `${Date.now() / 1000}` },
    ],
  };
}
