import path from 'node:path';
import { promises as fsp } from 'node:fs';
import type { Command } from 'commander';
import { TroveError } from '../../core/errors.js';
import { Repo } from '../../core/repo.js';
import type { Executor, ReproduceResult } from '../../core/reproduce.js';
import { err, json, out, plural } from '../render.js';
import { execChild, makeShim } from './run.js';
import { UsageError } from '../usage.js';

const short = (oid: string | null) => (oid ? oid.replace(/^sha256:/, '').slice(0, 12) : 'not produced');

/** The command as `trove run` starts it: the `trove` shim first on PATH, stdio inherited. */
function executor(toStderr: boolean): Executor {
  return async (argv, { cwd, env, run }) => {
    const shimDir = path.join(path.dirname(run.recordFile), '..', 'tmp', `run-${run.id}`);
    try {
      await makeShim(shimDir);
      const exit = await execChild(argv, { ...env, PATH: `${shimDir}${path.delimiter}${env.PATH ?? ''}` }, cwd, toStderr);
      if ('startError' in exit) {
        throw new TroveError('CANNOT_START', `cannot run ${argv[0]}: ${exit.startError}`,
          `check the command's name, your PATH and the file's permissions (run ${run.id} is recorded as FAILED)`);
      }
      return exit;
    } finally {
      await fsp.rm(shimDir, { recursive: true, force: true });
    }
  };
}

function render(r: ReproduceResult, verify: boolean): void {
  out(`run ${r.record.id} ${r.record.status} (exit ${r.record.exitCode}) reproduces run ${r.original.id}${r.record.reusedFrom ? `, reusing the outputs of run ${r.record.reusedFrom} (nothing changed; the command did not run)` : ''}`);
  for (const c of r.outputs) {
    out(`  ${c.same ? 'same     ' : 'DIFFERS  '} ${c.path}  ${short(c.original)} -> ${short(c.reproduced)}`);
    if (c.files) {
      for (const f of c.files.modified) out(`      modified  ${f.path}`);
      for (const f of c.files.added) out(`      added     ${f.path}`);
      for (const f of c.files.deleted) out(`      deleted   ${f.path}`);
      for (const f of c.files.renamed) out(`      renamed   ${f.from} -> ${f.to}`);
    }
  }
  if (r.worktree) out(`worktree kept at ${r.worktree} (remove it with \`git worktree remove --force --force ${r.worktree}\`)`);
  const differ = r.outputs.filter((c) => !c.same);
  if (verify) {
    out(differ.length
      ? `verify FAILED: ${plural(differ.length, 'output')} differ from run ${r.original.id}: ${differ.map((c) => c.path).join(', ')}`
      : `verify passed: ${plural(r.outputs.length, 'output')} identical to run ${r.original.id}`);
  }
}

export function register(program: Command): void {
  program
    .command('reproduce')
    .description("rerun a recorded run at its commit (plus its stored diff) with its exact input data, and record the new run")
    .argument('<run>', 'run id (or its first characters)')
    .option('--verify', "compare every output with the original's; exit 1 naming what differs")
    .option('--in-place', 'use this work tree (must be clean and at the run\'s commit) instead of a fresh worktree')
    .option('--keep', 'keep the worktree afterwards (its path is printed)')
    .option('--reuse', 'when nothing changed since an earlier finished run, restore its outputs instead of running (not with --verify)')
    .option('--json', 'print the result as JSON (the command\'s own output goes to stderr)')
    .addHelpText('after', `
Examples:
  $ trove reproduce 01JD3Z8Q4X --verify     same models again? exit 1 names the outputs that differ
  $ trove reproduce 01JD3Z8Q4X --keep       look around the worktree afterwards
  $ git checkout 3f1c2ab && trove reproduce 01JD3Z8Q4X --in-place

The run is rerun from the repository root with the params it recorded; missing input objects are
fetched from the default remote first. Nothing in your work tree changes (except with --in-place).`)
    .action(async (id: string, o: { verify?: boolean; inPlace?: boolean; keep?: boolean; json?: boolean; reuse?: boolean }) => {
      if (o.reuse && o.verify) throw new UsageError('--reuse and --verify together prove nothing: a reused output is the original by definition');
      const repo = await Repo.open();
      try {
        const { reproduceRun } = await import('../../core/reproduce.js');
        const r = await reproduceRun(repo, id, { exec: executor(!!o.json), inPlace: o.inPlace, keep: o.keep, reuse: o.reuse });
        for (const p of r.problems) err(`trove: warning: ${p.source}${p.line === undefined ? '' : `:${p.line}`}: ${p.message}`);
        if (o.json) json({ original: r.original.id, run: r.record.id, status: r.record.status, exitCode: r.record.exitCode, identical: r.identical, outputs: r.outputs, worktree: r.worktree });
        else render(r, !!o.verify);
        if (r.record.status !== 'FINISHED') process.exitCode = 1;
        else if (o.verify && !r.identical) process.exitCode = 1;
      } finally {
        repo.close();
      }
    });
}
