import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { dataKey, RunIndex, runKey, type LineageGraph } from '../../src/core/runs/index-db.js';
import { renderLineage, renderLineageText } from '../../src/core/runs/lineage-render.js';
import { newRunRecord, ulid, type RunRecord } from '../../src/core/runs/record.js';

// Distinct 8-digit prefixes so that prefix lookups and short oids tell them apart.
const oid = (n: number) => `sha256:${String(n).padStart(8, '0').padEnd(64, 'f')}`;
let clock = Date.parse('2026-01-01T00:00:00Z');

function rec(o: Partial<RunRecord> & { ins?: [string, string][]; outs?: [string, string | null][] } = {}): RunRecord {
  const now = (clock += 1000);
  const { ins = [], outs = [], ...rest } = o;
  return newRunRecord({
    command: ['python', 'x.py'],
    status: 'FINISHED',
    end: new Date(now + 500).toISOString(),
    exitCode: 0,
    inputs: ins.map(([path, o]) => ({ path, oid: o, type: 'file', size: 1 })),
    outputs: outs.map(([path, o]) => (o === null
      ? { path, oid: null, produced: false }
      : { path, oid: o, type: 'file', size: 1 })),
    ...rest,
    id: rest.id ?? ulid(now),
  }, now);
}

function memIndex(records: RunRecord[]): RunIndex {
  const idx = RunIndex.open(':memory:');
  idx.apply({ upsert: records.map((r) => ({ record: r, file: `${r.id}.json`, mtimeMs: 1, size: 1 })) });
  return idx;
}

function tmpDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'trove-runs-'));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const keys = (g: LineageGraph) => g.nodes.map((n) => n.key).sort();
const edgeSet = (g: LineageGraph) => g.edges.map((e) => `${e.from} -${e.kind}-> ${e.to}`).sort();

describe('RunIndex: staleness and refresh', () => {
  it('loads new and changed files only, drops removed ones, remembers failures', async () => {
    const dir = tmpDir();
    const idx = RunIndex.open(join(dir, 'index.db'));
    onTestFinished(() => idx.close());
    const a = rec({ name: 'a' });
    const b = rec({ name: 'b' });
    const byFile = new Map([[`${a.id}.json`, a], [`${b.id}.json`, b]]);
    const loaded: string[] = [];
    const load = (f: { file: string }) => {
      loaded.push(f.file);
      const r = byFile.get(f.file);
      if (!r) throw new Error('broken');
      return r;
    };
    let stats = [{ file: `${a.id}.json`, mtimeMs: 10, size: 100 }, { file: `${b.id}.json`, mtimeMs: 10, size: 100 },
      { file: 'bad.json', mtimeMs: 10, size: 5 }];
    let res = await idx.refresh(stats, load);
    expect(res.loaded).toBe(2);
    expect(res.problems.map((p) => p.file)).toEqual(['bad.json']);
    expect(idx.count()).toBe(2);
    expect(idx.failedFiles()).toEqual([{ file: 'bad.json', error: 'broken' }]);

    loaded.length = 0;
    res = await idx.refresh(stats, load);
    expect(loaded).toEqual([]); // nothing changed, the bad file is not re-read either

    a.name = 'a2';
    stats = [{ ...stats[0]!, mtimeMs: 11 }, stats[1]!];
    res = await idx.refresh(stats, load);
    expect(loaded).toEqual([`${a.id}.json`]);
    expect(res.removed).toBe(1);
    expect(idx.list().map((v) => v.name).sort()).toEqual(['a2', 'b']);
    expect(idx.failedFiles()).toEqual([]);

    res = await idx.refresh([stats[1]!], load);
    expect(res.removed).toBe(1);
    expect(idx.list().map((v) => v.name)).toEqual(['b']);
  });

  it('persists across opens and replaces a file that is not a database', async () => {
    const dir = tmpDir();
    const path = join(dir, 'index.db');
    const r = rec({ name: 'kept' });
    let idx = RunIndex.open(path);
    await idx.refresh([{ file: `${r.id}.json`, mtimeMs: 1, size: 1 }], () => r);
    idx.close();
    idx = RunIndex.open(path);
    expect(idx.list().map((v) => v.name)).toEqual(['kept']);
    expect(idx.plan([{ file: `${r.id}.json`, mtimeMs: 1, size: 1 }])).toEqual({ load: [], remove: [] });
    idx.close();

    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not sqlite, just text that is long enough to have a header '.repeat(10));
    idx = RunIndex.open(junk);
    expect(idx.count()).toBe(0);
    idx.close();
  });
});

describe('RunIndex.list', () => {
  const runs = [
    rec({ name: 'prep', experiment: 'e1', ins: [['data/raw.csv', oid(1)]], outs: [['data/feat.csv', oid(2)]] }),
    rec({ name: 'train-1', experiment: 'e1', params: { lr: '0.1' },
      metrics: { acc: [{ value: 0.5, step: 0, ts: 1 }, { value: 0.9, step: 2, ts: 3 }, { value: 0.7, step: 1, ts: 2 }] },
      ins: [['data/feat.csv', oid(2)]], outs: [['models/m.bin', oid(3)]] }),
    rec({ name: 'train-2', experiment: 'e2', params: { lr: '0.01' }, metrics: { acc: [{ value: 0.8, step: 0, ts: 1 }] },
      tags: { best: 'no' }, ins: [['data/feat.csv', oid(4)]], outs: [['models/m.bin', null]], status: 'FAILED', exitCode: 1 }),
  ];
  const idx = memIndex(runs);
  const names = (q: Parameters<RunIndex['list']>[0]) => idx.list(q).map((v) => v.name);

  it.each([
    [{}, ['train-2', 'train-1', 'prep']],
    [{ experiment: 'e1' }, ['train-1', 'prep']],
    [{ filter: 'metrics.acc > 0.85' }, ['train-1']], // last value = largest step, not last logged
    [{ filter: 'params.lr IS NOT NULL', orderBy: 'params.lr' }, ['train-2', 'train-1']],
    [{ orderBy: 'metrics.acc DESC' }, ['train-1', 'train-2', 'prep']],
    [{ limit: 1 }, ['train-2']],
    [{ usesOid: oid(2) }, ['train-1']],
    [{ usesPath: 'data/feat.csv' }, ['train-2', 'train-1']],
    [{ producedOid: oid(2) }, ['prep']],
    [{ producedPath: 'models/m.bin' }, ['train-1']], // train-2 did not produce it
    [{ usesPath: 'data/feat.csv', experiment: 'e2', filter: "status = 'FAILED'" }, ['train-2']],
  ])('%j', (q, expected) => {
    expect(names(q)).toEqual(expected);
  });

  it('returns full views and fails fast on a bad filter', () => {
    const v = idx.get(runs[1]!.id)!;
    expect(v).toMatchObject({ name: 'train-1', status: 'FINISHED', exitCode: 0, params: { lr: '0.1' }, metrics: { acc: 0.9 } });
    expect(v.start).toBe(Date.parse(runs[1]!.start));
    expect(idx.get('01ZZZZZZZZZZZZZZZZZZZZZZZZ')).toBeUndefined();
    expect(() => idx.list({ filter: 'metrics.acc >' })).toThrow(expect.objectContaining({ code: 'BAD_QUERY' }));
  });

  it('resolves oid prefixes', () => {
    expect(idx.resolveOid('0000000')).toHaveLength(4);
    expect(idx.resolveOid(oid(3).slice(0, 15))).toEqual([oid(3)]);
    expect(idx.resolveOid('sha256:f')).toEqual([]);
    expect(idx.resolveOid('0000000_')).toEqual([]); // LIKE wildcards are literal
  });

  it('answers over 10,000 runs', () => {
    const big = RunIndex.open(':memory:');
    const records: RunRecord[] = [];
    for (let i = 0; i < 10_000; i++) {
      records.push(rec({
        name: `run-${i}`, experiment: `exp${i % 5}`,
        params: { lr: String(i / 10_000), opt: i % 2 ? 'adam' : 'sgd', seed: String(i) },
        metrics: { acc: [{ value: (i % 100) / 100, step: 0, ts: 0 }], loss: [{ value: 1 - (i % 100) / 100, step: 0, ts: 0 }] },
        tags: { batch: String(i % 10) },
        ins: [['data/raw.csv', oid(i % 3)]], outs: [[`models/m${i}.bin`, oid(100_000 + i)]],
      }));
    }
    big.apply({ upsert: records.map((r) => ({ record: r, file: `${r.id}.json`, mtimeMs: 1, size: 1 })) });
    const hits = big.list({ filter: "metrics.acc >= 0.99 and params.opt = 'adam'", orderBy: 'params.lr DESC' });
    expect(hits).toHaveLength(100);
    expect(hits[0]!.name).toBe('run-9999');
    expect(big.list({ experiment: 'exp1', usesOid: oid(0), limit: 5 })).toHaveLength(5);
    expect(big.list({ producedOid: oid(100_000 + 1234) }).map((v) => v.name)).toEqual(['run-1234']);
    big.close();
  });
});

describe('RunIndex.lineage', () => {
  // raw --featurize--> features --train--> model (+ scaler); eval reads model → report
  const featurize = rec({ name: 'featurize', ins: [['data/raw.csv', oid(1)]], outs: [['data/features.csv', oid(2)]] });
  const train = rec({ name: 'train', ins: [['data/features.csv', oid(2)], ['params.yaml', oid(9)]],
    outs: [['models/model.bin', oid(3)], ['models/scaler.bin', oid(4)]] });
  const evaluate = rec({ name: 'eval', ins: [['models/model.bin', oid(3)]], outs: [['report.json', oid(5)]] });
  const idx = memIndex([featurize, train, evaluate]);

  it('walks a chain upstream from a data version', () => {
    const g = idx.lineage({ oid: oid(3), path: 'models/model.bin' }, 'upstream');
    expect(g.root).toBe(dataKey(oid(3)));
    expect(keys(g)).toEqual([dataKey(oid(1)), dataKey(oid(2)), dataKey(oid(3)), dataKey(oid(9)),
      runKey(featurize.id), runKey(train.id)].sort());
    expect(edgeSet(g)).toEqual([
      `${dataKey(oid(1))} -input-> ${runKey(featurize.id)}`,
      `${dataKey(oid(2))} -input-> ${runKey(train.id)}`,
      `${dataKey(oid(9))} -input-> ${runKey(train.id)}`,
      `${runKey(featurize.id)} -output-> ${dataKey(oid(2))}`,
      `${runKey(train.id)} -output-> ${dataKey(oid(3))}`,
    ].sort());
    expect(g.truncated).toBe(false);
  });

  it('walks a chain downstream from a data version', () => {
    const g = idx.lineage({ oid: oid(1) }, 'downstream');
    expect(keys(g)).toEqual([1, 2, 3, 4, 5].map((n) => dataKey(oid(n)))
      .concat([featurize.id, train.id, evaluate.id].map(runKey)).sort());
    expect(g.nodes.find((n) => n.key === dataKey(oid(1)))).toMatchObject({ path: 'data/raw.csv' });
    expect(edgeSet(g)).toContain(`${dataKey(oid(3))} -input-> ${runKey(evaluate.id)}`);
  });

  it('limits the depth', () => {
    expect(keys(idx.lineage({ oid: oid(3) }, 'upstream', 0))).toEqual([dataKey(oid(3))]);
    expect(keys(idx.lineage({ oid: oid(3) }, 'upstream', 1))).toEqual(
      [dataKey(oid(2)), dataKey(oid(3)), dataKey(oid(9)), runKey(train.id)].sort());
    expect(keys(idx.lineage({ oid: oid(1) }, 'downstream', 2))).toEqual(
      [1, 2, 3, 4].map((n) => dataKey(oid(n))).concat([featurize.id, train.id].map(runKey)).sort());
  });

  it('starts from a run', () => {
    const g = idx.lineage({ runId: train.id }, 'downstream');
    expect(g.root).toBe(runKey(train.id));
    // downstream from a run: its outputs and onwards, and its inputs (not walked on)
    expect(keys(g)).toEqual([dataKey(oid(2)), dataKey(oid(3)), dataKey(oid(4)), dataKey(oid(5)), dataKey(oid(9)),
      runKey(evaluate.id), runKey(train.id)].sort());
    expect(edgeSet(g)).toContain(`${dataKey(oid(9))} -input-> ${runKey(train.id)}`);
    // upstream from a run: its inputs and onwards, and its outputs (not walked on: eval is not there)
    const up = idx.lineage({ runId: train.id }, 'upstream');
    expect(keys(up)).toEqual([dataKey(oid(1)), dataKey(oid(2)), dataKey(oid(3)), dataKey(oid(4)), dataKey(oid(9)),
      runKey(featurize.id), runKey(train.id)].sort());
    expect(edgeSet(up)).toContain(`${runKey(train.id)} -output-> ${dataKey(oid(3))}`);
    const text = renderLineageText(up);
    expect(text).toMatch(/^run train \S+ FINISHED\n/);
    expect(text).toContain('output models/model.bin (');
    expect(text).toContain('output models/scaler.bin (');
    expect(text).toContain('input data/features.csv (');
    expect(text).toContain('produced by run featurize');
    expect(renderLineageText(g)).toContain('input params.yaml (');
    expect(keys(idx.lineage({ runId: train.id }, 'upstream', 1))).toEqual(
      [dataKey(oid(2)), dataKey(oid(3)), dataKey(oid(4)), dataKey(oid(9)), runKey(train.id)].sort());
    expect(keys(idx.lineage({ runId: train.id }, 'upstream', 0))).toEqual([runKey(train.id)]);
    expect(() => idx.lineage({ runId: '01ZZZZZZZZZZZZZZZZZZZZZZZZ' }, 'upstream'))
      .toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });

  it('returns the lone node for data no run touched', () => {
    const g = idx.lineage({ oid: oid(777), path: 'x' }, 'upstream');
    expect(g.nodes).toHaveLength(1);
    expect(renderLineageText(g)).toContain('no recorded run produced this');
  });

  it('shares nodes in a diamond', () => {
    const a = rec({ name: 'a', ins: [['raw', oid(1)]], outs: [['x', oid(2)]] });
    const b = rec({ name: 'b', ins: [['raw', oid(1)]], outs: [['y', oid(3)]] });
    const c = rec({ name: 'c', ins: [['x', oid(2)], ['y', oid(3)]], outs: [['z', oid(4)]] });
    const d = memIndex([a, b, c]);
    const g = d.lineage({ oid: oid(4) }, 'upstream');
    expect(g.nodes).toHaveLength(7);
    expect(g.edges).toHaveLength(7);
    const text = renderLineageText(g);
    expect(text.match(/raw \(/g)).toHaveLength(2);
    expect(text).toContain('(see above)');
    const down = d.lineage({ oid: oid(1) }, 'downstream');
    expect(down.nodes).toHaveLength(7);
  });

  it('stops on cycles and at maxNodes', () => {
    // r1: a → b, r2: b → a (e.g. a file rewritten back to an earlier version), r3 reads and writes c.
    const r1 = rec({ name: 'r1', ins: [['a', oid(1)]], outs: [['b', oid(2)]] });
    const r2 = rec({ name: 'r2', ins: [['b', oid(2)]], outs: [['a', oid(1)]] });
    const r3 = rec({ name: 'r3', ins: [['c', oid(3)]], outs: [['c', oid(3)]] });
    const d = memIndex([r1, r2, r3]);
    for (const dir of ['upstream', 'downstream'] as const) {
      const g = d.lineage({ oid: oid(1) }, dir);
      expect(keys(g)).toEqual([dataKey(oid(1)), dataKey(oid(2)), runKey(r1.id), runKey(r2.id)].sort());
      expect(g.edges).toHaveLength(4);
      expect(renderLineageText(g)).toContain('(see above)');
      const self = d.lineage({ oid: oid(3) }, dir);
      expect(self.nodes).toHaveLength(2);
    }
    const capped = d.lineage({ oid: oid(1) }, 'upstream', Infinity, { maxNodes: 2 });
    expect(capped.nodes).toHaveLength(2);
    expect(capped.truncated).toBe(true);
  });

  it('renders text, json, dot and mermaid', () => {
    const g = idx.lineage({ oid: oid(3) }, 'upstream');
    const text = renderLineage(g, 'text');
    expect(text.split('\n')[0]).toBe('models/model.bin (00000003ffff)');
    expect(text).toContain(`└─ produced by run train ${train.id} FINISHED`);
    expect(text).toMatch(/ {3}├─ input data\/features\.csv/);
    expect(text).toMatch(/\n {3}│ {2}└─ produced by run featurize/);
    expect(text).toMatch(/\n {3}└─ input params\.yaml/);
    const json = JSON.parse(renderLineage(g, 'json'));
    expect(json.depth).toBeNull();
    expect(json.nodes).toHaveLength(g.nodes.length);
    const dot = renderLineage(g, 'dot');
    expect(dot).toMatch(/^digraph lineage \{/);
    expect(dot).toContain(`"${runKey(train.id)}" -> "${dataKey(oid(3))}" [label="output"];`);
    const mer = renderLineage(g, 'mermaid');
    expect(mer.split('\n')[0]).toBe('flowchart LR');
    expect(mer).toMatch(/n\d+ -->\|input\| n\d+/);
  });

  it('escapes hostile names in every format', () => {
    const evil = rec({ name: 'x"];\u001b[31m<b>#1&`\\', ins: [['in "q".csv', oid(1)]], outs: [['o\u202e.csv', oid(2)]] });
    const d = memIndex([evil]);
    const g = d.lineage({ oid: oid(2) }, 'upstream');
    const text = renderLineage(g, 'text');
    expect(text).not.toMatch(/[\u001b\u202e]/);
    expect(text).toContain('\\u{1b}');
    const dot = renderLineage(g, 'dot');
    expect(dot).toContain('run x\\"];\\\\u{1b}[31m<b>#1&`\\\\');
    expect(dot).not.toMatch(/[\u001b\u202e]/);
    const mer = renderLineage(g, 'mermaid');
    expect(mer).toContain('run x#34;];\\u{1b}[31m#60;b#62;#35;1#38;#96;\\');
    expect(mer).toContain('in #34;q#34;.csv');
    // every node line keeps exactly its own two quotes
    for (const line of mer.split('\n').filter((l) => l.includes('["'))) expect(line.match(/"/g)).toHaveLength(2);
  });
});
