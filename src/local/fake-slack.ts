/**
 * An in-repo fake of the Slack Web API and of response_url endpoints, on loopback. Local mode
 * renders what it receives; the tests assert on it. It enforces the cheap rules real Slack has
 * (block limits, thread parents, who may update a message, an optional 1 msg/s per channel) so
 * that bot bugs surface here rather than in a workspace.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../net/read-body.js';
import { SlackRateLimiter, type SlackLimits } from './slack-limits.js';

export interface FakeMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  text: string;
  blocks: unknown[];
  replyBroadcast: boolean;
  /** Number of chat.update calls applied to it. */
  updates: number;
  /** Files shared by this message (files.completeUploadExternal). */
  fileIds?: string[];
  /** The message's metadata as posted (https://api.slack.com/metadata). */
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

/** Every `text` string inside Block Kit blocks, in order: what a reader of the message sees. */
export function blockTexts(blocks: readonly unknown[]): string[] {
  const parts: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'text' && typeof v === 'string') parts.push(v);
        else walk(v);
      }
    }
  };
  walk(blocks);
  return parts;
}

export interface FakeCall {
  method: string;
  args: Record<string, unknown>;
  at: number;
  /** The error Slack answered with, if any. */
  error?: string;
}

/** A file shared through files.getUploadURLExternal, the upload and files.completeUploadExternal. */
export interface FakeFile {
  id: string;
  filename: string;
  title: string;
  /** The bytes uploaded, as UTF-8 text. */
  content: string;
  channel?: string;
  threadTs?: string;
}

export interface FakeResponse {
  id: string;
  body: Record<string, unknown>;
}

/** A view the bot opened (views.open) or published (views.publish), as Slack accepted it. */
export interface FakeView {
  method: 'views.open' | 'views.publish';
  /** views.open: the trigger it exchanged; views.publish: the user whose Home tab it is. */
  triggerId?: string;
  userId?: string;
  view: { type: string; title?: { text: string }; blocks: unknown[] };
}

/** A trigger_id lives 3 seconds and is exchanged once (https://api.slack.com/interactivity/handling#modal_responses). */
export const TRIGGER_TTL_MS = 3000;
/** https://api.slack.com/reference/surfaces/views: 100 blocks; a modal's title, close and submit at most 24 characters. */
const VIEW_BLOCK_LIMIT = 100;
const VIEW_TITLE_LIMIT = 24;
/** views.open and views.publish answer view_too_large above 250 kB (https://api.slack.com/methods/views.open#errors). */
const VIEW_BYTES_LIMIT = 250_000;

export type FakeFault = { status: 429; retryAfter: number } | { status: 500 } | { error: string };

export interface FakeSlackOptions {
  botToken?: string;
  /** The app-level token (xapp-) accepted by apps.connections.open. */
  appToken?: string;
  /** When set, a second chat.postMessage/update to one channel within this many ms gets a 429. */
  channelRateLimitMs?: number;
  /**
   * Slack's rate limits (src/local/slack-limits.ts: SLACK_LIMITS): 1 chat.postMessage per second per channel and
   * the per-method tiers, answered with 429 and Retry-After. Off by default so unit tests stay permissive.
   */
  slackLimits?: SlackLimits;
}

export class FakeSlack extends EventEmitter {
  readonly botToken: string;
  readonly messages: FakeMessage[] = [];
  readonly calls: FakeCall[] = [];
  readonly responses: FakeResponse[] = [];
  /** Files whose upload was completed, in order. */
  readonly files: FakeFile[] = [];
  /** Files granted an upload URL and not yet completed: id → name, declared length and the bytes received. */
  private readonly uploads = new Map<string, { filename: string; length: number; content?: Buffer }>();
  private fileCounter = 0;
  /** Rule breaks a real workspace would have rejected or silently mangled; tests expect none. */
  readonly violations: string[] = [];
  readonly userGroups = new Map<string, string[]>();
  readonly faults = new Map<string, FakeFault[]>();
  /** Channels the bot is not a member of: posting there fails with not_in_channel. */
  readonly channelsWithoutBot = new Set<string>();
  /** Archived channels: posting or updating there fails with is_archived. */
  readonly archivedChannels = new Set<string>();
  /** While true, every call with the bot token is answered token_revoked (an uninstalled app). */
  tokenRevoked = false;
  /**
   * While true, every Web API call is answered HTTP 503, as during a Slack incident (https://slack-status.com):
   * the request was not carried out and may be tried again.
   */
  outage = false;
  /** How long each Web API answer is held back, as a slow Slack would (the call's `at` is its arrival). */
  answerDelayMs = 0;
  /** WebSocket URL handed out by apps.connections.open, for a Socket Mode test server. */
  socketModeUrl: string | undefined;
  /** Views Slack accepted, in order (views.open and views.publish). */
  readonly views: FakeView[] = [];
  /** The channels each user is a member of, for users.conversations. */
  readonly memberships = new Map<string, string[]>();
  /** Trigger ids handed to interactions (issueTriggerId): when, and whether views.open exchanged it. */
  private readonly triggers = new Map<string, { at: number; exchanged: boolean }>();
  private triggerCounter = 0;
  private readonly lastWrite = new Map<string, number>();
  private readonly limiter: SlackRateLimiter | undefined;
  private server: Server | undefined;
  private baseUrl = '';
  private tsCounter = 0;
  private responseCounter = 0;

  constructor(private readonly options: FakeSlackOptions = {}) {
    super();
    this.botToken = options.botToken ?? 'xoxb-fake-bot-token';
    this.limiter = options.slackLimits ? new SlackRateLimiter(options.slackLimits) : undefined;
  }

  /** Calls answered 429 (an injected fault or a rate limit). */
  rateLimitedCalls(): FakeCall[] {
    return this.calls.filter((c) => c.error === 'ratelimited');
  }

  get url(): string {
    return this.baseUrl;
  }

  get apiUrl(): string {
    return `${this.baseUrl}/api/`;
  }

  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** A trigger_id for one interaction payload, shaped like Slack's; views.open accepts it once, within TRIGGER_TTL_MS. */
  issueTriggerId(): string {
    this.triggerCounter += 1;
    const id = `${Date.now()}.${this.triggerCounter}.${this.triggerCounter.toString(16).padStart(12, '0')}`;
    this.triggers.set(id, { at: Date.now(), exchanged: false });
    return id;
  }

  /** The newest Home tab view published for `user`. */
  homeViewOf(user: string): FakeView | undefined {
    return this.views.filter((v) => v.method === 'views.publish' && v.userId === user).at(-1);
  }

  newResponseUrl(): string {
    this.responseCounter += 1;
    return `${this.baseUrl}/response/${this.responseCounter}`;
  }

  injectFault(method: string, fault: FakeFault): void {
    const list = this.faults.get(method) ?? [];
    list.push(fault);
    this.faults.set(method, list);
  }

  topLevel(channel?: string): FakeMessage[] {
    return this.messages.filter((m) => !m.threadTs && (channel === undefined || m.channel === channel));
  }

  thread(parentTs: string): FakeMessage[] {
    return this.messages.filter((m) => m.threadTs === parentTs);
  }

  message(channel: string, ts: string): FakeMessage | undefined {
    return this.messages.find((m) => m.channel === channel && m.ts === ts);
  }

  callsTo(method: string): FakeCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith('/upload/')) {
      await this.onUpload(path.slice('/upload/'.length), req, res);
      return;
    }
    const raw = await readBody(req);
    if (path.startsWith('/response/')) {
      this.onResponse(path.slice('/response/'.length), raw, res);
      return;
    }
    if (!path.startsWith('/api/')) {
      send(res, 404, { ok: false, error: 'not_found' });
      return;
    }
    const method = path.slice('/api/'.length);
    const args = parseArgs(req.headers['content-type'] ?? '', raw);
    const auth = req.headers.authorization ?? '';
    const call: FakeCall = { method, args, at: Date.now() };
    this.calls.push(call);
    const appCall = method === 'apps.connections.open';
    const expected = appCall ? this.options.appToken : this.botToken;
    if (!expected || (auth !== `Bearer ${expected}` && (args.token as string | undefined) !== expected)) {
      call.error = 'invalid_auth';
      send(res, 200, { ok: false, error: 'invalid_auth' });
      return;
    }
    if (this.outage) {
      call.error = 'http_503';
      send(res, 503, { ok: false, error: 'service_unavailable' });
      return;
    }
    if (this.tokenRevoked && !appCall) {
      call.error = 'token_revoked';
      send(res, 200, { ok: false, error: 'token_revoked' });
      return;
    }
    const fault = this.faults.get(method)?.shift();
    if (fault) {
      if ('error' in fault) {
        call.error = fault.error;
        send(res, 200, { ok: false, error: fault.error });
      } else if (fault.status === 429) {
        call.error = 'ratelimited';
        send(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(fault.retryAfter) });
      } else {
        call.error = 'http_500';
        send(res, 500, { ok: false, error: 'internal_error' });
      }
      return;
    }
    const channel = typeof args.channel === 'string' ? args.channel : typeof args.channel_id === 'string' ? args.channel_id : undefined;
    const limited = this.limiter?.admit(method, channel, Date.now());
    if (limited) {
      call.error = 'ratelimited';
      this.violations.push(`rate limit: ${limited.rule}`);
      send(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(limited.retryAfterS) });
      return;
    }
    if (this.options.channelRateLimitMs && channel && (method === 'chat.postMessage' || method === 'chat.update')) {
      const last = this.lastWrite.get(channel);
      const now = Date.now();
      if (last !== undefined && now - last < this.options.channelRateLimitMs) {
        call.error = 'ratelimited';
        this.violations.push(`rate limit: ${method} to ${channel} ${now - last}ms after the previous write`);
        send(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': '1' });
        return;
      }
      this.lastWrite.set(channel, now);
    }
    if (this.answerDelayMs > 0) await new Promise((r) => setTimeout(r, this.answerDelayMs));
    const answer = this.api(method, args);
    if (answer.ok === false) call.error = String(answer.error);
    send(res, 200, answer);
  }

  private api(method: string, args: Record<string, unknown>): Record<string, unknown> {
    switch (method) {
      case 'apps.connections.open':
        return this.socketModeUrl ? { ok: true, url: this.socketModeUrl } : { ok: false, error: 'socket_mode_not_enabled' };
      case 'auth.test':
        return { ok: true, url: 'https://fake.slack.test/', team: 'Fake', user: 'rebootbot', team_id: 'T0FAKE', user_id: 'U0BOT', bot_id: 'B0BOT' };
      case 'chat.postMessage':
        return this.postMessage(args);
      case 'chat.update':
        return this.update(args);
      case 'conversations.history':
        return this.history(args);
      case 'chat.postEphemeral':
        return { ok: true, message_ts: this.nextTs() };
      case 'chat.getPermalink': {
        const m = this.message(String(args.channel), String(args.message_ts));
        if (!m) return { ok: false, error: 'message_not_found' };
        return { ok: true, channel: m.channel, permalink: `https://fake.slack.test/archives/${m.channel}/p${m.ts.replace('.', '')}` };
      }
      case 'usergroups.users.list': {
        const users = this.userGroups.get(String(args.usergroup));
        return users ? { ok: true, users } : { ok: false, error: 'no_such_subteam' };
      }
      case 'users.info':
        return { ok: true, user: { id: args.user, name: String(args.user).toLowerCase(), is_bot: false, deleted: false } };
      case 'conversations.info':
        return { ok: true, channel: { id: args.channel, is_member: true } };
      case 'views.open':
        return this.openView(args);
      case 'views.publish':
        return this.publishView(args);
      case 'users.conversations':
        return this.userConversations(args);
      case 'files.getUploadURLExternal':
        return this.getUploadUrl(args);
      case 'files.completeUploadExternal':
        return this.completeUpload(args);
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private checkBlocks(method: string, args: Record<string, unknown>): string | undefined {
    const blocks = args.blocks;
    if (blocks === undefined) return undefined;
    if (!Array.isArray(blocks)) return 'invalid_blocks_format';
    if (typeof args.text !== 'string' || args.text.length === 0) this.violations.push(`${method}: blocks without top-level text`);
    return blockProblem(blocks, 50) === undefined ? undefined : 'invalid_blocks';
  }

  // ---- views: https://api.slack.com/methods/views.open , views.publish ----------------------------

  /** The view argument, checked as Slack checks it; an error code, or the view. */
  private checkView(method: FakeView['method'], args: Record<string, unknown>, type: 'modal' | 'home'): { error: string } | { view: FakeView['view'] } {
    const refuse = (error: string, why: string): { error: string } => {
      this.violations.push(`${method}: ${why}`);
      return { error };
    };
    let view: unknown = args.view;
    if (typeof view === 'string') {
      if (Buffer.byteLength(view) > VIEW_BYTES_LIMIT) return refuse('view_too_large', `view of ${Buffer.byteLength(view)} bytes`);
      try {
        view = JSON.parse(view) as unknown;
      } catch {
        return refuse('invalid_arguments', 'view is not JSON');
      }
    } else if (Buffer.byteLength(JSON.stringify(view ?? null)) > VIEW_BYTES_LIMIT) {
      return refuse('view_too_large', 'view above 250 kB');
    }
    if (!view || typeof view !== 'object') return refuse('invalid_arguments', 'no view');
    const v = view as { type?: unknown; title?: { type?: unknown; text?: unknown }; close?: { text?: unknown }; submit?: { text?: unknown }; blocks?: unknown };
    if (v.type !== type) return refuse('invalid_arguments', `view type ${String(v.type)}, expected ${type}`);
    if (!Array.isArray(v.blocks)) return refuse('invalid_arguments', 'view without blocks');
    if (type === 'modal') {
      if (v.title?.type !== 'plain_text' || typeof v.title.text !== 'string' || v.title.text.length === 0) return refuse('invalid_arguments', 'modal without a plain_text title');
      for (const [name, element] of [['title', v.title], ['close', v.close], ['submit', v.submit]] as const) {
        if (element !== undefined && typeof element.text === 'string' && element.text.length > VIEW_TITLE_LIMIT) {
          return refuse('invalid_arguments', `${name} of ${element.text.length} characters`);
        }
      }
    }
    const bad = blockProblem(v.blocks, VIEW_BLOCK_LIMIT);
    if (bad) return refuse('invalid_arguments', bad);
    return { view: { type, ...(v.title && typeof v.title.text === 'string' ? { title: { text: v.title.text } } : {}), blocks: v.blocks as unknown[] } };
  }

  private openView(args: Record<string, unknown>): Record<string, unknown> {
    const triggerId = typeof args.trigger_id === 'string' ? args.trigger_id : undefined;
    if (triggerId === undefined) return { ok: false, error: 'invalid_arguments' };
    const trigger = this.triggers.get(triggerId);
    if (!trigger) return { ok: false, error: 'invalid_trigger_id' };
    if (trigger.exchanged) return { ok: false, error: 'exchanged_trigger_id' };
    if (Date.now() - trigger.at > TRIGGER_TTL_MS) return { ok: false, error: 'expired_trigger_id' };
    const checked = this.checkView('views.open', args, 'modal');
    if ('error' in checked) return { ok: false, error: checked.error };
    trigger.exchanged = true;
    this.views.push({ method: 'views.open', triggerId, view: checked.view });
    this.emit('view', this.views.at(-1));
    return { ok: true, view: { id: `V0FAKE${this.views.length}`, ...checked.view } };
  }

  private publishView(args: Record<string, unknown>): Record<string, unknown> {
    const userId = typeof args.user_id === 'string' ? args.user_id : '';
    if (!/^[UW][A-Z0-9]+$/.test(userId)) return { ok: false, error: 'invalid_arguments' };
    const checked = this.checkView('views.publish', args, 'home');
    if ('error' in checked) return { ok: false, error: checked.error };
    this.views.push({ method: 'views.publish', userId, view: checked.view });
    this.emit('view', this.views.at(-1));
    return { ok: true, view: { id: `V0FAKE${this.views.length}`, ...checked.view } };
  }

  /** https://api.slack.com/methods/users.conversations: the user's channels, `limit` (at most 1,000) a page, with a cursor. */
  private userConversations(args: Record<string, unknown>): Record<string, unknown> {
    const user = typeof args.user === 'string' ? args.user : 'U0BOT';
    const limit = args.limit === undefined ? 100 : Number(args.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return { ok: false, error: 'invalid_limit' };
    let offset = 0;
    if (typeof args.cursor === 'string' && args.cursor !== '') {
      const decoded = /^next:(\d+)$/.exec(Buffer.from(args.cursor, 'base64').toString('utf8'));
      if (!decoded) return { ok: false, error: 'invalid_cursor' };
      offset = Number(decoded[1]);
    }
    const all = this.memberships.get(user) ?? [];
    const page = all.slice(offset, offset + limit);
    const next = offset + limit < all.length ? Buffer.from(`next:${offset + limit}`).toString('base64') : '';
    return { ok: true, channels: page.map((id) => ({ id, is_channel: true, is_member: true })), response_metadata: { next_cursor: next } };
  }

  private postMessage(args: Record<string, unknown>): Record<string, unknown> {
    const channel = args.channel;
    if (typeof channel !== 'string' || channel === '') return { ok: false, error: 'channel_not_found' };
    if (this.channelsWithoutBot.has(channel)) return { ok: false, error: 'not_in_channel' };
    if (this.archivedChannels.has(channel)) return { ok: false, error: 'is_archived' };
    const bad = this.checkBlocks('chat.postMessage', args);
    if (bad) {
      this.violations.push(`chat.postMessage: ${bad}`);
      return { ok: false, error: bad };
    }
    const threadTs = typeof args.thread_ts === 'string' ? args.thread_ts : undefined;
    if (threadTs !== undefined) {
      const parent = this.message(channel, threadTs);
      if (!parent || parent.threadTs) {
        // Slack documents no error for this; a test must fail loudly instead.
        this.violations.push(`chat.postMessage: thread_ts ${threadTs} is not a top-level message in ${channel}`);
        return { ok: false, error: 'invalid_thread_ts' };
      }
    }
    const message: FakeMessage = {
      channel,
      ts: this.nextTs(),
      ...(threadTs ? { threadTs } : {}),
      text: typeof args.text === 'string' ? args.text : '',
      blocks: Array.isArray(args.blocks) ? (args.blocks as unknown[]) : [],
      replyBroadcast: args.reply_broadcast === true || args.reply_broadcast === 'true',
      updates: 0,
      ...metadataOf(args.metadata),
    };
    this.messages.push(message);
    this.emit('message', message);
    return { ok: true, channel, ts: message.ts, message: { text: message.text, ts: message.ts } };
  }

  /**
   * A channel's top-level messages, newest first, from `oldest` on, `limit` a page, with a cursor for the next
   * (https://api.slack.com/methods/conversations.history); metadata only with include_all_metadata, as Slack does.
   */
  private history(args: Record<string, unknown>): Record<string, unknown> {
    const channel = String(args.channel ?? '');
    if (this.channelsWithoutBot.has(channel)) return { ok: false, error: 'not_in_channel' };
    const oldest = Number(args.oldest ?? 0);
    const limit = Math.max(1, Math.min(999, Number(args.limit ?? 100)));
    const offset = Number(args.cursor ?? 0) || 0;
    const withMetadata = args.include_all_metadata === true || args.include_all_metadata === 'true';
    const all = this.topLevel(channel)
      .filter((m) => Number(m.ts) >= oldest)
      .reverse();
    const page = all.slice(offset, offset + limit);
    const more = offset + limit < all.length;
    return {
      ok: true,
      messages: page.map((m) => ({ type: 'message', ts: m.ts, text: m.text, bot_id: 'B0BOT', ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}) })),
      has_more: more,
      response_metadata: { next_cursor: more ? String(offset + limit) : '' },
    };
  }

  private update(args: Record<string, unknown>): Record<string, unknown> {
    if (this.archivedChannels.has(String(args.channel))) return { ok: false, error: 'is_archived' };
    const message = this.message(String(args.channel), String(args.ts));
    if (!message) return { ok: false, error: 'message_not_found' };
    const bad = this.checkBlocks('chat.update', args);
    if (bad) {
      this.violations.push(`chat.update: ${bad}`);
      return { ok: false, error: bad };
    }
    message.text = typeof args.text === 'string' ? args.text : message.text;
    message.blocks = Array.isArray(args.blocks) ? (args.blocks as unknown[]) : message.blocks;
    message.updates += 1;
    this.emit('update', message);
    return { ok: true, channel: message.channel, ts: message.ts };
  }

  // ---- files: https://api.slack.com/methods/files.getUploadURLExternal , files.completeUploadExternal ----

  private getUploadUrl(args: Record<string, unknown>): Record<string, unknown> {
    const filename = typeof args.filename === 'string' ? args.filename : '';
    const length = Number(args.length);
    if (filename === '' || !Number.isInteger(length) || length < 0) return { ok: false, error: 'invalid_arguments' };
    this.fileCounter += 1;
    const id = `F0FAKE${String(this.fileCounter).padStart(5, '0')}`;
    this.uploads.set(id, { filename, length });
    // Slack hands out a files.slack.com URL; the fake's own loopback address stands in for it.
    return { ok: true, upload_url: `${this.baseUrl}/upload/${id}`, file_id: id };
  }

  /** The upload step: the raw bytes, or a multipart form whose file part holds them (as the WebClient sends). */
  private async onUpload(id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const upload = this.uploads.get(id);
    if (!upload) {
      res.writeHead(404).end('unknown upload');
      return;
    }
    const body = Buffer.concat(chunks);
    const type = req.headers['content-type'] ?? '';
    let content = body;
    if (type.startsWith('multipart/form-data')) {
      const form = await new Request('http://fake.invalid/', { method: 'POST', headers: { 'content-type': type }, body }).formData();
      const file = [...form.values()].find((v): v is File => typeof v !== 'string');
      content = file ? Buffer.from(await file.arrayBuffer()) : Buffer.alloc(0);
    }
    if (content.length !== upload.length) this.violations.push(`upload ${id}: ${content.length} bytes sent, ${upload.length} declared`);
    upload.content = content;
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`OK - ${content.length}`);
  }

  private completeUpload(args: Record<string, unknown>): Record<string, unknown> {
    let listed: Array<{ id?: unknown; title?: unknown }>;
    try {
      listed = (typeof args.files === 'string' ? JSON.parse(args.files) : args.files) as Array<{ id?: unknown; title?: unknown }>;
    } catch {
      return { ok: false, error: 'invalid_arguments' };
    }
    if (!Array.isArray(listed) || listed.length === 0) return { ok: false, error: 'invalid_arguments' };
    const channel = typeof args.channel_id === 'string' ? args.channel_id : undefined;
    const threadTs = typeof args.thread_ts === 'string' ? args.thread_ts : undefined;
    if (threadTs !== undefined) {
      const parent = channel === undefined ? undefined : this.message(channel, threadTs);
      if (!parent || parent.threadTs) {
        this.violations.push(`files.completeUploadExternal: thread_ts ${threadTs} is not a top-level message in ${channel ?? '(no channel)'}`);
        return { ok: false, error: 'invalid_thread_ts' };
      }
    }
    const files: FakeFile[] = [];
    for (const entry of listed) {
      const id = String(entry.id);
      const upload = this.uploads.get(id);
      if (!upload?.content) return { ok: false, error: 'file_not_found' };
      files.push({
        id,
        filename: upload.filename,
        title: typeof entry.title === 'string' ? entry.title : upload.filename,
        content: upload.content.toString('utf8'),
        ...(channel ? { channel } : {}),
        ...(threadTs ? { threadTs } : {}),
      });
    }
    for (const file of files) this.uploads.delete(file.id);
    this.files.push(...files);
    if (channel !== undefined) {
      // Sharing the files posts a message carrying them (with the initial comment, if any) where they were shared.
      const message: FakeMessage = {
        channel,
        ts: this.nextTs(),
        ...(threadTs ? { threadTs } : {}),
        text: typeof args.initial_comment === 'string' ? args.initial_comment : '',
        blocks: [],
        replyBroadcast: false,
        updates: 0,
        fileIds: files.map((f) => f.id),
      };
      this.messages.push(message);
      this.emit('message', message);
    }
    return { ok: true, files: files.map((f) => ({ id: f.id, title: f.title, name: f.filename })) };
  }

  private onResponse(id: string, raw: string, res: ServerResponse): void {
    const uses = this.responses.filter((r) => r.id === id).length;
    if (uses >= 5) {
      send(res, 404, { ok: false, error: 'used_up' });
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      send(res, 400, { ok: false, error: 'invalid_json' });
      return;
    }
    const response = { id, body };
    this.responses.push(response);
    this.emit('response', response);
    send(res, 200, { ok: true });
  }

  private nextTs(): string {
    this.tsCounter += 1;
    // Like Slack's: the epoch second of posting, then a part that keeps every ts unique and increasing.
    return `${Math.floor(Date.now() / 1000)}.${String(this.tsCounter).padStart(6, '0')}`;
  }
}

/** Why Slack would refuse these blocks (at most `maxBlocks`), or undefined. */
function blockProblem(blocks: readonly unknown[], maxBlocks: number): string | undefined {
  if (blocks.length > maxBlocks) return `${blocks.length} blocks, at most ${maxBlocks}`;
  for (const block of blocks as Array<Record<string, unknown>>) {
    const text = block.text as { text?: unknown } | undefined;
    if (block.type === 'section' && typeof text?.text === 'string' && text.text.length > 3000) return `section text of ${text.text.length} characters`;
    if (block.type === 'header' && typeof text?.text === 'string' && text.text.length > 150) return `header of ${text.text.length} characters`;
    if (Array.isArray(block.fields) && block.fields.length > 10) return `${block.fields.length} fields`;
    if (block.type === 'actions' && Array.isArray(block.elements) && block.elements.length > 25) return `${block.elements.length} actions`;
    if (block.type === 'actions' && Array.isArray(block.elements)) {
      for (const element of block.elements as Array<Record<string, unknown>>) {
        if (element.confirm !== undefined && !validConfirm(element.confirm)) return 'a confirm dialog Slack would refuse';
      }
    }
    // A button's text: at most 75 characters (https://api.slack.com/reference/block-kit/block-elements#button).
    const accessory = block.accessory as { type?: unknown; text?: { text?: unknown } } | undefined;
    if (accessory?.type === 'button' && typeof accessory.text?.text === 'string' && accessory.text.text.length > 75) return 'button text over 75 characters';
  }
  return undefined;
}

/** Form bodies carry objects such as `blocks` as JSON strings; JSON bodies carry them as they are. */
function parseArgs(contentType: string, raw: string): Record<string, unknown> {
  if (contentType.includes('application/json')) {
    try {
      return JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return {};
    }
  }
  const args: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    if ((k === 'blocks' || k === 'attachments' || k === 'metadata') && v.startsWith('[')) {
      try {
        args[k] = JSON.parse(v) as unknown;
        continue;
      } catch {
        // leave it as text: checkBlocks reports it
      }
    }
    args[k] = v;
  }
  return args;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * A confirmation dialog object as Slack documents it (https://api.slack.com/reference/block-kit/composition-objects#confirm):
 * title, confirm and deny are plain_text of at most 100, 30 and 30 characters, text at most 300, style primary or danger.
 */
function validConfirm(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  const text = (v: unknown, max: number, plainOnly: boolean): boolean => {
    if (typeof v !== 'object' || v === null) return false;
    const t = v as Record<string, unknown>;
    const typeOk = plainOnly ? t.type === 'plain_text' : t.type === 'plain_text' || t.type === 'mrkdwn';
    return typeOk && typeof t.text === 'string' && t.text.length > 0 && t.text.length <= max;
  };
  const styleOk = c.style === undefined || c.style === 'primary' || c.style === 'danger';
  return text(c.title, 100, true) && text(c.text, 300, false) && text(c.confirm, 30, true) && text(c.deny, 30, true) && styleOk;
}

/** chat.postMessage's `metadata` (an object, or its JSON as a form field), when it has the documented shape. */
function metadataOf(raw: unknown): Pick<FakeMessage, 'metadata'> {
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw) as unknown;
    } catch {
      return {};
    }
  }
  if (typeof value !== 'object' || value === null) return {};
  const { event_type: type, event_payload: payload } = value as { event_type?: unknown; event_payload?: unknown };
  if (typeof type !== 'string' || typeof payload !== 'object' || payload === null) return {};
  return { metadata: { event_type: type, event_payload: payload as Record<string, unknown> } };
}
