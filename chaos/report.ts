/** The run's output: one line per trial as it finishes, a per-phase table, and one line of figures. */
import { addFigures, ZERO, type Figures } from './observe.js';
import { replicaName, type ReplicaRoles } from './plan.js';
import { PHASES, type TrialResult } from './trial.js';

export function rowName(r: TrialResult): string {
  return r.plan.phase ?? `fault:${r.plan.fault?.name ?? '?'}`;
}

/** Figures that fail the run. slack_doubled (at-least-once after a crash) and unknown do not. */
export function failing(f: Figures): boolean {
  return f.doubled > 0 || f.missingFromThread > 0 || f.slackLost > 0 || f.liveButtons > 0;
}

export function trialLine(r: TrialResult, verbose: boolean): string {
  const p = r.plan;
  const f = r.figures;
  const head = `#${String(p.index).padStart(2, '0')} ${rowName(r).padEnd(22)} ${p.provider.padEnd(10)} n=${String(p.ids.length).padEnd(2)}`;
  const kill = p.phase ? (r.killed ? `killed${r.roles ? ` ${victimName(r.roles)}` : ''}: ${r.killed}` : 'not killed') : (p.fault?.description ?? '');
  const roles = r.roles ? `[cmd→${replicaName(r.roles.command)} click→${replicaName(r.roles.click)}] ` : '';
  const figures = r.error
    ? `ERROR: ${r.error}`
    : `twice=${f.doubled} missing=${f.missingFromThread} lost=${f.slackLost} s_doubled=${f.slackDoubled} unknown=${f.unknown}` +
      (f.contradicted ? ` contradicted=${f.contradicted}` : '') +
      (f.liveButtons ? ` live_buttons=${f.liveButtons}` : '') +
      (r.approveClicks > 1 ? ` (approved after ${r.approveClicks} clicks)` : '');
  const shown = verbose || failing(f) || f.contradicted > 0 ? r.notes : r.notes.filter((n) => !n.startsWith('doubled:'));
  const notes = shown.length ? `\n      ${shown.slice(0, verbose ? 50 : 3).join('\n      ')}` : '';
  return `${head} ${roles}${kill} → ${figures}  ${(r.durationMs / 1000).toFixed(1)}s${notes}`;
}

const victimName = (roles: ReplicaRoles): string => (roles.victim === undefined ? '' : replicaName(roles.victim));

interface Row {
  name: string;
  trials: number;
  killed: number;
  completed: number;
  errors: number;
  figures: Figures;
  ms: number;
}

export function table(results: readonly TrialResult[]): string {
  const rows = new Map<string, Row>();
  for (const r of results) {
    const name = rowName(r);
    const row = rows.get(name) ?? { name, trials: 0, killed: 0, completed: 0, errors: 0, figures: ZERO, ms: 0 };
    row.trials += 1;
    row.killed += r.killed ? 1 : 0;
    row.completed += r.completed ? 1 : 0;
    row.errors += r.error ? 1 : 0;
    row.figures = addFigures(row.figures, r.figures);
    row.ms += r.durationMs;
    rows.set(name, row);
  }
  const header = ['phase', 'trials', 'killed', 'done', 'twice', 'missing', 'lost', 's_doubled', 'unknown', 'contra', 'live_btn', 'errors', 'avg_s'];
  // Phases in their run order, then the fault cases in theirs.
  const order = (name: string): number => {
    const phase = (PHASES as readonly string[]).indexOf(name);
    return phase !== -1 ? phase : PHASES.length + results.findIndex((r) => rowName(r) === name);
  };
  const body = [...rows.values()].sort((x, y) => order(x.name) - order(y.name)).map((r) => [
    r.name,
    r.trials,
    r.name.startsWith('fault:') ? '-' : r.killed,
    r.completed,
    r.figures.doubled,
    r.figures.missingFromThread,
    r.figures.slackLost,
    r.figures.slackDoubled,
    r.figures.unknown,
    r.figures.contradicted,
    r.figures.liveButtons,
    r.errors,
    (r.ms / r.trials / 1000).toFixed(1),
  ]);
  const cells = [header, ...body].map((row) => row.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string => row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(cells[0] ?? []), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

export function total(results: readonly TrialResult[]): Figures {
  return results.reduce((sum, r) => addFigures(sum, r.figures), ZERO);
}

export function figuresLine(killTrials: number, faultTrials: number, f: Figures, errors: number): string {
  return (
    `chaos: trials=${killTrials} doubled=${f.doubled} missing_from_thread=${f.missingFromThread} slack_lost=${f.slackLost} ` +
    `slack_doubled=${f.slackDoubled} unknown=${f.unknown} contradicted=${f.contradicted} live_buttons=${f.liveButtons} ` +
    `fault_trials=${faultTrials} errors=${errors}`
  );
}
