import type { Command } from 'commander';
import { Repo } from '../../core/repo.js';
import { json, out, plural } from '../render.js';

export function register(program: Command): void {
  program
    .command('verify')
    .description("check that every object a run read or wrote is still there (cache or remote) and intact (re-hashed)")
    .argument('<run>', 'run id (or its first characters)')
    .option('-r, --remote <name>', 'remote to look on for what the cache lacks (default: the default remote)')
    .option('--local', 'look in the cache only')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove verify 01JD3Z8Q4X              exit 1 names every missing or corrupt object
  $ trove verify 01JD3Z8Q4X --local      only what this machine has

Files inside folders are checked one by one; objects found only on the remote are re-hashed as
they stream from it and are not stored.`)
    .action(async (id: string, o: { remote?: string; local?: boolean; json?: boolean }) => {
      const repo = await Repo.open();
      try {
        const { verifyRun } = await import('../../core/runs/verify.js');
        const v = await verifyRun(repo, id, { remote: o.local ? null : o.remote });
        if (o.json) json(v);
        else {
          for (const p of v.problems) out(`${p.problem === 'missing' ? 'MISSING' : 'CORRUPT'}  ${p.role}  ${p.path}  ${p.oid}  (looked in ${p.looked.join(' and ')})`);
          out(`run ${v.run}: ${plural(v.checked, 'object')} checked, ${v.inCache} intact in the cache, ${v.onRemote} on ${v.remote ?? 'no remote'}, ${plural(v.problems.length, 'problem')}`);
        }
        if (v.problems.length) process.exitCode = 1;
      } finally {
        repo.close();
      }
    });
}
