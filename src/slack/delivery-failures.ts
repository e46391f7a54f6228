/**
 * What happens when Slack refuses a write for good: a card that can never appear cancels its
 * request and tells the requester through the command's response_url; any other news about a job
 * goes to the requester by direct message, once per job.
 */
import { request as httpRequest } from 'undici';
import type { OutboxRow } from '../domain/outbox-message.js';
import { errorMessage } from '../errors.js';
import { abandonCard, reportUndelivered, type RequestContext } from '../jobs/requests.js';
import type { Logger } from '../log.js';
import { BOT_WIDE_SLACK_ERRORS } from './outbox.js';

export function onUndeliverable(ctx: RequestContext, responseUrls: Map<string, string>) {
  return async (row: OutboxRow, slackError: string): Promise<void> => {
    if (!row.jobId) return;
    if (row.message.kind === 'post_card') {
      const url = responseUrls.get(row.jobId);
      responseUrls.delete(row.jobId);
      if ((await abandonCard(ctx, row.jobId, slackError)) && url) await tellRequester(url, cardFailureText(slackError), ctx.log);
      return;
    }
    // A notice that itself failed, or a token Slack refuses, has nowhere to go.
    if (row.message.kind === 'requester_notice' || BOT_WIDE_SLACK_ERRORS.has(slackError)) return;
    await reportUndelivered(ctx, row.jobId, (job) => undeliveredText(job.id, row.channel, slackError));
  };
}

function undeliveredText(jobId: string, channel: string, slackError: string): string {
  return `:warning: I could not post updates about request \`${jobId}\` in <#${channel}> (\`${slackError}\`). Its results are kept in my audit trail; invite me back to that channel to see further updates.`;
}

function cardFailureText(slackError: string): string {
  const hint =
    slackError === 'not_in_channel' || slackError === 'channel_not_found'
      ? 'Invite me to this channel (`/invite @rebootbot`) and ask again.'
      : 'Ask again, or in another channel.';
  return `:x: I could not post the approval request here (\`${slackError}\`), so it was cancelled and nothing was rebooted. ${hint}`;
}

/** Answers through the command's response_url: the one way to reach a requester in a channel we cannot post to. */
async function tellRequester(responseUrl: string, text: string, log: Logger): Promise<void> {
  try {
    const res = await httpRequest(responseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }),
    });
    await res.body.dump();
  } catch (err) {
    log.warn('could not tell the requester', { error: errorMessage(err) });
  }
}
