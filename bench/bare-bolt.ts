/**
 * The yardstick for acknowledgement latency: a Bolt app on the same HTTPReceiver, with the same signing secret, that
 * only acks. Whatever it takes to answer a signed request is Bolt's and Node's; whatever the bot takes beyond it is
 * ours. It runs in its own process, like the bot (bench/child.ts).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, LogLevel } from '@slack/bolt';
import type { ChildRequest, Ready } from './ipc.js';

const signingSecret = process.env.SLACK_SIGNING_SECRET ?? '';
const receiver = new HTTPReceiver({ signingSecret, endpoints: '/slack/events' });
// A fixed authorization: no auth.test call to Slack, nothing but the signature check and the ack per request.
const app = new App({ receiver, authorize: async () => ({ botToken: 'xoxb-bare', botId: 'B0BARE', botUserId: 'U0BARE' }), logLevel: LogLevel.ERROR });
app.command('/reboot', async ({ ack }) => ack());
app.action(/.*/, async ({ ack }) => ack());

const server = (await app.start(0)) as Server;
const ready: Ready = { type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
process.send?.(ready);
process.on('message', (raw) => {
  const request = raw as ChildRequest;
  if (request.type === 'max-rss') process.send?.({ id: request.id, type: 'max-rss', bytes: process.resourceUsage().maxRSS * 1024 });
  if (request.type === 'stop') void app.stop().then(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
