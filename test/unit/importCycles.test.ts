import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain .mjs script without types
import { findCycles, importGraph, importsOf } from '../../scripts/importCycles.mjs';
import { ROOT, tempDir } from '../helpers/repo.js';

describe('import circles', () => {
  it('finds every relative import form: static, re-export, type-only, dynamic, import() in a type', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export { c } from './c.js';",
      "import './side.js';",
      "const d = await import('./d.js');",
      "let e: import('./e.js').E;",
      "import fs from 'node:fs';",
      "import x from 'pkg/x.js';",
    ].join('\n');
    expect(importsOf(text)).toEqual(['./a.js', '../b.js', './c.js', './side.js', './d.js', './e.js']);
  });

  it('reports strongly connected sets, not a chain, and a module that imports itself', () => {
    const g = new Map<string, string[]>([
      ['a', ['b']], ['b', ['c']], ['c', ['a', 'd']], ['d', []], ['e', ['e']], ['f', ['d']],
    ]);
    expect(findCycles(g)).toEqual([['a', 'b', 'c'], ['e']]);
    expect(findCycles(new Map([['a', ['b']], ['b', []]]))).toEqual([]);
  });

  it('maps ./x.js in a .ts file to x.ts, and sees a circle through a type import', async () => {
    const dir = await tempDir();
    mkdirSync(path.join(dir, 'core'));
    writeFileSync(path.join(dir, 'core/repo.ts'), "import { run } from './runs.js';\nexport class Repo {}\n");
    writeFileSync(path.join(dir, 'core/runs.ts'), "import type { Repo } from './repo.js';\nexport const run = (r: Repo) => r;\n");
    writeFileSync(path.join(dir, 'core/leaf.ts'), "export const x = 1;\n");
    writeFileSync(path.join(dir, 'core/types.d.ts'), "import './repo.js';\n");
    expect(findCycles(importGraph(dir))).toEqual([['core/repo.ts', 'core/runs.ts']]);
  });

  it('src/ has none (the same check `npm test` runs first)', () => {
    expect(findCycles(importGraph(path.join(ROOT, 'src')))).toEqual([]);
  });
});
