/**
 * Push's upload order (step 5 of transfer.ts's outline), as a pure function so that it is unit-tested
 * in-process: children before parents (a post-order over the trees), so that a tree is sent only after
 * everything below it, which is what lets a later push skip a folder whose tree the remote has.
 */
import type { Oid } from './oid.js';

/**
 * Every oid of `upload`, each once, every tree after all of its children that are in `upload`.
 * `childrenOf(oid)`: a tree's entries' oids (undefined for a blob). Iterative: folders can nest deeper
 * than the call stack allows.
 * @example uploadOrder(new Set([tree, a, b]), (o) => (o === tree ? [a, b] : undefined)) // → [b, a, tree] or [a, b, tree]
 */
export function uploadOrder(upload: ReadonlySet<Oid>, childrenOf: (oid: Oid) => readonly Oid[] | undefined): Oid[] {
  const order: Oid[] = [];
  const seen = new Set<Oid>();
  const isChild = new Set<Oid>();
  for (const oid of upload) for (const c of childrenOf(oid) ?? []) isChild.add(c);
  const visit = (root: Oid) => {
    const stack: [Oid, boolean][] = [[root, false]];
    while (stack.length) {
      const [oid, expanded] = stack.pop()!;
      if (expanded) {
        order.push(oid);
        continue;
      }
      if (seen.has(oid) || !upload.has(oid)) continue;
      seen.add(oid);
      stack.push([oid, true]);
      for (const c of childrenOf(oid) ?? []) if (!seen.has(c)) stack.push([c, false]);
    }
  };
  for (const oid of upload) if (!isChild.has(oid)) visit(oid);
  for (const oid of upload) visit(oid); // anything left (every oid below an uploaded tree): still post-order
  return order;
}
