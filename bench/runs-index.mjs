// Benchmark of the run/lineage index: cold rebuild from 10,000 record files, warm staleness check,
// `runs list --filter --sort` and a 5-level lineage walk. Prints timings; asserts nothing.
// Run: npm run build && node bench/runs-index.mjs [runs=10000]
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunIndex } from '../dist/core/runs/index-db.js';
import { newRunRecord, parseRunRecord, serializeRunRecord, ulid } from '../dist/core/runs/record.js';

const N = Number(process.argv[2] ?? 10_000);
const oid = (n) => `sha256:${String(n).padStart(8, '0').padEnd(64, 'f')}`;
const dir = mkdtempSync(join(tmpdir(), 'trove-bench-runs-'));
const time = (label, f) => {
  const t0 = process.hrtime.bigint();
  const r = f();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`${label.padEnd(44)} ${ms.toFixed(1).padStart(9)} ms`);
  return r;
};
const timeAsync = async (label, f) => {
  const t0 = process.hrtime.bigint();
  const r = await f();
  console.log(`${label.padEnd(44)} ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1).padStart(9)} ms`);
  return r;
};

try {
  const runsDir = join(dir, 'runs');
  (await import('node:fs')).mkdirSync(runsDir);
  let t = Date.parse('2026-01-01T00:00:00Z');
  time(`write ${N} record files`, () => {
    for (let i = 0; i < N; i++) {
      // Five chains of levels 0..4 every 5 runs: level k reads level k-1's output.
      const level = i % 5;
      const rec = newRunRecord({
        id: ulid((t += 1000)), name: `run-${i}`, experiment: `exp${i % 7}`, command: ['python', 'train.py'],
        status: 'FINISHED', end: new Date(t + 500).toISOString(), exitCode: 0,
        params: { lr: String((i % 97) / 1000), opt: i % 2 ? 'adam' : 'sgd', seed: String(i), layers: String(i % 8) },
        metrics: { acc: [{ value: (i % 100) / 100, step: 0, ts: t }], loss: [{ value: 1 - (i % 100) / 100, step: 0, ts: t }] },
        tags: { batch: String(i % 10) },
        inputs: [{ path: `data/l${level}.csv`, oid: oid(level === 0 ? 1 : 1_000_000 + i - 1), type: 'file', size: 10 }],
        outputs: [{ path: `data/l${level + 1}.csv`, oid: oid(1_000_000 + i), type: 'file', size: 10 }],
      }, t);
      writeFileSync(join(runsDir, `${rec.id}.json`), serializeRunRecord(rec));
    }
  });
  const stats = () => readdirSync(runsDir).map((file) => {
    const s = statSync(join(runsDir, file));
    return { file, mtimeMs: s.mtimeMs, size: s.size };
  });
  const load = (f) => parseRunRecord(readFileSync(join(runsDir, f.file), 'utf8'), f.file);

  const idx = RunIndex.open(join(dir, 'index.db'));
  await timeAsync('cold rebuild (stat + parse + index)', () => idx.refresh(stats(), load));
  await timeAsync('warm refresh (stat, nothing changed)', () => idx.refresh(stats(), load));
  const hits = time("list filter acc >= 0.9 and opt = 'adam', sort", () =>
    idx.list({ filter: "metrics.acc >= 0.9 and params.opt = 'adam'", orderBy: 'metrics.acc DESC, params.lr' }));
  console.log(`  → ${hits.length} runs`);
  time('list all, default order', () => idx.list());
  time('list --uses oid', () => idx.list({ usesOid: oid(1) }));
  const last = 1_000_000 + N - 1;
  const up = time('lineage upstream over a 5-level chain', () => idx.lineage({ oid: oid(last) }, 'upstream'));
  console.log(`  → ${up.nodes.length} nodes, ${up.edges.length} edges`);
  const down = time('lineage downstream from the shared raw data', () => idx.lineage({ oid: oid(1) }, 'downstream'));
  console.log(`  → ${down.nodes.length} nodes, ${down.edges.length} edges`);
  idx.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
