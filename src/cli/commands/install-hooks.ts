import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { Repo, shellQuote } from '../../core/repo.js';
import { json, out } from '../render.js';

export function register(program: Command): void {
  program
    .command('install-hooks')
    .description('install git hooks that keep data with code (post-checkout, post-merge, pre-push)')
    .option('--uninstall', 'remove only what trove added, restoring hooks it chained')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove install-hooks             git checkout v1.0 / git pull now bring the matching data
  $ trove install-hooks --uninstall

post-checkout and post-merge run \`trove checkout\`; pre-push runs \`trove push\` for the pushed
commits and stops the git push if that fails, so a teammate never gets pointers without data.
Existing hooks (hand-written, husky, simple-git-hooks) are kept and run first, never overwritten.`)
    .action(async (o: { uninstall?: boolean; json?: boolean }) => {
      const { installHooks, uninstallHooks } = await import('../../core/hooks.js');
      const repo = await Repo.open();
      try {
        const launcher = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/trove.js');
        const res = o.uninstall ? await uninstallHooks(repo.git) : await installHooks(repo.git, `${shellQuote(process.execPath)} ${shellQuote(launcher)}`);
        if (o.json) return json(res);
        for (const r of res) if (r.action !== 'absent' && r.action !== 'already') out(`${r.action} ${path.relative(repo.root, r.file)}`);
      } finally {
        repo.close();
      }
    });
}
