import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closestWords, didYouMean, editDistance, suggestionThreshold } from '../../commands/did-you-mean.js';

describe('editDistance (optimal string alignment)', () => {
  it.each<[string, string, number]>([
    ['', '', 0],
    ['', 'abc', 3],
    ['abc', '', 3],
    ['status', 'status', 0],
    ['stauts', 'status', 1], // one swap
    ['alibab', 'alibaba', 1], // one insertion
    ['cn-hangzou', 'cn-hangzhou', 1],
    ['kitten', 'sitting', 3],
    ['aws', 'hwc', 2],
    ['ca', 'abc', 3], // OSA does not edit a swapped pair again
    ['😀a', 'a😀', 1], // code points, not UTF-16 units
  ])('%j → %j is %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });

  it('is symmetric, zero only for equal strings, and at most the longer length', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
        const d = editDistance(a, b);
        expect(editDistance(b, a)).toBe(d);
        expect(d === 0).toBe(a === b);
        expect(d).toBeLessThanOrEqual(Math.max([...a].length, [...b].length));
        expect(d).toBeGreaterThanOrEqual(Math.abs([...a].length - [...b].length));
      }),
    );
  });
});

describe('closestWords', () => {
  const words = ['alibaba', 'aliyun', 'volcengine', 'volc', 'baidu', 'bce', 'huawei', 'hwc', 'status', 'list', 'audit', 'regions', 'help'];

  it('suggests within the threshold, case-insensitively', () => {
    expect(closestWords('ALIBAB', words)).toEqual(['alibaba']);
    expect(closestWords('stauts', words)).toEqual(['status']);
    expect(closestWords('volcengin', words)).toEqual(['volcengine']);
  });

  it('suggests nothing for short or distant words, or for a word that is known', () => {
    expect(closestWords('ab', words)).toEqual([]);
    expect(closestWords('aws', words)).toEqual([]);
    expect(closestWords('gcp', words)).toEqual([]);
    expect(closestWords('oracle', words)).toEqual([]);
    expect(closestWords('status', words)).toEqual([]);
  });

  it('offers the ties at the closest distance, at most two', () => {
    expect(closestWords('abcd', ['abce', 'abcf', 'abcg'])).toEqual(['abce', 'abcf']);
    expect(closestWords('abcd', ['abxy', 'abce'])).toEqual(['abce']);
  });

  it('the threshold grows with the word and stops at three', () => {
    expect([2, 3, 4, 5, 8, 11, 30].map((n) => suggestionThreshold('x'.repeat(n)))).toEqual([0, 1, 1, 2, 3, 3, 3]);
  });

  it('didYouMean words the suggestion, spelled as asked', () => {
    expect(didYouMean('forse', ['force'], (w) => `--${w}`)).toBe(' Did you mean `--force`?');
    expect(didYouMean('zzzzz', ['force'])).toBe('');
  });
});
