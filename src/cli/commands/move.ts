import type { Command } from 'commander';
import { Repo, shellQuote } from '../../core/repo.js';
import { json, out } from '../render.js';

export function register(program: Command): void {
  program
    .command('move')
    .alias('mv')
    .description('move tracked data and its pointer together')
    .argument('<src>', 'a tracked path')
    .argument('<dst>', 'new path (or an existing folder to move into)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove move data/raw data/raw-2024
  $ trove move model.pkl models/`)
    .action(async (src: string, dst: string, o: { json?: boolean }) => {
      const repo = await Repo.open();
      try {
        const r = await repo.move(src, dst);
        if (o.json) return json(r);
        out(`moved ${r.from} -> ${r.to}\n\nTo record this in git, run:\n\n\tgit add -A ${r.gitAdd.map(shellQuote).join(' ')}`);
      } finally {
        repo.close();
      }
    });
}
