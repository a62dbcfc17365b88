#!/usr/bin/env node
// Launcher only: everything lives in the CLI's main().
import { main } from '../dist/cli/main.js';

let settled = false;
const exit = process.exit.bind(process);
process.exit = (code) => {
  settled = true; // an explicit exit (a closed pipe) is the command's own answer
  return exit(code);
};
// A command whose work can no longer progress (a promise nothing will ever settle) lets Node's event
// loop run dry and exit 0 as if all went well; say so and fail instead.
process.on('exit', (code) => {
  if (settled || code !== 0) return;
  process.stderr.write('trove: internal error: the command stopped before it finished (nothing left to wait for); re-run it, and report this at the issue tracker\n');
  process.exitCode = 1;
});
main(process.argv).then((code) => {
  settled = true;
  process.exitCode = code;
});
