/**
 * `trove runs import` of the real MLflow file store in ../shared/mlflow/mlruns-sample: the counts in
 * trove's records equal the folder's (counted here straight from its files), a second import adds
 * nothing, and the imported registry answers `models:/iris-classifier@champion` through the server.
 */
import { existsSync, promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repo } from '../../src/core/repo.js';
import { startServer } from '../../src/server/server.js';
import { newRepo, trove } from '../helpers/repo.js';
import { records } from '../helpers/runs.js';

const SAMPLE = ['/work/shared/mlflow/mlruns-sample', path.resolve(__dirname, '../../../../shared/mlflow/mlruns-sample')].find((p) => existsSync(p))!;

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** What the folder holds, counted from its files. */
function countSample() {
  let runs = 0, params = 0, points = 0, artifacts = 0, datasets = 0;
  const modelDirs: string[] = [];
  for (const e of readdirSync(SAMPLE).filter((d) => /^\d+$/.test(d))) {
    for (const r of readdirSync(path.join(SAMPLE, e)).filter((d) => /^[0-9a-f]{32}$/.test(d))) {
      const rd = path.join(SAMPLE, e, r);
      if (!existsSync(path.join(rd, 'meta.yaml'))) continue;
      runs++;
      params += filesUnder(path.join(rd, 'params')).length;
      for (const f of filesUnder(path.join(rd, 'metrics'))) points += readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).length;
      artifacts += filesUnder(path.join(rd, 'artifacts')).length;
      datasets += existsSync(path.join(rd, 'inputs')) ? readdirSync(path.join(rd, 'inputs')).length : 0;
    }
    const md = path.join(SAMPLE, e, 'models');
    if (existsSync(md)) modelDirs.push(...readdirSync(md).filter((m) => statSync(path.join(md, m)).isDirectory()));
  }
  const reg = path.join(SAMPLE, 'models');
  const names = readdirSync(reg);
  const versions = names.flatMap((n) => readdirSync(path.join(reg, n)).filter((v) => v.startsWith('version-')));
  const aliases = names.flatMap((n) => (existsSync(path.join(reg, n, 'aliases')) ? readdirSync(path.join(reg, n, 'aliases')) : []));
  return { runs, params, points, artifacts, datasets, loggedModels: modelDirs.length, registered: names.length, versions: versions.length, aliases: aliases.length };
}

describe('trove runs import <mlruns>', () => {
  it('imports the sample folder with equal counts, idempotently, and the registry resolves', async () => {
    const want = countSample();
    expect(want.runs).toBeGreaterThan(5);
    const dir = await newRepo();
    const r = await trove(dir, 'runs', 'import', SAMPLE, '--json');
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep).toMatchObject({ runs: want.runs, params: want.params, metricPoints: want.points, artifacts: want.artifacts, datasets: want.datasets,
      loggedModels: want.loggedModels, registeredModels: want.registered, modelVersions: want.versions, aliases: want.aliases, problems: [] });
    const recs = await records(dir);
    expect(recs).toHaveLength(want.runs);
    expect(recs.reduce((n, x) => n + Object.keys(x.params).length, 0)).toBe(want.params);
    expect(recs.reduce((n, x) => n + Object.values(x.metrics).reduce((m, h) => m + h.length, 0), 0)).toBe(want.points);
    expect(recs.reduce((n, x) => n + x.outputs.filter((o) => o.path.startsWith('mlflow-artifacts/')).length, 0)).toBe(want.artifacts);
    expect(recs.filter((x) => x.status === 'FAILED').map((x) => x.name)).toEqual(['broken']);
    // a nested run's parent is the trove id of its parent
    const nested = recs.find((x) => x.tags['mlflow.parentRunId']);
    expect(recs.map((x) => x.id)).toContain(nested!.tags['mlflow.parentRunId']);

    // again: nothing added, nothing changed
    const before = await Promise.all(recs.map((x) => fsp.readFile(path.join(dir, '.trove/runs', `${x.id}.json`), 'utf8')));
    const again = JSON.parse((await trove(dir, 'runs', 'import', SAMPLE, '--json')).stdout);
    expect(again).toMatchObject({ runs: 0, experiments: 0, loggedModels: 0, registeredModels: 0, skipped: want.runs + want.registered });
    const after = await Promise.all(recs.map((x) => fsp.readFile(path.join(dir, '.trove/runs', `${x.id}.json`), 'utf8')));
    expect(after).toEqual(before);
    expect(await records(dir)).toHaveLength(want.runs);

    // models:/iris-classifier@champion as the client loads it
    const srv = await startServer({ root: dir, port: 0 });
    try {
      const api = (p: string) => fetch(`${srv.url}/api/2.0/${p}`).then(async (x) => ({ status: x.status, json: JSON.parse(await x.text()) }));
      const alias = await api('mlflow/registered-models/alias?name=iris-classifier&alias=champion');
      expect(alias.status).toBe(200);
      expect(alias.json.model_version.version).toBe('1');
      const uri = (await api(`mlflow/model-versions/get-download-uri?name=iris-classifier&version=1`)).json.artifact_uri as string;
      const listing = await api(`mlflow-artifacts/artifacts?path=${encodeURIComponent(uri.replace('mlflow-artifacts:/', ''))}`);
      expect(listing.json.files.map((f: { path: string }) => f.path)).toContain('MLmodel');
      const mlmodel = await fetch(`${srv.url}/api/2.0/mlflow-artifacts/artifacts/${uri.replace('mlflow-artifacts:/', '')}/MLmodel`);
      expect(await mlmodel.text()).toContain('flavors:');
    } finally {
      await srv.close();
    }
    // the registry pins the model's tree oid
    const repo = await Repo.open(dir);
    try {
      const { Registry } = await import('../../src/core/runs/registry.js');
      const reg = await new Registry(path.join(repo.troveDir, 'runs/registry')).get('iris-classifier');
      expect(reg.versions[0]!.oid).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(await repo.cache.has(reg.versions[0]!.oid as never, 'tree')).toBe(true);
    } finally {
      repo.close();
    }
  }, 30_000);

  it('never reads outside the folder: an artifact_uri pointing elsewhere resolves inside it', async () => {
    const dir = await newRepo();
    const src = path.join(dir, 'mlruns');
    await fsp.cp(SAMPLE, src, { recursive: true });
    const e = readdirSync(src).find((d) => /^\d{5,}$/.test(d))!;
    const r = readdirSync(path.join(src, e)).find((d) => /^[0-9a-f]{32}$/.test(d) && existsSync(path.join(src, e, d, 'artifacts')))!;
    const meta = path.join(src, e, r, 'meta.yaml');
    await fsp.chmod(meta, 0o644);
    await fsp.writeFile(meta, readFileSync(meta, 'utf8').replace(/artifact_uri: .*/, 'artifact_uri: file:///etc'));
    const out = await trove(dir, 'runs', 'import', 'mlruns', '--json');
    expect(out.code, out.stderr).toBe(0);
    const recs = await records(dir);
    const paths = recs.flatMap((x) => x.outputs.map((o) => o.path));
    expect(paths.some((p) => /passwd|hosts/.test(p))).toBe(false);
  }, 30_000);
});
