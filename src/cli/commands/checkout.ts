import type { Command } from 'commander';
import { TroveError } from '../../core/errors.js';
import { Repo } from '../../core/repo.js';
import { err, json, out, plural, progressBar } from '../render.js';

export function register(program: Command): void {
  program
    .command('checkout')
    .description('make the workspace match the pointers (restore missing or changed files)')
    .argument('[paths...]', 'tracked paths (default: all)')
    .option('-f, --force', 'discard workspace changes that are not in the cache')
    .option('-j, --jobs <n>', 'files written in parallel', (v) => parseInt(v, 10))
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove checkout                  restore everything the pointers name
  $ trove checkout data/            one tracked folder
  $ trove checkout --force data/    discard local edits to data/

Files are copied from the cache (cloned where the filesystem can); \`trove config cache.link hardlink\`
links them instead. Changes that are not in the cache are never overwritten without --force.`)
    .action(async (paths: string[], o: { force?: boolean; jobs?: number; json?: boolean }) => {
      const repo = await Repo.open();
      const bar = await progressBar('checkout', { quiet: o.json });
      try {
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
