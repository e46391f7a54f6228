/**
 * Issue 10's views, over signed HTTP against the real bot, the fake Slack and the Alibaba simulator: the card's
 * "Show all N ids" button opens a modal (views.open with the click's trigger_id) listing every id with its
 * pre-flight name and state and, once run, its outcome, within Slack's view limits even at REBOOT_MAX_INSTANCES;
 * a failed views.open is told to the clicker; and the App Home tab (app_home_opened → views.publish) lists the
 * recent requests of the channels the user is in, or only the user's own when users.conversations fails.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { blockTexts, type FakeView } from '../../src/local/fake-slack.js';
import { findButtonValue } from '../../src/local/slack-driver.js';
import { SHOW_IDS_ACTION } from '../../src/slack/messages.js';
import { APPROVER_1, CHANNEL, Harness, REQUESTER, STRANGER, textOf, waitFor } from '../helpers/harness.js';

const REGION = 'cn-hangzhou';
const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);
const viewText = (v: FakeView): string => blockTexts(v.view.blocks).join('\n');

describe('the full id list modal', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  async function openList(user: string, card: { ts: string }): Promise<{ view: FakeView | undefined; responseUrl: string }> {
    const before = h.slack.views.length;
    const message = h.slack.message(CHANNEL, card.ts)!;
    const click = await h.driver.clickButton(user, message, SHOW_IDS_ACTION);
    expect(click.status).toBe(200);
    await h.settle();
    return { view: h.slack.views.slice(before).find((v) => v.method === 'views.open'), responseUrl: click.responseUrl };
  }

  it('a 120-id card gets "Show all 120 ids"; the modal lists every id with name and state, then outcomes after the run', async () => {
    h = await Harness.start({ providers: ['alibaba'], env: { REBOOT_VERIFY_TIMEOUT: '5s' } });
    const all = ids(120);
    const fleet = h.sims.sims.alibaba!.fleet;
    // 100 running and named; 20 never added, so pre-flight finds them missing and the reboot fails for them.
    all.slice(0, 100).forEach((id, i) => fleet.add(REGION, id, 'running', { name: `web-${i}` }));
    const { card } = await h.request(`alibaba ${REGION} ${all.join(' ')}`);
    const shown = h.slack.message(CHANNEL, card.ts)!;
    expect(textOf(shown)).toContain('Show all 120 ids');
    expect(textOf(shown)).not.toContain('audit trail');
    expect(findButtonValue(shown.blocks, SHOW_IDS_ACTION)).toMatch(/^r-[a-z2-7]{10}$/);

    const { view } = await openList(STRANGER, card);
    expect(view).toBeDefined();
    expect(view!.view.title?.text).toMatch(/^Ids of r-[a-z2-7]{10}$/);
    const lines = viewText(view!);
    for (const [i, id] of all.entries()) {
      expect(lines).toMatch(new RegExp(`^(\`\`\`)?${id}  ${i < 100 ? `web-${i}  Running` : 'not found'}(\`\`\`)?$`, 'm'));
    }
    expect(lines).not.toContain('/reboot audit');

    await h.driver.clickButton(APPROVER_1, h.slack.message(CHANNEL, card.ts)!, 'reboot_approve');
    await h.settle();
    const after = (await openList(REQUESTER, card)).view!;
    const text = viewText(after);
    expect(text).toContain('100 verified');
    expect(text).toMatch(new RegExp(`^(\`\`\`)?${all[0]!}  web-0  Running  → verified(\`\`\`)?$`, 'm'));
    expect(text).toMatch(new RegExp(`^${all[119]!}  not found  → failed: \\S+`, 'm'));
    expect(h.slack.violations).toEqual([]);
  }, 30_000);

  it('a card of 40 ids has no such button', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const { card } = await h.request(`alibaba ${REGION} ${ids(40).join(' ')}`);
    const shown = h.slack.message(CHANNEL, card.ts)!;
    expect(findButtonValue(shown.blocks, SHOW_IDS_ACTION)).toBeUndefined();
    expect(textOf(shown)).not.toContain('Show all');
    expect(textOf(shown)).not.toMatch(/and \d+ more \(/);
  });

  it('at REBOOT_MAX_INSTANCES the modal keeps to 100 blocks and 250 kB, lists what fits in order and points to /reboot audit', async () => {
    h = await Harness.start({ providers: ['alibaba'], env: { REBOOT_MAX_INSTANCES: '5000' } });
    const all = ids(5000);
    const fleet = h.sims.sims.alibaba!.fleet;
    // Long names: 5,000 lines of these cannot fit in one view.
    all.forEach((id, i) => fleet.add(REGION, id, 'running', { name: `database-replica-${String(i).padStart(4, '0')}-${'x'.repeat(20)}` }));
    const { card } = await h.request(`alibaba ${REGION} ${all.join(' ')}`);
    const { view } = await openList(REQUESTER, card);
    expect(view).toBeDefined();
    expect(view!.view.blocks.length).toBeLessThanOrEqual(100);
    expect(Buffer.byteLength(JSON.stringify(view!.view))).toBeLessThan(250_000);
    const text = viewText(view!);
    const listed = [...text.matchAll(/^(?:```)?(i-bp1\d{17}) /gm)].map((m) => m[1]);
    const notice = /:warning: (\d+) of 5000 ids fit in one Slack window; (\d+) more are not shown\. Type `\/reboot audit (r-[a-z2-7]{10})` for the full list\./.exec(text);
    expect(notice).not.toBeNull();
    expect(Number(notice![1])).toBe(listed.length);
    expect(Number(notice![2])).toBe(5000 - listed.length);
    expect(listed.length).toBeGreaterThan(2000);
    expect(listed).toEqual(all.slice(0, listed.length));
    expect(h.slack.violations).toEqual([]);
  }, 60_000);

  it('a views.open that Slack refuses is told to the clicker; the next click, with a fresh trigger, opens the list', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const { card } = await h.request(`alibaba ${REGION} ${ids(41).join(' ')}`);
    h.slack.injectFault('views.open', { error: 'expired_trigger_id' });
    const { view, responseUrl } = await openList(REQUESTER, card);
    expect(view).toBeUndefined();
    expect(h.slack.callsTo('views.open')).toHaveLength(1);
    const reply = await h.replyTo({ responseUrl });
    expect(reply).toMatch(/The list of `r-[a-z2-7]{10}`'s 41 ids could not be opened \(Slack answered expired_trigger_id\)/);
    // The next click, with a fresh trigger, opens it.
    expect((await openList(REQUESTER, card)).view).toBeDefined();
  });

  it('a button value naming a job of another channel opens nothing', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const { card } = await h.request(`alibaba ${REGION} ${ids(41).join(' ')}`);
    const jobId = findButtonValue(card.blocks, SHOW_IDS_ACTION)!;
    const click = await h.driver.click(REQUESTER, 'C0ELSEWHERE', card.ts, SHOW_IDS_ACTION, jobId);
    expect(await h.replyTo(click)).toBe('This request is not known here.');
    expect(h.slack.callsTo('views.open')).toEqual([]);
  });
});

describe('the App Home tab', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  /** Requests one instance from `user` in `channel`; returns the job id. */
  async function requestIn(user: string, channel: string, id: string): Promise<string> {
    const res = await h.driver.command(user, channel, `alibaba ${REGION} ${id}`);
    const match = /Request `(r-[a-z2-7]{10})`/.exec(res.body);
    if (!match) throw new Error(`no request created: ${res.body}`);
    await h.settle();
    return match[1]!;
  }

  it('lists the requests of the channels the user is in and their own, newest first, with state, place, size, requester, channel and age', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const [a, b, c] = ids(3);
    const visible = await requestIn(STRANGER, CHANNEL, a!);
    const hidden = await requestIn(STRANGER, 'C0SECRET', b!);
    const own = await requestIn(REQUESTER, 'C0SECRET', c!);
    // 451 channels: the bot pages through users.conversations (200 a page) to find the last one.
    h.slack.memberships.set(REQUESTER, [...Array.from({ length: 450 }, (_, i) => `C0X${i}`), CHANNEL]);

    const home = await h.openHome(REQUESTER);
    const text = viewText(home);
    expect(text).toContain('in the channels you are in, and your own');
    expect(text).not.toContain(hidden);
    expect(text.indexOf(own)).toBeGreaterThan(-1);
    expect(text.indexOf(own)).toBeLessThan(text.indexOf(visible));
    expect(text).toContain(
      `:hourglass_flowing_sand: waiting for approval · \`${visible}\` · Alibaba Cloud ECS \`${REGION}\` · 1 instance\nrequested by <@${STRANGER}> in <#${CHANNEL}> · <!date^`,
    );
    expect(text).toMatch(/\^\{ago\}\|just now>/);
    expect(h.slack.callsTo('users.conversations').map((c) => c.args.user)).toEqual([REQUESTER, REQUESTER, REQUESTER]);

    // Reopened within the cache period: no second lookup, and the view follows the job's state.
    await h.driver.clickButton(APPROVER_1, h.slack.topLevel('C0SECRET').at(-1)!, 'reboot_deny');
    await h.settle();
    expect(viewText(await h.openHome(REQUESTER))).toContain(`:no_entry: denied · \`${own}\``);
    expect(h.slack.callsTo('users.conversations')).toHaveLength(3);
    expect(h.slack.violations).toEqual([]);
  });

  it('when users.conversations fails, shows only the user\'s own requests and says so', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const [a, b] = ids(2);
    const others = await requestIn(STRANGER, CHANNEL, a!);
    const own = await requestIn(REQUESTER, 'C0SECRET', b!);
    h.slack.memberships.set(REQUESTER, [CHANNEL]);
    h.slack.injectFault('users.conversations', { error: 'missing_scope' });

    const text = viewText(await h.openHome(REQUESTER));
    expect(text).toContain('Your channels could not be read from Slack (missing_scope), so only your own requests are shown.');
    expect(text).toContain(own);
    expect(text).not.toContain(others);
    // A failure is not cached: the next opening reads the channels again.
    expect(viewText(await h.openHome(REQUESTER))).toContain(others);
  });

  it('the Messages tab publishes nothing, and a user with no requests in sight gets an empty list', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    await requestIn(STRANGER, 'C0SECRET', ids(1)[0]!);
    const res = await h.driver.openHome(REQUESTER, 'messages');
    expect(res.status).toBe(200);
    await h.settle();
    expect(h.slack.callsTo('views.publish')).toEqual([]);
    const text = viewText(await h.openHome(REQUESTER));
    expect(text).toContain('No reboot requests yet');
    await waitFor(() => h.slack.callsTo('views.publish').length === 1, 'one publish');
  });
});
