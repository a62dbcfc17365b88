/**
 * Chunked large files: an ObjectStore that stores blobs of `threshold` bytes and more as
 * content-defined chunks (chunker.ts) plus a manifest (manifest.ts), and everything else in the store
 * it wraps (loose, packed). A blob's identity stays the SHA-256 of its whole content, so pointers,
 * trees, run records and lineage do not change; only how its bytes are kept does.
 *
 * Private layout, beside the inner store's folders:
 *   <dir>/chunks/sha256/ab/cdef…      one read-only file per chunk, named by the SHA-256 of its bytes
 *   <dir>/manifests/sha256/ab/cdef…   one manifest per chunked blob, named by the blob's oid
 *
 * Writing a chunked blob (putFile):
 *  1. Read the file once, in 1 MiB pieces. Three passes go over each piece: the Cutter (gear hash) finds
 *     the cut points, each chunk's bytes go through its own SHA-256, the whole file's through another.
 *     For big files (48 MiB and more) they run on three threads at once (chunkPipeline.ts: a ring of
 *     shared buffers, so both cores are busy and the bytes are read once); smaller ones on this thread.
 *  2. A chunk that is already stored is touched (its mtime protects it from a concurrent sweep, see 5);
 *     a new one is written to a temp file and renamed into place (complete or absent).
 *  3. When the whole file is read: if the blob is already stored (manifest, or whole in the inner
 *     store), nothing more. Otherwise the chunks are made durable (syncfs) and then the manifest is
 *     written (temp + rename). The manifest appears last, so a blob that has a manifest has all its
 *     chunks, after a kill -9 or a power cut too; a crash before that leaves only chunks that no
 *     manifest names, which the next sweep removes and the next add reuses.
 * Reading (open, materialize, withFile, readSmall): the chunks in manifest order, the whole-file
 *  SHA-256 checked before the result is visible (materialize renames a verified temp file) or before
 *  the stream ends (open errors with INTEGRITY). Checkout of a big file (48 MiB and more) hashes on a
 *  worker thread beside the reads and writes (chunkAssemble.ts); only the whole-file hash is computed
 *  there, not the chunks' own: the whole hash alone proves the bytes. verify (fsck) also checks every chunk's own hash,
 *  so that quarantine can move the bad chunk aside (a chunk that exists is never rewritten by add).
 * Link modes: a chunked blob has no file of its own to link to, so materialize makes a copy whatever
 *  mode was asked (the interface lets a store do that; the caller records the mode returned), except
 *  in a repo whose chunking is off (link modes), where it is first written whole (unchunksToLink).
 *  Files below the threshold stay whole in the inner store and keep hardlink/symlink.
 *  5. Removal: deleting a chunked blob removes its manifest; then chunks that no manifest names and
 *     that were not written or touched in the last `chunkGraceMs` (1 h: longer than any add takes to
 *     reach its manifest) are removed.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, constants as fsc, fstatSync, lstatSync, openSync, promises as fsp, readFileSync, readSync, renameSync, rmSync, statSync, writeSync, chmodSync, fsyncSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { Readable } from 'node:stream';
import { TroveError, isErrno, isTroveError } from '../errors.js';
import { hexOf, isOid, oidFromHex, type Oid } from '../oid.js';
import { tempBeside, tempIn } from '../tempName.js';
import { fanoutFolders } from './fanout.js';
import { Cutter, DEFAULT_CHUNKING, type ChunkerParams } from './chunker.js';
import { makeManifest, parseManifest, serializeManifest, type Manifest, type ManifestEntry } from './manifest.js';
import type { AssemblePiece } from './chunkAssemble.js';
import type { LinkMode, ObjectInfo, ObjectKind, ObjectRef, ObjectStore, Part, PutResult } from './objectStore.js';

/** Blobs of this size and more are chunked (4× the largest chunk: smaller files gain little and keep link modes). */
export const CHUNK_THRESHOLD = 16 << 20;
/** From this size the parallel pipeline is used (below it, starting its two workers costs more than it saves). */
const WORKER_FROM = 48 << 20;
const PIECE = 1 << 20;
/** Chunk writes in flight at once (each holds at most one chunk's bytes). */
const MAX_WRITES = 4;
const MEMO = 64;


/**
 * `cache.chunk`: `off` (store every file whole), or the size from which files are chunked (`16MiB`,
 * `64MB`, `1GiB`, bytes; at least 1 MiB). Returns the threshold, Infinity for off.
 */
export function parseChunkSetting(v: unknown): number {
  const s = String(v).trim();
  if (/^(off|false|no|none)$/i.test(s)) return Infinity;
  const m = /^(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(s);
  const unit = m ? ({ b: 1, kb: 1e3, kib: 1 << 10, mb: 1e6, mib: 1 << 20, gb: 1e9, gib: 1 << 30 } as Record<string, number>)[(m[2] ?? 'b').toLowerCase()] : NaN;
  const n = m ? Number(m[1]) * unit : NaN;
  if (!Number.isSafeInteger(n) || n < 1 << 20) {
    throw new TroveError('CONFIG', `cache.chunk: expected off or a size of at least 1MiB, got ${JSON.stringify(s)}`,
      'e.g. `trove config cache.chunk 16MiB` (the default), or `trove config cache.chunk off` to store every file whole');
  }
  return n;
}

/**
 * The chunk threshold for a repository: `cache.chunk` when set; otherwise off when the first link mode
 * is hardlink or symlink (a chunked file is checked out as a copy, which would double the disk those
 * modes were chosen to save), else CHUNK_THRESHOLD.
 */
export function chunkThreshold(setting: unknown, linkModes: readonly string[]): number {
  if (setting !== undefined && setting !== null && setting !== '') return parseChunkSetting(setting);
  return linkModes[0] === 'hardlink' || linkModes[0] === 'symlink' ? Infinity : CHUNK_THRESHOLD;
}

export interface ChunkedOptions {
  /** blobs of this many bytes and more are chunked (default CHUNK_THRESHOLD) */
  threshold?: number;
  params?: ChunkerParams;
  /** unreferenced chunks younger than this are kept by the sweep (default 1 h) */
  chunkGraceMs?: number;
  /** 'auto' (default): the parallel pipeline (chunkPipeline.ts, two worker threads) from 48 MiB, else all on this thread; tests force either path */
  wholeHash?: 'auto' | 'worker' | 'inline';
}

/** What `usage()` reports about the chunked part of a store. */
export interface ChunkUsage {
  /** blobs stored as chunks */
  files: number;
  /** their sizes added up, as if stored whole */
  logicalBytes: number;
  chunks: number;
  /** bytes of the distinct chunks on disk */
  chunkBytes: number;
  manifestBytes: number;
}

export class ChunkedStore implements ObjectStore {
  readonly threshold: number;
  readonly params: ChunkerParams;
  private readonly graceMs: number;
  private readonly wholeHash: 'auto' | 'worker' | 'inline';
  private readonly memo = new Map<Oid, Manifest>();
  private unsynced = false;
  /** reassemblies with the hash on a worker thread that run at once (see assemble) */
  private readonly assembling = pLimit(Math.max(1, os.availableParallelism()));
  private readonly madeDirs = new Set<string>();

  constructor(readonly inner: ObjectStore, o: ChunkedOptions = {}) {
    this.threshold = o.threshold ?? CHUNK_THRESHOLD;
    this.params = o.params ?? DEFAULT_CHUNKING;
    this.graceMs = o.chunkGraceMs ?? 3_600_000;
    this.wholeHash = o.wholeHash ?? 'auto';
    const sync = inner.putBytesSync?.bind(inner);
    if (sync) this.putBytesSync = sync;
  }

  get dir(): string {
    return this.inner.dir;
  }
  get tmpDir(): string {
    return this.inner.tmpDir;
  }
  get treeMemo(): Map<Oid, unknown> {
    return this.inner.treeMemo;
  }

  // ------------------------------------------------------------------ layout (private)

  private chunkPath(oid: Oid): string {
    const hex = hexOf(oid);
    return path.join(this.dir, 'chunks', 'sha256', hex.slice(0, 2), hex.slice(2));
  }

  private manifestPath(oid: Oid): string {
    const hex = hexOf(oid);
    return path.join(this.dir, 'manifests', 'sha256', hex.slice(0, 2), hex.slice(2));
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await fsp.mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
  }

  private async temp(): Promise<string> {
    await this.ensureDir(this.tmpDir);
    return tempIn(this.tmpDir, 'c');
  }

  // ------------------------------------------------------------------ manifests

  /** The blob's manifest, or null when it is not stored chunked. Parsed as hostile input. */
  private manifestSync(oid: Oid, kind: ObjectKind): Manifest | null {
    if (kind !== 'blob') return null;
    const hit = this.memo.get(oid);
    if (hit) return hit;
    let buf: Buffer;
    try {
      const fd = openSync(this.manifestPath(oid), fsc.O_RDONLY | fsc.O_NONBLOCK);
      try {
        if (!fstatSync(fd).isFile()) throw new TroveError('INTEGRITY', `manifest of ${oid} is not a regular file`, 'run `trove fsck` to quarantine it');
        buf = readFileSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
      throw err;
    }
    const m = parseManifest(buf, `chunk manifest of ${oid}`, oid);
    if (this.memo.size >= MEMO) this.memo.delete(this.memo.keys().next().value as Oid);
    this.memo.set(oid, m);
    return m;
  }

  private chunksPresentSync(m: Manifest): boolean {
    for (const c of m.chunks) {
      try {
        const st = lstatSync(this.chunkPath(c.oid));
        if (!st.isFile() || st.size !== c.size) return false;
      } catch (err) {
        if (isErrno(err, 'ENOENT', 'ENOTDIR')) return false;
        throw err;
      }
    }
    return true;
  }

  /** True when `oid` is stored as chunks (whatever their state). */
  isChunked(oid: Oid, kind: ObjectKind): boolean {
    return this.manifestSync(oid, kind) !== null;
  }

  // ------------------------------------------------------------------ queries

  async has(oid: Oid, kind: ObjectKind): Promise<boolean> {
    if (await this.inner.has(oid, kind)) return true;
    return this.hasSync(oid, kind);
  }

  /**
   * A chunked blob is there when its manifest and every chunk it names are (a stat each: ~1 per MiB).
   * Called for every object of a 100k-file folder: objects that are not chunked cost one lookup in
   * the set of chunked oids (read once per process: one readdir per fan-out folder of manifests/), not
   * a failed open (~3 µs each). A manifest written by another process after that read is not seen by
   * has(): the caller then re-adds or re-fetches, which finds it and stores nothing twice.
   */
  hasSync(oid: Oid, kind: ObjectKind): boolean {
    if (this.inner.hasSync(oid, kind)) return true;
    if (kind !== 'blob' || !this.chunkedOids().has(oid)) return false;
    const m = this.manifestOrNull(oid, kind);
    return m !== null && this.chunksPresentSync(m);
  }

  private known: Set<Oid> | null = null;

  /** The oids that have a manifest, as read once (then kept up to date by this process's own writes and removals). */
  private chunkedOids(): Set<Oid> {
    if (this.known) return this.known;
    const known = new Set<Oid>();
    for (const { fan, names } of fanoutFolders(path.join(this.dir, 'manifests', 'sha256'))) {
      for (const n of names) {
        const oid = oidFromHex(fan + n);
        if (isOid(oid)) known.add(oid);
      }
    }
    return (this.known = known);
  }

  /** manifestSync, with a malformed manifest taken as none (what has/stat/list report; fsck's verify says why) */
  private manifestOrNull(oid: Oid, kind: ObjectKind): Manifest | null {
    try {
      return this.manifestSync(oid, kind);
    } catch (err) {
      if (err instanceof TroveError) return null;
      throw err;
    }
  }

  async stat(oid: Oid, kind: ObjectKind): Promise<ObjectInfo | null> {
    const m = this.manifestOrNull(oid, kind);
    if (m) {
      const st = await fsp.lstat(this.manifestPath(oid));
      return { oid, kind, size: m.size, mtimeMs: st.mtimeMs };
    }
    return this.inner.stat(oid, kind);
  }

  async parts(oid: Oid, kind: ObjectKind): Promise<Part[]> {
    const m = this.manifestSync(oid, kind);
    if (!m) return this.inner.parts(oid, kind);
    const out: Part[] = [{ oid, kind: 'manifest', size: serializeManifest(m).length }];
    const seen = new Set<Oid>();
    for (const c of m.chunks) {
      if (seen.has(c.oid)) continue;
      seen.add(c.oid);
      out.push({ oid: c.oid, kind: 'chunk', size: c.size });
    }
    return out;
  }

  async *list(): AsyncIterable<ObjectInfo> {
    const chunked = new Set<Oid>();
    for await (const { oid, mtimeMs } of this.listFiles('manifests')) {
      // a malformed manifest is listed too (size 0), so that fsck's verify finds it and quarantines it
      const m = this.manifestOrNull(oid, 'blob');
      chunked.add(oid);
      yield { oid, kind: 'blob', size: m?.size ?? 0, mtimeMs };
    }
    for await (const info of this.inner.list()) if (!(info.kind === 'blob' && chunked.has(info.oid))) yield info;
  }

  private async *listFiles(top: 'chunks' | 'manifests'): AsyncIterable<{ oid: Oid; mtimeMs: number; size: number }> {
    for (const { fan, dir, names } of fanoutFolders(path.join(this.dir, top, 'sha256'), { sort: true })) {
      for (const n of names) {
        const oid = oidFromHex(fan + n);
        if (!isOid(oid)) continue;
        const st = await fsp.lstat(path.join(dir, n)).catch(() => null);
        if (st?.isFile()) yield { oid, mtimeMs: st.mtimeMs, size: st.size };
      }
    }
  }

  /** The chunked part's numbers for `trove du`. */
  async usage(): Promise<ChunkUsage> {
    const u: ChunkUsage = { files: 0, logicalBytes: 0, chunks: 0, chunkBytes: 0, manifestBytes: 0 };
    for await (const f of this.listFiles('manifests')) {
      const m = this.manifestOrNull(f.oid, 'blob');
      if (!m) continue;
      u.files++;
      u.logicalBytes += m.size;
      u.manifestBytes += f.size;
    }
    for await (const c of this.listFiles('chunks')) {
      u.chunks++;
      u.chunkBytes += c.size;
    }
    return u;
  }

  // ------------------------------------------------------------------ writes

  async putFile(src: string, kind: ObjectKind, o: { onBytes?: (n: number) => void } = {}): Promise<PutResult> {
    if (kind === 'blob') {
      const st = await fsp.stat(src);
      if (st.isFile() && st.size >= this.threshold) return this.putChunked(src, o.onBytes);
    }
    return this.inner.putFile(src, kind, o);
  }

  putFileSync(src: string, size: number, kind: ObjectKind): PutResult {
    return this.inner.putFileSync(src, size, kind);
  }

  putBytes(data: Buffer | string, kind: ObjectKind): Promise<Oid> {
    return this.inner.putBytes(data, kind);
  }

  /** the inner store's synchronous putBytes, when it has one (see the interface) */
  readonly putBytesSync?: (data: Buffer, kind: ObjectKind) => Oid;

  /** Downloads of a whole blob (a wave-1 remote holds blobs whole) are stored whole by the inner store. */
  putStream(expected: Oid, kind: ObjectKind, body: Readable | NodeJS.ReadableStream, what: string, onBytes?: (n: number) => void): Promise<number> {
    return this.inner.putStream(expected, kind, body, what, onBytes);
  }

  /**
   * Stores a file as chunks + manifest (steps 1–3 in the header). Memory: the chunk in progress (at
   * most maxSize), the writes in flight (MAX_WRITES chunks) and the worker's queue (16 MiB).
   */
  private async putChunked(src: string, onBytes?: (n: number) => void): Promise<PutResult> {
    const fh = await fsp.open(src, 'r');
    const parallel = this.wholeHash === 'worker' || (this.wholeHash === 'auto' && (await fh.stat()).size >= WORKER_FROM);
    if (parallel) {
      try {
        return await this.putChunkedParallel(fh, onBytes);
      } finally {
        await fh.close().catch(() => {});
      }
    }
    // pieces no chunk refers to any more are read into again: memory stays at the pieces in use
    const pool: ArrayBuffer[] = [];
    const recycle = (ab: ArrayBuffer) => {
      if (ab.byteLength === PIECE && pool.length < 32) pool.push(ab);
    };
    const whole = createHash('sha256');
    const cutter = new Cutter(this.params);
    const entries: ManifestEntry[] = [];
    const inFlight = new Map<Oid, Promise<void>>();
    const writes = new Set<Promise<void>>();
    let writeError: unknown = null;
    let open: Buffer[] = []; // the chunk in progress, as views of pieces
    let chunkHash = createHash('sha256');
    /** pieces read but not yet given to the whole-file hasher, oldest first */
    const held: Buffer[] = [];
    let size = 0;
    let written = 0;
    let writtenBytes = 0;

    const finishChunk = async () => {
      const oid = oidFromHex(chunkHash.digest('hex'));
      const segs = open;
      let len = 0;
      for (const s of segs) len += s.length;
      entries.push({ oid, size: len });
      open = [];
      chunkHash = createHash('sha256');
      if (inFlight.has(oid)) return;
      while (writes.size >= MAX_WRITES) await Promise.race(writes);
      const p = this.storeChunk(oid, segs).then((w) => { if (w) { written++; writtenBytes += len; } }, (err) => { writeError ??= err; });
      const tracked = p.finally(() => writes.delete(tracked));
      writes.add(tracked);
      inFlight.set(oid, tracked);
    };

    /** Hashes (in order) and recycles the pieces no unfinished chunk refers to. */
    const release = async (all: boolean) => {
      const keepFrom = all || open.length === 0 ? null : open[0].buffer;
      let n = 0;
      while (n < held.length && held[n].buffer !== keepFrom) n++;
      if (n === 0) return;
      // a piece is read into again: its chunks' writes must be done
      await Promise.all(writes);
      if (writeError) throw writeError;
      for (const piece of held.splice(0, n)) {
        whole.update(piece);
        if (piece.byteOffset === 0) recycle(piece.buffer as ArrayBuffer);
      }
    };

    let next: Promise<Buffer> | null = null;
    try {
      next = readPiece(fh, pool);
      for (;;) {
        const piece = await next;
        if (piece.length === 0) break;
        next = readPiece(fh, pool); // read ahead while this piece is cut and hashed
        held.push(piece);
        size += piece.length;
        onBytes?.(piece.length);
        let i = 0;
        while (i < piece.length) {
          const end = cutter.scan(piece, i, piece.length);
          const seg = piece.subarray(i, end < 0 ? piece.length : end);
          chunkHash.update(seg);
          open.push(seg);
          if (end < 0) break;
          await finishChunk();
          i = end;
        }
        await release(false);
      }
      if (cutter.pending > 0) await finishChunk();
      await release(true);
      await Promise.all(writes);
      if (writeError) throw writeError;
      const oid = oidFromHex(whole.digest('hex'));
      if (this.manifestSync(oid, 'blob') || (await this.inner.has(oid, 'blob'))) return { oid, size, stored: false };
      const m = makeManifest(oid, entries, this.params);
      if (written > 0) await syncFs(this.dir); // chunks durable before the manifest that names them
      await this.writeManifest(m);
      return { oid, size, stored: true, newBytes: writtenBytes };
    } finally {
      await Promise.allSettled(writes);
      await next?.catch(() => {}); // a read ahead still in flight when something failed
      await fh.close().catch(() => {});
    }
  }

  /** putChunked for big files: the three passes on three threads (chunkPipeline.ts), then steps 2–3. */
  private async putChunkedParallel(fh: fsp.FileHandle, onBytes?: (n: number) => void): Promise<PutResult> {
    // loaded here: it brings worker_threads, which commands that never chunk a big file need not load
    const { chunkFileParallel } = await import('./chunkPipeline.js');
    const r = await chunkFileParallel(fh, this.params, (oid, segs) => this.storeChunk(oid, segs), { onBytes });
    const oid = oidFromHex(r.wholeHex);
    if (this.manifestSync(oid, 'blob') || (await this.inner.has(oid, 'blob'))) return { oid, size: r.size, stored: false };
    const m = makeManifest(oid, r.entries, this.params);
    if (r.written > 0) await syncFs(this.dir); // chunks durable before the manifest that names them
    await this.writeManifest(m);
    return { oid, size: r.size, stored: true, newBytes: r.writtenBytes };
  }

  /** Stores one chunk unless it is there (then touches it: see the sweep). Returns whether it wrote. */
  private async storeChunk(oid: Oid, segs: Buffer[]): Promise<boolean> {
    const dest = this.chunkPath(oid);
    const now = new Date();
    try {
      await fsp.utimes(dest, now, now);
      return false;
    } catch (err) {
      if (isErrno(err, 'EPERM', 'EACCES')) return false; // there, but another user's (a shared cache)
      if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw err;
    }
    const tmp = await this.temp();
    try {
      const out = await fsp.open(tmp, 'wx', 0o444);
      try {
        await out.writev(segs);
      } finally {
        await out.close();
      }
      await this.ensureDir(path.dirname(dest));
      await fsp.rename(tmp, dest);
      this.unsynced = true;
      return true;
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
  }

  private async writeManifest(m: Manifest): Promise<void> {
    const dest = this.manifestPath(m.oid);
    const tmp = await this.temp();
    try {
      await fsp.writeFile(tmp, serializeManifest(m), { flag: 'wx', mode: 0o444 });
      await this.ensureDir(path.dirname(dest));
      await fsp.rename(tmp, dest);
      this.unsynced = true;
      this.memo.set(m.oid, m);
      this.known?.add(m.oid);
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
  }

  // ------------------------------------------------------------------ parts, for transfers

  /** Chunks arriving from a remote are kept as chunks for files this store would chunk itself (`cache.chunk`). */
  keepsChunks(size: number): boolean {
    return size >= this.threshold;
  }

  /** Whether a part is stored (a manifest: with all its chunks). */
  async hasPart(part: Part): Promise<boolean> {
    if (part.kind === 'chunk') return (await fsp.lstat(this.chunkPath(part.oid)).then((s) => s.isFile(), () => false));
    if (part.kind === 'manifest') return this.hasSync(part.oid, 'blob') && this.isChunked(part.oid, 'blob');
    return this.has(part.oid, part.kind);
  }

  /** The bytes of one part as stored: a chunk (verified against its oid as it streams), a manifest, or an object. */
  async openPart(part: Part, what = `${part.kind} ${part.oid}`): Promise<Readable> {
    if (part.kind === 'manifest') {
      const m = this.manifestSync(part.oid, 'blob');
      if (!m) throw missing(part.oid, what);
      return Readable.from([serializeManifest(m)]);
    }
    if (part.kind === 'chunk') {
      const size = await fsp.lstat(this.chunkPath(part.oid)).then((s) => (s.isFile() ? s.size : -1), () => -1);
      if (size < 0) throw missing(part.oid, what);
      return Readable.from(this.readChunks([{ oid: part.oid, size }], part.oid, what, true));
    }
    return this.inner.open(part.oid, part.kind, what);
  }

  /**
   * Inserts a part that arrives from a remote. A chunk is verified against its oid before it becomes
   * visible; a manifest is parsed as hostile input, must describe `part.oid`, and is refused
   * (MISSING_OBJECT) until every chunk it names is stored, so a manifest never names absent chunks.
   */
  async putPart(part: Part, body: Readable | NodeJS.ReadableStream, what: string): Promise<number> {
    if (part.kind === 'blob' || part.kind === 'tree') return this.putStream(part.oid, part.kind, body, what);
    const bufs: Buffer[] = [];
    let n = 0;
    const tmp = part.kind === 'chunk' ? await this.temp() : null;
    const out = tmp ? await fsp.open(tmp, 'wx', 0o444) : null;
    try {
      const hash = createHash('sha256');
      for await (const b of body as AsyncIterable<Buffer>) {
        n += b.length;
        if (n > (part.kind === 'manifest' ? 64 << 20 : 256 << 20)) throw new TroveError('INTEGRITY', `${what}: larger than any ${part.kind} can be`, 'the copy on the remote is corrupt; nothing was stored');
        if (out) {
          hash.update(b);
          await out.write(b);
        } else bufs.push(b);
      }
      if (out && tmp) {
        await out.close();
        const got = oidFromHex(hash.digest('hex'));
        if (got !== part.oid) throw new TroveError('INTEGRITY', `${what}: content does not match its name (expected ${part.oid}, got ${got})`, 'the copy on the remote is corrupt; nothing was stored');
        const dest = this.chunkPath(part.oid);
        await this.ensureDir(path.dirname(dest));
        await fsp.rename(tmp, dest);
        this.unsynced = true;
        return n;
      }
      const m = parseManifest(Buffer.concat(bufs), what, part.oid);
      const absent = m.chunks.filter((c) => !this.chunkFileOk(c));
      if (absent.length) {
        throw new TroveError('MISSING_OBJECT', `${what}: ${absent.length} of its chunks are not stored yet`, 'store the chunks first, then the manifest', { data: { oids: absent.map((c) => c.oid) } });
      }
      await syncFs(this.dir);
      await this.writeManifest(m);
      return n;
    } finally {
      await out?.close().catch(() => {});
      if (tmp) await fsp.rm(tmp, { force: true }).catch(() => {});
    }
  }

  private chunkFileOk(c: ManifestEntry): boolean {
    try {
      const st = lstatSync(this.chunkPath(c.oid));
      return st.isFile() && st.size === c.size;
    } catch {
      return false;
    }
  }

  // ------------------------------------------------------------------ reads

  /**
   * The bytes of the chunks in order, in pieces of at most 1 MiB. `hashWhole`: the concatenation must
   * hash to `whole` (else INTEGRITY, thrown after the last piece and before the generator ends).
   */
  private async *readChunks(chunks: ManifestEntry[], whole: Oid, what: string, hashWhole: boolean, ring = 0): AsyncGenerator<Buffer> {
    const hash = hashWhole ? createHash('sha256') : null;
    // ring > 0: the consumer is done with a piece before it asks for the ring-th next one, so that many
    // buffers are reused (a fresh 1 MiB each made checkout of 1 GiB peak at ~100 MB of garbage)
    const bufs = Array.from({ length: ring }, () => Buffer.allocUnsafeSlow(PIECE));
    let turn = 0;
    for (const c of chunks) {
      const fh = await fsp.open(this.chunkPath(c.oid), fsc.O_RDONLY | fsc.O_NONBLOCK).catch((err) => {
        if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw missing(whole, what);
        throw err;
      });
      try {
        const st = await fh.stat();
        if (!st.isFile() || st.size !== c.size) throw corrupt(whole, what, `chunk ${c.oid} has ${st.size} bytes, the manifest says ${c.size}`);
        let left = c.size;
        while (left > 0) {
          const want = Math.min(PIECE, left);
          const buf = ring > 0 ? bufs[turn++ % ring].subarray(0, want) : Buffer.allocUnsafe(want);
          const { bytesRead } = await fh.read(buf, 0, buf.length, null);
          if (bytesRead === 0) throw corrupt(whole, what, `chunk ${c.oid} ended early`);
          const piece = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
          hash?.update(piece);
          left -= bytesRead;
          yield piece;
        }
      } finally {
        await fh.close();
      }
    }
    if (hash && oidFromHex(hash.digest('hex')) !== whole) throw corrupt(whole, what, 'its chunks do not add up to its content');
  }

  private assertComplete(oid: Oid, m: Manifest, what: string): void {
    if (!this.chunksPresentSync(m)) throw missing(oid, what);
  }

  async open(oid: Oid, kind: ObjectKind, what: string = oid): Promise<Readable> {
    const m = this.manifestSync(oid, kind);
    if (!m) return this.inner.open(oid, kind, what);
    this.assertComplete(oid, m, what);
    return Readable.from(this.readChunks(m.chunks, oid, what, true), { objectMode: false });
  }

  readSmall(oid: Oid, kind: ObjectKind, what: string = oid): Buffer {
    const m = this.manifestSync(oid, kind);
    if (!m) return this.inner.readSmall(oid, kind, what);
    this.assertComplete(oid, m, what);
    const out = Buffer.allocUnsafe(m.size);
    let off = 0;
    for (const c of m.chunks) {
      const fd = openSync(this.chunkPath(c.oid), fsc.O_RDONLY | fsc.O_NONBLOCK);
      try {
        if (!fstatSync(fd).isFile()) throw corrupt(oid, what, `chunk ${c.oid} is not a regular file`);
        let left = c.size;
        while (left > 0) {
          const n = readSync(fd, out, off, left, null);
          if (n === 0) throw corrupt(oid, what, `chunk ${c.oid} ended early`);
          off += n;
          left -= n;
        }
      } finally {
        closeSync(fd);
      }
    }
    if (oidFromHex(createHash('sha256').update(out).digest('hex')) !== oid) throw corrupt(oid, what, 'its chunks do not add up to its content');
    return out;
  }

  async withFile<T>(oid: Oid, kind: ObjectKind, fn: (file: string, size: number) => Promise<T>): Promise<T> {
    const m = this.manifestSync(oid, kind);
    if (!m) return this.inner.withFile(oid, kind, fn);
    const tmp = await this.temp();
    try {
      await this.assemble(oid, m, tmp, 0o444, oid);
      return await fn(tmp, m.size);
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
  }

  /** Writes the blob's bytes to `file` (new), verified: INTEGRITY and nothing left behind when they do not hash to `oid`. */
  private async assemble(oid: Oid, m: Manifest, file: string, mode: number, what: string): Promise<void> {
    this.assertComplete(oid, m, what);
    const out = await fsp.open(file, 'wx', mode);
    try {
      if (this.wholeHash === 'worker' || (this.wholeHash === 'auto' && m.size >= WORKER_FROM && os.availableParallelism() > 1)) {
        // big (and a second core to hash on): the hash on a worker beside the reads and writes (chunkAssemble.ts); loaded here, as putChunked does
        const { assembleHashed, ShortRead } = await import('./chunkAssemble.js');
        // as many at once as there are cores: checkout runs up to cache.jobs (8) large copies together,
        // and more hash workers than cores only add a ring and a thread each (~30 MB)
        const hex = await this.assembling(() => assembleHashed(this.chunkPieces(m.chunks, oid, what), out)).catch((err: unknown) => {
          throw err instanceof ShortRead ? corrupt(oid, what, `chunk ${m.chunks[err.piece]?.oid} ended early`) : err;
        });
        if (oidFromHex(hex) !== oid) throw corrupt(oid, what, 'its chunks do not add up to its content');
      } else {
        let pending: Promise<unknown> = Promise.resolve();
        // three buffers: one being written, one being read and hashed, one spare
        for await (const piece of this.readChunks(m.chunks, oid, what, true, 3)) {
          await pending;
          pending = out.write(piece); // the next read and hash overlap this write
        }
        await pending;
      }
    } catch (err) {
      await out.close().catch(() => {});
      await fsp.rm(file, { force: true });
      throw err;
    }
    await out.close();
  }

  /** The chunks as pieces for assembleHashed: each file opened when it is reached, closed once read. */
  private async *chunkPieces(chunks: ManifestEntry[], whole: Oid, what: string): AsyncGenerator<AssemblePiece> {
    for (const c of chunks) {
      const fh = await fsp.open(this.chunkPath(c.oid), fsc.O_RDONLY | fsc.O_NONBLOCK).catch((err) => {
        if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw missing(whole, what);
        throw err;
      });
      let handed = false;
      try {
        const st = await fh.stat();
        if (!st.isFile() || st.size !== c.size) throw corrupt(whole, what, `chunk ${c.oid} has ${st.size} bytes, the manifest says ${c.size}`);
        handed = true;
        yield { fh, offset: 0, size: c.size, done: () => fh.close() };
      } finally {
        if (!handed) await fh.close();
      }
    }
  }

  async verify(oid: Oid, kind: ObjectKind): Promise<boolean> {
    let m: Manifest | null;
    try {
      m = this.manifestSync(oid, kind);
    } catch (err) {
      if (err instanceof TroveError) return false; // a malformed manifest
      throw err;
    }
    if (!m) return this.inner.verify(oid, kind);
    return (await this.badChunks(m)) === null;
  }

  /** null when every chunk hashes to its oid and together they hash to the blob's oid; else the bad chunks (may be none: a wrong list). */
  private async badChunks(m: Manifest): Promise<Oid[] | null> {
    const bad: Oid[] = [];
    const whole = createHash('sha256');
    for (const c of m.chunks) {
      const h = createHash('sha256');
      try {
        for await (const piece of this.readChunks([c], m.oid, m.oid, false)) {
          h.update(piece);
          whole.update(piece);
        }
        if (oidFromHex(h.digest('hex')) !== c.oid) bad.push(c.oid);
      } catch (err) {
        if (!(err instanceof TroveError)) throw err;
        bad.push(c.oid);
        if (err.code === 'MISSING_OBJECT') continue;
      }
    }
    if (bad.length === 0 && oidFromHex(whole.digest('hex')) === m.oid) return null;
    return bad;
  }

  async materialize(oid: Oid, dest: string, mode: LinkMode, exec: boolean): Promise<LinkMode> {
    const m = this.manifestSync(oid, 'blob');
    if (!m || this.inner.hasSync(oid, 'blob')) return this.inner.materialize(oid, dest, mode, exec);
    if (this.unchunksToLink(mode, exec)) {
      // verified by putStream before it becomes visible; then the whole copy is what is linked
      await this.inner.putStream(oid, 'blob', Readable.from(this.readChunks(m.chunks, oid, dest, false)), dest);
      return this.inner.materialize(oid, dest, mode, exec);
    }
    let tmp = await this.temp();
    try {
      await this.assemble(oid, m, tmp, exec ? 0o755 : 0o644, dest);
      try {
        await fsp.rename(tmp, dest);
      } catch (err) {
        if (!isErrno(err, 'EXDEV')) throw err;
        await fsp.rm(tmp, { force: true });
        tmp = tempBeside(dest);
        await this.assemble(oid, m, tmp, exec ? 0o755 : 0o644, dest);
        await fsp.rename(tmp, dest);
      }
      return 'copy';
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
  }

  /**
   * A repo switched to hardlink/symlink after its large files were chunked (chunking is off in link
   * modes unless `cache.chunk` is set): the first linked checkout writes the blob whole into the
   * inner store and links it, so later checkouts link (DVC's `cache.type` switch). The manifest and
   * its chunks stay beside the whole copy (reads prefer the whole copy).
   */
  private unchunksToLink(mode: LinkMode, exec: boolean): boolean {
    return this.threshold === Infinity && !exec && (mode === 'hardlink' || mode === 'symlink');
  }

  materializeSync(oid: Oid, dest: string, mode: LinkMode, exec: boolean, fresh: boolean | 'staged'): LinkMode {
    // a whole copy wins when there is one: try it first (a failed manifest open per small file cost
    // a pull of 100k files ~1.7 s of thrown ENOENTs), the manifest only when it is missing
    try {
      return this.inner.materializeSync(oid, dest, mode, exec, fresh);
    } catch (err) {
      if (!isTroveError(err, 'MISSING_OBJECT')) throw err;
      if (!this.manifestSync(oid, 'blob')) throw err;
    }
    // rare (callers use it for small files; a chunked blob is big): read whole, verified, write via temp
    const buf = this.readSmall(oid, 'blob', dest);
    const tmp = tempBeside(dest);
    try {
      const fd = openSync(tmp, 'wx', exec ? 0o755 : 0o644);
      try {
        writeSync(fd, buf);
      } finally {
        closeSync(fd);
      }
      chmodSync(tmp, exec ? 0o755 : 0o644);
      renameSync(tmp, dest);
    } finally {
      rmSync(tmp, { force: true });
    }
    return 'copy';
  }

  linkedBlob(linkAbs: string): Oid | null {
    return this.inner.linkedBlob(linkAbs);
  }

  // ------------------------------------------------------------------ removal

  /**
   * Removes objects (gc's sweep). Chunked blobs lose their manifest; then the chunks that no manifest
   * names any more, and those a crashed add left unnamed, are swept (older than the grace period).
   */
  async delete(refs: ObjectRef[]): Promise<void> {
    const manifests = refs.filter((r) => r.kind === 'blob' && existsFile(this.manifestPath(r.oid)));
    if (manifests.length === 0) {
      await this.inner.delete(refs);
      if (refs.length > 0 && existsSync(path.join(this.dir, 'chunks'))) await this.sweepChunks();
      return;
    }
    await this.inner.removals(async () => {
      for (const r of manifests) {
        this.memo.delete(r.oid);
        this.known?.delete(r.oid);
        await fsp.rm(this.manifestPath(r.oid), { force: true });
      }
      await this.inner.delete(refs);
      await this.sweepChunks();
    });
  }

  /**
   * Removes chunks that no manifest names and that were not written or touched within the grace
   * period (an add in progress touches every chunk it reuses and writes its manifest last). Returns
   * how many were removed. Memory: one set of the chunk oids that manifests name.
   */
  async sweepChunks(): Promise<number> {
    const named = new Set<Oid>();
    for await (const f of this.listFiles('manifests')) {
      let m: Manifest | null = null;
      try {
        m = this.manifestSync(f.oid, 'blob');
      } catch {
        return 0; // a malformed manifest: which chunks it names is unknown, so remove none (fsck quarantines it)
      }
      for (const c of m?.chunks ?? []) named.add(c.oid);
    }
    const cutoff = Date.now() - this.graceMs;
    let removed = 0;
    for await (const c of this.listFiles('chunks')) {
      if (named.has(c.oid) || c.mtimeMs > cutoff) continue;
      const p = this.chunkPath(c.oid);
      const st = await fsp.lstat(p).catch(() => null); // re-checked just before removal: a concurrent add may have touched it
      if (!st || st.mtimeMs > cutoff) continue;
      await fsp.rm(p, { force: true });
      removed++;
    }
    return removed;
  }

  async quarantine(oid: Oid, kind: ObjectKind): Promise<string> {
    let m: Manifest | null = null;
    let malformed = false;
    try {
      m = this.manifestSync(oid, kind);
    } catch (err) {
      if (!(err instanceof TroveError)) throw err;
      malformed = true;
    }
    if (!m && !malformed) return this.inner.quarantine(oid, kind);
    const qdir = path.join(this.dir, 'quarantine');
    await fsp.mkdir(qdir, { recursive: true });
    return this.inner.removals(async () => {
      // the bad chunks first: a chunk that exists is reused by add without being re-read, so a corrupt one must leave
      for (const c of m ? (await this.badChunks(m)) ?? [] : []) {
        await fsp.rename(this.chunkPath(c), path.join(qdir, `chunk-${hexOf(c)}.${Date.now()}`)).catch((err) => {
          if (!isErrno(err, 'ENOENT')) throw err;
        });
      }
      this.memo.delete(oid);
      this.known?.delete(oid);
      const dest = path.join(qdir, `manifest-${hexOf(oid)}.${Date.now()}`);
      await fsp.rename(this.manifestPath(oid), dest);
      return dest;
    });
  }

  // ------------------------------------------------------------------ the rest: the inner store's

  generation(): string {
    return this.inner.generation();
  }
  removals<T>(fn: () => Promise<T>): Promise<T> {
    return this.inner.removals(fn);
  }
  async syncToDisk(): Promise<void> {
    if (this.unsynced) {
      await syncFs(this.dir);
      this.unsynced = false;
    }
    await this.inner.syncToDisk();
  }
  tempPath(): Promise<string> {
    return this.inner.tempPath();
  }
  cleanStaleTemp(): Promise<number> {
    return this.inner.cleanStaleTemp();
  }
  countTemp(): Promise<number> {
    return this.inner.countTemp();
  }
}

/** A fresh 1 MiB piece of the file (its own ArrayBuffer, so it can be transferred to the hash worker); empty at the end. */
async function readPiece(fh: fsp.FileHandle, pool: ArrayBuffer[]): Promise<Buffer> {
  const ab = pool.pop();
  const buf = ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(PIECE);
  let n = 0;
  while (n < PIECE) {
    const { bytesRead } = await fh.read(buf, n, PIECE - n, null);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  return n === PIECE ? buf : Buffer.from(buf.subarray(0, n));
}

/** `sync -f` (syncfs) of the store's filesystem; where unavailable, an fsync of the folder. */
async function syncFs(dir: string): Promise<void> {
  const ok = await new Promise<boolean>((resolve) => execFile('sync', ['-f', dir], (err) => resolve(!err)));
  if (ok) return;
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort, as the loose store does */
  }
}

function existsFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function missing(oid: Oid, what: string): TroveError {
  return new TroveError('MISSING_OBJECT', `${what}: object ${oid} is not complete in the cache (chunks missing)`,
    'run `trove pull` (or `trove fetch`) to get it from a remote', { data: { oids: [oid] } });
}

function corrupt(oid: Oid, what: string, why: string): TroveError {
  return new TroveError('INTEGRITY', `${what}: cached object ${oid} is corrupt: ${why}`,
    'run `trove fsck` to quarantine it, then `trove pull` to fetch a good copy');
}
