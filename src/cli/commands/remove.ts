import type { Command } from 'commander';
import { Repo, shellQuote } from '../../core/repo.js';
import { json, out } from '../render.js';

export function register(program: Command): void {
  program
    .command('remove')
    .alias('rm')
    .description('stop tracking paths: their pointer and .gitignore line go, the data stays (unless --purge)')
    .argument('<paths...>', 'tracked paths')
    .option('--purge', 'also delete the data from the workspace')
    .option('-f, --force', 'with --purge: delete even changes that are not in the cache')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove remove data/old
  $ trove remove --purge models/tmp.pkl`)
    .action(async (paths: string[], o: { purge?: boolean; force?: boolean; json?: boolean }) => {
      const repo = await Repo.open();
      try {
        const r = await repo.remove(paths, o);
        if (o.json) return json(r);
        for (const p of r.removed) out(`untracked ${p}${r.purged.includes(p) ? ' (data deleted)' : ''}`);
        out(`\nTo record this in git, run:\n\n\tgit add -A ${r.gitRm.map(shellQuote).join(' ')}`);
      } finally {
        repo.close();
      }
    });
}
