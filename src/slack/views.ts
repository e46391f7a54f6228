/**
 * Listeners for the views: the card's "Show all N ids" button opens the modal listing every id, and opening
 * the App Home tab publishes the user's recent requests. Both only read the store.
 *
 * Neither call goes through the outbox: views.open must use the click's trigger_id within 3 seconds
 * (https://api.slack.com/methods/views.open), which a queued write cannot promise, and a Home view is rebuilt
 * on every opening of the tab (https://api.slack.com/events/app_home_opened), so nothing is lost to a crash.
 */
import type { App, RespondFn, types } from '@slack/bolt';
import { z } from 'zod';
import { REQUEST_ID } from '../../commands/reboot.js';
import type { Job } from '../domain/job.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Catalog } from '../providers/catalog.js';
import type { Store } from '../store/contract.js';
import type { ChannelMemberships } from './channel-memberships.js';
import { slackErrorLabel } from './error-label.js';
import { SHOW_IDS_ACTION } from './messages.js';
import { HOME_RECENT_LIMIT, homeView, instancesModal } from './view-blocks.js';

export interface ViewsContext {
  store: Store;
  catalog: Catalog;
  memberships: ChannelMemberships;
  now: () => number;
  log: Logger;
}

const JobId = z.string().regex(REQUEST_ID);

const ShowIdsClick = z.object({
  trigger_id: z.string().min(1),
  user: z.object({ id: z.string().min(1) }),
  channel: z.object({ id: z.string().min(1) }).optional(),
  container: z.object({ channel_id: z.string().optional() }).optional(),
  actions: z.array(z.object({ action_id: z.literal(SHOW_IDS_ACTION), value: JobId })).length(1),
});

const HomeOpened = z.object({ type: z.literal('app_home_opened'), user: z.string().min(1), tab: z.string().optional() });

export function registerViews(app: App, ctx: ViewsContext): void {
  app.action({ type: 'block_actions', action_id: SHOW_IDS_ACTION }, async ({ ack, body, client, respond }) => {
    await ack();
    const parsed = ShowIdsClick.safeParse(body);
    const action = parsed.success ? parsed.data.actions[0] : undefined;
    if (!parsed.success || !action) {
      await tell(respond, 'This button could not be read.');
      return;
    }
    const channel = parsed.data.channel?.id ?? parsed.data.container?.channel_id;
    let job: Job | undefined;
    let view: types.ModalView;
    try {
      job = await ctx.store.getJob(action.value);
      // The list is shown where its card is: a button value naming another channel's job shows nothing.
      if (!job || job.channel !== channel) {
        await tell(respond, 'This request is not known here.');
        return;
      }
      view = instancesModal({
        job,
        preflight: await ctx.store.preflight(job.id),
        outcomes: await ctx.store.outcomes(job.id),
        tally: await ctx.store.tally(job.id),
        catalog: ctx.catalog,
      });
    } catch (err) {
      ctx.log.error('reading a job for its id list failed', { jobId: action.value, error: errorMessage(err) });
      await tell(respond, 'The bot could not read this request (its database is failing); try again in a minute.');
      return;
    }
    try {
      await client.views.open({ trigger_id: parsed.data.trigger_id, view });
    } catch (err) {
      const code = slackErrorLabel(err);
      ctx.log.warn('views.open failed', { jobId: job.id, error: code });
      await tell(respond, `The list of \`${job.id}\`'s ${job.ids.length} ids could not be opened (Slack answered ${code}). Click *Show all* again, or type \`/reboot audit ${job.id}\`.`);
    }
  });

  app.event('app_home_opened', async ({ event, client }) => {
    const parsed = HomeOpened.safeParse(event);
    // The event also fires for the Messages tab; only the Home tab shows this view.
    if (!parsed.success || parsed.data.tab !== 'home') return;
    const user = parsed.data.user;
    const membership = await ctx.memberships.of(user);
    if (membership.kind === 'unknown') ctx.log.warn('users.conversations failed; the Home tab shows the user\'s own requests only', { user, error: membership.error });
    const channels = membership.kind === 'known' ? membership.channels : [];
    let view: types.HomeView;
    try {
      const jobs = await ctx.store.recentJobs({ channels, requester: user }, HOME_RECENT_LIMIT);
      view = homeView({ jobs, channelsUnreadable: membership.kind === 'known' ? null : membership.error, now: ctx.now(), catalog: ctx.catalog });
    } catch (err) {
      // The tab keeps what it showed last; the next opening tries again.
      ctx.log.error('reading recent requests for the Home tab failed', { user, error: errorMessage(err) });
      return;
    }
    try {
      await client.views.publish({ user_id: user, view });
    } catch (err) {
      ctx.log.warn('views.publish failed', { user, error: slackErrorLabel(err) });
    }
  });
}

async function tell(respond: RespondFn, text: string): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text });
}
