#!/usr/bin/env node
/**
 * Node's own floor for `trove status`: start, walk the tree with readdirSync + lstatSync of each
 * file, exit. Nothing a Node `status` does can cost less than this (issue 9 part 3 measures
 * `trove status` against it). Usage: node bench/status-floor.mjs <dir>
 */
import { lstatSync, readdirSync } from 'node:fs';

let files = 0;
function walk(dir) {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${d.name}`;
    if (d.isDirectory()) walk(p);
    else {
      lstatSync(p);
      files++;
    }
  }
}
walk(process.argv[2] ?? '.');
if (process.argv.includes('--print')) console.log(files);
