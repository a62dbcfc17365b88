#!/usr/bin/env node
// Trains a softmax (multinomial logistic) regression on data/iris.csv with plain gradient descent,
// using only Node's standard library. Meant to run under `trove run`:
//   trove run -p lr=0.1 -p epochs=200 -i data/iris.csv -o models/scaler.json -o models/model.bin \
//     -- node src/train.mjs --lr 0.1 --epochs 200
// It logs the loss every few epochs by appending lines to $TROVE_RUN_EVENTS (no process per value),
// and the final accuracies with `trove log-metric` (the `trove` on PATH inside a run).
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const args = Object.fromEntries(process.argv.slice(2).join(' ').split('--').filter(Boolean).map((a) => a.trim().split(/\s+/)));
const lr = Number(args.lr ?? 0.1);
const epochs = Number(args.epochs ?? 200);
const seed = Number(args.seed ?? 42);

const lines = readFileSync('data/iris.csv', 'utf8').trim().split('\n').slice(1);
const classes = [...new Set(lines.map((l) => l.split(',')[4]))].sort();
const data = lines.map((l) => {
  const p = l.split(',');
  return { x: p.slice(0, 4).map(Number), y: classes.indexOf(p[4]) };
});

// Deterministic shuffle and a 70/30 split.
let s = seed;
const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
for (let i = data.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [data[i], data[j]] = [data[j], data[i]];
}
const cut = Math.round(data.length * 0.7);
const train = data.slice(0, cut);
const test = data.slice(cut);

// Standardize with the training set's mean and standard deviation (the "scaler").
const mean = [0, 1, 2, 3].map((k) => train.reduce((a, r) => a + r.x[k], 0) / train.length);
const std = [0, 1, 2, 3].map((k) => Math.sqrt(train.reduce((a, r) => a + (r.x[k] - mean[k]) ** 2, 0) / train.length) || 1);
const scale = (x) => x.map((v, k) => (v - mean[k]) / std[k]);

const K = classes.length;
const W = Array.from({ length: K }, () => new Array(5).fill(0)); // 4 weights + bias per class
const probs = (x) => {
  const z = W.map((w) => w[4] + x.reduce((a, v, k) => a + v * w[k], 0));
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
};
const events = process.env.TROVE_RUN_EVENTS;
const X = train.map((r) => scale(r.x));
for (let epoch = 1; epoch <= epochs; epoch++) {
  const grad = Array.from({ length: K }, () => new Array(5).fill(0));
  let loss = 0;
  X.forEach((x, i) => {
    const p = probs(x);
    loss -= Math.log(p[train[i].y] + 1e-12);
    for (let c = 0; c < K; c++) {
      const d = p[c] - (c === train[i].y ? 1 : 0);
      for (let k = 0; k < 4; k++) grad[c][k] += d * x[k];
      grad[c][4] += d;
    }
  });
  for (let c = 0; c < K; c++) for (let k = 0; k < 5; k++) W[c][k] -= (lr * grad[c][k]) / X.length;
  if (events && (epoch % 20 === 0 || epoch === epochs)) {
    appendFileSync(events, JSON.stringify({ metric: 'loss', value: loss / X.length, step: epoch }) + '\n');
  }
}
const accuracy = (rows) => rows.filter((r) => probs(scale(r.x)).reduce((b, p, c, a) => (p > a[b] ? c : b), 0) === r.y).length / rows.length;
const trainAcc = accuracy(train);
const testAcc = accuracy(test);

mkdirSync('models', { recursive: true });
writeFileSync('models/scaler.json', JSON.stringify({ mean, std, classes }, null, 2) + '\n');
writeFileSync('models/model.bin', Buffer.from(new Float64Array(W.flat()).buffer));
console.log(`lr=${lr} epochs=${epochs}: train accuracy ${trainAcc.toFixed(3)}, test accuracy ${testAcc.toFixed(3)}`);

if (process.env.TROVE_RUN_ID) {
  const trove = (...a) => execFileSync('trove', a, { stdio: 'inherit' });
  trove('log-param', 'seed', String(seed));
  trove('log-metric', 'train_accuracy', String(trainAcc));
  trove('log-metric', 'test_accuracy', String(testAcc));
}
