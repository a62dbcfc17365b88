import type { Command } from 'commander';
import { TroveError } from '../../core/errors.js';
import { Repo } from '../../core/repo.js';
import { logInputTo, logOutputTo, logParamTo } from '../../core/runs/recorder.js';
import { UsageError } from '../usage.js';

/**
 * `trove log-param|log-metric|log-tag|log-artifact|log-input`: one event into the run named by
 * $TROVE_RUN_ID (set by `trove run` for its command). One module, one register function per command,
 * so that main's lazy loading registers only the command asked for.
 */
function currentRunId(): string {
  const id = process.env.TROVE_RUN_ID;
  if (!id) {
    throw new TroveError('NOT_IN_RUN', 'not inside a run: TROVE_RUN_ID is not set',
      'call this from a command started by `trove run -- <command>`');
  }
  return id;
}

async function openRunRepo(): Promise<Repo> {
  try {
    return await Repo.open();
  } catch (e) {
    // The command may have changed into a folder outside the repo: the run says where it is.
    if (e instanceof TroveError && e.code === 'NOT_A_REPO' && process.env.TROVE_REPO) return Repo.open(process.env.TROVE_REPO);
    throw e;
  }
}

function parseNumber(v: string, what: string): number {
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`${what} must be a finite number, got ${JSON.stringify(v)}`);
  return n;
}

const EXAMPLES = `
Examples (inside a command started by \`trove run\`):
  $ trove log-param lr 0.01
  $ trove log-metric loss 0.41 --step 3
  $ trove log-tag stage tuning
  $ trove log-artifact models/model.bin     add it to the cache and record it as an output
  $ trove log-input data/extra.csv          record a tracked path's current version as an input

A loop that logs every step can append lines to $TROVE_RUN_EVENTS instead (no process per value):
  {"metric":"loss","value":0.41,"step":3}`;

export function registerFor(kind: 'param' | 'metric' | 'tag' | 'artifact' | 'input') {
  return (program: Command): void => {
    const cmd = program.command(`log-${kind}`).addHelpText('after', EXAMPLES);
    switch (kind) {
      case 'param':
        cmd.description('set a param of the current run (write-once: another value is an error)')
          .argument('<key>').argument('<value>')
          .action(async (key: string, value: string) => {
            const repo = await openRunRepo();
            try {
              await logParamTo((await repo.runStore()), currentRunId(), key, value);
            } finally {
              repo.close();
            }
          });
        break;
      case 'metric':
        cmd.description('append a metric value to the current run (keeps the full history)')
          .argument('<key>').argument('<value>')
          .option('-s, --step <n>', 'step number (default: the next one for this metric)')
          .action(async (key: string, value: string, o: { step?: string }) => {
            const n = parseNumber(value, 'value');
            let step: number | undefined;
            if (o.step !== undefined) {
              step = parseNumber(o.step, '--step');
              if (!Number.isSafeInteger(step)) throw new UsageError(`--step must be a whole number, got ${o.step}`);
            }
            const repo = await openRunRepo();
            try {
              const ev = { metric: key, value: n, ts: Date.now(), ...(step === undefined ? {} : { step }) };
              await (await repo.runStore()).appendEvent(currentRunId(), ev);
            } finally {
              repo.close();
            }
          });
        break;
      case 'tag':
        cmd.description('set a tag of the current run (the last value wins)')
          .argument('<key>').argument('<value>')
          .action(async (key: string, value: string) => {
            const repo = await openRunRepo();
            try {
              await (await repo.runStore()).appendEvent(currentRunId(), { tag: key, value });
            } finally {
              repo.close();
            }
          });
        break;
      case 'artifact':
        cmd.description('add a file or folder to the cache and record it as an output of the current run')
          .argument('<path>')
          .action(async (p: string) => {
            const id = currentRunId();
            const repo = await openRunRepo();
            try {
              await logOutputTo(repo, id, p);
            } finally {
              repo.close();
            }
          });
        break;
      case 'input':
        cmd.description('record a tracked path, at its current version, as an input of the current run')
          .argument('<path>')
          .option('--role <role>', 'what the input is for, e.g. train or test')
          .action(async (p: string, o: { role?: string }) => {
            const id = currentRunId();
            const repo = await openRunRepo();
            try {
              await (await repo.runStore()).assertRunning(id);
              await logInputTo(repo, id, p, o.role);
            } finally {
              repo.close();
            }
          });
        break;
    }
  };
}
