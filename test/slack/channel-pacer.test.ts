/** LocalChannelPacer against the ChannelPacer contract (test/slack/channel-pacer-suite.ts), shared with RedisChannelPacer. */
import { LocalChannelPacer } from '../../src/slack/channel-pacer.js';
import { channelPacerSuite } from './channel-pacer-suite.js';

channelPacerSuite('LocalChannelPacer', (limits) => new LocalChannelPacer(limits));
