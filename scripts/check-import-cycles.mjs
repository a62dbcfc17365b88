#!/usr/bin/env node
// Fails (exit 1) when modules import each other in a circle (types and dynamic imports included; see
// importCycles.mjs). Run by `npm test`. Usage: node scripts/check-import-cycles.mjs [src]
import { existsSync } from 'node:fs';
import { findCycles, importGraph } from './importCycles.mjs';

const dir = process.argv[2] ?? 'src';
if (!existsSync(dir)) {
  console.error(`check-import-cycles: ${dir}/ not found`);
  process.exit(2);
}
const cycles = findCycles(importGraph(dir));
if (cycles.length) {
  console.error(`import circles in ${dir}/ (${cycles.length}); each line is a set of modules that import each other:`);
  for (const c of cycles) console.error(`  ${c.join(' ↔ ')}`);
  process.exit(1);
}
console.log(`no import circles in ${dir}/`);
