#!/usr/bin/env node
// Writes a small iris-like CSV: 3 species, 4 measurements, drawn from normal distributions close to
// Fisher's iris data, with a seeded generator so the same arguments always give the same bytes.
//   node gen-data.mjs <out.csv> [--version 1|2]
// Version 2 is a different sample with more rows: "the dataset changed".
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const [out, flag, ver] = process.argv.slice(2);
if (!out) {
  console.error('usage: node gen-data.mjs <out.csv> [--version 1|2]');
  process.exit(2);
}
const version = flag === '--version' ? Number(ver) : 1;

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(version === 1 ? 20240601 : 20250301);
const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

const SPECIES = [
  ['setosa', [5.01, 3.43, 1.46, 0.25], [0.35, 0.38, 0.17, 0.11]],
  ['versicolor', [5.94, 2.77, 4.26, 1.33], [0.52, 0.31, 0.47, 0.2]],
  ['virginica', [6.59, 2.97, 5.55, 2.03], [0.64, 0.32, 0.55, 0.27]],
];
const perClass = version === 1 ? 50 : 70;
const rows = ['sepal_length,sepal_width,petal_length,petal_width,species'];
for (let i = 0; i < perClass; i++) {
  for (const [name, mean, sd] of SPECIES) {
    const x = mean.map((m, k) => Math.max(0.1, m + sd[k] * normal()).toFixed(1));
    rows.push([...x, name].join(','));
  }
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, rows.join('\n') + '\n');
console.log(`wrote ${out}: ${rows.length - 1} rows (version ${version})`);
