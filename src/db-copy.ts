/**
 * `npm run db:copy -- --from <sqlite file> --to <postgres url>`: the one-off move from SQLite to PostgreSQL
 * (src/store/copy.ts; README, "Moving from SQLite to PostgreSQL"). Prints the rows copied per table; never
 * the URL's password.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { errorMessage } from './errors.js';
import { redact, registerSecrets } from './log.js';
import { copySqliteToPostgres, CopyRefusedError } from './store/copy.js';

const USAGE = 'usage: npm run db:copy -- --from <sqlite file> --to <postgres url>';

const ArgsSchema = z.object({
  from: z.string({ error: 'required: the SQLite file (REBOOT_DB)' }).min(1),
  to: z.string({ error: 'required: the postgres:// URL (REBOOT_DATABASE_URL)' }).refine((url) => URL.canParse(url) && /^postgres(ql)?:$/.test(new URL(url).protocol), 'a postgres:// URL'),
});

/** The URL with its password masked. */
function shown(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.toString();
}

async function main(): Promise<number> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ options: { from: { type: 'string' }, to: { type: 'string' } }, strict: true }));
  } catch (err) {
    console.error(`${errorMessage(err)}\n${USAGE}`);
    return 2;
  }
  const parsed = ArgsSchema.safeParse(values);
  if (!parsed.success) {
    console.error(`${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}\n${USAGE}`);
    return 2;
  }
  const { from, to } = parsed.data;
  const password = new URL(to).password;
  registerSecrets([to, password, safeDecode(password)]);
  try {
    const counts = await copySqliteToPostgres({ from, to });
    process.stdout.write(`copied ${from} to ${shown(to)} in one transaction:\n`);
    for (const { table, rows } of counts) process.stdout.write(`  ${table.padEnd(15)} ${rows}\n`);
    process.stdout.write('Now set REBOOT_DATABASE_URL and start the bot; keep the SQLite file until you are sure.\n');
    return 0;
  } catch (err) {
    // An error may quote the URL; redact masks it and its password (src/log.ts).
    console.error(redact(err instanceof CopyRefusedError ? `refused: ${err.message}` : `copy failed, nothing was written: ${errorMessage(err)}`));
    return 1;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

process.exitCode = await main();
