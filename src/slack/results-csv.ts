/**
 * The whole per-instance table of a job as CSV (RFC 4180: https://www.rfc-editor.org/rfc/rfc4180), for the
 * file a large job's thread gets besides its compact messages. Cells are cloud text and names people chose,
 * so a cell a spreadsheet would run as a formula is prefixed with an apostrophe
 * (https://owasp.org/www-community/attacks/CSV_Injection).
 */
import type { Job } from '../domain/job.js';
import type { JobOutcome } from '../domain/outcome.js';
import type { Preflight } from '../domain/preflight.js';

export const RESULTS_CSV_HEADER = ['instance_id', 'name', 'status', 'code', 'message', 'request_id'] as const;

/** Characters that make a spreadsheet read a cell as a formula when they come first. */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One cell, defused and quoted where it needs to be. */
export function csvCell(value: string): string {
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function outcomeCells(o: JobOutcome | undefined): [status: string, code: string, message: string, requestId: string] {
  if (o === undefined) return ['no result', '', '', ''];
  switch (o.status) {
    case 'failed':
      return [o.status, o.code, o.message, o.requestId ?? ''];
    case 'unknown':
    case 'not_started':
    case 'cancelled':
      return [o.status, '', o.reason, ''];
    case 'succeeded':
    case 'checked':
      return [o.status, '', o.detail ?? '', ''];
    case 'verified':
    case 'unconfirmed':
    case 'not_back':
      return [o.status, '', o.detail, ''];
  }
}

/** Every id of the job, in request order, with its name (from pre-flight) and its result; CRLF line ends. */
export function resultsCsv(job: Pick<Job, 'ids'>, outcomes: readonly JobOutcome[], preflight: Pick<Preflight, 'readings'>): string {
  const byId = new Map(outcomes.map((o) => [o.id, o]));
  const rows = job.ids.map((id) => {
    const reading = preflight.readings.get(id);
    const name = reading?.found && reading.name ? reading.name : '';
    return [id, name, ...outcomeCells(byId.get(id))];
  });
  return [[...RESULTS_CSV_HEADER], ...rows].map((cells) => cells.map(csvCell).join(',')).join('\r\n') + '\r\n';
}
