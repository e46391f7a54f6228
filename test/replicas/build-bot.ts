/**
 * Vitest globalSetup of the replica suites: the suites that run the bot as real processes start
 * `node dist/src/main.js` (chaos/bot-process.ts), so the build must be current first. scripts/ensure-build.mjs
 * decides, as `npm start` does: it compiles (`npm run build`) only when a source is newer than the last build,
 * so a run without changes costs a directory walk, not a tsc.
 */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuild } from '../../scripts/ensure-build.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export default function buildBot(): void {
  const { status, reason } = ensureBuild(repoRoot, (why) => {
    console.error(`replica suites: building the bot (${why})…`);
    const result = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '--silent', 'build'], {
      cwd: repoRoot,
      stdio: 'inherit',
      shell: process.platform === 'win32',
    });
    return result.status ?? 1;
  });
  if (status !== 0) throw new Error(`npm run build failed (${reason ?? 'build needed'}): the replica suites need dist/src/main.js`);
}
