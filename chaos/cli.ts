/** Command-line flags of `npm run chaos -- …`. */
import type { ProviderName } from '../src/providers/provider.js';
import { defaultCatalog } from '../src/providers/catalog.js';

const PROVIDERS = defaultCatalog.names;
import { PHASES, type Phase } from './trial.js';

export interface ChaosOptions {
  trials: number;
  seed: number;
  providers: ProviderName[];
  phases: Phase[];
  faults: boolean;
  concurrency: number;
  keep: boolean;
  verbose: boolean;
  /**
   * Bot processes per trial: 1 (one process on a SQLite file, restarted after the kill) or 2 (two replicas on a
   * fresh PostgreSQL database and a Redis key prefix of the trial's own; the survivor of the kill finishes the job).
   */
  replicas: 1 | 2;
}

export const USAGE = `usage: npm run chaos -- [--trials N] [--seed S] [--providers a,b] [--phases p,q] [--no-faults] [--concurrency N] [--replicas N] [--keep] [--verbose]
  --trials N        kill trials (default 40)
  --seed S          seed of the trial plan: provider, phase, fleet and kill timing per trial (default: random, printed)
  --providers a,b   among ${PROVIDERS.join(', ')} (default: all)
  --phases p,q      among ${PHASES.join(', ')} (default: all)
  --faults          run the Slack fault cases after the kill trials (default)
  --no-faults       skip them
  --concurrency N   trials at a time, each with its own bot, fake Slack and simulators (default 2)
  --replicas N      1: one bot process on SQLite, restarted after the kill (default); 2: two replicas on
                    PostgreSQL (REBOOT_CHAOS_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test) and
                    Redis (REBOOT_CHAOS_REDIS_URL, default redis://127.0.0.1:6379): the command goes to one, the
                    click to the other, the one doing the work is killed and the other must finish the job alone
  --keep            keep the temp directory (databases, bot logs) and print its path
  --verbose         print each nonzero finding and the bot log's warnings for failing trials`;

export class UsageError extends Error {}

function list<T extends string>(text: string, allowed: readonly T[], what: string): T[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) if (!(allowed as readonly string[]).includes(item)) throw new UsageError(`unknown ${what}: ${item}`);
  if (items.length === 0) throw new UsageError(`no ${what} given`);
  return [...new Set(items)] as T[];
}

function int(text: string | undefined, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (text === undefined || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} needs an integer from ${min} to ${max}`);
  return n;
}

export function parseArgs(argv: readonly string[]): ChaosOptions {
  const opts: ChaosOptions = {
    trials: 40,
    seed: Math.floor(Math.random() * 2 ** 31),
    providers: [...PROVIDERS],
    phases: [...PHASES],
    faults: true,
    concurrency: 2,
    keep: false,
    verbose: false,
    replicas: 1,
  };
  const args = argv.flatMap((a) => (a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a]));
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = (): string | undefined => args[++i];
    switch (flag) {
      case '--trials':
        opts.trials = int(value(), flag, 0, 10_000);
        break;
      case '--seed':
        opts.seed = int(value(), flag, 0, 2 ** 32 - 1);
        break;
      case '--providers':
        opts.providers = list(value() ?? '', PROVIDERS, 'provider');
        break;
      case '--phases':
        opts.phases = list(value() ?? '', PHASES, 'phase');
        break;
      case '--faults':
        opts.faults = true;
        break;
      case '--no-faults':
        opts.faults = false;
        break;
      case '--concurrency':
        opts.concurrency = int(value(), flag, 1, 8);
        break;
      case '--replicas':
        opts.replicas = int(value(), flag, 1, 2) === 2 ? 2 : 1;
        break;
      case '--keep':
        opts.keep = true;
        break;
      case '--verbose':
        opts.verbose = true;
        break;
      case '--help':
      case '-h':
        throw new UsageError('');
      default:
        throw new UsageError(`unknown argument: ${flag ?? ''}`);
    }
  }
  return opts;
}
