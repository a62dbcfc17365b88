import type { Command } from 'commander';
import { Repo } from '../../core/repo.js';
import { json, out } from '../render.js';

export function register(program: Command): void {
  program
    .command('init')
    .description('set up trove in the current git repository (creates .trove/ with config and .gitignore)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ git init && git commit --allow-empty -m start
  $ trove init
  $ git add .trove && git commit -m "use trove"

Running it twice is harmless. A fresh clone needs no init: the committed .trove/config is enough.`)
    .action(async (o: { json?: boolean }) => {
      const r = await Repo.init(process.cwd());
      if (o.json) return json(r);
      out(r.created ? `Initialized trove in ${r.root}/.trove\nCommit it: git add .trove && git commit -m "use trove"` : `trove is already set up in ${r.root}/.trove`);
    });
}
