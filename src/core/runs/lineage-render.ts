/**
 * Lineage graphs (`index-db.ts`) as text: an indented tree for people, JSON for programs, Graphviz dot
 * and Mermaid flowcharts for pictures. Names and paths come from run records, which may come from
 * anyone: every label is escaped for its target, and control and bidi characters are shown as `\u{…}`
 * so a hostile name cannot rewrite the terminal or reorder what is shown.
 */
import type { LineageGraph, LineageNode } from './index-db.js';

export type LineageFormat = 'text' | 'json' | 'dot' | 'mermaid';

// C0, DEL, C1, and the bidi embedding/override/isolate controls.
// eslint-disable-next-line no-control-regex
const UNSAFE_RE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A string made safe to print: control and bidi characters become visible `\u{…}` escapes. */
export function visible(s: string): string {
  return s.replace(UNSAFE_RE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

const shortOid = (oid: string) => oid.replace(/^sha256:/, '').slice(0, 12);

function labelLines(n: LineageNode): string[] {
  if (n.kind === 'data') return [visible(n.path || '(unknown path)'), shortOid(n.oid)];
  return [`run ${visible(n.name || '(unnamed)')}`, `${n.id} ${n.status}`];
}

/**
 * An indented tree from the root, following the direction that was asked for. A node reached a
 * second time (a diamond, or a cycle) is printed once more as a reference without its subtree.
 * @example
 * models/model.bin (3f2a9c0d1b2e)
 * └─ produced by run train 01JD… FINISHED
 *    ├─ input data/features.csv (9a8b7c6d5e4f)
 */
export function renderLineageText(g: LineageGraph): string {
  const byKey = new Map(g.nodes.map((n) => [n.key, n]));
  const up = g.direction === 'upstream';
  const children = new Map<string, { key: string; kind: 'input' | 'output' }[]>();
  const rootIsRun = byKey.get(g.root)?.kind === 'run';
  for (const e of g.edges) {
    // A run's other side (its outputs upstream, its inputs downstream) hangs below the root run.
    const side = rootIsRun && (up ? e.kind === 'output' && e.from === g.root : e.kind === 'input' && e.to === g.root);
    const [parent, child] = side ? [g.root, up ? e.to : e.from] : up ? [e.to, e.from] : [e.from, e.to];
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push({ key: child, kind: e.kind });
  }
  const describe = (n: LineageNode, via?: 'input' | 'output'): string => {
    if (n.kind === 'data') {
      const from = n.origin ? ` imported from ${visible(n.origin.repo)} ${n.origin.rev.slice(0, 12)}:${visible(n.origin.path)}` : '';
      const what = `${visible(n.path || '(unknown path)')} (${shortOid(n.oid)})${from}`;
      return via === undefined ? what : `${via} ${what}`;
    }
    const what = `run ${visible(n.name || '(unnamed)')} ${n.id} ${n.status}`;
    if (via === undefined) return what;
    return up ? `produced by ${what}` : `used by ${what}`;
  };
  const lines: string[] = [];
  const expanded = new Set<string>();
  const walk = (key: string, prefix: string, childPrefix: string, via?: 'input' | 'output') => {
    const n = byKey.get(key);
    if (!n) return;
    const again = expanded.has(key);
    lines.push(prefix + describe(n, via) + (again ? ' (see above)' : ''));
    if (again) return;
    expanded.add(key);
    const kids = children.get(key) ?? [];
    kids.forEach((c, i) => {
      const last = i === kids.length - 1;
      walk(c.key, childPrefix + (last ? '└─ ' : '├─ '), childPrefix + (last ? '   ' : '│  '), c.kind);
    });
  };
  walk(g.root, '', '');
  if (byKey.size === 1) {
    lines.push(up ? '(no recorded run produced this)' : '(no recorded run used this)');
  }
  if (g.truncated) lines.push('… (truncated: too many nodes)');
  return lines.join('\n') + '\n';
}

/** The graph as JSON (2-space, newline-terminated; an unlimited depth is written as null). */
export function renderLineageJson(g: LineageGraph): string {
  return JSON.stringify({ ...g, depth: Number.isFinite(g.depth) ? g.depth : null }, null, 2) + '\n';
}

/** A DOT string literal: backslash, quote and newline escaped (after unsafe characters are made visible). */
const dotString = (s: string) => `"${visible(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Graphviz: data as boxes, runs as ellipses, edges labelled input/output, left to right. */
export function renderLineageDot(g: LineageGraph): string {
  const out = ['digraph lineage {', '  rankdir=LR;', '  node [fontname="Helvetica"];'];
  for (const n of g.nodes) {
    // Lines are joined with DOT's own \n escape after each part was escaped on its own.
    const label = labelLines(n).map((l) => dotString(l).slice(1, -1)).join('\\n');
    const shape = n.kind === 'data' ? 'box' : 'ellipse';
    const extra = n.key === g.root ? ', penwidth=2' : '';
    out.push(`  ${dotString(n.key)} [shape=${shape}, label="${label}"${extra}];`);
  }
  for (const e of g.edges) out.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [label="${e.kind}"];`);
  out.push('}');
  return out.join('\n') + '\n';
}

/**
 * Mermaid label text: Mermaid reads `#name;` as an entity, so `#`, quotes, angle brackets, `&` and
 * backticks are written as entities; line breaks are our own `<br/>`.
 */
function mermaidText(s: string): string {
  return visible(s).replace(/[#"<>&`]/g, (c) => `#${c.codePointAt(0)};`);
}

/** Mermaid flowchart: node ids are n0, n1, … (keys contain ':' which Mermaid ids cannot). */
export function renderLineageMermaid(g: LineageGraph): string {
  const ids = new Map(g.nodes.map((n, i) => [n.key, `n${i}`]));
  const out = ['flowchart LR'];
  for (const n of g.nodes) {
    const label = labelLines(n).map(mermaidText).join('<br/>');
    out.push(n.kind === 'data' ? `  ${ids.get(n.key)}["${label}"]` : `  ${ids.get(n.key)}(["${label}"])`);
  }
  for (const e of g.edges) out.push(`  ${ids.get(e.from)} -->|${e.kind}| ${ids.get(e.to)}`);
  const root = ids.get(g.root);
  if (root) out.push(`  style ${root} stroke-width:3px`);
  return out.join('\n') + '\n';
}

/** Render in the named format. */
export function renderLineage(g: LineageGraph, format: LineageFormat): string {
  switch (format) {
    case 'text': return renderLineageText(g);
    case 'json': return renderLineageJson(g);
    case 'dot': return renderLineageDot(g);
    case 'mermaid': return renderLineageMermaid(g);
  }
}
