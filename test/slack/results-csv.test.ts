/** The results table as CSV: quoting by RFC 4180, and no cell a spreadsheet would run as a formula. */
import { describe, expect, it } from 'vitest';
import type { Preflight } from '../../src/domain/preflight.js';
import { csvCell, resultsCsv } from '../../src/slack/results-csv.js';

describe('results CSV', () => {
  it('prefixes cells that start like a formula (= + - @ tab CR) with an apostrophe, and only those', () => {
    expect(['=1+1', '+1', '-2', '@SUM(A1)', '\tx', '\rx'].map(csvCell)).toEqual(["'=1+1", "'+1", "'-2", "'@SUM(A1)", "'\tx", `"'\rx"`]);
    expect(['web-1', 'a=b', '', 'i-bp1'].map(csvCell)).toEqual(['web-1', 'a=b', '', 'i-bp1']);
  });

  it('quotes cells with commas, quotes or line breaks, doubling the quotes', () => {
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
  });

  it('one row per id in request order, with the pre-flight name and every kind of result; an id without one says so', () => {
    const preflight: Pick<Preflight, 'readings'> = {
      readings: new Map([
        ['i-a', { id: 'i-a', found: true, name: 'web-a', phase: 'running', rawStatus: 'Running', rebooting: false }],
        ['i-b', { id: 'i-b', found: false }],
      ]),
    };
    const csv = resultsCsv({ ids: ['i-a', 'i-b', 'i-c', 'i-d', 'i-e'] }, [
      { id: 'i-b', status: 'failed', code: 'InvalidInstanceId.NotFound', message: 'not found, at all', requestId: 'R-1' },
      { id: 'i-a', status: 'verified', detail: 'back up, running (after 3s) (web-a); restart seen' },
      { id: 'i-c', status: 'unknown', reason: '-the call timed out' },
      { id: 'i-d', status: 'succeeded' },
    ], preflight);
    expect(csv.split('\r\n')).toEqual([
      'instance_id,name,status,code,message,request_id',
      'i-a,web-a,verified,,"back up, running (after 3s) (web-a); restart seen",',
      'i-b,,failed,InvalidInstanceId.NotFound,"not found, at all",R-1',
      "i-c,,unknown,,'-the call timed out,",
      'i-d,,succeeded,,,',
      'i-e,,no result,,,',
      '',
    ]);
  });
});
