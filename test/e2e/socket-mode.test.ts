import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockActionsPayload, slashCommandFields } from '../../src/local/slack-driver.js';
import { APPROVER_1, CHANNEL, Harness, REQUESTER, hasButtons, waitFor } from '../helpers/harness.js';
import { SocketModeServer } from '../helpers/socket-mode-server.js';

describe('Socket Mode (SLACK_APP_TOKEN set)', () => {
  let h: Harness;
  let socket: SocketModeServer;
  const id = 'i-bp1aaaaaaaaaaaaaaaaa';

  beforeAll(async () => {
    socket = await SocketModeServer.start();
    h = await Harness.start({ providers: ['alibaba'], socketMode: { appToken: 'xapp-1-test', url: socket.url } });
    h.sims.sims.alibaba!.fleet.add('cn-hangzhou', id);
  });
  afterAll(async () => {
    await h.stop();
    await socket.stop();
  });

  it('runs the same flow over the WebSocket: command acked, card posted, click approves, reboot happens', async () => {
    expect(h.slack.callsTo('apps.connections.open')).toHaveLength(1);
    const ack = await socket.deliver(
      'slash_commands',
      slashCommandFields({ user: REQUESTER, channel: CHANNEL, text: `alibaba cn-hangzhou ${id}`, responseUrl: h.slack.newResponseUrl(), team: 'T0FAKE' }),
    );
    expect(ack.payload).toMatchObject({ response_type: 'ephemeral' });
    expect(String(ack.payload?.text)).toContain('posted for approval');
    const card = await waitFor(() => h.cards()[0], 'request card');
    await socket.deliver(
      'interactive',
      blockActionsPayload({
        user: APPROVER_1,
        channel: CHANNEL,
        messageTs: card.ts,
        actionId: 'reboot_approve',
        value: h.bot.store.jobsInState('pending')[0]!.id,
        responseUrl: h.slack.newResponseUrl(),
        team: 'T0FAKE',
      }),
    );
    await h.settle();
    expect(h.sims.sims.alibaba!.fleet.get('cn-hangzhou', id)?.rebootCount).toBe(1);
    expect(hasButtons(h.slack.message(CHANNEL, card.ts)!)).toBe(false);
  });
});
