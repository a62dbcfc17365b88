/**
 * gc --remote of chunked files: a manifest nothing names any more goes, with exactly the chunks only
 * it named; the live version's chunks all stay (loose and packed), and a fresh clone pulls it whole.
 * A push that publishes a manifest during gc keeps the chunks it shares with the version gc drops.
 * Real CLI, real git, a folder remote.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { promises as fsp, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { git, newRepo, sha256File, tempDir, trove } from '../helpers/repo.js';
import type { Oid } from '../../src/core/oid.js';
import { Repo } from '../../src/core/repo.js';
import { applyGc, planGc } from '../../src/core/gc.js';
import { RemoteStore } from '../../src/core/remoteStore.js';
import { parseManifest } from '../../src/core/store/manifest.js';
import { openRemote } from '../../src/remotes/index.js';

const MiB = 1 << 20;
const prng = (seed: string, n: number) => createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16)).update(Buffer.alloc(n));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const oidOf = (b: Buffer) => `sha256:${sha(b)}` as Oid;

/** v1: 24 MiB; v2 keeps v1's first half and replaces the second; v3 (the concurrent push) is new bytes then v1's second half. */
const v1 = prng('gc-v1', 24 * MiB);
const v2 = Buffer.concat([v1.subarray(0, 12 * MiB), prng('gc-v2', 12 * MiB)]);
const v3 = Buffer.concat([prng('gc-v3', 4 * MiB), v1.subarray(12 * MiB)]);

async function ok(dir: string, ...args: string[]) {
  const r = await trove(dir, ...args);
  expect(r.code, `trove ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

/** The remote's view of chunked files: each manifest's chunks, and which chunks it holds (live packs or loose). */
async function remoteState(remote: string) {
  const store = new RemoteStore(openRemote('check', remote));
  const manifests = new Map<Oid, Oid[]>();
  for await (const e of store.listManifests()) manifests.set(e.oid, parseManifest((await store.readManifest(e.oid))!, e.oid, e.oid).chunks.map((c) => c.oid));
  return { manifests, has: (oid: Oid) => store.has(oid, 'chunk') };
}

/**
 * A repo whose only commit names v2 (the v1 commit was amended away, so no revision names v1), with
 * v1 and v2 both pushed to a folder remote.
 */
async function rewrittenRepo() {
  const remote = path.join(tempDir(), 'remote');
  const dir = await newRepo();
  await fsp.writeFile(path.join(dir, 'model.bin'), v1);
  await ok(dir, 'add', 'model.bin');
  await ok(dir, 'remote', 'add', 'origin', remote);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'v1');
  await ok(dir, 'push');
  await fsp.writeFile(path.join(dir, 'model.bin'), v2);
  await ok(dir, 'add', 'model.bin');
  await git(dir, 'commit', '-q', '--amend', '-am', 'v2 (history rewritten: v1 is on no branch)');
  await ok(dir, 'push');
  return { dir, remote };
}

async function verifiedClone(from: string, want: Buffer, branch?: string) {
  const clone = path.join(tempDir(), 'clone');
  await git(path.dirname(clone), 'clone', '-q', ...(branch ? ['-b', branch] : []), from, clone);
  const r = await ok(clone, 'pull', '--json');
  expect(JSON.parse(r.stdout).failed ?? []).toEqual([]);
  expect(await sha256File(path.join(clone, 'model.bin'))).toBe(sha(want));
}

describe('gc --remote and chunked files', () => {
  it('deletes the unreachable manifest and exactly the chunks only it named; the live version stays whole', async () => {
    const { dir, remote } = await rewrittenRepo();
    const before = await remoteState(remote);
    expect([...before.manifests.keys()].sort()).toEqual([oidOf(v1), oidOf(v2)].sort());
    const live = new Set(before.manifests.get(oidOf(v2))!);
    const onlyOld = before.manifests.get(oidOf(v1))!.filter((c) => !live.has(c));
    expect(onlyOld.length).toBeGreaterThan(3);
    expect(live.size - (before.manifests.get(oidOf(v1))!.length - onlyOld.length)).toBeGreaterThan(3); // v2 has chunks of its own too
    for (const c of [...onlyOld, ...live]) expect(await before.has(c)).toBe(true);
    const packed = readdirSync(path.join(remote, 'packs')).filter((f) => f.endsWith('.idx')).length;
    expect(packed).toBeGreaterThan(0); // small chunks are packed, so the repack path is taken too

    const dry = JSON.parse((await ok(dir, 'gc', '--remote', 'origin', '--grace', '0', '--dry-run', '--json')).stdout);
    expect(dry.candidates.filter((c: { manifest?: boolean }) => c.manifest).map((c: { oid: Oid }) => c.oid)).toEqual([oidOf(v1)]);
    expect(dry.candidates.filter((c: { manifest?: boolean }) => !c.manifest).map((c: { oid: Oid }) => c.oid).sort()).toEqual([...onlyOld].sort());

    await ok(dir, 'gc', '--remote', 'origin', '--grace', '0', '--force');
    const after = await remoteState(remote);
    expect([...after.manifests.keys()]).toEqual([oidOf(v2)]);
    for (const c of onlyOld) expect(await after.has(c), `old chunk ${c}`).toBe(false);
    for (const c of live) expect(await after.has(c), `live chunk ${c}`).toBe(true);
    await verifiedClone(dir, v2);

    // the second run deletes the doomed packs (their garbage was the old chunks); v2 still pulls
    await ok(dir, 'gc', '--remote', 'origin', '--grace', '0', '--force');
    expect(readdirSync(path.join(remote, 'packs')).filter((f) => f.endsWith('.doomed'))).toEqual([]);
    const last = await remoteState(remote);
    for (const c of live) expect(await last.has(c)).toBe(true);
    await verifiedClone(dir, v2);
  }, 60_000);

  it('a young unreachable manifest stays (grace period), and a kept manifest gc cannot read makes it delete nothing', async () => {
    const { dir, remote } = await rewrittenRepo();
    const files = () => readdirSync(remote, { recursive: true }).map(String).sort();
    const before = files();
    // default grace (24 h): the v1 manifest was pushed seconds ago, so it and its chunks stay
    const young = JSON.parse((await ok(dir, 'gc', '--remote', 'origin', '--dry-run', '--json')).stdout);
    expect(young.candidates).toEqual([]);
    expect(young.keptYoung).toBe(1); // the v1 manifest (its chunks count as kept by it)
    await ok(dir, 'gc', '--remote', 'origin', '--force');
    expect(files()).toEqual(before);
    // the live v2 manifest corrupted: the chunks it names are unknown, so nothing is deleted (not even v1's manifest)
    const key = path.join(remote, 'manifests', 'sha256', sha(v2).slice(0, 2), sha(v2).slice(2));
    await fsp.writeFile(key, '{"version":1,"oid":"not it"}');
    const r = await trove(dir, 'gc', '--remote', 'origin', '--grace', '0', '--force');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`manifest ${oidOf(v2)}`);
    expect(r.stderr).toContain('gc deleted nothing');
    expect(files()).toEqual(before);
  }, 60_000);

  it('a manifest pushed during gc keeps the chunks it shares with the manifest gc deletes', async () => {
    const { dir, remote } = await rewrittenRepo();
    // another clone makes v3 (sharing v1's second half) on a branch gc's repo never sees
    const other = path.join(tempDir(), 'other');
    await git(path.dirname(other), 'clone', '-q', dir, other);
    await git(other, 'checkout', '-qb', 'v3');
    await fsp.writeFile(path.join(other, 'model.bin'), v3);
    await ok(other, 'add', 'model.bin');
    await git(other, 'commit', '-qam', 'v3');

    const repo = await Repo.open(dir);
    try {
      const shown = await planGc(repo, { remote: 'origin', grace: 0 });
      const before = await remoteState(remote);
      const doomedOld = candidateChunksOf(before.manifests.get(oidOf(v1))!, shown.candidates.map((c) => c.oid));
      expect(shown.candidates.some((c) => c.manifest && c.oid === oidOf(v1))).toBe(true);

      // the push lands between gc's plan and its sweep; it skips the chunks the remote already holds
      await ok(other, 'push');
      const mid = await remoteState(remote);
      const shared = mid.manifests.get(oidOf(v3))!.filter((c) => doomedOld.has(c));
      expect(shared.length).toBeGreaterThan(3); // chunks the plan had as candidates, now named by v3

      await applyGc(repo, shown);
      const after = await remoteState(remote);
      expect([...after.manifests.keys()].sort()).toEqual([oidOf(v2), oidOf(v3)].sort());
      for (const c of after.manifests.get(oidOf(v3))!) expect(await after.has(c), `v3 chunk ${c}`).toBe(true);
      for (const c of after.manifests.get(oidOf(v2))!) expect(await after.has(c), `v2 chunk ${c}`).toBe(true);
      const gone = before.manifests.get(oidOf(v1))!.filter((c) => !after.manifests.get(oidOf(v2))!.includes(c) && !after.manifests.get(oidOf(v3))!.includes(c));
      expect(gone.length).toBeGreaterThan(0);
      for (const c of gone) expect(await after.has(c)).toBe(false);
    } finally {
      repo.close();
    }
    await verifiedClone(other, v3, 'v3');
  }, 60_000);
});

/** The chunks of a manifest that the plan had as candidates. */
function candidateChunksOf(v1Chunks: Oid[], candidates: Oid[]): Set<Oid> {
  const c = new Set(candidates);
  return new Set(v1Chunks.filter((x) => c.has(x)));
}
