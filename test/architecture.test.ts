/**
 * The direction of flow: providers ← domain ← store ← jobs ← slack ← app ← main. A module may import
 * from its own layer and the layers to its left, never from one to its right.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const LAYERS = ['providers', 'domain', 'store', 'jobs', 'slack', 'app', 'main'] as const;

function layerOf(file: string): number | undefined {
  const rel = relative('src', file).split(/[\\/]/);
  const top = rel.length === 1 ? rel[0]!.replace(/\.ts$/, '') : rel[0]!;
  const index = (LAYERS as readonly string[]).indexOf(top);
  return index === -1 ? undefined : index;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('layering', () => {
  it('no module under src/ imports from a layer above its own', () => {
    const upward: string[] = [];
    for (const file of sources('src')) {
      const from = layerOf(file);
      if (from === undefined) continue;
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const to = layerOf(normalize(join(dirname(file), target!)));
        if (to !== undefined && to > from) upward.push(`${file} → ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('the check sees an upward import when there is one', () => {
    expect(layerOf('src/jobs/runner.ts')).toBeGreaterThan(layerOf('src/store/contract.ts')!);
    expect(layerOf('src/slack/outbox.ts')).toBeGreaterThan(layerOf('src/jobs/events.ts')!);
    expect(layerOf('src/app.ts')).toBe(5);
  });
});
