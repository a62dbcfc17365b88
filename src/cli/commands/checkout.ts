import type { Command } from 'commander';
import { TroveError } from '../../core/errors.js';
import { Repo, shellQuote } from '../../core/repo.js';
import { checkoutRun } from '../../core/runs/queries.js';
import { UsageError } from '../main.js';
import { err, json, out, plural, progressBar } from '../render.js';

export function register(program: Command): void {
  program
    .command('checkout')
    .description('make the workspace match the pointers (restore missing or changed files)')
    .argument('[paths...]', 'tracked paths (default: all)')
    .option('-f, --force', 'discard workspace changes that are not in the cache')
    .option('-j, --jobs <n>', 'files written in parallel', (v) => parseInt(v, 10))
    .option('--run <id>', 'restore the exact data versions a recorded run read and wrote')
    .option('--inputs', "with --run: only the run's inputs")
    .option('--outputs', "with --run: only the run's outputs")
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove checkout                  restore everything the pointers name
  $ trove checkout data/            one tracked folder
  $ trove checkout --force data/    discard local edits to data/
  $ trove checkout --run 01JD3Z8Q4X --inputs    the data that run read (pointers and files)
  $ trove checkout --run 01JD3Z8Q4X models/     only that path, as the run left it

Files are copied from the cache (cloned where the filesystem can); \`trove config cache.link hardlink\`
links them instead. Changes that are not in the cache are never overwritten without --force.`)
    .action(async (paths: string[], o: { force?: boolean; jobs?: number; json?: boolean; run?: string; inputs?: boolean; outputs?: boolean }) => {
      if ((o.inputs || o.outputs) && !o.run) throw new UsageError('--inputs and --outputs go with --run <id>');
      if (o.inputs && o.outputs) throw new UsageError('give --inputs or --outputs, not both (neither restores both)');
      const repo = await Repo.open();
      const bar = await progressBar('checkout', { quiet: o.json });
      try {
        if (o.run) {
          const r = await checkoutRun(repo, o.run, { inputs: o.inputs, outputs: o.outputs, paths, force: o.force, onProgress: bar.onProgress });
          bar.stop();
          if (o.json) return json(r);
          for (const x of r.results) out(`${x.path}: restored as run ${r.run} ${o.outputs ? 'wrote' : o.inputs ? 'read' : 'left'} it (${plural(x.written, 'file')} written, ${x.deleted} deleted)`);
          for (const p of r.notProduced) out(`${p}: not produced by the run, left as it is`);
          if (r.gitAdd.length) out(`\nThe pointers now name those versions; to record that in git, run:\n\n\tgit add ${r.gitAdd.map(shellQuote).join(' ')}`);
          return;
        }
        const res = await repo.checkout(paths, { force: o.force, jobs: o.jobs, onProgress: bar.onProgress });
        bar.stop();
        const missing = res.flatMap((r) => r.missingFiles);
        if (o.json) json(res);
        else {
          for (const r of res) {
            if (r.written || r.deleted) out(`${r.path}: ${plural(r.written, 'file')} written, ${r.deleted} deleted`);
          }
        }
        if (missing.length) {
          throw new TroveError('MISSING_OBJECT', `${plural(missing.length, 'path')} could not be restored, their content is not in the cache: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`,
            'run `trove pull` to fetch them from a remote (everything else was restored)');
        }
      } finally {
        bar.stop();
        repo.close();
      }
      void err;
    });
}
