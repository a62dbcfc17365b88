import type { Command } from 'commander';
import { TroveError } from '../../core/errors.js';
import { Repo, shellQuote, type CheckoutResult } from '../../core/repo.js';
import { UsageError } from '../usage.js';
import { json, out, plural, progressBar } from '../render.js';

/** Operands before `--` on the command line (commander merges both sides into one list). */
export function splitAtDashDash(argv: string[], operands: string[]): { before: string[]; after: string[] } {
  const i = argv.indexOf('--');
  if (i < 0) return { before: [], after: operands };
  const after = argv.slice(i + 1);
  return { before: operands.slice(0, operands.length - after.length), after };
}

export function register(program: Command): void {
  program
    .command('checkout')
    .description('make the workspace match the pointers, or bring back data as it was at a git revision')
    .argument('[args...]', '[<rev> --] [paths...]')
    .option('-f, --force', 'discard workspace changes that are not in the cache')
    .option('--ours', 'merge conflict in a pointer: keep our side and its data')
    .option('--theirs', 'merge conflict in a pointer: keep their side and its data')
    .option('--run <id>', 'restore the exact data versions a recorded run read and wrote')
    .option('--inputs', "with --run: only the run's inputs")
    .option('--outputs', "with --run: only the run's outputs")
    .option('-j, --jobs <n>', 'files written in parallel', (v) => parseInt(v, 10))
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove checkout                  restore everything the pointers name
  $ trove checkout data/            one tracked folder
  $ trove checkout --force data/    discard local edits to data/
  $ trove checkout v1.0 -- data     data (and data.trove) as they were at tag v1.0
  $ trove checkout HEAD~3 -- models/model.pkl
  $ trove checkout --theirs data    after a merge conflict in data.trove
  $ trove checkout --run 01JD3Z8Q4X --inputs    the data that run read (pointers and files)
  $ trove checkout --run 01JD3Z8Q4X models/     only that path, as the run left it

Files are copied from the cache (cloned where the filesystem can); \`trove config cache.link hardlink\`
links them instead. Changes that are not in the cache are never overwritten without --force.
With a revision, nothing is changed unless every object it needs is in the cache.`)
    .action(async (operands: string[], o: { force?: boolean; ours?: boolean; theirs?: boolean; jobs?: number; json?: boolean; run?: string; inputs?: boolean; outputs?: boolean }) => {
      const { before, after } = splitAtDashDash(process.argv, operands);
      if (before.length > 1) throw new UsageError(`one revision before --, got ${before.length}: ${before.join(' ')}`);
      if (o.ours && o.theirs) throw new UsageError('--ours and --theirs exclude each other');
      if ((o.inputs || o.outputs) && !o.run) throw new UsageError('--inputs and --outputs go with --run <id>');
      if (o.inputs && o.outputs) throw new UsageError('give --inputs or --outputs, not both (neither restores both)');
      if (o.run && (before.length || o.ours || o.theirs)) throw new UsageError('--run does not combine with a revision or --ours/--theirs');
      const repo = await Repo.open();
      const bar = await progressBar('checkout', { quiet: o.json });
      try {
        if (o.run) {
          const { checkoutRun } = await import('../../core/runs/queries.js');
          const r = await checkoutRun(repo, o.run, { inputs: o.inputs, outputs: o.outputs, paths: after, force: o.force, onProgress: bar.onProgress });
          bar.stop();
          if (o.json) return json(r);
          for (const x of r.results) out(`${x.path}: restored as run ${r.run} ${o.outputs ? 'wrote' : o.inputs ? 'read' : 'left'} it (${plural(x.written, 'file')} written, ${x.deleted} deleted)`);
          for (const p of r.notProduced) out(`${p}: not produced by the run, left as it is`);
          if (r.gitAdd.length) out(`\nThe pointers now name those versions; to record that in git, run:\n\n\tgit add ${r.gitAdd.map(shellQuote).join(' ')}`);
          return;
        }
        let res: CheckoutResult[];
        if (o.ours || o.theirs) {
          const { checkoutSide } = await import('../../core/versions.js');
          res = await checkoutSide(repo, o.ours ? 'ours' : 'theirs', [...before, ...after], { force: o.force });
        } else if (before.length === 1) {
          const { checkoutRev } = await import('../../core/versions.js');
          const { fetchForPointers } = await import('../../core/transfer.js');
          // objects this clone lacks come from the default remote, when there is one
          const fetchMissing = async (t: Parameters<typeof fetchForPointers>[1]) => {
            const r = await fetchForPointers(repo, t, { jobs: o.jobs });
            return r && { remote: r.remote };
          };
          res = await checkoutRev(repo, before[0], after, { force: o.force, jobs: o.jobs, onProgress: bar.onProgress, fetchMissing });
        } else {
          res = await repo.checkout(after, { force: o.force, jobs: o.jobs, onProgress: bar.onProgress });
        }
        bar.stop();
        const missing = res.flatMap((r) => r.missingFiles);
        if (o.json) json(res);
        else {
          for (const r of res) if (r.written || r.deleted) out(`${r.path}: ${plural(r.written, 'file')} written, ${r.deleted} deleted${copiedInstead(r)}`);
          const gitAdd = [...new Set(res.flatMap((r) => r.gitAdd ?? []))];
          if (gitAdd.length) out(`\nThe pointers now name those versions; to record that in git, run:\n\n\tgit add ${gitAdd.map(shellQuote).join(' ')}`);
        }
        if (missing.length) {
          throw new TroveError('MISSING_OBJECT', `${plural(missing.length, 'path')} could not be restored, their content is not in the cache: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`,
            'run `trove pull` to fetch them from a remote (everything else was restored)');
        }
      } finally {
        bar.stop();
        repo.close();
      }
    });
}

/** In a hardlink or symlink repo: how many files were copies all the same, and why. */
function copiedInstead(r: CheckoutResult): string {
  const n = r.modes?.copy ?? 0;
  if (r.wanted === 'copy' || r.wanted === 'reflink' || !n) return '';
  return ` (${plural(n, 'file')} copied, not ${r.wanted}ed: executable files, and objects kept in packs or chunks because \`cache.packs\` or \`cache.chunk\` is set, have no cache file of their own to link to)`;
}
