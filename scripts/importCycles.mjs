// Import circles among modules: every relative `import … from`, `export … from`, `import type … from` and
// `import('…')` (also inside a type, `import('./repo.js').Repo`) is an edge. A dynamic import hides a circle
// from the loader, not from a reader, and a type-only circle still ties two layers together, so both count.
// Run over the TypeScript sources (src/**/*.ts, where `./x.js` names `./x.ts`) and the plain JS that tsc
// does not see (src/ui/static/*.js). Used by scripts/check-import-cycles.mjs (run by `npm test`) and
// unit-tested in test/unit/importCycles.test.ts.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const SPEC = /(?:\bimport\s*\(\s*|\bfrom\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;

/** Relative module specifiers in one file's text. Comments are not parsed away: an example in a comment that matches is an edge (rare; rephrase it). */
export function importsOf(text) {
  const out = [];
  for (const m of text.matchAll(SPEC)) out.push(m[2]);
  return out;
}

/** file → files it imports, for every .ts and .js file under dir (paths relative to dir, '/'-separated; `./x.js` from a .ts file names `x.ts`). */
export function importGraph(dir) {
  const graph = new Map();
  const walk = (sub) => {
    for (const e of readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) walk(rel);
      else if (/\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) {
        const ts = rel.endsWith('.ts');
        const deps = importsOf(readFileSync(path.join(dir, rel), 'utf8')).map((s) => {
          const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), s));
          return ts ? target.replace(/\.js$/, '.ts') : target;
        });
        graph.set(rel, [...new Set(deps)]);
      }
    }
  };
  walk('');
  return graph;
}

/** The strongly connected components with more than one module (or a module importing itself), each sorted; Tarjan's algorithm. */
export function findCycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) strong(v);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}
