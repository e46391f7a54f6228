/**
 * A job's whole record as one CSV file (RFC 4180: https://www.rfc-editor.org/rfc/rfc4180) for `/reboot audit`:
 * the request itself, every audit-trail entry in order, then every instance with its result. One table with a
 * `record` column saying which kind each row is, so it opens as one sheet. Cells go through csvCell
 * (src/slack/results-csv.ts), which defuses anything a spreadsheet would run as a formula.
 */
import type { Job } from '../domain/job.js';
import type { JobOutcome } from '../domain/outcome.js';
import type { Preflight } from '../domain/preflight.js';
import type { AuditEntry } from '../store/contract.js';
import { csvCell, outcomeCells } from './results-csv.js';

export const AUDIT_CSV_HEADER = ['record', 'at', 'event', 'actor', 'instance_id', 'name', 'status', 'code', 'message', 'request_id', 'data'] as const;

type Row = Record<(typeof AUDIT_CSV_HEADER)[number], string>;

const EMPTY: Row = Object.fromEntries(AUDIT_CSV_HEADER.map((h) => [h, ''])) as Row;

function iso(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString();
}

function requestRow(job: Job): Row {
  const { ids, ...rest } = job;
  return { ...EMPTY, record: 'request', at: iso(job.createdAt), event: job.state, actor: job.requester, data: JSON.stringify({ ...rest, instances: ids.length }) };
}

function auditRow(entry: AuditEntry): Row {
  return { ...EMPTY, record: 'audit', at: iso(entry.at), event: entry.event, actor: entry.actor, data: entry.data === null || entry.data === undefined ? '' : JSON.stringify(entry.data) };
}

export function auditCsv(job: Job, trail: readonly AuditEntry[], outcomes: readonly JobOutcome[], preflight: Pick<Preflight, 'readings'>): string {
  const byId = new Map(outcomes.map((o) => [o.id, o]));
  const instances = job.ids.map((id): Row => {
    const reading = preflight.readings.get(id);
    const [status, code, message, requestId] = outcomeCells(byId.get(id));
    const name = reading?.found && reading.name ? reading.name : '';
    return { ...EMPTY, record: 'instance', instance_id: id, name, status, code, message, request_id: requestId };
  });
  const rows = [requestRow(job), ...trail.map(auditRow), ...instances];
  return [[...AUDIT_CSV_HEADER], ...rows.map((r) => AUDIT_CSV_HEADER.map((h) => r[h]))].map((cells) => cells.map(csvCell).join(',')).join('\r\n') + '\r\n';
}
