import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { TroveError } from '../../core/errors.js';
import { applyGc, planGc, unreadableError, type GcPlan } from '../../core/gc.js';
import { Repo } from '../../core/repo.js';
import { err, humanBytes, json, out, plural } from '../render.js';

export function register(program: Command): void {
  program
    .command('gc')
    .description('delete cache (or remote) objects that no pointer in scope refers to')
    .option('-n, --dry-run', 'only show what would be deleted')
    .option('-f, --force', 'do not ask before deleting')
    .option('--all-commits', 'keep what any commit refers to (default: branches, tags, HEAD, the index and the workspace)')
    .option('--remote <name>', 'collect on this remote instead of the cache (always asks, or --force)')
    .option('--grace <duration>', 'keep objects younger than this (default: config gc.grace, else 24h), e.g. 0, 30m, 7d')
    .option('--json', 'print the plan (and result) as JSON')
    .addHelpText('after', `
Examples:
  $ trove gc --dry-run               what would go, and how much space it frees
  $ trove gc                         asks before deleting (on a terminal)
  $ trove gc --all-commits --force   keep every committed version, delete the rest without asking
  $ trove gc --remote origin         the same on a remote

gc never deletes without asking: without a terminal it refuses unless --force is given. Many small
packs in the cache (4 or more under 8 MiB, e.g. from many small adds) are merged into few; that deletes
nothing in use, so it needs no question. \`add\` merges them on its own once 16 have piled up
(config gc.autoMerge; 0: never).`)
    .action(async (o: { dryRun?: boolean; force?: boolean; allCommits?: boolean; remote?: string; grace?: string; json?: boolean }) => {
      const repo = await Repo.open();
      try {
        const plan = await planGc(repo, { allCommits: o.allCommits, remote: o.remote, grace: o.grace });
        if (plan.unreadableTrees.length && !o.dryRun) {
          if (!o.json) show(plan);
          throw unreadableError(plan);
        }
        // doomed packs past the grace period go too; small packs are merged (that deletes no object: no question)
        const deletes = plan.candidates.length + (plan.packsDue ?? 0);
        const work = deletes + (plan.packsToMerge ?? 0);
        if (o.json && (o.dryRun || !work)) return json(plan);
        if (!o.json) show(plan);
        if (o.dryRun || !work) return;
        if (!o.force && deletes) {
          if (!process.stdin.isTTY || !process.stderr.isTTY) {
            throw new TroveError('ABORTED', `gc would delete ${plural(plan.candidates.length, 'object')}; refusing without a terminal to ask on`, 'run `trove gc --dry-run` to review, then `trove gc --force`');
          }
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          const answer = await rl.question(`Delete ${plural(plan.candidates.length, 'object')} (${humanBytes(plan.bytes)}) from ${plan.target === 'cache' ? 'the cache' : `remote "${plan.target}"`}? [y/N] `);
          rl.close();
          if (!/^y(es)?$/i.test(answer.trim())) {
            err('nothing deleted');
            process.exitCode = 1;
            return;
          }
        }
        const r = await applyGc(repo, plan);
        if (o.json) return json({ plan, ...r });
        out(`deleted ${plural(r.deleted, 'object')} (${humanBytes(r.bytes)})${r.packsMerged ? `; merged ${plural(r.packsMerged, 'small pack')}` : ''}`);
      } finally {
        repo.close();
      }
    });
}

function show(p: GcPlan): void {
  const where = p.target === 'cache' ? 'cache' : `remote "${p.target}"`;
  out(`${where}: ${plural(p.stored, 'object')} (${humanBytes(p.storedBytes)}); ${p.reachable} in use (${p.scope === 'all-commits' ? 'every commit' : 'branches, tags'}, HEAD, index, workspace)`);
  if (p.keptYoung) out(`kept ${plural(p.keptYoung, 'unused object')} (${humanBytes(p.keptYoungBytes)}) younger than the grace period`);
  if (p.blocked) out(`would have deleted ${plural(p.blocked, 'object')}, but some trees cannot be read (below)`);
  else out(p.candidates.length ? `would delete ${plural(p.candidates.length, 'object')} (${humanBytes(p.bytes)})` : 'nothing to delete');
  if (p.packsToMerge) out(`would merge ${plural(p.packsToMerge, 'small pack')} into fewer (nothing in use is lost)`);
  if (p.packsDue) out(`would remove ${plural(p.packsDue, 'pack')} that an earlier gc marked (what is still in use in them is copied first)`);
  for (const w of p.unreadableTrees.slice(0, 5)) err(`warning: ${w}; objects below it could not be marked, so gc deletes nothing`);
  for (const b of p.badPointers.slice(0, 5)) err(`warning: skipped a bad pointer: ${b.message}`);
}
