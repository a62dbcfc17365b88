import type { Command } from 'commander';
import { Repo } from '../../core/repo.js';
import { humanBytes, json, out, plural, progressBar } from '../render.js';

export function register(program: Command): void {
  program
    .command('fsck')
    .description('re-hash every object in the cache; quarantine corrupt ones')
    .option('-j, --jobs <n>', 'objects verified in parallel', (v) => parseInt(v, 10))
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove fsck
  $ trove fsck --json

Corrupt objects are moved to .trove/cache/quarantine/ (never deleted) and the exit code is 1;
\`trove pull\` then fetches good copies. Packs are checked whole too: a damaged pack's good objects
are kept in a new pack, and a lost index is rebuilt from its pack.`)
    .action(async (o: { jobs?: number; json?: boolean }) => {
      const repo = await Repo.open();
      const bar = await progressBar('fsck', { quiet: o.json });
      try {
        const r = await repo.fsck({ jobs: o.jobs, onProgress: bar.onProgress });
        bar.stop();
        if (o.json) json(r);
        else {
          for (const p of r.packs?.problems ?? []) out(`pack: ${p.file}: ${p.problem} (${p.action})`);
          for (const c of r.corrupt) out(`corrupt: ${c.oid} (moved to ${c.quarantinedAs})`);
          if (r.corrupt.length) out(`\n${plural(r.corrupt.length, 'corrupt object')} quarantined; run \`trove pull\` to fetch good copies.`);
          else out(`${plural(r.checked, 'object')} (${humanBytes(r.bytes)}) verified, no corruption.`);
          if (r.strayTemp) out(`${plural(r.strayTemp, 'leftover temporary file')} in ${repo.cache.tmpDir} (from an interrupted command; safe to delete).`);
        }
        if (r.corrupt.length || r.packs?.problems.some((p) => p.lost)) process.exitCode = 1;
      } finally {
        bar.stop();
        repo.close();
      }
    });
}
