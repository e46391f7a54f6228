/**
 * Thin Bolt listeners: acknowledge, validate the payload with zod, hand over to the use cases in
 * jobs/requests.ts, and turn their tagged results into what the typing or clicking user sees.
 */
import { randomFillSync } from 'node:crypto';
import type { App, RespondFn } from '@slack/bolt';
import { z } from 'zod';
import { errorReply, parseRebootCommand, regionsText, REQUEST_ID, usageText, type ParseContext, type ParsedCommand } from '../../commands/reboot.js';
import { DEFAULT_ACCOUNT, type Job } from '../domain/job.js';
import { describePolicy } from '../policy/requesters.js';
import { exportAudit, recentRequests, requestStatus, type NotHere } from '../jobs/queries.js';
import {
  approve,
  cancelClick,
  cancelCommand,
  deny,
  request,
  type ApproveResult,
  type CancelOutcome,
  type ClickRejection,
  type DenyResult,
  type RequestContext,
} from '../jobs/requests.js';
import { cardPermalink, listText, statusText } from './command-replies.js';
import { APPROVE_ACTION, CANCEL_ACTION, DENY_ACTION, plural } from './messages.js';

export interface ListenerContext {
  requests: RequestContext;
  parseContext: ParseContext;
  /** Where to answer the requester later (e.g. their card could not be posted); kept in memory only. */
  responseUrls: Map<string, string>;
}

const CommandBody = z.object({
  user_id: z.string().min(1),
  channel_id: z.string().min(1),
  text: z.string().default(''),
  response_url: z.url().optional(),
  trigger_id: z.string().min(1).optional(),
  // For links to cards (command-replies.ts cardPermalink); anything not shaped like a domain is dropped.
  team_domain: z.string().regex(/^[a-z0-9-]+$/).optional().catch(undefined),
});

type CommandInput = z.infer<typeof CommandBody>;

const JobId = z.string().regex(REQUEST_ID);

// A click must name the card it came from: without message_ts, the button's value alone would
// decide which job is approved.
const ButtonClick = z.object({
  user: z.object({ id: z.string().min(1) }),
  channel: z.object({ id: z.string().min(1) }).optional(),
  container: z.object({ message_ts: z.string().min(1), channel_id: z.string().optional() }),
  actions: z
    .array(z.object({ action_id: z.enum([APPROVE_ACTION, DENY_ACTION, CANCEL_ACTION]), value: JobId }))
    .length(1),
});

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_BYTES = 10;
/**
 * Random bytes for ids, drawn from the CSPRNG a pool at a time: one randomFillSync call costs about as much for
 * 2,560 bytes as for 10, and a burst of commands asks for one id each. Node's randomUUID caches its entropy the
 * same way (https://nodejs.org/api/crypto.html#cryptorandomuuidoptions).
 */
const idPool = Buffer.alloc(ID_BYTES * 256);
let idPoolAt = idPool.length;

export function newJobId(): string {
  if (idPoolAt + ID_BYTES > idPool.length) {
    randomFillSync(idPool);
    idPoolAt = 0;
  }
  let id = 'r-';
  // 256 is a multiple of 32: every letter is equally likely.
  for (let i = 0; i < ID_BYTES; i++) id += ID_ALPHABET[idPool[idPoolAt + i]! % 32];
  idPoolAt += ID_BYTES;
  return id;
}

const STORE_FAILED = 'The bot could not store this (its database is failing). Nothing was changed; try again in a minute.';

export function registerListeners(app: App, ctx: ListenerContext): void {
  app.command('/reboot', async ({ command, ack, respond }) => {
    const body = CommandBody.safeParse(command);
    if (!body.success) {
      await ack({ response_type: 'ephemeral', text: 'This request could not be read. Please try again.' });
      return;
    }
    const parsed = parseRebootCommand(decodeSlackEntities(body.data.text), ctx.parseContext);
    if (parsed.kind === 'cancel') {
      // The cancel is stored before the answer; a slow approver-group lookup still gets an ack within Slack's 3 s.
      const outcome = cancelCommand(ctx.requests, parsed.jobId, body.data.user_id).then((r) => cancelReply(r, 'command') ?? '');
      const early = await Promise.race([outcome, new Promise<undefined>((r) => setTimeout(() => r(undefined), ACK_DEADLINE_MS).unref())]);
      if (early !== undefined) {
        await ack({ response_type: 'ephemeral', text: early });
        return;
      }
      await ack({ response_type: 'ephemeral', text: `Cancelling \`${parsed.jobId}\`…` });
      await tell(respond, await outcome);
      return;
    }
    if (parsed.kind !== 'run') {
      await ack({ response_type: 'ephemeral', text: await subcommandReply(parsed, body.data) });
      return;
    }
    const { user_id: user, channel_id: channel, text } = body.data;
    const req = parsed.request;
    const result = await request(ctx.requests, {
      id: newJobId(),
      provider: req.provider,
      account: req.account ?? DEFAULT_ACCOUNT,
      region: req.region,
      ids: req.ids,
      force: req.force,
      dryRun: req.dryRun,
      verify: req.verify,
      rolling: req.rolling,
      reason: req.reason ?? null,
      requester: user,
      channel,
      commandText: text,
      ...(body.data.trigger_id ? { triggerId: body.data.trigger_id } : {}),
    });
    switch (result.kind) {
      case 'store-failed':
        await ack({ response_type: 'ephemeral', text: STORE_FAILED });
        return;
      case 'refused':
        // Before anything is stored or posted: only the requester sees why (https://api.slack.com/interactivity/handling#message_responses).
        await ack({ response_type: 'ephemeral', text: `:no_entry: Not requested: ${result.message}.\n\`/reboot policy\` shows what you may do here.` });
        return;
      case 'replay':
        await ack({ response_type: 'ephemeral', text: `This command was already received as request \`${result.job.id}\`; nothing new was requested.` });
        return;
      case 'created': {
        const job = result.job;
        await ack({
          response_type: 'ephemeral',
          text: `Request \`${job.id}\` for ${plural(job.ids.length, 'instance')} is posted for approval (${job.approvalsNeeded} needed) on account \`${job.account}\`.`,
        });
        if (body.data.response_url) ctx.responseUrls.set(job.id, body.data.response_url);
        return;
      }
    }
  });

  app.action({ type: 'block_actions', action_id: new RegExp(`^(${APPROVE_ACTION}|${DENY_ACTION}|${CANCEL_ACTION})$`) }, async ({ ack, body, respond }) => {
    // The click is stored before Slack is told it arrived, so a crash in between loses nothing that
    // Slack considers delivered; a slow group lookup still gets its ack before Slack's 3 s deadline.
    const acked = ackBy(ack, ACK_DEADLINE_MS);
    let reply: string | undefined;
    try {
      reply = await onClick(body);
    } finally {
      await acked();
    }
    if (reply) await tell(respond, reply);
  });

  /** The ephemeral answer to everything but a reboot request: help, errors and the read-side subcommands. */
  async function subcommandReply(parsed: Exclude<ParsedCommand, { kind: 'run' | 'cancel' }>, input: CommandInput): Promise<string> {
    const { catalog } = ctx.parseContext;
    const { channel_id: channel, user_id: user } = input;
    switch (parsed.kind) {
      case 'help':
        return usageText(catalog);
      case 'error':
        return errorReply(parsed);
      case 'regions':
        return regionsText(parsed, catalog);
      case 'policy':
        return ctx.requests.policy ? describePolicy(ctx.requests.policy(), channel, user, ctx.requests.approvers) : 'No policy is in force.';
      case 'status': {
        const result = await requestStatus(ctx.requests, parsed.requestId, channel);
        if (result.kind !== 'found') return notHereReply(result, parsed.requestId);
        return statusText({ ...result, cardLink: cardPermalink(input.team_domain, result.job.channel, result.job.cardTs) }, catalog);
      }
      case 'list': {
        const result = await recentRequests(ctx.requests, parsed.mine ? { requester: user } : { channel });
        return result.kind === 'listed' ? listText(result.jobs, { mine: parsed.mine, now: ctx.requests.now() }, catalog) : STORE_FAILED;
      }
      case 'audit': {
        const result = await exportAudit(ctx.requests, parsed.requestId, channel, user);
        switch (result.kind) {
          case 'queued':
            return `The audit trail of \`${result.job.id}\` will be attached to its thread as a CSV file.`;
          case 'no-thread':
            return `Request \`${result.job.id}\` has no thread to attach the audit trail to: its card was never posted.`;
          default:
            return notHereReply(result, parsed.requestId);
        }
      }
    }
  }

  /** Runs the click's use case; returns what the clicker should be told, if anything. */
  async function onClick(body: unknown): Promise<string | undefined> {
    const parsed = ButtonClick.safeParse(body);
    const action = parsed.success ? parsed.data.actions[0] : undefined;
    if (!parsed.success || !action) return 'This button could not be read; nothing was changed.';
    const click = {
      jobId: action.value,
      user: parsed.data.user.id,
      channel: parsed.data.channel?.id ?? parsed.data.container.channel_id ?? '',
      messageTs: parsed.data.container.message_ts,
    };
    switch (action.action_id) {
      case APPROVE_ACTION:
        return approveReply(await approve(ctx.requests, click));
      case DENY_ACTION:
        return denyReply(await deny(ctx.requests, click));
      case CANCEL_ACTION:
        return cancelReply(await cancelClick(ctx.requests, click), 'click');
    }
  }
}

function notHereReply(result: NotHere, requestId: string): string {
  switch (result.kind) {
    case 'unknown':
      return `:warning: There is no request \`${requestId}\` (it may be past retention). \`/reboot list\` shows this channel's recent ones.`;
    case 'other-channel':
      return `Request \`${requestId}\` belongs to <#${result.channel}>; ask there.`;
    case 'store-failed':
      return 'The bot could not read its database just now; try again in a minute.';
  }
}

/** Slack wants an ack within 3 s (https://api.slack.com/interactivity/handling#acknowledgment_response). */
const ACK_DEADLINE_MS = 2000;

/** Acks at the latest after `ms`; the returned function acks now if that has not happened yet. */
function ackBy(ack: () => Promise<void>, ms: number): () => Promise<void> {
  let sent: Promise<void> | undefined;
  const send = (): Promise<void> => (sent ??= ack());
  const timer = setTimeout(() => void send(), ms);
  return async () => {
    clearTimeout(timer);
    await send();
  };
}

/** Slack sends command text with &, < and > as HTML entities; the parser and the store want what was typed. */
export function decodeSlackEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

async function tell(respond: RespondFn, text: string): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text });
}

/** What the clicker is told; undefined when the card update says it all. */
function approveReply(result: ApproveResult): string | undefined {
  switch (result.kind) {
    case 'approved':
      return undefined;
    case 'recorded':
      return `Your approval is recorded (${result.count} of ${result.job.approvalsNeeded}). Another approver is needed.`;
    case 'duplicate':
      return `You have already approved \`${result.job.id}\`; a different approver is needed.`;
    case 'store-failed':
      return `Your approval of \`${result.job.id}\` could not be recorded: ${STORE_FAILED}`;
    default:
      return rejectionReply(result, 'approve');
  }
}

function denyReply(result: DenyResult): string | undefined {
  switch (result.kind) {
    case 'denied':
    case 'withdrawn':
      return undefined;
    case 'store-failed':
      return `Your denial of \`${result.job.id}\` could not be recorded: ${STORE_FAILED}`;
    default:
      return rejectionReply(result, 'deny');
  }
}

/** The clicker's card update says it all; whoever typed the command is told what happened. */
function cancelReply(result: CancelOutcome, via: 'command' | 'click'): string | undefined {
  switch (result.kind) {
    case 'cancelled':
      return via === 'click' ? undefined : `Request \`${result.job.id}\` is cancelled; nothing was rebooted.`;
    case 'stopping': {
      const sent = result.inFlight > 0 ? ` Reboots already sent (${result.inFlight} batch${result.inFlight === 1 ? '' : 'es'}) cannot be undone; they are verified to their verdict.` : '';
      return via === 'click' ? undefined : `Request \`${result.job.id}\` is cancelled: no further batch or wave is sent; ${result.notSent} instance(s) not sent.${sent}`;
    }
    case 'already-cancelled':
      return `Request \`${result.job.id}\` was already cancelled by <@${result.job.cancelledBy ?? 'unknown'}>; what was sent is being finished. Nothing was changed.`;
    case 'finished':
      return `Request \`${result.job.id}\` has already finished (${result.job.state}); there is nothing to cancel. Nothing was changed.`;
    case 'store-failed':
      return `Your cancel of \`${result.job.id}\` could not be recorded: ${STORE_FAILED}`;
    case 'not-pending':
      return notPendingText(result.job);
    default:
      return rejectionReply(result, 'cancel');
  }
}

function rejectionReply(result: Exclude<ClickRejection, { kind: 'store-failed' }>, action: 'approve' | 'deny' | 'cancel'): string {
  switch (result.kind) {
    case 'unknown-job':
      return 'This request is not known here; nothing was changed.';
    case 'stale-copy':
      return `This is an old copy of request \`${result.job.id}\`'s card; nothing was changed. Use the live card in this channel.`;
    case 'not-pending':
      return notPendingText(result.job);
    case 'refused':
      switch (result.refusal) {
        case 'other-channel':
          return 'This request is not known here; nothing was changed.';
        case 'card-unconfirmed':
          return `The card of \`${result.job.id}\` is still being posted; nothing was changed. Use the card once it has appeared.`;
        case 'self':
          return 'You cannot approve your own request. Another approver has to.';
        case 'not-approver':
          return action === 'cancel'
            ? `Only the requester (<@${result.job.requester}>) or an approver may cancel \`${result.job.id}\`. Nothing was changed.`
            : `You are not allowed to ${action} reboots. Nothing was changed.`;
        case 'unverified':
          return 'Your approver group membership cannot be confirmed right now (Slack does not answer the user-group lookup). Nothing was changed; try again in a few minutes.';
      }
  }
}

function notPendingText(job: Job): string {
  switch (job.state) {
    case 'expired':
      return `Request \`${job.id}\` has expired; nothing was changed. Ask for a new one if it is still needed.`;
    case 'denied':
      return `Request \`${job.id}\` was already denied; nothing was changed.`;
    case 'cancelled':
      return `Request \`${job.id}\` was cancelled by <@${job.cancelledBy ?? 'unknown'}>; nothing was changed.`;
    default:
      return `Request \`${job.id}\` was already approved; it runs once.`;
  }
}
