/**
 * The packed part of the local store: small objects (blobs and trees up to `PACK_MAX_OBJECT`) are
 * appended to pack files (pack.ts, packIndex.ts) instead of one file each, because creating a file is
 * what `add` of many small files pays for (~0.7 ms of kernel CPU each here).
 *
 *   <cache>/packs/<id>.pack    pack (read-only), named by its checksum
 *   <cache>/packs/<id>.idx     its index; written after the pack: a pack without one is invisible
 *
 * Writing. One pending pack per process, in the store's tmp dir (`<pid>-pack-…`, so `cleanStaleTemp`
 * removes what a killed process left). It is sealed when it reaches `PACK_TARGET_BYTES`, at
 * `syncToDisk()` (which every command runs before it writes a pointer or record naming new objects)
 * and, as a last resort, when the process exits normally. Sealing: trailer + fsync, rename the pack
 * into packs/, write the index (temp + fsync + rename), fsync packs/. A kill between the two renames
 * leaves a pack without an index: invisible, and `checkPacks` (fsck) rebuilds its index from the pack
 * itself, or salvages its good objects.
 *
 * Reading. All indexes are loaded lazily on first use into one map keyed by the first 6 bytes of the
 * oid (≈ 40 bytes of memory per object beside the index bytes themselves, 56 per object): a lookup is
 * one Map get plus one compare, whatever the number of packs. Every read is verified (pack.ts).
 *
 * Removing. Packs are immutable. Deleting packed objects (gc) rewrites a pack without them once its
 * garbage reaches `REPACK_GARBAGE_SHARE` of its bytes (below that they stay, still valid objects, until
 * more garbage joins them). A rewrite is restic's two-phase prune: the new pack and its index are made
 * visible first, then the old index is removed, then the old pack. A reader that still has the old
 * pack open keeps reading it (POSIX unlink); one that looks it up after finds the object in the new pack
 * (a vanished pack makes the reader reload the indexes once). gc also merges small packs into few
 * (`mergeGroups`, the same two phases; when: packMerge.ts), dropping the garbage in them.
 *
 * `PackedStore` puts this in front of the loose store behind the `ObjectStore` interface: small objects
 * to packs, large ones loose (hardlink and symlink modes need a real file), reads from either. Packed
 * objects are materialized by copy, except in a link-mode repo (unpacksToLink).
 */
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, constants as fsc, existsSync, fchmodSync, fstatSync, fsyncSync, mkdirSync, openSync, promises as fsp, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { TroveError, isErrno, isTroveError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { hexOf, oidFromHex, type Oid } from '../oid.js';
import { tempBeside, tempIn } from '../tempName.js';
import type { LinkMode, ObjectInfo, ObjectKind, ObjectRef, ObjectStore, Part, PutResult } from './objectStore.js';
import { wholeParts } from './objectStore.js';
import { PackReader, PackWriter, scanPack, type FinishedPack, type PackKind } from './pack.js';
import { encodePackIndex, PackIndex, type PackIndexEntry } from './packIndex.js';

/**
 * Objects up to this many bytes are packed. Measured with `add` (see the packs report in
 * docs/design.md): at 16 KiB a file each costs ~3× a packed entry here; above a few hundred KiB the
 * per-file cost is noise beside hashing and copying, and large objects must stay loose for hardlinks.
 */
export const PACK_MAX_OBJECT = 64 << 10;
/** A pending pack is sealed once it holds this many bytes (a repack then rewrites at most this much). */
export const PACK_TARGET_BYTES = 32 << 20;
/** gc rewrites a pack once this share of its bytes is garbage (restic's default is 5 %, git's 0 %). */
export const REPACK_GARBAGE_SHARE = 0.2;

const PACKS = 'packs';
/** refs in the lookup map: pack slot × 2^32 + entry number (both well inside 2^53) */
const SLOT = 2 ** 32;

interface LoadedPack {
  id: string;
  slot: number;
  index: PackIndex;
  mtimeMs: number;
  reader?: PackReader;
}

/** A full pack sealed without waiting for its fsync (PackedObjects.sealLater). */
interface Sealing {
  w: PackWriter;
  pack: FinishedPack;
  installed: boolean;
  /** settles (never rejects) when the fsync and the install are done or failed */
  done: Promise<void>;
  error?: unknown;
}

/** Where an object was found: in a sealed pack, or in this process's pending pack. */
type Found = { pack: LoadedPack; entry: PackIndexEntry } | { pending: PackWriter; entry: PackIndexEntry };

/** What `checkPacks` found and did, for fsck. */
export interface PackCheck {
  packs: number;
  objects: number;
  /**
   * per problem: the file (relative to the store dir), what was wrong, what was done, and whether
   * objects were lost here (a pack gone or unreadable: `trove pull` fetches them again)
   */
  problems: { file: string; problem: string; action: string; lost: boolean }[];
  /** corrupt objects moved to quarantine (oid, kind, where: relative to the store dir) */
  quarantined: { oid: Oid; kind: PackKind; to: string }[];
}


function missing(oid: Oid, what: string): TroveError {
  return new TroveError('MISSING_OBJECT', `${what}: object ${oid} is not in the cache`, 'run `trove pull` (or `trove fetch`) to get it from a remote', { data: { oids: [oid] } });
}

/** The packed objects of one store folder. All methods are safe to call before anything was loaded. */
export class PackedObjects {
  private slots: (LoadedPack | undefined)[] = [];
  private byId = new Map<string, LoadedPack>();
  private map = new Map<number, number | number[]>();
  private loaded = false;
  private dirMtime = -1;
  private lastLook = 0;
  private writer?: PackWriter;
  /**
   * Full packs whose fsync runs on the thread pool while the next one fills (see sealLater). Their
   * objects are found and read back from their writers until they are installed.
   */
  private sealing: Sealing[] = [];
  /** the background steps (fsync, install) still running, of any pack */
  private readonly background = new Set<Promise<void>>();
  private exitHook?: () => void;
  private madeDirs = false;
  /** deletes queued inside removals() (gc's sweep), applied once at its end */
  private queued?: Map<string, ObjectRef>;

  constructor(readonly dir: string, readonly tmpDir: string, private readonly targetBytes = PACK_TARGET_BYTES) {}

  get packsDir(): string {
    return path.join(this.dir, PACKS);
  }

  // ------------------------------------------------------------------ index

  private ensureLoaded(): void {
    if (!this.loaded) this.refresh();
  }

  /** Loads indexes that appeared since the last look, and forgets packs whose index is gone. */
  refresh(): void {
    this.loaded = true;
    this.lastLook = Date.now();
    let names: string[];
    try {
      this.dirMtime = statSync(this.packsDir).mtimeMs;
      names = readdirSync(this.packsDir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) names = [];
      else throw err;
    }
    const present = new Set<string>();
    for (const n of names) {
      const m = /^([0-9a-f]{64})\.idx$/.exec(n);
      if (!m) continue;
      present.add(m[1]);
      if (!this.byId.has(m[1])) this.loadIndex(m[1]);
    }
    for (const [id, p] of this.byId) if (!present.has(id)) this.forget(p);
  }

  private loadIndex(id: string): void {
    const idxFile = path.join(this.packsDir, `${id}.idx`);
    let index: PackIndex;
    let mtimeMs: number;
    try {
      index = PackIndex.parse(readFileSync(idxFile), idxFile);
      mtimeMs = statSync(path.join(this.packsDir, `${id}.pack`)).mtimeMs;
    } catch (err) {
      // a corrupt index or a missing pack: its objects are not there for readers; fsck reports it
      if (isTroveError(err, 'INTEGRITY') || isErrno(err, 'ENOENT')) return;
      throw err;
    }
    if (index.packId !== id) return; // an index under another pack's name: fsck reports it
    const slot = this.slots.length;
    const p: LoadedPack = { id, slot, index, mtimeMs };
    this.slots.push(p);
    this.byId.set(id, p);
    for (let i = 0; i < index.count; i++) {
      const key = index.prefixAt(i);
      const ref = slot * SLOT + i;
      const cur = this.map.get(key);
      if (cur === undefined) this.map.set(key, ref);
      else if (typeof cur === 'number') this.map.set(key, [cur, ref]);
      else cur.push(ref);
    }
  }

  private forget(p: LoadedPack): void {
    this.slots[p.slot] = undefined; // its refs in the map now lead nowhere and are skipped
    this.byId.delete(p.id);
    // its reader stays open: a stream of ours may still be reading (unlinked files stay readable)
  }

  private findSealed(oid: Oid, kind: PackKind): { pack: LoadedPack; entry: PackIndexEntry } | undefined {
    const hex = hexOf(oid);
    const refs = this.map.get(parseInt(hex.slice(0, 12), 16));
    if (refs === undefined) return undefined;
    const bytes = Buffer.from(hex, 'hex');
    for (const ref of typeof refs === 'number' ? [refs] : refs) {
      const pack = this.slots[Math.floor(ref / SLOT)];
      const i = ref % SLOT;
      if (pack && pack.index.matches(i, bytes, kind)) return { pack, entry: pack.index.entryAt(i) };
    }
    return undefined;
  }

  /**
   * Finds an object. A miss looks at packs/ again when another process may have sealed a pack since
   * (the folder's mtime moved), at most once a second so that `add`'s 100,000 misses stay cheap.
   */
  private find(oid: Oid, kind: PackKind, look = false): Found | undefined {
    const e = this.writer?.entry(oid, kind);
    if (e) return { pending: this.writer!, entry: e };
    for (const s of this.sealing) {
      const se = s.w.entry(oid, kind);
      if (se) return { pending: s.w, entry: se };
    }
    this.ensureLoaded();
    let f = this.findSealed(oid, kind);
    if (!f && (look || Date.now() - this.lastLook > 1000)) {
      this.lastLook = Date.now();
      let m = -1;
      try { m = statSync(this.packsDir).mtimeMs; } catch { /* no packs yet */ }
      if (look || m !== this.dirMtime) {
        this.refresh();
        f = this.findSealed(oid, kind);
      }
    }
    return f;
  }

  has(oid: Oid, kind: PackKind): boolean {
    return this.find(oid, kind) !== undefined;
  }

  stat(oid: Oid, kind: ObjectKind): ObjectInfo | null {
    const f = this.find(oid, kind);
    if (!f) return null;
    return { oid, kind, size: f.entry.length, mtimeMs: 'pack' in f ? f.pack.mtimeMs : Date.now() };
  }

  private reader(p: LoadedPack): PackReader {
    p.reader ??= PackReader.open(path.join(this.packsDir, `${p.id}.pack`), p.index);
    return p.reader;
  }

  /**
   * Runs `fn` on the object's pack reader. A pack removed since its index was loaded (a concurrent gc
   * rewrote it) makes us reload the indexes and look again, once.
   */
  private withReader<T>(oid: Oid, kind: PackKind, what: string, fn: (r: PackReader | PackWriter, e: PackIndexEntry) => T): T {
    let f = this.find(oid, kind, false);
    for (let attempt = 0; ; attempt++) {
      if (!f) throw missing(oid, what);
      if ('pending' in f) return fn(f.pending, f.entry);
      try {
        return fn(this.reader(f.pack), f.entry);
      } catch (err) {
        if (attempt > 0 || !isErrno(err, 'ENOENT')) throw err;
        this.refresh();
        f = this.find(oid, kind, true);
      }
    }
  }

  /** The object's bytes, verified; MISSING_OBJECT when it is in no pack. */
  read(oid: Oid, kind: PackKind, what: string = oid): Buffer {
    return this.withReader(oid, kind, what, (r, e) => {
      if (r instanceof PackWriter) return r.readBack(e);
      try {
        return r.readSync(e);
      } catch (err) {
        if (isTroveError(err, 'INTEGRITY')) {
          throw new TroveError('INTEGRITY', `${what}: cached object ${oid} is corrupt (${err.message})`, 'run `trove fsck` to quarantine it, then `trove pull` to fetch a good copy', { cause: err });
        }
        throw err;
      }
    });
  }

  /**
   * The object's verified bytes as a view of `scratch` when it fits (see PackReader.readIntoSync), valid
   * until the scratch is reused; null when it is in no pack (the caller tries the loose store).
   */
  readIntoSync(oid: Oid, kind: PackKind, what: string, scratch: Buffer): Buffer | null {
    if (!this.find(oid, kind)) return null;
    return this.withReader(oid, kind, what, (r, e) => {
      if (r instanceof PackWriter) return r.readBack(e);
      try {
        return r.readIntoSync(e, scratch);
      } catch (err) {
        if (isTroveError(err, 'INTEGRITY')) {
          throw new TroveError('INTEGRITY', `${what}: cached object ${oid} is corrupt (${err.message})`, 'run `trove fsck` to quarantine it, then `trove pull` to fetch a good copy', { cause: err });
        }
        throw err;
      }
    });
  }

  /** A verifying stream of the object's bytes. */
  open(oid: Oid, kind: PackKind, what: string = oid): Readable {
    return this.withReader(oid, kind, what, (r, e) => (r instanceof PackWriter ? Readable.from([r.readBack(e)]) : r.stream(e)));
  }

  /** Re-hashes one packed object: false when its bytes do not match (or it is gone). */
  verify(oid: Oid, kind: PackKind): boolean {
    try {
      this.read(oid, kind);
      return true;
    } catch (err) {
      if (isTroveError(err, 'INTEGRITY') || isTroveError(err, 'MISSING_OBJECT')) return false;
      throw err;
    }
  }

  /** Every packed object (sealed packs, then this process's pending pack). An object in two packs is listed twice. */
  *list(): Iterable<ObjectInfo> {
    this.refresh();
    for (const p of this.slots) {
      if (!p) continue;
      for (let i = 0; i < p.index.count; i++) {
        const e = p.index.entryAt(i);
        // an object in two packs (a merge or rewrite killed between its two phases) is listed once: from
        // the pack a lookup finds (only a shared 6-byte prefix needs the full lookup)
        if (typeof this.map.get(p.index.prefixAt(i)) !== 'number' && this.findSealed(e.oid, e.kind)?.pack !== p) continue;
        yield { oid: e.oid, kind: e.kind as ObjectKind, size: e.length, mtimeMs: p.mtimeMs };
      }
    }
    for (const s of this.sealing) for (const e of s.w.entries()) yield { oid: e.oid, kind: e.kind as ObjectKind, size: e.length, mtimeMs: Date.now() };
    for (const e of this.writer?.entries() ?? []) yield { oid: e.oid, kind: e.kind as ObjectKind, size: e.length, mtimeMs: Date.now() };
  }

  // ------------------------------------------------------------------ writing

  private ensureDirs(): void {
    if (this.madeDirs) return;
    mkdirSync(this.packsDir, { recursive: true });
    mkdirSync(this.tmpDir, { recursive: true });
    this.madeDirs = true;
  }

  private tempName(what: string): string {
    return tempIn(this.tmpDir, what);
  }

  /**
   * Appends an object to the pending pack; returns whether it was stored (false: already in a pack).
   * `hashed`: the oid the caller computed from these very bytes (they are not hashed again). Seals
   * the pending pack when it is full.
   */
  put(body: Buffer, kind: PackKind, hashed?: Oid): { oid: Oid; stored: boolean } {
    const oid = hashed ?? oidFromHex(createHash('sha256').update(body).digest('hex'));
    if (this.find(oid, kind)) return { oid, stored: false };
    const w = this.ensureWriter();
    w.add(kind, body, oid, { hashedBy: 'caller' });
    if (w.bytes >= this.targetBytes) this.sealLater();
    return { oid, stored: true };
  }

  private ensureWriter(): PackWriter {
    if (!this.writer) {
      this.ensureDirs();
      this.writer = PackWriter.create(this.tempName('pack'), { offload: true });
      if (!this.exitHook) {
        this.exitHook = () => {
          try { this.sealSync(); } catch { /* the process is ending; the temp pack is removed by the next cleanStaleTemp */ }
        };
        process.once('exit', this.exitHook);
      }
    }
    return this.writer;
  }

  /**
   * put() of a small file, read straight into the pending pack's write buffer: no buffer per file, one
   * checksum pass per object. `elsewhere`: whether the store already has the object outside the packs.
   * Null when the file holds more than `size` bytes now (the caller takes the general path).
   */
  putFile(src: string, size: number, kind: PackKind, elsewhere: (oid: Oid) => boolean): PutResult | null {
    const w = this.ensureWriter();
    const fd = openSync(src, 'r');
    let body: Buffer | null;
    let after: Stats;
    try {
      body = w.readFileInto(fd, size);
      // the file's stat after the read, from the open file (~1 µs; an lstat by path is several)
      after = fstatSync(fd);
    } finally {
      closeSync(fd);
    }
    if (!body) return null;
    const oid = oidOf(body);
    const n = body.length;
    if (this.find(oid, kind) || elsewhere(oid)) return { oid, size: n, stored: false, after };
    w.commitRead(kind, oid);
    if (w.bytes >= this.targetBytes) this.sealLater();
    return { oid, size: n, stored: true, after };
  }

  /** Makes the pending pack a sealed, indexed, durable pack (no-op when nothing is pending). */
  async seal(): Promise<void> {
    this.sealLater();
    // every background step, also of packs sealSync installed meanwhile (their late index write)
    await Promise.all([...this.background]);
    this.sealSync(); // installs what is left and raises what failed
  }

  /**
   * Seals the pending pack without waiting for the disk: its trailer is written now, its fsync runs on
   * the thread pool (a 32 MiB pack's fsync waits ~40 ms or more for the disk, ten times in a
   * 20,000 × 16 KiB add), and it is installed (renamed, indexed) when that is done, or at the latest by
   * seal()/sealSync(), which every command reaches before it names the objects in a pointer.
   */
  private sealLater(): void {
    const w = this.writer;
    if (!w) return;
    this.writer = undefined;
    if (w.count === 0) {
      w.abort();
      return;
    }
    let pack: FinishedPack;
    try {
      pack = w.finishUnsynced();
    } catch (err) {
      w.abort();
      throw err;
    }
    const s: Sealing = { w, pack, installed: false, done: Promise.resolve() };
    s.done = w.durable().then(() => this.installSealed(s)).catch((err) => { s.error ??= err; });
    this.sealing.push(s);
    this.background.add(s.done);
    void s.done.then(() => this.background.delete(s.done));
  }

  /**
   * A pack whose fsync is done: renamed into packs/ and indexed, on the thread pool too (creating and
   * fsyncing the index waits on the filesystem's journal while the next pack's fsync runs: ~0.2 s of
   * a 20k-file add when it was synchronous), then found like any other. sealSync may install it
   * meanwhile: both steps are then done twice, harmlessly (same names, same bytes).
   */
  private async installSealed(s: Sealing): Promise<void> {
    if (s.installed || s.error) return;
    this.ensureDirs();
    const { id, size, entries } = s.pack;
    const packFile = path.join(this.packsDir, `${id}.pack`);
    try {
      await fsp.rename(s.w.file, packFile);
    } catch (err) {
      if (!isErrno(err, 'ENOENT') || !s.installed) throw err; // sealSync moved it first
    }
    const buf = encodePackIndex(id, size, entries);
    const tmpIdx = this.tempName('idx');
    try {
      const fh = await fsp.open(tmpIdx, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o444);
      try {
        for (let off = 0; off < buf.length;) off += (await fh.write(buf, off, buf.length - off, off)).bytesWritten;
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmpIdx, path.join(this.packsDir, `${id}.idx`));
    } finally {
      await fsp.rm(tmpIdx, { force: true });
    }
    const dh = await fsp.open(this.packsDir, 'r');
    try { await dh.sync(); } finally { await dh.close(); }
    if (!s.installed) {
      s.installed = true;
      if (this.loaded && !this.byId.has(id)) this.loadIndex(id);
      this.sealing = this.sealing.filter((x) => x !== s);
    }
  }

  /**
   * seal() in synchronous calls: it also runs from the process's exit hook. Steps: trailer + fsync;
   * rename into packs/; index to a temp file + fsync + rename; fsync packs/ (both names durable).
   */
  sealSync(): void {
    // packs sealed earlier whose fsync is still on the thread pool: made durable and installed now
    let failed: unknown;
    for (const s of this.sealing.splice(0)) {
      try {
        if (s.error) throw s.error;
        s.w.durableSync();
        if (!s.installed) {
          s.installed = true;
          // its background install may be half-way: the pack renamed already, or being renamed now
          const packFile = path.join(this.packsDir, `${s.pack.id}.pack`);
          this.ensureDirs();
          try {
            renameSync(s.w.file, packFile);
          } catch (err) {
            if (!isErrno(err, 'ENOENT') || !existsSync(packFile)) throw err;
          }
          this.writeIndex(s.pack.id, s.pack.size, s.pack.entries);
        }
      } catch (err) {
        s.error ??= err;
        failed ??= err;
        s.w.abort(); // its objects are gone with it: the caller must not name them (it gets the error)
      }
    }
    const w = this.writer;
    this.writer = undefined;
    if (this.exitHook) process.removeListener('exit', this.exitHook);
    this.exitHook = undefined;
    if (failed) {
      w?.abort();
      throw failed;
    }
    if (!w) return;
    if (w.count === 0) {
      w.abort();
      return;
    }
    let done = false;
    try {
      const pack = w.finishSync();
      this.install(w.file, pack.id, pack.size, pack.entries);
      done = true;
    } finally {
      if (!done) rmSync(w.file, { force: true });
    }
  }

  /**
   * Makes a complete pack that the caller has verified whole (every entry against its oid, the
   * trailer's checksum against `id`) one of this store's packs: fsynced temp file `tmpPack` (in this
   * store's tmp dir) renamed into packs/, then its index. For pull, which downloads a remote pack
   * whole instead of inserting its objects one by one (pullPacks.ts).
   */
  adoptPack(tmpPack: string, id: string, size: number, entries: PackIndexEntry[]): void {
    this.install(tmpPack, id, size, entries);
  }

  /** Renames a finished temp pack into packs/ and writes its index (index last); registers it. */
  private install(tmpPack: string, id: string, size: number, entries: PackIndexEntry[]): void {
    this.ensureDirs();
    const packFile = path.join(this.packsDir, `${id}.pack`);
    const idxFile = path.join(this.packsDir, `${id}.idx`);
    // the same id is the same bytes: a pack that exists already (a concurrent writer, fsck's rebuild) is this one
    renameSync(tmpPack, packFile);
    this.writeIndex(id, size, entries);
  }

  /** Writes packs/<id>.idx: temp + fsync + rename, then fsync packs/ so both names survive a power cut. */
  private writeIndex(id: string, size: number, entries: readonly PackIndexEntry[]): void {
    const tmpIdx = this.tempName('idx');
    try {
      const fd = openSync(tmpIdx, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o444);
      try {
        const buf = encodePackIndex(id, size, entries);
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmpIdx, path.join(this.packsDir, `${id}.idx`));
    } finally {
      rmSync(tmpIdx, { force: true });
    }
    const dfd = openSync(this.packsDir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
    if (this.loaded && !this.byId.has(id)) this.loadIndex(id);
  }

  /**
   * Indexes packs that a killed seal left without an index (the kill fell between the pack's rename
   * and the index's): a pack that scans intact and whose name is its checksum gets the index its
   * sealer would have written, byte for byte, so a sealer still running races harmlessly. Damaged
   * ones are left to fsck. Returns how many were indexed. Cheap when there are none (one readdir).
   */
  async adoptOrphans(): Promise<number> {
    let names: string[];
    try {
      names = readdirSync(this.packsDir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return 0;
      throw err;
    }
    const have = new Set(names);
    let n = 0;
    for (const name of names) {
      const m = /^([0-9a-f]{64})\.pack$/.exec(name);
      if (!m || have.has(`${m[1]}.idx`)) continue;
      const file = path.join(this.packsDir, name);
      let scan;
      try {
        scan = await scanPack(file);
      } catch (err) {
        if (isTroveError(err, 'INTEGRITY') || isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      if (scan.problem !== null || scan.id !== m[1]) continue;
      this.writeIndex(m[1], statSync(file).size, scan.entries);
      n++;
    }
    return n;
  }

  // ------------------------------------------------------------------ removing

  /** Inside this, deletes are queued and applied (one rewrite per pack) when `fn` ends. */
  async batchRemovals<T>(fn: () => Promise<T>): Promise<T> {
    const outer = this.queued;
    this.queued ??= new Map();
    try {
      return await fn();
    } finally {
      if (!outer) {
        const q = this.queued;
        this.queued = undefined;
        if (q.size) await this.applyDeletes([...q.values()]);
      }
    }
  }

  async delete(refs: ObjectRef[]): Promise<void> {
    if (this.queued) {
      for (const r of refs) this.queued.set(`${r.kind}:${r.oid}`, r);
      return;
    }
    await this.applyDeletes(refs);
  }

  /**
   * Removes objects from the packs that hold them: a pack whose garbage (these objects) reaches
   * REPACK_GARBAGE_SHARE of its bytes is rewritten without them, two-phase (see the header). Returns
   * how many packs were rewritten and how many objects were removed. Callers hold the repo lock
   * (gc), so no other gc rewrites the same pack; readers and writers in other processes are safe.
   */
  async applyDeletes(refs: ObjectRef[]): Promise<{ rewritten: number; removed: number; kept: number }> {
    this.sealSync();
    this.refresh();
    const dead = new Set(refs.map((r) => `${r.kind}:${r.oid}`));
    let rewritten = 0;
    let removed = 0;
    let kept = 0;
    for (const p of this.slots.slice()) {
      if (!p) continue;
      let garbage = 0;
      let n = 0;
      for (const e of p.index.entries()) if (dead.has(`${e.kind}:${e.oid}`)) { garbage += e.length + 41; n++; }
      if (n === 0) continue;
      const total = p.index.bodyBytes + 41 * p.index.count;
      if (garbage / total < REPACK_GARBAGE_SHARE) {
        kept += n;
        continue;
      }
      await this.rewrite(p, (e) => !dead.has(`${e.kind}:${e.oid}`));
      rewritten++;
      removed += n;
    }
    return { rewritten, removed, kept };
  }

  /**
   * Writes a new pack with the entries of `p` that `keep` and that verify (the others are quarantined),
   * makes it visible, then removes p's index and then p's pack.
   */
  private async rewrite(p: LoadedPack, keep: (e: PackIndexEntry) => boolean, quarantined?: PackCheck['quarantined']): Promise<void> {
    const newId = this.copyIntoNewPack([p], keep, quarantined);
    this.dropPacks([p], newId);
  }

  /**
   * Phase one of a rewrite or a merge: the entries of `sources` that `keep` (each object once) are read
   * and verified, one that fails is quarantined instead, and the rest are written to a temp pack that is
   * sealed (fsync) and installed in packs/, index last. Returns the new pack's id, or undefined when no
   * entry was kept (no pack written). On an error the temp pack is removed and nothing is visible.
   */
  private copyIntoNewPack(sources: readonly LoadedPack[], keep: (e: PackIndexEntry) => boolean, quarantined?: PackCheck['quarantined']): string | undefined {
    let w: PackWriter | undefined;
    try {
      for (const p of sources) {
        const r = this.reader(p);
        for (const e of p.index.entries()) {
          if (!keep(e) || w?.has(e.oid, e.kind)) continue;
          let body: Buffer;
          try {
            body = r.readSync(e);
          } catch (err) {
            if (!isTroveError(err, 'INTEGRITY')) throw err;
            quarantined?.push({ oid: e.oid, kind: e.kind, to: path.relative(this.dir, this.quarantineBytes(r, e)) });
            continue;
          }
          this.ensureDirs();
          w ??= PackWriter.create(this.tempName('pack'));
          w.add(e.kind, body, e.oid);
        }
      }
      if (!w) return undefined;
      const pack = w.finishSync();
      const tmp = w.file;
      w = undefined;
      try {
        this.install(tmp, pack.id, pack.size, pack.entries);
      } finally {
        rmSync(tmp, { force: true });
      }
      return pack.id;
    } catch (err) {
      w?.abort();
      throw err;
    }
  }

  /**
   * Phase two: every kept object of `ps` is in pack `keepId` now (or was dropped), so their indexes go
   * first, then their packs (a kill in between leaves packs without an index: adoptOrphans indexes
   * them again, harmlessly). `keepId` is spared: a rewrite that dropped nothing wrote the same bytes.
   * Returns how many packs went.
   */
  private dropPacks(ps: readonly LoadedPack[], keepId: string | undefined): number {
    for (const p of ps) if (p.id !== keepId) rmSync(path.join(this.packsDir, `${p.id}.idx`), { force: true });
    let n = 0;
    for (const p of ps) {
      if (p.id === keepId) continue;
      p.reader?.close();
      p.reader = undefined;
      rmSync(path.join(this.packsDir, `${p.id}.pack`), { force: true });
      this.forget(p);
      n++;
    }
    return n;
  }

  // ------------------------------------------------------------------ merging (policy: packMerge.ts)

  /** The sealed packs: id, file size, object count (what the merge policy chooses from). */
  packSizes(): { id: string; bytes: number; count: number }[] {
    this.sealSync();
    this.refresh();
    const out: { id: string; bytes: number; count: number }[] = [];
    for (const p of this.slots) if (p) out.push({ id: p.id, bytes: p.index.packSize, count: p.index.count });
    return out;
  }

  /**
   * Merges each group of packs into one new pack, two-phase like a rewrite: the group's entries that
   * `keep` (and that verify; the others are quarantined) are written to a temp pack, which is sealed and
   * indexed in packs/; only then are the old indexes removed, then the old packs. A kill before the new
   * index leaves the old packs (and a temp file, or an unindexed pack that adoptOrphans indexes); a kill
   * after it leaves objects in two packs, which readers and fsck accept and the next merge folds. Callers
   * hold the repo lock. Returns how many packs were merged away and how many were written.
   */
  mergeGroups(groups: readonly (readonly string[])[], keep: (e: PackIndexEntry) => boolean, quarantined?: PackCheck['quarantined']): { merged: number; written: number } {
    this.sealSync();
    this.refresh();
    let merged = 0;
    let written = 0;
    for (const ids of groups) {
      const ps = ids.map((id) => this.byId.get(id)).filter((p): p is LoadedPack => p !== undefined);
      if (ps.length < 2) continue;
      const newId = this.copyIntoNewPack(ps, keep, quarantined);
      if (newId !== undefined) written++;
      merged += this.dropPacks(ps, newId);
    }
    return { merged, written };
  }

  /** Copies an entry's raw bytes (as they are, unverified) to quarantine/<kind>-<hex>.<ms>. */
  private quarantineBytes(r: PackReader, e: PackIndexEntry): string {
    const dir = path.join(this.dir, 'quarantine');
    mkdirSync(dir, { recursive: true });
    const dest = path.join(dir, `${e.kind}-${hexOf(e.oid)}.${Date.now()}`);
    const fd = openSync(r.file, 'r');
    try {
      const buf = Buffer.alloc(e.length);
      const off = readSyncAt(fd, buf, 0, e.offset);
      writeFileSync(dest, buf.subarray(0, off), { mode: 0o444 });
    } finally {
      closeSync(fd);
    }
    return dest;
  }

  /** Moves a corrupt packed object to quarantine and rewrites its pack without it. */
  async quarantine(oid: Oid, kind: PackKind): Promise<string> {
    this.sealSync();
    const f = this.find(oid, kind, true);
    if (!f || 'pending' in f) throw missing(oid, oid);
    const r = this.reader(f.pack);
    const to = this.quarantineBytes(r, f.entry);
    const quarantined: PackCheck['quarantined'] = [];
    await this.rewrite(f.pack, (e) => !(e.oid === oid && e.kind === kind), quarantined);
    return to;
  }

  // ------------------------------------------------------------------ fsck

  /**
   * Checks every pack and index in packs/ (fsck), and repairs what can be repaired without losing a
   * good object:
   * 1. An index that does not parse, or does not match its pack: the pack is scanned; if intact its
   *    index is rebuilt from it, else its good objects are written to a new pack and the damaged pack
   *    and index are moved to quarantine/.
   * 2. A pack without an index (a kill between the two renames of a seal): the same.
   * 3. A pack whose objects do not all verify (or whose trailer is wrong): good objects to a new pack,
   *    bad ones to quarantine/, the old pack removed two-phase.
   * 4. An index without its pack: reported (its objects are lost here; `trove pull` fetches them) and
   *    moved to quarantine/.
   * Callers should hold the repo lock; a seal racing with step 2 is harmless (the rebuilt index is
   * byte for byte the one the sealer writes).
   */
  async checkPacks(): Promise<PackCheck> {
    this.sealSync();
    const out: PackCheck = { packs: 0, objects: 0, problems: [], quarantined: [] };
    let names: string[];
    try {
      names = readdirSync(this.packsDir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return out;
      throw err;
    }
    const rel = (f: string) => path.relative(this.dir, f);
    const ids = new Set<string>();
    for (const n of names) {
      const m = /^([0-9a-f]{64})\.(pack|idx)$/.exec(n);
      if (m) ids.add(m[1]);
    }
    for (const id of [...ids].sort()) {
      const packFile = path.join(this.packsDir, `${id}.pack`);
      const idxFile = path.join(this.packsDir, `${id}.idx`);
      const hasPack = names.includes(`${id}.pack`);
      const hasIdx = names.includes(`${id}.idx`);
      if (!hasPack) {
        out.problems.push({ file: rel(idxFile), problem: 'index without its pack', action: `moved to ${rel(this.toQuarantine(idxFile))}`, lost: true });
        continue;
      }
      out.packs++;
      let indexProblem: string | null = null;
      let index: PackIndex | undefined;
      if (!hasIdx) indexProblem = 'pack without an index';
      else {
        try {
          index = PackIndex.parse(readFileSync(idxFile), idxFile);
          if (index.packId !== id) throw new TroveError('INTEGRITY', `${idxFile}: names pack ${index.packId}`);
          PackReader.open(packFile, index).close();
        } catch (err) {
          if (!isTroveError(err, 'INTEGRITY')) throw err;
          indexProblem = err.message;
          index = undefined;
        }
      }
      let scan;
      try {
        scan = await scanPack(packFile);
      } catch (err) {
        if (!isTroveError(err, 'INTEGRITY')) throw err;
        // not a pack at all (wrong magic or version): nothing in it can be trusted or read
        out.problems.push({ file: rel(packFile), problem: err.message, action: `moved to ${rel(this.toQuarantine(packFile))}`, lost: true });
        if (hasIdx) this.toQuarantine(idxFile);
        continue;
      }
      const good = scan.entries.filter((e) => e.ok);
      out.objects += good.length;
      const intact = scan.problem === null && scan.id === id;
      if (intact && !indexProblem) continue;
      if (intact) {
        // the pack is sound: its index is rebuilt from it (the same bytes a sealer would write)
        this.writeIndex(id, statSync(packFile).size, scan.entries);
        out.problems.push({ file: rel(hasIdx ? idxFile : packFile), problem: indexProblem!, action: 'index rebuilt from the pack', lost: false });
        continue;
      }
      // damaged pack: salvage the good objects into a new pack, quarantine the bad ones and the rest
      const problem = indexProblem ?? scan.problem ?? 'pack checksum does not match its name';
      let w: PackWriter | undefined;
      const fd = openSync(packFile, 'r');
      try {
        for (const e of scan.entries) {
          const buf = Buffer.alloc(e.length);
          readSyncAt(fd, buf, 0, e.offset);
          if (!e.ok) {
            const dest = path.join(this.dir, 'quarantine', `${e.kind}-${hexOf(e.oid)}.${Date.now()}`);
            mkdirSync(path.dirname(dest), { recursive: true });
            writeFileSync(dest, buf, { mode: 0o444 });
            out.quarantined.push({ oid: e.oid, kind: e.kind, to: rel(dest) });
            continue;
          }
          w ??= PackWriter.create(this.tempName('pack'));
          w.add(e.kind, buf, e.oid);
        }
      } catch (err) {
        w?.abort();
        throw err;
      } finally {
        closeSync(fd);
      }
      if (w) {
        const pack = w.finishSync();
        try {
          this.install(w.file, pack.id, pack.size, pack.entries);
        } finally {
          rmSync(w.file, { force: true });
        }
      }
      if (hasIdx) rmSync(idxFile, { force: true });
      const q = this.toQuarantine(packFile);
      out.problems.push({ file: rel(packFile), problem, action: `${good.length} good object(s) kept in a new pack, ${scan.entries.length - good.length} corrupt quarantined, the damaged pack moved to ${rel(q)}`, lost: scan.entries.length > good.length || scan.problem !== null });
    }
    this.refresh();
    return out;
  }

  private toQuarantine(file: string): string {
    const dest = path.join(this.dir, 'quarantine', `${path.basename(file)}.${Date.now()}`);
    mkdirSync(path.dirname(dest), { recursive: true });
    renameSync(file, dest);
    return dest;
  }
}

function readSyncAt(fd: number, buf: Buffer, off: number, at: number): number {
  let done = 0;
  while (off + done < buf.length) {
    const n = readSync(fd, buf, off + done, buf.length - off - done, at + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * The local store with packs in front of the loose store: objects up to `maxPacked` bytes go to packs,
 * larger ones stay loose (`maxPacked` -1: nothing new is packed); every read looks in packs first (in
 * memory), then loose.
 *
 * ```ts
 * const store = new PackedStore(new LooseStore(dir, tmp));
 * const { oid } = store.putFileSync('data/a.csv', 1200, 'blob');   // into the pending pack
 * await store.syncToDisk();                                         // sealed + durable before a pointer names it
 * ```
 */
export class PackedStore implements ObjectStore {
  readonly packs: PackedObjects;

  /**
   * `packBlobs` false (a repo whose `cache.link` is hardlink or symlink): file contents stay loose so that
   * every file can still be linked into the workspace; trees, which are never linked, are still packed.
   */
  constructor(readonly loose: ObjectStore, readonly maxPacked = PACK_MAX_OBJECT, targetBytes = PACK_TARGET_BYTES, readonly packBlobs = true) {
    this.packs = new PackedObjects(loose.dir, loose.tmpDir, targetBytes);
    const looseSync = loose.putBytesSync?.bind(loose);
    if (looseSync) this.putBytesSync = (buf, kind) => this.putBytesSyncVia(looseSync, buf, kind);
  }

  /** the largest object of this kind that goes into a pack (-1: none) */
  private limit(kind: ObjectKind): number {
    return kind === 'blob' && !this.packBlobs ? -1 : this.maxPacked;
  }

  get dir(): string { return this.loose.dir; }
  get tmpDir(): string { return this.loose.tmpDir; }
  get treeMemo(): Map<Oid, unknown> { return this.loose.treeMemo; }

  async has(oid: Oid, kind: ObjectKind): Promise<boolean> {
    return this.packs.has(oid, kind) || this.loose.has(oid, kind);
  }

  hasSync(oid: Oid, kind: ObjectKind): boolean {
    return this.packs.has(oid, kind) || this.loose.hasSync(oid, kind);
  }

  async stat(oid: Oid, kind: ObjectKind): Promise<ObjectInfo | null> {
    return this.packs.stat(oid, kind) ?? this.loose.stat(oid, kind);
  }

  async open(oid: Oid, kind: ObjectKind, what: string = oid): Promise<Readable> {
    if (this.packs.has(oid, kind)) return this.packs.open(oid, kind, what);
    return this.loose.open(oid, kind, what);
  }

  readSmall(oid: Oid, kind: ObjectKind, what: string = oid): Buffer {
    if (this.packs.has(oid, kind)) return this.packs.read(oid, kind, what);
    return this.loose.readSmall(oid, kind, what);
  }

  async withFile<T>(oid: Oid, kind: ObjectKind, fn: (file: string, size: number) => Promise<T>): Promise<T> {
    if (!this.packs.has(oid, kind)) return this.loose.withFile(oid, kind, fn);
    const buf = this.packs.read(oid, kind);
    const tmp = await this.tempPath();
    try {
      await fsp.writeFile(tmp, buf, { flag: 'wx', mode: 0o444 });
      return await fn(tmp, buf.length);
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }

  async verify(oid: Oid, kind: ObjectKind): Promise<boolean> {
    if (this.packs.has(oid, kind)) return this.packs.verify(oid, kind);
    return this.loose.verify(oid, kind);
  }

  async putFile(src: string, kind: ObjectKind, o: { onBytes?: (n: number) => void } = {}): Promise<PutResult> {
    const st = await fsp.stat(src);
    if (st.size > this.limit(kind)) return this.loose.putFile(src, kind, o);
    const buf = await fsp.readFile(src);
    if (buf.length > this.limit(kind)) return this.loose.putFile(src, kind, o); // it grew meanwhile: the loose path copes
    const oid = oidOf(buf);
    o.onBytes?.(buf.length);
    if (this.loose.hasSync(oid, kind)) return { oid, size: buf.length, stored: false };
    return { oid, size: buf.length, stored: this.packs.put(buf, kind, oid).stored };
  }

  putFileSync(src: string, size: number, kind: ObjectKind): PutResult {
    if (size > this.limit(kind)) return this.loose.putFileSync(src, size, kind);
    const direct = this.packs.putFile(src, size, kind, (oid) => (this.loose.mayHaveSync ? this.loose.mayHaveSync(oid, kind) : this.loose.hasSync(oid, kind)));
    if (direct) return direct;
    // it grew since it was listed: read it whole, and pack it or store it loose by its size now
    const buf = readFileSync(src);
    if (buf.length > this.limit(kind)) return this.loose.putFileSync(src, size, kind);
    const oid = oidOf(buf);
    if (this.loose.hasSync(oid, kind)) return { oid, size: buf.length, stored: false };
    return { oid, size: buf.length, stored: this.packs.put(buf, kind, oid).stored };
  }

  async putBytes(data: Buffer | string, kind: ObjectKind): Promise<Oid> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (buf.length > this.limit(kind)) return this.loose.putBytes(buf, kind);
    const oid = oidOf(buf);
    if (!this.loose.hasSync(oid, kind)) this.packs.put(buf, kind, oid);
    return oid;
  }

  /**
   * putBytes, synchronously (see the interface): a pull inserts what it read out of remote packs. Present
   * only when the loose store has it (a large object goes there): callers that find it absent use putBytes.
   */
  readonly putBytesSync?: (buf: Buffer, kind: ObjectKind) => Oid;

  private putBytesSyncVia(looseSync: (buf: Buffer, kind: ObjectKind) => Oid, buf: Buffer, kind: ObjectKind): Oid {
    if (buf.length > this.limit(kind)) return looseSync(buf, kind);
    const oid = oidOf(buf);
    if (!this.loose.hasSync(oid, kind)) this.packs.put(buf, kind, oid);
    return oid;
  }

  /**
   * A download: bytes are gathered up to `maxPacked`; a body that stays within it is verified and
   * packed, a longer one goes to the loose store (the bytes already read are replayed in front).
   */
  async putStream(expected: Oid, kind: ObjectKind, body: Readable | NodeJS.ReadableStream, what: string, onBytes?: (n: number) => void): Promise<number> {
    if (this.limit(kind) < 0) return this.loose.putStream(expected, kind, body, what, onBytes);
    const it = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let n = 0;
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      head.push(chunk);
      n += chunk.length;
      onBytes?.(chunk.length);
      if (n > this.limit(kind)) {
        const rest = (async function* () {
          yield* head;
          for (;;) {
            const x = await it.next();
            if (x.done) return;
            onBytes?.(x.value.length);
            yield x.value as Buffer;
          }
        })();
        return this.loose.putStream(expected, kind, Readable.from(rest), what);
      }
    }
    const buf = Buffer.concat(head, n);
    const got = oidOf(buf);
    if (got !== expected) {
      throw new TroveError('INTEGRITY', `${what}: content does not match its name (expected ${expected}, got ${got})`, 'the copy on the remote is corrupt; nothing was inserted into the cache');
    }
    if (!this.loose.hasSync(expected, kind)) this.packs.put(buf, kind, expected);
    return n;
  }

  async *list(): AsyncIterable<ObjectInfo> {
    yield* this.packs.list();
    yield* this.loose.list();
  }

  async delete(refs: ObjectRef[]): Promise<void> {
    await this.loose.delete(refs);
    await this.packs.delete(refs);
  }

  async quarantine(oid: Oid, kind: ObjectKind): Promise<string> {
    this.treeMemo.delete(oid);
    // through removals(): the generation moves, so a status memo that saw this object present is dropped
    if (this.packs.has(oid, kind)) return this.loose.removals(() => this.packs.quarantine(oid, kind));
    return this.loose.quarantine(oid, kind);
  }

  async materialize(oid: Oid, dest: string, mode: LinkMode, exec: boolean): Promise<LinkMode> {
    if (!this.packs.has(oid, kind0)) return this.loose.materialize(oid, dest, mode, exec);
    return this.materializeSync(oid, dest, mode, exec, false);
  }

  /**
   * A packed object is verified (read whole and hashed) before anything is written, so a corrupt pack
   * byte fails the checkout with INTEGRITY naming `dest`, and nothing appears there. Packed objects
   * have no file of their own to link to: they are always copied (the mode returned says so).
   */
  materializeSync(oid: Oid, dest: string, mode: LinkMode, exec: boolean, fresh: boolean | 'staged'): LinkMode {
    const body = this.packs.readIntoSync(oid, kind0, dest, this.scratch);
    if (!body) return this.loose.materializeSync(oid, dest, mode, exec, fresh);
    if (this.unpacksToLink(mode)) {
      this.loose.putBytesSync!(body, kind0);
      return this.loose.materializeSync(oid, dest, mode, exec, fresh);
    }
    this.copyOut.write(body, dest, exec, fresh === 'staged');
    return 'copy';
  }

  /**
   * A repo switched to hardlink/symlink (`cache.link`) after its objects were packed (DVC's
   * `cache.type` switch): the first linked checkout of a packed blob writes it loose (verified bytes,
   * read-only, like any loose object) and links that, so every later checkout links. Only where new
   * blobs stay loose anyway (`packBlobs` false, i.e. `cache.packs` not set); a repo that asked for
   * packs and links keeps its packs and gets copies. The packed copy stays (gc's to drop).
   */
  private unpacksToLink(mode: LinkMode): boolean {
    return !this.packBlobs && (mode === 'hardlink' || mode === 'symlink') && !!this.loose.putBytesSync;
  }

  /** one read buffer for every packed object materialized (each is written out before the next is read) */
  private readonly scratch = Buffer.allocUnsafe(PACK_MAX_OBJECT + 64);
  private readonly copyOut = new CopyOut(() => this.tmpDir);

  linkedBlob(linkAbs: string): Oid | null {
    return this.loose.linkedBlob(linkAbs);
  }

  hasPart(part: Part): Promise<boolean> {
    return wholeParts.has(this, part);
  }
  openPart(part: Part, what?: string): Promise<Readable> {
    return wholeParts.open(this, part, what);
  }
  putPart(part: Part, body: Readable | NodeJS.ReadableStream, what: string): Promise<number> {
    return wholeParts.put(this, part, body, what);
  }
  keepsChunks(): boolean {
    return false;
  }
  async parts(oid: Oid, kind: ObjectKind): Promise<Part[]> {
    const st = this.packs.stat(oid, kind);
    if (st) return [{ oid, kind, size: st.size }];
    return this.loose.parts(oid, kind);
  }

  generation(): string {
    return this.loose.generation();
  }

  removals<T>(fn: () => Promise<T>): Promise<T> {
    return this.loose.removals(() => this.packs.batchRemovals(fn));
  }

  async syncToDisk(): Promise<void> {
    await this.packs.seal();
    await this.loose.syncToDisk();
  }

  tempPath(): Promise<string> {
    return this.loose.tempPath();
  }

  /** Temp files of dead processes (their pending packs among them) go; packs a killed seal left unindexed are indexed. */
  async cleanStaleTemp(): Promise<number> {
    const n = await this.loose.cleanStaleTemp();
    await this.packs.adoptOrphans();
    return n;
  }

  countTemp(): Promise<number> {
    return this.loose.countTemp();
  }
}

/** The packed part of a store, for fsck's pack checks; undefined for a store without packs. */
export function packsOf(store: ObjectStore): PackedObjects | undefined {
  // through wrappers (the chunked store holds the packed one as `inner`)
  for (let s: unknown = store, depth = 0; s && depth < 4; s = (s as { inner?: unknown }).inner, depth++) {
    if (s instanceof PackedStore) return s.packs;
  }
  return undefined;
}

/** materialize writes files: what it puts in the workspace is a blob */
const kind0: ObjectKind = 'blob';

function oidOf(buf: Buffer): Oid {
  return oidFromHex(sha256Hex(buf));
}

/**
 * Writes packed objects' bytes to workspace files so that each appears whole: a temp file in the
 * store's tmp dir renamed over dest (or beside dest when they are on different filesystems); with
 * `staged` (dest is inside a checkout's staging folder, which nobody sees until it is renamed into
 * place: checkoutStage.ts) the file is created at dest directly, with O_EXCL.
 *
 * Per file: open, write, fchmod, close (+ rename). The tmp dir is made once and temp names are a
 * counter behind a per-process token (tempName.ts): a `randomBytes` and a `mkdir` per file showed up in checkout's
 * profile and syscall counts (wave 1 had neither).
 */
class CopyOut {
  private madeTmp = false;

  constructor(private readonly tmpDir: () => string) {}

  write(buf: Buffer, dest: string, exec: boolean, staged: boolean): void {
    const mode = exec ? 0o755 : 0o644;
    if (staged) return writeExclusive(dest, buf, mode);
    const via = (tmp: string) => {
      try {
        writeExclusive(tmp, buf, mode);
        renameSync(tmp, dest);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
    };
    try {
      if (!this.madeTmp) {
        mkdirSync(this.tmpDir(), { recursive: true });
        this.madeTmp = true;
      }
      via(tempIn(this.tmpDir(), 'm'));
    } catch (err) {
      if (isErrno(err, 'ENOENT') && this.madeTmp && !existsSync(this.tmpDir())) {
        this.madeTmp = false; // someone removed the tmp dir under us (gc, a user): make it again once
        return this.write(buf, dest, exec, staged);
      }
      if (!isErrno(err, 'EXDEV')) throw err;
      via(tempBeside(dest));
    }
  }
}

/** Creates `file` (it must not exist) with exactly `buf` and `mode`, whatever the umask. */
function writeExclusive(file: string, buf: Buffer, mode: number): void {
  const fd = openSync(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  try {
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fchmodSync(fd, mode); // the umask may have narrowed the mode
  } finally {
    closeSync(fd);
  }
}
