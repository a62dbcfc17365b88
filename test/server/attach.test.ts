/**
 * `trove run -- python train.py`: the child's MLflow calls (made here with the standard library, as the
 * MLflow 3.11 client makes them per the traces) land in the trove run that holds the data versions.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { git, newRepo, trove, write } from '../helpers/repo.js';
import { lastRecord, records } from '../helpers/runs.js';

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

/** What `mlflow.set_experiment(X); with mlflow.start_run(): log_param/metric/artifact/input; end_run()` sends. */
const SCRIPT = String.raw`
import json, os, sys, urllib.request, urllib.error
base = os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/"
run_id = os.environ["MLFLOW_RUN_ID"]
def call(method, path, body=None, raw=None, ctype="application/json"):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
exp_name = sys.argv[1]
st, r = call("GET", "mlflow/experiments/get-by-name?experiment_name=" + urllib.parse.quote_plus(exp_name))
if st == 404:
    assert r["error_code"] == "RESOURCE_DOES_NOT_EXIST", r
    st, r = call("POST", "mlflow/experiments/create", {"name": exp_name}); assert st == 200, r
    exp_id = r["experiment_id"]
else:
    exp_id = r["experiment"]["experiment_id"]
# start_run() with MLFLOW_RUN_ID: the client refuses a run of another experiment than the one set
st, r = call("GET", "mlflow/runs/get?run_uuid=%s&run_id=%s" % (run_id, run_id)); assert st == 200, r
assert r["run"]["info"]["experiment_id"] == exp_id, (r["run"]["info"], exp_id)
art = r["run"]["info"]["artifact_uri"]; assert art == "mlflow-artifacts:/%s/%s/artifacts" % (exp_id, run_id), art
st, r = call("POST", "mlflow/runs/log-parameter", {"run_id": run_id, "run_uuid": run_id, "key": "C", "value": "1.0"}); assert st == 200, r
for step in range(5):
    st, r = call("POST", "mlflow/runs/log-metric", {"run_id": run_id, "key": "loss", "value": 1.0 / (step + 1), "timestamp": 1796141553155 + step, "step": step}); assert st == 200, r
st, r = call("POST", "mlflow/runs/log-inputs", {"run_id": run_id, "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}],
    "dataset": {"name": "iris", "digest": "8f9eb48c", "source_type": "local", "source": json.dumps({"uri": "data/iris.csv"})}}]}); assert st == 200, r
st, r = call("PUT", "mlflow-artifacts/artifacts/%s/%s/artifacts/scaler.gz" % (exp_id, run_id), raw=b"scaler-bytes", ctype="application/octet-stream"); assert st == 200, r
# end_run(): the client marks the run FINISHED; trove keeps it going until the command exits
st, r = call("POST", "mlflow/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1796141556995}); assert st == 200, r
st, r = call("GET", "mlflow/runs/get?run_id=" + run_id); assert r["run"]["info"]["status"] == "RUNNING", r
st, r = call("POST", "mlflow/runs/log-metric", {"run_id": run_id, "key": "after_end_run", "value": 7, "timestamp": 1796141557000, "step": 0}); assert st == 200, r
sys.exit(int(sys.argv[2]))
`;

async function repoWithData(): Promise<string> {
  const dir = await newRepo();
  await write(dir, 'data/iris.csv', 'a,b\n1,2\n');
  expect((await trove(dir, 'add', 'data/iris.csv')).code).toBe(0);
  await write(dir, 'train.py', SCRIPT);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'data');
  return dir;
}

describe('trove run: MLflow code attaches to the run', () => {
  it('records the script\'s params, metrics, dataset and artifact in the run with its data versions; end_run does not end it', async () => {
    const dir = await repoWithData();
    const r = await trove(dir, 'run', '-n', 'attach', '--', 'python3', 'train.py', 'MLflow try out', '0');
    expect(r.code, r.stderr).toBe(0);
    const all = await records(dir);
    expect(all).toHaveLength(1); // no second run was made by the client
    const rec = all[0]!;
    expect(rec).toMatchObject({ name: 'attach', experiment: 'MLflow try out', status: 'FINISHED', exitCode: 0, params: { C: '1.0' } });
    expect(rec.metrics.loss!.map((p) => p.value)).toEqual([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5]);
    expect(rec.metrics.after_end_run).toEqual([{ value: 7, step: 0, ts: 1796141557000 }]);
    expect(rec.inputs).toContainEqual({ path: 'data/iris.csv', oid: sha('a,b\n1,2\n'), type: 'file', size: 8, role: 'workspace' });
    expect(rec.datasets).toEqual([{ name: 'iris', digest: '8f9eb48c', sourceType: 'local', source: '{"uri": "data/iris.csv"}', tags: { 'mlflow.data.context': 'training' } }]);
    expect(rec.outputs).toContainEqual({ path: `mlflow-artifacts/${rec.id}/scaler.gz`, oid: sha('scaler-bytes'), type: 'file', size: 12 });
    // the run is an ordinary trove run: runs list finds it by the data it used
    const list = await trove(dir, 'runs', 'list', '--uses', 'data/iris.csv', '--json');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(rec.id);
  }, 30_000);

  it('a script that fails ends the run FAILED with its exit code; -e fixes the experiment', async () => {
    const dir = await repoWithData();
    // with -e, the script's set_experiment of another name is a mismatch the client reports
    const r = await trove(dir, 'run', '-e', 'fixed', '--', 'python3', 'train.py', 'fixed', '3');
    expect(r.code).toBe(3);
    const rec = await lastRecord(dir);
    expect(rec).toMatchObject({ experiment: 'fixed', status: 'FAILED', exitCode: 3 });
    expect(rec.metrics.loss).toHaveLength(5);
  }, 30_000);
});
