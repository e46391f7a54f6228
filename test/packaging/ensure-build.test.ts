/**
 * scripts/ensure-build.mjs: `npm start` compiles only when a source is newer than the last build.
 * The decision is tested over plain facts; the walk over fixture folders with set mtimes; and the
 * script itself once for real, in a temp project compiled by the repo's own tsc.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildReason, ensureBuild, newestSourceMtime, readBuildFacts, STAMP } from '../../scripts/ensure-build.mjs';

const repo = resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ensure-build-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes `path` under `root` (parents included) and sets its mtime, in seconds since the epoch. */
function put(root: string, path: string, mtimeS: number, text = ''): void {
  const full = join(root, path);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, text);
  utimesSync(full, mtimeS, mtimeS);
}
/** Sets a folder's mtime (writing into it moved it to now). */
function age(root: string, path: string, mtimeS: number): void {
  utimesSync(join(root, path), mtimeS, mtimeS);
}

describe('buildReason', () => {
  it('builds when the entry point or the stamp is missing, or a source is newer than the stamp', () => {
    expect(buildReason({ entryExists: false, stampMs: 2000, newestSourceMs: 1000 })).toMatch(/main\.js is missing/);
    expect(buildReason({ entryExists: true, stampMs: undefined, newestSourceMs: 1000 })).toMatch(/build-stamp is missing/);
    expect(buildReason({ entryExists: true, stampMs: 2000, newestSourceMs: 2001 })).toMatch(/source changed/);
  });

  it('skips when every source is as old as the stamp or older', () => {
    expect(buildReason({ entryExists: true, stampMs: 2000, newestSourceMs: 2000 })).toBeNull();
    expect(buildReason({ entryExists: true, stampMs: 2000, newestSourceMs: 10 })).toBeNull();
  });
});

describe('newestSourceMtime', () => {
  it('looks at the build inputs (src, commands, bench, chaos, tsconfig*.json, package-lock.json) and their folders only', () => {
    const root = tempDir();
    put(root, 'src/a/deep.ts', 1000);
    put(root, 'commands/reboot.ts', 1000);
    put(root, 'tsconfig.json', 1000);
    put(root, 'package-lock.json', 1000);
    // Not inputs of the build: newer, but ignored.
    put(root, 'test/x.test.ts', 9000);
    put(root, 'README.md', 9000);
    for (const dir of ['src/a', 'src', 'commands', 'test']) age(root, dir, 1000);
    expect(newestSourceMtime(root)).toBe(1_000_000);

    put(root, 'src/a/deep.ts', 1500);
    expect(newestSourceMtime(root)).toBe(1_500_000);
    put(root, 'tsconfig.build.json', 1600);
    expect(newestSourceMtime(root)).toBe(1_600_000);
    put(root, 'chaos/run.ts', 1700);
    age(root, 'chaos', 1700);
    expect(newestSourceMtime(root)).toBe(1_700_000);
    put(root, 'package-lock.json', 1800);
    expect(newestSourceMtime(root)).toBe(1_800_000);
    // A deleted source shows as its folder's mtime.
    age(root, 'src/a', 1900);
    expect(newestSourceMtime(root)).toBe(1_900_000);
  });
});

describe('ensureBuild', () => {
  it('builds when a source is newer, stamps the time the build started, skips afterwards, and keeps no stamp after a failed build', () => {
    const root = tempDir();
    put(root, 'src/main.ts', 1000);
    put(root, 'dist/src/main.js', 1100);
    age(root, 'src', 1000);
    const reasons: string[] = [];
    const succeed = (reason: string): number => {
      reasons.push(reason);
      return 0;
    };
    const before = Date.now();
    expect(ensureBuild(root, succeed)).toMatchObject({ built: true, status: 0 });
    expect(reasons).toEqual([expect.stringMatching(/build-stamp is missing/)]);
    const stampMs = statSync(join(root, STAMP)).mtimeMs;
    expect(stampMs).toBeGreaterThanOrEqual(before - 1000);
    expect(stampMs).toBeLessThanOrEqual(Date.now() + 1000);

    expect(ensureBuild(root, succeed)).toEqual({ built: false, reason: null, status: 0 });
    expect(reasons).toHaveLength(1);

    const later = stampMs / 1000 + 5;
    put(root, 'src/main.ts', later);
    expect(ensureBuild(root, () => 2)).toMatchObject({ built: true, status: 2, reason: expect.stringMatching(/source changed/) });
    expect(readBuildFacts(root).stampMs).toBeUndefined();
  });

  it('runs for real: `node scripts/ensure-build.mjs` compiles with `npm run build`, skips while nothing changed, and compiles again after a change', () => {
    const root = tempDir();
    symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
    put(root, 'package.json', Date.now() / 1000, JSON.stringify({ type: 'module', scripts: { build: 'tsc -p tsconfig.build.json' } }));
    put(root, 'tsconfig.json', Date.now() / 1000, JSON.stringify({ compilerOptions: { module: 'NodeNext', target: 'ES2022', outDir: 'dist', rootDir: '.', types: [] } }));
    put(root, 'tsconfig.build.json', Date.now() / 1000, JSON.stringify({ extends: './tsconfig.json', include: ['src'] }));
    put(root, 'src/main.ts', Date.now() / 1000, 'export const version: number = 1;\n');
    const run = () => spawnSync(process.execPath, [join(repo, 'scripts/ensure-build.mjs')], { cwd: root, encoding: 'utf8' });

    const first = run();
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/building \(dist\/src\/main\.js is missing\)/);
    expect(readFileSync(join(root, 'dist/src/main.js'), 'utf8')).toMatch(/version = 1/);

    const second = run();
    expect(second.status).toBe(0);
    expect(second.stderr).toBe('');

    // Saved after the build started (git checkout, an editor): compiled again. A compile error fails
    // the start and leaves no stamp, so the next start tries again.
    const stampS = statSync(join(root, STAMP)).mtimeMs / 1000;
    put(root, 'src/main.ts', stampS + 2, 'export const version: number = "two";\n');
    const third = run();
    expect(third.stderr).toMatch(/building \(a source changed since the last build\)/);
    expect(third.status).not.toBe(0);
    expect(existsSync(join(root, STAMP))).toBe(false);
  });
});
