import { describe, expect, it } from 'vitest';
import { checkoutActions, type DesiredState, type WorkspaceState } from '../../src/core/ops/checkoutPlan.js';
import type { Oid } from '../../src/core/oid.js';
import type { Tracked } from '../../src/core/pointer.js';
import type { TreeEntry } from '../../src/core/tree.js';
import type { FlatTree } from '../../src/core/workspace.js';

// The checkout planner is pure: states in, plan out. These pin its decisions without a disk, git or a store.
const oid = (c: string) => `sha256:${c.repeat(64)}` as Oid;
const A = oid('a'), B = oid('b'), C = oid('c'), D = oid('d'), ROOT = oid('e'), OTHER = oid('f');

const fileT: Tracked = { path: 'model.bin', pointerFile: 'model.bin.trove', pointer: { version: 1, path: 'model.bin', type: 'file', oid: A, size: 3 } };
const dirT: Tracked = { path: 'data', pointerFile: 'data.trove', pointer: { version: 1, path: 'data', type: 'dir', oid: ROOT, size: 9, files: 3 } };

const entry = (name: string, o: Oid, exec = false): TreeEntry => ({ name, type: 'file', oid: o, size: 3, ...(exec ? { exec: true } : {}) });
/** the folder the pointer names: a.csv, sub/b.csv, sub/deep/c.csv (executable) */
function tree(): FlatTree {
  return {
    files: new Map([['a.csv', entry('a.csv', A)], ['sub/b.csv', entry('b.csv', B)], ['sub/deep/c.sh', entry('c.sh', C, true)]]),
    dirs: new Set(['sub', 'sub/deep']),
  };
}
const wantDir = (t: FlatTree | null = tree()): DesiredState => ({ type: 'dir', oid: ROOT, tree: t });
const ws = (files: [string, Oid, boolean?][], dirs: string[], rootOid: Oid = OTHER): WorkspaceState =>
  ({ type: 'dir', oid: rootOid, fileCount: files.length, files: new Map(files.map(([p, o, x]) => [p, { oid: o, exec: !!x }])), dirs });

describe('checkout plan (pure)', () => {
  describe('a file pointer', () => {
    const want: DesiredState = { type: 'file', oid: A, exec: false, size: 3, cached: true };
    it.each<[string, WorkspaceState, Partial<ReturnType<typeof checkoutActions>>]>([
      ['absent: one fresh write', null, { writes: [{ rel: 'model.bin', oid: A, exec: false, size: 3, fresh: true }], drops: [], unchanged: 0 }],
      ['same content: nothing to do', { type: 'file', oid: A, exec: false }, { writes: [], unchanged: 1, chmods: [] }],
      ['same content, exec bit differs: a chmod only', { type: 'file', oid: A, exec: true }, { writes: [], chmods: [{ rel: 'model.bin', exec: false }], unchanged: 0 }],
      ['other content: overwrite, and that content is a drop', { type: 'file', oid: B, exec: false },
        { writes: [{ rel: 'model.bin', oid: A, exec: false, size: 3, fresh: false }], drops: [{ rel: 'model.bin', oid: B }] }],
      ['a folder there: every file in it is a drop, the folder goes', ws([['x', B], ['y/z', C]], ['y']),
        { drops: [{ rel: 'model.bin/x', oid: B }, { rel: 'model.bin/y/z', oid: C }], dirsToRemove: ['model.bin'], writes: [{ rel: 'model.bin', oid: A, exec: false, size: 3, fresh: false }] }],
    ])('%s', (_name, have, expected) => {
      const plan = checkoutActions(fileT, want, have);
      expect(plan).toMatchObject(expected);
      expect(plan.conflicts).toEqual([]); // the planner never decides safety: the store does
    });

    it('object not cached: reported missing, nothing written or dropped', () => {
      const plan = checkoutActions(fileT, { ...want, cached: false }, { type: 'file', oid: B, exec: false });
      expect(plan).toMatchObject({ missing: [A], missingFiles: ['model.bin'], writes: [], drops: [], deletes: [] });
    });
  });

  describe('a folder pointer', () => {
    it('workspace already at the tree oid: unchanged by oid, the tree is not needed', () => {
      const plan = checkoutActions(dirT, wantDir(null), ws([['a.csv', A], ['x', B], ['y', C]], [], ROOT));
      expect(plan).toMatchObject({ unchanged: 3, writes: [], drops: [], deletes: [], missing: [] });
    });

    it('absent: makes every folder (sorted, the root first) and writes every file fresh', () => {
      const plan = checkoutActions(dirT, wantDir(), null);
      expect(plan.dirsToMake).toEqual(['data', 'data/sub', 'data/sub/deep']);
      expect(plan.writes).toEqual([
        { rel: 'data/a.csv', oid: A, exec: false, size: 3, fresh: true },
        { rel: 'data/sub/b.csv', oid: B, exec: false, size: 3, fresh: true },
        { rel: 'data/sub/deep/c.sh', oid: C, exec: true, size: 3, fresh: true },
      ]);
      expect(plan.drops).toEqual([]);
    });

    it('mixed workspace: keeps equal files, chmods, rewrites changed ones, deletes extras, removes stray folders', () => {
      const have = ws([['a.csv', A], ['sub/b.csv', D], ['sub/deep/c.sh', C, false], ['extra.txt', D], ['junk/j', B]], ['sub', 'sub/deep', 'junk']);
      const plan = checkoutActions(dirT, wantDir(), have);
      expect(plan.unchanged).toBe(1);
      expect(plan.chmods).toEqual([{ rel: 'data/sub/deep/c.sh', exec: true }]);
      expect(plan.writes).toEqual([{ rel: 'data/sub/b.csv', oid: B, exec: false, size: 3, fresh: false }]);
      expect(plan.drops).toEqual([{ rel: 'data/sub/b.csv', oid: D }, { rel: 'data/extra.txt', oid: D }, { rel: 'data/junk/j', oid: B }]);
      expect(plan.deletes).toEqual(['data/extra.txt', 'data/junk/j']);
      expect(plan.dirsToRemove).toEqual(['data/junk']);
    });

    it('a file where the folder should be: deleted (a drop) and the folder made', () => {
      const plan = checkoutActions(dirT, wantDir(), { type: 'file', oid: D, exec: false });
      expect(plan).toMatchObject({ drops: [{ rel: 'data', oid: D }], deletes: ['data'] });
      expect(plan.writes.map((w) => w.rel)).toEqual(['data/a.csv', 'data/sub/b.csv', 'data/sub/deep/c.sh']);
    });

    it('trees not readable: the missing tree oids are reported and nothing is planned', () => {
      const plan = checkoutActions(dirT, { type: 'dir', oid: ROOT, tree: null, missingTrees: [OTHER] }, null);
      expect(plan).toMatchObject({ missing: [OTHER], missingFiles: ['data'], writes: [], dirsToMake: [] });
    });

    describe('with `only` (checkout data/sub/…)', () => {
      it('touches only paths inside it; its ancestors are made, nothing outside is written, deleted or dropped', () => {
        const have = ws([['a.csv', D], ['sub/b.csv', D], ['extra.txt', D]], ['sub']);
        const plan = checkoutActions(dirT, wantDir(), have, { only: ['data/sub/deep'] });
        expect(plan.writes).toEqual([{ rel: 'data/sub/deep/c.sh', oid: C, exec: true, size: 3, fresh: true }]);
        expect(plan.dirsToMake).toEqual(['data', 'data/sub', 'data/sub/deep']);
        expect(plan.drops).toEqual([]);
        expect(plan.deletes).toEqual([]);
      });

      it('a path in neither the tree nor the workspace is PATH_NOT_TRACKED', () => {
        expect(() => checkoutActions(dirT, wantDir(), null, { only: ['data/nope'] })).toThrow(expect.objectContaining({ code: 'PATH_NOT_TRACKED' }));
      });

      it('a path only the workspace has is deleted (and dropped)', () => {
        const plan = checkoutActions(dirT, wantDir(), ws([['sub/new.txt', D]], ['sub']), { only: ['data/sub/new.txt'] });
        expect(plan).toMatchObject({ deletes: ['data/sub/new.txt'], drops: [{ rel: 'data/sub/new.txt', oid: D }], writes: [] });
      });

      it('a file where the folder should be is WOULD_OVERWRITE (only the whole folder may replace it)', () => {
        expect(() => checkoutActions(dirT, wantDir(), { type: 'file', oid: D, exec: false }, { only: ['data/a.csv'] })).toThrow(expect.objectContaining({ code: 'WOULD_OVERWRITE' }));
      });
    });
  });
});
