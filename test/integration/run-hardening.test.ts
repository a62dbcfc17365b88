/**
 * Issue 8, the run items: run ids by prefix or name, empty listings that say why, uncommitted scripts
 * make a run dirty (and are in its stored diff), bad events lines kept in the record, lineage --json
 * and a run's outputs, and `trove run -o` telling the user what to `git add`.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TroveError } from '../../src/core/errors.js';
import { Repo } from '../../src/core/repo.js';
import { compareRuns, lineageOf, showRun } from '../../src/core/runs/queries.js';
import { UNTRACKED_DIFF_LIMITS } from '../../src/core/runs/recorder.js';
import { git, newRepo, tempDir, trove, write } from '../helpers/repo.js';
import { lastRecord } from '../helpers/runs.js';

async function commitAll(dir: string, msg: string): Promise<void> {
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', msg);
}

/** Runs recorded through the library (no child process): name → id. */
async function libraryRuns(dir: string, names: string[]): Promise<string[]> {
  const repo = await Repo.open(dir);
  try {
    const ids: string[] = [];
    for (const name of names) ids.push((await (await repo.startRun({ name })).end({ exitCode: 0 })).record.id);
    return ids;
  } finally {
    repo.close();
  }
}

describe('run ids and names', () => {
  it('an ambiguous prefix lists the candidates; a unique name works wherever an id does', async () => {
    const dir = await newRepo();
    await write(dir, 'data/raw.csv', 'raw\n');
    await trove(dir, 'add', 'data/raw.csv');
    await commitAll(dir, 'data');
    const [a, b] = await libraryRuns(dir, ['prep', 'twin']);
    const repo = await Repo.open(dir);
    let train: string;
    try {
      const run = await repo.startRun({ name: 'train', inputs: ['data/raw.csv'], outputs: ['model.bin'] });
      await fsp.writeFile(path.join(dir, 'model.bin'), 'm\n');
      train = (await run.end({ exitCode: 0 })).record.id;
    } finally {
      repo.close();
    }
    const [twin2] = await libraryRuns(dir, ['twin']);

    // ids made within the same test share their first characters: "0" fits all of them
    const amb = await trove(dir, 'runs', 'show', train.slice(0, 1));
    expect(amb.code).toBe(2);
    expect(amb.stderr).toContain('is ambiguous: 4 runs match');
    for (const id of [a, b, train, twin2]) expect(amb.stderr).toContain(id);
    expect(amb.stderr).toContain(`${train} (train)`);

    // a unique name: runs show and checkout --run from the CLI; compare and lineage in-process
    expect(JSON.parse((await trove(dir, 'runs', 'show', 'train', '--json')).stdout).id).toBe(train);
    await fsp.writeFile(path.join(dir, 'model.bin'), 'changed\n');
    expect((await trove(dir, 'checkout', '--run', 'train', '--outputs', '--force')).code).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'model.bin'), 'utf8')).toBe('m\n');
    const r2 = await Repo.open(dir);
    try {
      // (and an id prefix in lower case)
      expect((await compareRuns(r2, ['prep', train.slice(0, 24).toLowerCase()])).runs.map((r) => r.id)).toEqual([a, train]);
      expect((await lineageOf(r2, 'train')).root).toBe(`run:${train}`);
      expect((await showRun(r2, 'prep')).record.id).toBe(a);
      // two runs with one name: ambiguous, with both ids
      const twins = await showRun(r2, 'twin').then(() => null, (e: unknown) => e as TroveError);
      expect(twins?.code).toBe('BAD_ARGS');
      expect(twins?.message).toContain(`${b} (twin)`);
      expect(twins?.message).toContain(`${twin2} (twin)`);
      expect(twins?.data?.candidates).toEqual([b, twin2].sort());
    } finally {
      r2.close();
    }
    // no such run
    const none = await trove(dir, 'runs', 'show', 'nobody');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no run has the id or name "nobody"');
  });
});

describe('runs list with nothing to show', () => {
  it('says the filter matched nothing, and suggests recording only when there are no runs', async () => {
    const dir = await newRepo();
    const empty = await trove(dir, 'runs', 'list');
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain('No runs yet. Record one with `trove run -- <command>`.');
    await libraryRuns(dir, ['one']);
    const r = await trove(dir, 'runs', 'list', '--filter', "run_name = 'two'");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`No runs match --filter "run_name = 'two'".`);
    expect(r.stdout).not.toContain('Record one');
    const e = await trove(dir, 'runs', 'list', '--experiment', 'nope');
    expect(e.stdout).toContain('No runs match --experiment "nope".');
  });
});

describe('the code version of a run', () => {
  it('an uncommitted script makes the run dirty and is in the stored diff; ignored files are not', async () => {
    const dir = await newRepo();
    await write(dir, 'README', 'x\n');
    await commitAll(dir, 'init');
    await write(dir, '.gitignore', 'secret.env\n');
    await commitAll(dir, 'ignore');
    await write(dir, 'train.py', 'print("v1")\n');
    await write(dir, 'lib/helper.py', 'X = 1\n');
    await write(dir, 'secret.env', 'TOKEN=abc\n');
    expect((await trove(dir, 'run', '--', 'true')).code).toBe(0);
    const rec = await lastRecord(dir);
    expect(rec.git).toMatchObject({ dirty: true });
    expect(rec.git!.diffOid).toMatch(/^sha256:[0-9a-f]{64}$/);
    const repo = await Repo.open(dir);
    const diff = repo.cache.readSmall(rec.git!.diffOid as `sha256:${string}`, 'blob').toString('utf8');
    repo.close();
    expect(diff).toContain('+print("v1")');
    expect(diff).toContain('b/lib/helper.py');
    expect(diff).not.toContain('TOKEN');
    expect(rec.problems ?? []).toEqual([]);

    // the stored diff, applied to the recorded commit in a fresh clone, gives back the scripts
    const clone = path.join(tempDir(), 'clone');
    await git(dir, 'clone', '-q', dir, clone);
    const patch = path.join(clone, '..', 'p.diff');
    await fsp.writeFile(patch, diff);
    await git(clone, 'checkout', '-q', rec.git!.commit!);
    await git(clone, 'apply', '--binary', patch);
    expect(await fsp.readFile(path.join(clone, 'train.py'), 'utf8')).toBe('print("v1")\n');
    expect(await fsp.readFile(path.join(clone, 'lib/helper.py'), 'utf8')).toBe('X = 1\n');

    // with everything committed the run is clean again
    await commitAll(dir, 'scripts');
    expect((await trove(dir, 'run', '--', 'true')).code).toBe(0);
    expect((await lastRecord(dir)).git).toMatchObject({ dirty: false, diffOid: null });
  });

  it('an untracked file over the size limit is named in problems, not stored', async () => {
    const dir = await newRepo();
    await write(dir, 'README', 'x\n');
    await commitAll(dir, 'init');
    await write(dir, 'a-small.py', 'print(1)\n');
    await write(dir, 'b-huge.bin', Buffer.alloc(UNTRACKED_DIFF_LIMITS.bytes + 1));
    // a name that is a glob: taken literally, it must not pull b-huge.bin into the diff
    await write(dir, '*.bin', 'glob\n');
    const r = await trove(dir, 'run', '--', 'true');
    expect(r.code).toBe(0);
    const rec = await lastRecord(dir);
    expect(rec.git!.dirty).toBe(true);
    expect(r.stderr).toContain('trove: warning: b-huge.bin: untracked file not in the stored diff');
    expect(rec.problems).toEqual([{ source: 'b-huge.bin', message: expect.stringContaining('untracked file not in the stored diff') }]);
    const repo = await Repo.open(dir);
    const diff = repo.cache.readSmall(rec.git!.diffOid as `sha256:${string}`, 'blob').toString('utf8');
    repo.close();
    expect(diff).toContain('b/a-small.py');
    expect(diff).toContain('+glob');
    expect(diff).not.toContain('b-huge.bin');
    // the user's own index is untouched: the files are still untracked
    expect((await git(dir, 'status', '--porcelain')).split('\n').filter(Boolean).sort()).toEqual(['?? *.bin', '?? a-small.py', '?? b-huge.bin']);
    expect((await trove(dir, 'runs', 'show', rec.id)).stdout).toMatch(/problems:\n b-huge\.bin\s+untracked file not in the stored diff/);
  });
});

it('before the first commit, the staged and the untracked files are both in the stored diff', async () => {
  const dir = await newRepo();
  await write(dir, 'staged.py', 'print("staged")\n');
  await git(dir, 'add', 'staged.py');
  await write(dir, 'loose.py', 'print("loose")\n');
  expect((await trove(dir, 'run', '--', 'true')).code).toBe(0);
  const rec = await lastRecord(dir);
  expect(rec.git).toMatchObject({ commit: null, branch: 'main', dirty: true });
  const repo = await Repo.open(dir);
  const diff = repo.cache.readSmall(rec.git!.diffOid as `sha256:${string}`, 'blob').toString('utf8');
  repo.close();
  expect(diff).toContain('+print("staged")');
  expect(diff).toContain('+print("loose")');
  expect((await git(dir, 'status', '--porcelain')).split('\n').filter((l) => l.endsWith('.py')).sort()).toEqual(['?? loose.py', 'A  staged.py']);
});

describe('events problems are kept in the record', () => {
  it('a bad events line is in record.problems and in runs show, and the good lines still count', async () => {
    const dir = await newRepo();
    const cmd = 'echo "{not json" >> "$TROVE_RUN_EVENTS"; echo \'{"metric":"loss","value":0.5}\' >> "$TROVE_RUN_EVENTS"; echo \'{"metric":"loss","value":"x"}\' >> "$TROVE_RUN_EVENTS"';
    const r = await trove(dir, 'run', '--', 'sh', '-c', cmd);
    expect(r.code).toBe(0);
    const rec = await lastRecord(dir);
    expect(r.stderr).toContain(`.trove/runs/${rec.id}.events.jsonl:1: not valid JSON`);
    expect(rec.metrics.loss!.map((p) => p.value)).toEqual([0.5]);
    expect(rec.problems).toEqual([
      { source: `.trove/runs/${rec.id}.events.jsonl`, line: 1, message: 'not valid JSON' },
      { source: `.trove/runs/${rec.id}.events.jsonl`, line: 3, message: expect.any(String) },
    ]);
    const shown = JSON.parse((await trove(dir, 'runs', 'show', rec.id, '--json')).stdout);
    expect(shown.problems).toEqual(rec.problems);
  });
});

describe('lineage of a run', () => {
  it('shows what the run read and wrote, as text and with --json', async () => {
    const dir = await newRepo();
    await write(dir, 'raw.csv', 'raw\n');
    await trove(dir, 'add', 'raw.csv');
    await commitAll(dir, 'raw');
    expect((await trove(dir, 'run', '-n', 'feat', '-i', 'raw.csv', '-o', 'feat.csv', '--', 'sh', '-c', 'cat raw.csv > feat.csv; echo f >> feat.csv')).code).toBe(0);
    expect((await trove(dir, 'run', '-n', 'fit', '-i', 'feat.csv', '-o', 'model.bin', '--', 'sh', '-c', 'cat feat.csv > model.bin; echo m >> model.bin')).code).toBe(0);
    const fit = (await lastRecord(dir)).id;
    const text = (await trove(dir, 'lineage', fit)).stdout;
    expect(text.split('\n')[0]).toBe(`run fit ${fit} FINISHED`);
    expect(text).toMatch(/─ input feat\.csv \(/);
    expect(text).toMatch(/─ output model\.bin \(/);
    expect(text).toContain('produced by run feat');
    const j = await trove(dir, 'lineage', fit, '--json');
    expect(j.code).toBe(0);
    const g = JSON.parse(j.stdout);
    expect(g.nodes.filter((n: { kind: string }) => n.kind === 'data').map((n: { path: string }) => n.path).sort()).toEqual(['feat.csv', 'model.bin', 'raw.csv']);
    expect(g.edges).toContainEqual({ from: `run:${fit}`, to: expect.stringMatching(/^data:sha256:/), kind: 'output' });
    // downstream from a run shows what it read too
    const repo = await Repo.open(dir);
    try {
      const down = await lineageOf(repo, 'feat', { direction: 'downstream' });
      expect(down.nodes.map((n) => (n.kind === 'data' ? n.path : n.name)).sort()).toEqual(['feat', 'feat.csv', 'fit', 'model.bin', 'raw.csv']);
    } finally {
      repo.close();
    }
    // --json with another --format is a usage error
    expect((await trove(dir, 'lineage', fit, '--json', '--format', 'dot')).code).toBe(2);
  });
});

describe('trove run -o and git', () => {
  it('prints the git add line for the output pointers, or stages them with core.autostage', async () => {
    const dir = await newRepo();
    await write(dir, 'README', 'x\n');
    await commitAll(dir, 'init');
    const r = await trove(dir, 'run', '-o', 'out/model.bin', '--', 'sh', '-c', 'mkdir -p out; echo m > out/model.bin');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('To track the outputs with git, run:\n\n\tgit add out/model.bin.trove out/.gitignore');
    // the line works as printed
    await git(dir, 'add', 'out/model.bin.trove', 'out/.gitignore');
    await git(dir, 'commit', '-qm', 'model');

    expect((await trove(dir, 'config', 'core.autostage', 'true')).code).toBe(0);
    await commitAll(dir, 'autostage');
    const s = await trove(dir, 'run', '-o', 'out/other.bin', '--', 'sh', '-c', 'echo o > out/other.bin');
    expect(s.code).toBe(0);
    expect(s.stderr).toContain('trove: staged in git: out/other.bin.trove out/.gitignore');
    expect((await git(dir, 'diff', '--cached', '--name-only')).split('\n').filter(Boolean).sort()).toEqual(['out/.gitignore', 'out/other.bin.trove']);
    // a failed run writes no pointer and prints no git line
    const f = await trove(dir, 'run', '-o', 'out/third.bin', '--', 'sh', '-c', 'exit 3');
    expect(f.code).toBe(3);
    expect(f.stderr).not.toContain('git add');
    expect(f.stderr).not.toContain('staged in git');
  });
});
