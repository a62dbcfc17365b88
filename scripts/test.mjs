#!/usr/bin/env node
// Runs the whole suite with vitest and ends with one plain line, "N passed, N failed, N skipped",
// so that any CI reads the result the same way. Exit code: vitest's.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const out = path.join(tmpdir(), `trove-vitest-${process.pid}.json`);
const r = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)], { stdio: 'inherit' });
let line = null;
try {
  const j = JSON.parse(readFileSync(out, 'utf8'));
  line = `${j.numPassedTests} passed, ${j.numFailedTests} failed, ${j.numPendingTests + (j.numTodoTests ?? 0)} skipped`;
  rmSync(out, { force: true });
} catch {
  /* vitest did not get far enough to write results */
}
if (line) console.log(`\n${line}`);
process.exit(r.status ?? 1);
