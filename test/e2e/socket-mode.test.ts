import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockActionsPayload, slashCommandFields } from '../../src/local/slack-driver.js';
import { APPROVER_1, CHANNEL, Harness, REQUESTER, hasButtons, waitFor } from '../helpers/harness.js';
import { SocketModeServer } from '../helpers/socket-mode-server.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('Socket Mode (SLACK_APP_TOKEN set)', () => {
  let h: Harness;
  let socket: SocketModeServer;
  const id = 'i-bp1aaaaaaaaaaaaaaaaa';

  beforeAll(async () => {
    socket = await SocketModeServer.start();
    // Bolt does not tell which port its Socket Mode HTTP listener took, so the test picks a free one.
    h = await Harness.start({ providers: ['alibaba'], socketMode: { appToken: 'xapp-1-test', url: socket.url }, env: { PORT: String(await freePort()) } });
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
        value: h.sqlite.jobsInState('pending')[0]!.id,
        responseUrl: h.slack.newResponseUrl(),
        team: 'T0FAKE',
      }),
    );
    await h.settle();
    expect(h.sims.sims.alibaba!.fleet.get('cn-hangzhou', id)?.rebootCount).toBe(1);
    expect(hasButtons(h.slack.message(CHANNEL, card.ts)!)).toBe(false);
  });

  it('serves /healthz, /readyz and /metrics on its HTTP listener too', async () => {
    expect((await fetch(`${h.bot.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${h.bot.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true });
    const metrics = await fetch(`${h.bot.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^reboot_requests_total\{outcome="approved"\} 1$/m);
  });
});
