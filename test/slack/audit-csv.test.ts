import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.js';
import type { Preflight } from '../../src/domain/preflight.js';
import { AUDIT_CSV_HEADER, auditCsv } from '../../src/slack/audit-csv.js';
import { storedJob } from '../helpers/fixtures.js';

const job: Job = storedJob({
  state: 'completed',
  ids: ['i-1', 'i-2', 'i-3'],
  reason: '=HYPERLINK("http://evil")',
  createdAt: Date.UTC(2026, 0, 2, 3, 4, 5),
  expiresAt: 0,
  cardTs: '1.2',
});

const preflight: Pick<Preflight, 'readings'> = {
  readings: new Map([['i-1', { id: 'i-1', found: true, name: '@web-1', state: 'running' } as never]]),
};

describe('auditCsv', () => {
  it('the request, every audit entry in order, then every instance with its result; formulas defused', () => {
    const csv = auditCsv(
      job,
      [
        { jobId: job.id, event: 'requested', actor: 'U0REQ', at: Date.UTC(2026, 0, 2, 3, 4, 5), data: { text: '+cmd' } },
        { jobId: job.id, event: 'approved', actor: 'U0A1', at: Date.UTC(2026, 0, 2, 3, 5, 0), data: null },
      ],
      [
        { id: 'i-1', status: 'verified', detail: 'back up' },
        { id: 'i-2', status: 'failed', code: 'Bad', message: '-1, "quoted"', requestId: 'REQ-1' },
      ],
      preflight,
    );
    expect(csv.endsWith('\r\n')).toBe(true);
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe(AUDIT_CSV_HEADER.join(','));
    expect(lines[1]).toMatch(/^request,2026-01-02T03:04:05\.000Z,completed,U0REQ,,,,,,,"\{""id"":""r-aaaaaaaaaa""/);
    expect(lines[1]).toContain('""reason"":""=HYPERLINK');
    expect(lines[1]).toContain('""instances"":3');
    expect(lines[2]).toBe('audit,2026-01-02T03:04:05.000Z,requested,U0REQ,,,,,,,"{""text"":""+cmd""}"');
    expect(lines[3]).toBe('audit,2026-01-02T03:05:00.000Z,approved,U0A1,,,,,,,');
    expect(lines[4]).toBe("instance,,,,i-1,'@web-1,verified,,back up,,");
    expect(lines[5]).toBe(`instance,,,,i-2,,failed,Bad,"'-1, ""quoted""",REQ-1,`);
    expect(lines[6]).toBe('instance,,,,i-3,,no result,,,,');
    expect(lines).toHaveLength(7);
  });
});
