#!/usr/bin/env node
// Launcher only: everything lives in the CLI's main().
import { main } from '../dist/cli/main.js';
main(process.argv).then((code) => { process.exitCode = code; });
