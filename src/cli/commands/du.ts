import type { Command } from 'commander';
import { diskUsage } from '../../core/diskUsage.js';
import { Repo } from '../../core/repo.js';
import { humanBytes, json, out, plural } from '../render.js';

export function register(program: Command): void {
  program
    .command('du')
    .description('how much the cache holds, how much disk it takes, and how much chunking saved')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove du
  $ trove du --json | jq .savedBytes

"logical" counts every object in the cache at its full size, once; "stored" is what the cache takes on
disk (loose files, packs, chunks and manifests). Files of 16 MiB and more are stored as content-defined
chunks, so versions that share most of their bytes share most of their chunks: the difference is "saved".`)
    .action(async (o: { json?: boolean }) => {
      const repo = await Repo.open();
      try {
        const u = await diskUsage(repo.cache);
        if (o.json) return json(u);
        out(`logical  ${humanBytes(u.logicalBytes).padStart(10)}  ${plural(u.objects.blobs, 'file object')}, ${plural(u.objects.trees, 'tree')}`);
        out(`stored   ${humanBytes(u.storedBytes).padStart(10)}`);
        out(`saved    ${humanBytes(u.savedBytes).padStart(10)}  by chunking (dedup between versions)`);
        out('');
        out(`loose    ${plural(u.loose.objects, 'object')}, ${humanBytes(u.loose.bytes)}`);
        if (u.packed) out(`packed   ${plural(u.packed.objects, 'object')} in ${plural(u.packed.packs, 'pack')}, ${humanBytes(u.packed.bytes)}`);
        out(`chunked  ${plural(u.chunked.files, 'file')} (${humanBytes(u.chunked.logicalBytes)}) in ${plural(u.chunked.chunks, 'chunk')}, ${humanBytes(u.chunked.chunkBytes + u.chunked.manifestBytes)}`);
      } finally {
        repo.close();
      }
    });
}
