import { Option, type Command } from 'commander';
import { Repo } from '../../core/repo.js';
import { renderLineage, type LineageFormat } from '../../core/runs/lineage-render.js';
import { lineageOf } from '../../core/runs/queries.js';
import { err } from '../render.js';
import { UsageError } from '../usage.js';

export function register(program: Command): void {
  program
    .command('lineage')
    .description('where a data version came from (upstream), or what was made from it (--downstream)')
    .argument('<target>', 'a tracked path, path@rev, oid prefix, run id (or prefix), or run name')
    .option('-d, --downstream', 'follow the data forwards: runs that used it and what they produced')
    .option('--depth <n>', 'at most n runs along any path (default: no limit)', (v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--depth must be a whole number, got ${v}`);
      return n;
    })
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'dot', 'mermaid']).default('text'))
    .option('--json', 'print the graph as JSON (the same as --format json)')
    .addHelpText('after', `
Examples:
  $ trove lineage models/model.bin                  the runs and data it came from
  $ trove lineage data/raw.csv@HEAD~3 --downstream  everything made from that version
  $ trove lineage 01JD3Z8Q4X                        one run: what it read (and where that came from) and what it wrote
  $ trove lineage baseline --json                   a run by its name, as JSON
  $ trove lineage 01JD3Z8Q4X --format mermaid       around one run, as a Mermaid flowchart
  $ trove lineage models/model.bin --format dot | dot -Tsvg > lineage.svg`)
    .action(async (target: string, o: { downstream?: boolean; depth?: number; format: LineageFormat; json?: boolean }) => {
      if (o.json && o.format !== 'text' && o.format !== 'json') throw new UsageError(`--json and --format ${o.format} ask for two formats: give one`);
      const format: LineageFormat = o.json ? 'json' : o.format;
      const repo = await Repo.open();
      try {
        const g = await lineageOf(repo, target, { direction: o.downstream ? 'downstream' : 'upstream', depth: o.depth });
        for (const s of g.skipped) err(`trove: warning: skipped ${s.file}`);
        const { skipped: _s, ...graph } = g;
        process.stdout.write(renderLineage(graph, format));
      } finally {
        repo.close();
      }
    });
}
