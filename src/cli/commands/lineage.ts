import { Option, type Command } from 'commander';
import { Repo } from '../../core/repo.js';
import { renderLineage, type LineageFormat } from '../../core/runs/lineage-render.js';
import { lineageOf } from '../../core/runs/queries.js';
import { err } from '../render.js';
import { UsageError } from '../main.js';

export function register(program: Command): void {
  program
    .command('lineage')
    .description('where a data version came from (upstream), or what was made from it (--downstream)')
    .argument('<target>', 'a tracked path, path@rev, oid prefix, or run id')
    .option('-d, --downstream', 'follow the data forwards: runs that used it and what they produced')
    .option('--depth <n>', 'at most n runs along any path (default: no limit)', (v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--depth must be a whole number, got ${v}`);
      return n;
    })
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'dot', 'mermaid']).default('text'))
    .addHelpText('after', `
Examples:
  $ trove lineage models/model.bin                  the runs and data it came from
  $ trove lineage data/raw.csv@HEAD~3 --downstream  everything made from that version
  $ trove lineage 01JD3Z8Q4X --format mermaid       around one run, as a Mermaid flowchart
  $ trove lineage models/model.bin --format dot | dot -Tsvg > lineage.svg`)
    .action(async (target: string, o: { downstream?: boolean; depth?: number; format: LineageFormat }) => {
      const repo = await Repo.open();
      try {
        const g = await lineageOf(repo, target, { direction: o.downstream ? 'downstream' : 'upstream', depth: o.depth });
        for (const s of g.skipped) err(`trove: warning: skipped ${s.file}`);
        const { skipped: _s, ...graph } = g;
        process.stdout.write(renderLineage(graph, o.format));
      } finally {
        repo.close();
      }
    });
}
