import { describe, expect, it } from 'vitest';
import { atMost, cloudFloorMs, compactLineChars, sendSpanWithEarlyLooks, endToEndFloorMs, firstLookAtOrAfter, looksUntil, rebootCallStarts, slackWritesFloor, withinAllowance, withinRatio, type Backoff, type CloudModel } from '../../bench/floors.js';
import { alibaba } from '../../src/providers/alibaba/index.js';
import { baidu } from '../../src/providers/baidu/index.js';
import { huawei } from '../../src/providers/huawei/index.js';

/** Production verification: first read after 1 s, then 3 s growing by half to 15 s (src/jobs/verifier.ts). */
const VERIFY = { firstMs: 1000, secondMs: 3000, growth: 1.5, maxMs: 15_000 };
/** Where a clock proves the reboot (Alibaba, Volcengine), the early look is skipped: 3 s, then ×1.5 to 15 s. */
const CLOCKED = { firstMs: 3000, growth: 1.5, maxMs: 15_000 };
const REBOOT_MS = 3000;

function model(info: { maxBatch: number; maxDescribe: number; limits: CloudModel['limits'] }, instances: number, verify: boolean, schedule: Backoff = VERIFY): CloudModel {
  return { instances, maxBatch: info.maxBatch, maxDescribe: info.maxDescribe, limits: info.limits, budgetPeriodMs: 60_000, rebootMs: REBOOT_MS, ...(verify ? { verify: schedule } : {}) };
}

describe('bench floors, by hand', () => {
  it('verification reads at 1, 4, 8.5, 15.25 s: the first at or after a 3 s reboot is at 4 s', () => {
    expect(firstLookAtOrAfter(VERIFY, 3000)).toBe(4000);
    expect(firstLookAtOrAfter(VERIFY, 4001)).toBe(8500);
    expect(firstLookAtOrAfter(VERIFY, 9000)).toBe(15_250);
  });

  it('Alibaba 1,000 (100 per call, 250 ms apart): 2.25 s without verification, 5.25 s with its clocked schedule', () => {
    expect(rebootCallStarts(model(alibaba.info, 1000, false))).toEqual([0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2250]);
    expect(cloudFloorMs(model(alibaba.info, 1000, false))).toBe(2250);
    // last call at 2.25 s + its one read 3 s after it
    expect(cloudFloorMs(model(alibaba.info, 1000, true, CLOCKED))).toBe(5250);
    // With the early look too, every batch is read twice: 10 reboot calls and 20 reads, 250 ms apart.
    expect(looksUntil(VERIFY, REBOOT_MS)).toBe(2);
    expect(cloudFloorMs(model(alibaba.info, 1000, true))).toBe(29 * 250);
  });

  it('Alibaba 5,000 with verification is bound by its 99 calls 250 ms apart', () => {
    expect(cloudFloorMs(model(alibaba.info, 5000, true, CLOCKED))).toBe(99 * 250);
  });

  it('Baidu 1,000 (one id per call, 100 ms apart): 99.9 s, and 103.9 s verified when nothing must be read early', () => {
    expect(cloudFloorMs(model(baidu.info, 1000, false))).toBe(99_900);
    expect(cloudFloorMs(model(baidu.info, 1000, true))).toBe(103_900);
  });

  it('Baidu 1,000 verified, each instance first read within 1 s of its call: 110 reads among the 1,000 calls, then the 4 s look', () => {
    // 999 gaps + 110 reads, 100 ms each: 110.9 s, in which 110 reads are due (one a second).
    expect(sendSpanWithEarlyLooks(1000, 100, 1000)).toBe(110_900);
    expect(Math.floor(110_900 / 1000)).toBe(110);
    expect(cloudFloorMs({ ...model(baidu.info, 1000, true), earlyLookWithinMs: 1000 })).toBe(110_900 + 4000);
    // The looser the early look, the fewer reads it takes.
    expect(sendSpanWithEarlyLooks(1000, 100, 2000)).toBeLessThan(sendSpanWithEarlyLooks(1000, 100, 1000));
    expect(sendSpanWithEarlyLooks(1, 100, 1000)).toBe(0);
    expect(() => sendSpanWithEarlyLooks(10, 100, 100)).toThrow();
  });

  it('Huawei 1,000: one call, the job poll at 5 s (the job ends at 4.5 s); verified adds the first read and 10 reads 500 ms apart', () => {
    const poll = { asyncJob: { poll: { firstMs: 5000, growth: 1.5, maxMs: 10_000 }, spreadMs: REBOOT_MS / 2 } };
    expect(cloudFloorMs({ ...model(huawei.info, 1000, false), ...poll })).toBe(5000);
    expect(cloudFloorMs({ ...model(huawei.info, 1000, true), ...poll })).toBe(5000 + 1000 + 9 * 500);
    // A cloud job that ends after 5 s is seen by the next poll, 7.5 s later.
    expect(cloudFloorMs({ ...model(huawei.info, 1000, false), asyncJob: { poll: poll.asyncJob.poll, spreadMs: 3000 } })).toBe(12_500);
  });

  it('Huawei 2,000 waits a minute for the instance budget to refill before the second call', () => {
    expect(rebootCallStarts(model(huawei.info, 2000, false))).toEqual([0, 60_000]);
  });

  it('Slack writes: results filled to the budget, the summary, and the CSV above 1,000 instances', () => {
    expect(compactLineChars('i-bp1000000000000000001', 'web-0001')).toBe(23 + 2 + 8 + 1);
    expect(slackWritesFloor(1000, 34_000)).toBe(5 + 1);
    expect(slackWritesFloor(5000, 170_000)).toBe(23 + 1 + 1);
    expect(endToEndFloorMs(6250, 6)).toBe(12_250);
  });
});

describe('bench verdicts', () => {
  it('a cloud part 10 % over its floor passes; slowed further it misses', () => {
    expect(withinRatio('x', 6875, 6250, 1.1).verdict).toBe('PASS');
    expect(withinRatio('x', 6900, 6250, 1.1).verdict).toBe('MISS');
  });

  it('end to end misses past floor + 10 s; counts miss past their ceiling', () => {
    expect(withinAllowance('x', 22_250, 12_250, 10_000).verdict).toBe('PASS');
    expect(withinAllowance('x', 22_251, 12_250, 10_000).verdict).toBe('MISS');
    expect(atMost('429s', 1, 0).verdict).toBe('MISS');
    expect(atMost('429s', 0, 0).verdict).toBe('PASS');
  });
});
