import type { Command } from 'commander';
import { Repo } from '../../core/repo.js';
import { err, json, out } from '../render.js';

/** `trove runs import <mlruns-folder>`: an MLflow file store into trove's records. */
export function registerImport(runs: Command): void {
  runs.command('import <mlruns>')
    .description('import an MLflow file store (mlruns/): experiments, runs, params, metrics, tags, datasets, artifacts, logged models, registry')
    .option('--json', 'print the counts as JSON')
    .addHelpText('after', `
Examples:
  $ trove runs import mlruns
  $ trove runs import ~/old-project/mlruns --json

Importing again adds nothing. Absolute paths inside the folder (from another machine) are resolved
inside the folder; nothing outside it is read.`)
    .action(async (folder: string, o: { json?: boolean }) => {
      const repo = await Repo.open();
      try {
        const { importMlruns } = await import('../../core/runs/mlflow-import.js');
        const r = await importMlruns(repo, folder);
        for (const p of r.problems) err(`trove: warning: ${p.file}: ${p.message}`);
        if (o.json) return json(r);
        out(`imported ${r.runs} runs (${r.params} params, ${r.metricPoints} metric points, ${r.tags} tags, ${r.datasets} datasets, ${r.artifacts} artifacts), ` +
          `${r.experiments} experiments, ${r.loggedModels} logged models, ${r.registeredModels} registered models (${r.modelVersions} versions, ${r.aliases} aliases); ${r.skipped} already there`);
      } finally {
        repo.close();
      }
    });
}
