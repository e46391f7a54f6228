// Runs before `npm start` (after scripts/ensure-deps.mjs): compiles with `npm run build` only when a
// source is newer than the last build, so a start without changes goes straight to dist/src/main.js.
//
// Why mtimes and not `tsc --incremental`: with its build info and nothing changed, tsc still loads and
// checks the whole program (about 4.4 s measured on the 2-core CI machine, against tens of
// milliseconds for this walk); see the README, "Running in production".
//
// The stamp dist/.build-stamp carries the time the last successful build *started*, so a source saved
// while tsc was running still counts as newer next time. A deleted source file changes its folder's
// mtime, so folders are compared too. `npm run build` on its own writes no stamp: the next start then
// builds once more.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Everything `tsc -p tsconfig.build.json` reads (its `include`), plus what decides how it compiles. */
export const SOURCE_DIRS = ['src', 'commands', 'bench', 'chaos'];
export const SOURCE_FILE_PATTERN = /^(tsconfig.*\.json|package-lock\.json)$/;
export const STAMP = 'dist/.build-stamp';
export const ENTRY = 'dist/src/main.js';

/**
 * The decision, over facts only: why a build is needed, or null when the output is up to date.
 * @param {{ entryExists: boolean, stampMs: number | undefined, newestSourceMs: number }} facts
 * @returns {string | null}
 */
export function buildReason({ entryExists, stampMs, newestSourceMs }) {
  if (!entryExists) return `${ENTRY} is missing`;
  if (stampMs === undefined) return `${STAMP} is missing`;
  if (newestSourceMs > stampMs) return 'a source changed since the last build';
  return null;
}

/**
 * The newest mtime among the sources under `root` (files and folders), 0 when there are none.
 * @param {string} root
 * @returns {number}
 */
export function newestSourceMtime(root) {
  let newest = 0;
  const visit = (path) => {
    const stat = statSync(path);
    newest = Math.max(newest, stat.mtimeMs);
    if (!stat.isDirectory()) return;
    for (const name of readdirSync(path)) visit(join(path, name));
  };
  for (const dir of SOURCE_DIRS) if (existsSync(join(root, dir))) visit(join(root, dir));
  for (const name of readdirSync(root)) if (SOURCE_FILE_PATTERN.test(name)) visit(join(root, name));
  return newest;
}

/**
 * The facts `buildReason` decides on, read from the disk.
 * @param {string} root
 */
export function readBuildFacts(root) {
  const stamp = join(root, STAMP);
  return {
    entryExists: existsSync(join(root, ENTRY)),
    stampMs: existsSync(stamp) ? statSync(stamp).mtimeMs : undefined,
    newestSourceMs: newestSourceMtime(root),
  };
}

/**
 * Builds `root` when needed. `build` is told why, runs the compiler and returns its exit status.
 * @param {string} root
 * @param {(reason: string) => number} build
 * @returns {{ built: boolean, reason: string | null, status: number }}
 */
export function ensureBuild(root, build) {
  const reason = buildReason(readBuildFacts(root));
  if (reason === null) return { built: false, reason, status: 0 };
  const stamp = join(root, STAMP);
  // A failed build must not leave the previous stamp looking current.
  rmSync(stamp, { force: true });
  const startedAt = new Date();
  const status = build(reason);
  if (status === 0) {
    mkdirSync(dirname(stamp), { recursive: true });
    writeFileSync(stamp, `${startedAt.toISOString()}\n`);
    utimesSync(stamp, startedAt, startedAt);
  }
  return { built: true, reason, status };
}

function npmRunBuild(reason) {
  console.error(`reboot-bot: building (${reason})…`);
  const windows = process.platform === 'win32';
  // Node ≥ 20.12 spawns a .cmd only through a shell (https://nodejs.org/en/blog/vulnerability/april-2024-security-releases-2).
  const result = spawnSync(windows ? 'npm.cmd' : 'npm', ['run', '--silent', 'build'], { stdio: 'inherit', shell: windows });
  return result.status ?? 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // npm runs scripts from the package root.
  const { status } = ensureBuild(process.cwd(), npmRunBuild);
  process.exit(status);
}
