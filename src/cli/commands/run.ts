import { spawn } from 'node:child_process';
import { constants as osc } from 'node:os';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { TroveError } from '../../core/errors.js';
import { Repo, shellQuote } from '../../core/repo.js';
import { readParamsFile } from '../../core/runs/recorder.js';
import { err, plural } from '../render.js';
import { UsageError } from '../usage.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** `k=v` pairs into a map; a pair without `=` is a usage error naming the option. */
export function keyValues(pairs: string[] | undefined, option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const at = p.indexOf('=');
    if (at <= 0) throw new UsageError(`${option} ${JSON.stringify(p)}: expected key=value`);
    out[p.slice(0, at)] = p.slice(at + 1);
  }
  return out;
}

/** The launcher of this very trove, for the child's `trove` shim (works without a global install). */
const LAUNCHER = fileURLToPath(new URL('../../../bin/trove.js', import.meta.url));

/** A folder holding a `trove` script that runs this trove with this node; put first on the child's PATH. */
export async function makeShim(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  await fsp.writeFile(path.join(dir, 'trove'), `#!/bin/sh\nexec ${q(process.execPath)} ${q(LAUNCHER)} "$@"\n`, { mode: 0o755 });
}

interface RunOpts {
  name?: string; experiment?: string; param?: string[]; paramsFile?: string; tag?: string[];
  in?: string[]; out?: string[]; metrics?: string; reuse?: boolean;
}

export function register(program: Command): void {
  // `trove run [options] -- cmd --its-own-flags`: options after the command belong to the command.
  program.enablePositionalOptions();
  program
    .command('run')
    .description('run a command and record it: code version, params, metrics, and the exact data it read and wrote')
    .argument('<command...>', 'the command to run (put it after --)')
    .option('-n, --name <name>', 'a name for the run')
    .option('-e, --experiment <name>', 'experiment to file the run under (default: the one an MLflow script sets, else Default)')
    .option('-p, --param <key=value>', 'a param (repeatable)', collect)
    .option('--params-file <file>', 'params from a YAML or JSON file (nested keys become a.b.c)')
    .option('-t, --tag <key=value>', 'a tag (repeatable)', collect)
    .option('-i, --in <path>', 'a tracked input (repeatable; default: every tracked path)', collect)
    .option('-o, --out <path>', 'an output, added to the cache when the command succeeds (repeatable)', collect)
    .option('--metrics <file>', 'a JSON or YAML file of metrics the command writes, read when it ends')
    .option('--reuse', 'if an earlier finished run had the same command, code, params and input versions, restore its outputs instead of running')
    .passThroughOptions()
    .addHelpText('after', `
Examples:
  $ trove run -n baseline -p C=1.0 -i data -o models/model.bin -- python train.py --C 1.0
  $ trove run --params-file params.yaml --metrics metrics.json -o model.pkl -- ./train.sh
  $ trove run -- make train                 every tracked path is recorded as an input
  $ trove run --reuse -i data -o model.bin -- python train.py   skipped when nothing changed

MLflow code attaches to the run: the command gets MLFLOW_TRACKING_URI and MLFLOW_RUN_ID, so
mlflow.start_run() logs into this record (mlflow.end_run() does not end it; trove does, at exit).

Inside the command, these log into the run (trove is on its PATH even if not installed):
  trove log-param k v | log-metric k v [--step n] | log-tag k v | log-artifact <path> | log-input <path>
or append JSON lines to the file named by $TROVE_RUN_EVENTS, e.g. {"metric":"loss","value":0.41,"step":3}.
The command's exit code is trove's exit code; SIGINT and SIGTERM are passed on to it. A command that
cannot start (not found, not executable) is recorded as FAILED and trove exits 1.`)
    .action(async (command: string[], o: RunOpts) => {
      const repo = await Repo.open();
      try {
        const params = { ...(o.paramsFile ? await readParamsFile(path.resolve(o.paramsFile)) : {}), ...keyValues(o.param, '--param') };
        const run = await repo.startRun({
          name: o.name, experiment: o.experiment ?? 'Default', command, params, tags: keyValues(o.tag, '--tag'),
          inputs: o.in, outputs: o.out, metricsFile: o.metrics,
        });
        if (o.reuse) {
          const { findReusableRun, reuseRun } = await import('../../core/runs/runCache.js');
          const hit = await findReusableRun(repo, run.started);
          if (hit) {
            const { record } = await reuseRun(repo, run, hit);
            err(`trove: run ${record.id} reused run ${hit.id} (same command, code, params and inputs): ${plural(record.outputs.filter((x) => x.oid !== null).length, 'output')} restored from the cache, the command did not run`);
            return;
          }
        }
        const shimDir = path.join(repo.troveDir, 'tmp', `run-${run.id}`);
        let exit: ChildExit;
        // MLflow code in the command attaches to this run: an MLflow endpoint for it on 127.0.0.1.
        const { startServer } = await import('../../server/server.js');
        const mlflow = await startServer({ root: repo.root, port: 0, attach: { runId: run.id, adoptExperiment: o.experiment === undefined } });
        try {
          await makeShim(shimDir);
          const env: NodeJS.ProcessEnv = {
            ...process.env, ...run.childEnv(), PATH: `${shimDir}${path.delimiter}${process.env.PATH ?? ''}`,
            MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_RUN_ID: run.id,
          };
          // A token meant for another server must not leak into this run's requests.
          delete env.MLFLOW_TRACKING_TOKEN;
          delete env.MLFLOW_EXPERIMENT_NAME;
          delete env.MLFLOW_EXPERIMENT_ID;
          exit = await execChild(command, env);
        } finally {
          await mlflow.close();
          await fsp.rm(shimDir, { recursive: true, force: true });
        }
        if ('startError' in exit) {
          const { record } = await run.end({ startError: exit.startError });
          throw new TroveError('CANNOT_START', `cannot run ${command[0]}: ${exit.startError}`,
            `check the command's name, your PATH and the file's permissions (run ${record.id} is recorded as FAILED)`);
        }
        const { record, gitAdd } = await run.end({
          status: exit.signal ? 'KILLED' : exit.code === 0 ? 'FINISHED' : 'FAILED', exitCode: exit.code,
        });
        for (const p of record.problems ?? []) err(`trove: warning: ${p.source}${p.line === undefined ? '' : `:${p.line}`}: ${p.message}`);
        const produced = record.outputs.filter((x) => x.oid !== null).length;
        err(`trove: run ${record.id} ${record.status} (exit ${exit.code}${exit.signal ? `, ${exit.signal}` : ''}), ${plural(record.inputs.length, 'input')}, ${plural(produced, 'output')} recorded`);
        if (gitAdd.length) {
          const files = gitAdd.map(shellQuote).join(' ');
          err(repo.autostage() ? `trove: staged in git: ${files}` : `\nTo track the outputs with git, run:\n\n\tgit add ${files}\n`);
        }
        process.exitCode = exit.code;
      } finally {
        repo.close();
      }
    });
}

/**
 * Runs the command with inherited stdio. SIGINT, SIGTERM and SIGHUP sent to trove are passed on to the
 * child (a Ctrl-C in a terminal reaches both: the child then sees it twice, as under most runners);
 * trove itself waits for the child to end so the record is always finished.
 */
export type ChildExit = { code: number; signal: NodeJS.Signals | null } | { startError: string };

/** Why a spawn failed, in words (the errno names the case; the message would repeat the path). */
function startErrorText(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT': return 'command not found';
    case 'EACCES': return 'permission denied (not executable, or a folder)';
    case 'ENOEXEC': return 'not an executable format';
    case 'E2BIG': return 'the argument list is too long';
    default: return e.message;
  }
}

export function execChild(argv: string[], env: NodeJS.ProcessEnv, cwd?: string, stdoutToStderr = false): Promise<ChildExit> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: stdoutToStderr ? ['inherit', 2, 'inherit'] : 'inherit', env, cwd });
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    const forward = (sig: NodeJS.Signals) => {
      try {
        child.kill(sig);
      } catch {
        /* already gone */
      }
    };
    for (const s of signals) process.on(s, forward);
    const done = () => {
      for (const s of signals) process.off(s, forward);
    };
    // 'error' without 'spawn' first: the command never started. (After a start, 'exit' follows.)
    let started = false;
    child.on('spawn', () => { started = true; });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (started) return;
      done();
      resolve({ startError: startErrorText(e) });
    });
    child.on('exit', (code, signal) => {
      done();
      // The shell's convention for a child killed by a signal: 128 + its number.
      resolve({ code: code ?? 128 + (signal ? (osc.signals[signal] ?? 0) : 0), signal });
    });
  });
}
