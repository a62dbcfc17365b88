import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants as fsc, copyFileSync, createReadStream, existsSync, fchmodSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, promises as fsp, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { TroveError, isErrno } from '../errors.js';
import { pidIsAlive } from '../pidAlive.js';
import { tempBeside, tempIn, writerPid } from '../tempName.js';
import { hexOf, isOid, oidFromHex, type Oid } from '../oid.js';
import { fanoutFolders } from './fanout.js';
import { LAYOUT_DIRS, migrateV1, readLayoutVersion, writeLayoutFileSync } from './layout.js';
import type { LinkMode, ObjectInfo, ObjectKind, ObjectRef, ObjectStore, Part, PutResult } from './objectStore.js';
import { wholeParts } from './objectStore.js';

export type { LinkMode } from './objectStore.js';

/** Files up to this size are read whole (memory is bounded by it, not by file size). */
const SMALL_FILE = 1 << 20;
/** materializeSync copies files up to this size by read + write instead of copyFile */
const COPY_BY_READ = 64 << 10;
/** Files up to this size are stored with synchronous calls (see putFileSync). */
export const SYNC_FILE = 256 << 10;
const CHUNK = 1 << 20;


/**
 * The loose object store: one read-only file per object, complete or absent. Its layout (version 2,
 * see layout.ts and README.md in this folder) is private to this module:
 *
 *   <dir>/layout                      the layout version
 *   <dir>/objects/sha256/ab/cdef…     blobs (where wave 1 kept every object: workspace symlinks point here)
 *   <dir>/trees/sha256/ab/cdef…       trees
 *   <dir>/generation                  the removal token (generation())
 *   <dir>/quarantine/<kind>-<hex>.<ms> corrupt objects moved aside
 *
 * Writes follow cacache/pnpm: stream into `<tmpDir>/<unique>` (same filesystem) while hashing,
 * then rename into place. A rename onto an existing object is harmless: same name, same bytes.
 */
export class LooseStore implements ObjectStore {
  private readonly madeDirs = new Set<string>();
  /** per kind: the fan-out folders (`ab`) at the last listing, and when it was made (see mayHaveSync) */
  private readonly fanouts = new Map<ObjectKind, { names: Set<string>; at: number }>();
  readonly treeMemo = new Map<Oid, unknown>();

  /** objects were renamed into place since the last syncToDisk */
  private unsynced = false;
  /** the layout file was seen or written by this process */
  private rooted = false;

  constructor(readonly dir: string, readonly tmpDir: string) {}

  private kindDir(kind: ObjectKind): string {
    return path.join(this.dir, LAYOUT_DIRS[kind], 'sha256');
  }

  /** The one place that builds an object's path. */
  private pathOf(oid: Oid, kind: ObjectKind): string {
    const hex = hexOf(oid);
    return path.join(this.dir, LAYOUT_DIRS[kind], 'sha256', hex.slice(0, 2), hex.slice(2));
  }

  /**
   * Before the first object goes in: the layout file, so that a later trove knows this store is
   * version 2 (a store without one and with objects is wave 1's, which layout.ts migrates).
   */
  private ensureRoot(): void {
    if (this.rooted) return;
    // a wave-1 store not migrated at open (a store made directly, not through Repo.open): migrate now
    if (readLayoutVersion(this.dir) === 1) migrateV1(this.dir);
    else writeLayoutFileSync(this.dir);
    this.rooted = true;
    this.fanouts.clear(); // a migration moved objects into folders a listing may not have seen
  }

  /**
   * Makes every object stored so far durable, in one call for the whole command: `sync -f` (syncfs
   * of the store's filesystem) instead of an fsync per object, which cost ~1 ms each here and would
   * dominate `add` of 100,000 small files. Callers run it before they write anything that names the
   * new objects (a pointer, a run record), so that after a power cut a pointer never names an
   * object that was lost. Where `sync -f` is unavailable, the objects folders themselves are fsynced.
   */
  async syncToDisk(): Promise<void> {
    if (!this.unsynced) return;
    const { execFile } = await import('node:child_process');
    const ok = await new Promise<boolean>((resolve) => execFile('sync', ['-f', this.dir], (err) => resolve(!err)));
    if (!ok) {
      for (const kind of ['blob', 'tree'] as const) {
        const fh = await fsp.open(this.kindDir(kind), 'r').catch(() => null);
        await fh?.sync().catch(() => {});
        await fh?.close();
      }
    }
    this.unsynced = false;
  }

  private get quarantineDir(): string {
    return path.join(this.dir, 'quarantine');
  }

  /**
   * A token that changes whenever an object may leave the store (delete, quarantine), so that a memo
   * of "this tree's objects are all here" (the status index) is dropped when it could be stale. Written
   * before each removal, so a reader that saw the old token also sees the object still there.
   * Objects removed by hand (rm in cache/) are not noticed: `trove fsck` is the check for that.
   */
  generation(): string {
    try {
      return readFileSync(path.join(this.dir, 'generation'), 'utf8');
    } catch {
      return '0';
    }
  }

  /** inside `removals()`: the generation was bumped at its start and is bumped again at its end */
  private removing = 0;

  /**
   * Many removals (gc's sweep) with two generation writes instead of one per object: one before the
   * first removal, one after the last, so a memo written by a reader during the sweep is stale too.
   */
  async removals<T>(fn: () => Promise<T>): Promise<T> {
    this.bumpGeneration();
    this.removing++;
    try {
      return await fn();
    } finally {
      this.removing--;
      this.bumpGeneration();
    }
  }

  private bumpGeneration(): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(path.join(this.dir, 'generation'), randomBytes(8).toString('hex'));
  }

  async has(oid: Oid, kind: ObjectKind): Promise<boolean> {
    try {
      await fsp.access(this.pathOf(oid, kind));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return false;
      throw err;
    }
  }

  hasSync(oid: Oid, kind: ObjectKind): boolean {
    return existsSync(this.pathOf(oid, kind));
  }

  /**
   * hasSync, but "no" without a lookup when the object's fan-out folder did not exist at a listing of
   * its kind made less than a second ago (or since this store last made a folder). A store that
   * packs its small objects has few loose ones, often none: then `add` of 100,000 small files makes
   * a handful of listings instead of 100,000 failed lookups (~3 µs each). A fan-out folder made by
   * another process within that second is missed: the caller then stores a second copy, no more.
   */
  mayHaveSync(oid: Oid, kind: ObjectKind): boolean {
    const now = Date.now();
    let f = this.fanouts.get(kind);
    if (!f || now - f.at > 1000) {
      let names: string[];
      try {
        names = readdirSync(this.kindDir(kind));
      } catch (err) {
        if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw err;
        names = [];
      }
      f = { names: new Set(names), at: now };
      this.fanouts.set(kind, f);
    }
    return f.names.has(hexOf(oid).slice(0, 2)) && this.hasSync(oid, kind);
  }

  /** Null when it is absent or not a regular file (a FIFO is never an object). */
  async stat(oid: Oid, kind: ObjectKind): Promise<ObjectInfo | null> {
    try {
      const st = await fsp.lstat(this.pathOf(oid, kind));
      return st.isFile() ? { oid, kind, size: st.size, mtimeMs: st.mtimeMs } : null;
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
      throw err;
    }
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
    const st = await this.stat(oid, kind);
    if (!st) throw missing(oid, oid);
    return [{ oid, kind, size: st.size }];
  }

  /** A fresh temp path on the store's filesystem. */
  async tempPath(): Promise<string> {
    await this.ensureDir(this.tmpDir);
    return tempIn(this.tmpDir, 'w');
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await fsp.mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
    this.fanouts.clear();
  }

  private ensureDirSync(dir: string): void {
    if (this.madeDirs.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    this.madeDirs.add(dir);
    this.fanouts.clear();
  }

  /** Moves a complete, verified temp file into place as `oid`, read-only. */
  private async commit(tmp: string, oid: Oid, kind: ObjectKind): Promise<void> {
    this.ensureRoot();
    const dest = this.pathOf(oid, kind);
    await this.ensureDir(path.dirname(dest));
    await fsp.rename(tmp, dest);
    this.unsynced = true;
  }

  /**
   * Stores a workspace file: reads each byte once, hashing while copying. Returns its oid and the
   * number of bytes read. Memory stays at a few MiB whatever the file size.
   */
  async putFile(src: string, kind: ObjectKind, o: { onBytes?: (n: number) => void } = {}): Promise<PutResult> {
    const fh = await fsp.open(src, 'r');
    const tmp = await this.tempPath();
    let out: fsp.FileHandle | undefined;
    try {
      const st = await fh.stat();
      if (st.size <= SMALL_FILE) {
        const buf = await fh.readFile();
        const oid = oidFromHex(createHash('sha256').update(buf).digest('hex'));
        if (await this.has(oid, kind)) return { oid, size: buf.length, stored: false };
        // 0o444 at creation: one syscall fewer than a chmod afterwards; the fd stays writable.
        out = await fsp.open(tmp, 'wx', 0o444);
        await out.writeFile(buf);
        await out.close();
        out = undefined;
        await this.commit(tmp, oid, kind);
        return { oid, size: buf.length, stored: true };
      }
      out = await fsp.open(tmp, 'wx', 0o444);
      const { hex, size } = await pipeHashed(fh, out, o.onBytes);
      await out.close();
      out = undefined;
      const oid = oidFromHex(hex);
      if (await this.has(oid, kind)) return { oid, size, stored: false };
      await this.commit(tmp, oid, kind);
      return { oid, size, stored: true };
    } finally {
      await out?.close().catch(() => {});
      await fh.close().catch(() => {});
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
  }

  /**
   * The small-file path of putFile, with synchronous syscalls. For a 16 KiB file the work is ~9
   * syscalls of a few µs each; through the thread pool every one also costs a promise and two
   * thread hops, which made `add` of 20,000 small files 3–4× slower than `cp -r` (see bench/).
   */
  putFileSync(src: string, size: number, kind: ObjectKind): PutResult {
    const buf = readFileSync(src);
    if (buf.length !== size && buf.length > SMALL_FILE) throw new TroveError('IO', `${src}: grew while being read`, 'wait until whatever writes it has finished, then add it again');
    const oid = oidFromHex(createHash('sha256').update(buf).digest('hex'));
    const dest = this.pathOf(oid, kind);
    if (existsSync(dest)) return { oid, size: buf.length, stored: false };
    this.writeSync(dest, buf, 's');
    return { oid, size: buf.length, stored: true };
  }

  /** Writes `buf` as the object at `dest` with synchronous calls: temp in tmp/, read-only, rename. */
  private writeSync(dest: string, buf: Buffer, tag: string): void {
    this.ensureRoot();
    this.ensureDirSync(path.dirname(dest));
    this.ensureDirSync(this.tmpDir);
    const tmp = tempIn(this.tmpDir, tag);
    try {
      writeFileSync(tmp, buf, { flag: 'wx', mode: 0o444 });
      renameSync(tmp, dest);
      this.unsynced = true;
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  /** Stores bytes already in memory (trees, diffs). */
  async putBytes(data: Buffer | string, kind: ObjectKind): Promise<Oid> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const oid = oidFromHex(createHash('sha256').update(buf).digest('hex'));
    if (await this.has(oid, kind)) return oid;
    const tmp = await this.tempPath();
    try {
      await fsp.writeFile(tmp, buf, { flag: 'wx', mode: 0o444 });
      await this.commit(tmp, oid, kind);
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
    return oid;
  }

  /** putBytes with synchronous calls (see the interface): one existence check, write, rename. */
  putBytesSync(buf: Buffer, kind: ObjectKind): Oid {
    const oid = oidFromHex(createHash('sha256').update(buf).digest('hex'));
    const dest = this.pathOf(oid, kind);
    if (existsSync(dest)) return oid;
    this.writeSync(dest, buf, 'b');
    return oid;
  }

  /**
   * Inserts an object that arrives as a stream (a download), verifying it before it becomes visible.
   * A mismatch is INTEGRITY and nothing is inserted.
   */
  async putStream(expected: Oid, kind: ObjectKind, body: Readable | NodeJS.ReadableStream, what: string, onBytes?: (n: number) => void): Promise<number> {
    const tmp = await this.tempPath();
    let out: fsp.FileHandle | undefined;
    try {
      out = await fsp.open(tmp, 'wx', 0o444);
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
        await out.write(chunk);
        onBytes?.(chunk.length);
      }
      await out.close();
      out = undefined;
      const got = oidFromHex(hash.digest('hex'));
      if (got !== expected) {
        throw new TroveError('INTEGRITY', `${what}: content does not match its name (expected ${expected}, got ${got})`, 'the copy on the remote is corrupt; nothing was inserted into the cache');
      }
      await this.commit(tmp, expected, kind);
      return size;
    } finally {
      await out?.close().catch(() => {});
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
  }

  /**
   * Reads a small object (tree, record) whole and checks its hash, with one synchronous read: trees
   * are a few KiB and are read one after another while walking history; through the thread pool each
   * read cost ~0.2 ms of waiting (`trove log` over 1,000 commits spent 0.9 s idle doing that).
   */
  readSmall(oid: Oid, kind: ObjectKind, what: string = oid): Buffer {
    let buf: Buffer;
    try {
      // O_NONBLOCK + fstat: a FIFO or device where an object should be is refused, never waited on
      const fd = openSync(this.pathOf(oid, kind), fsc.O_RDONLY | fsc.O_NONBLOCK);
      try {
        if (!fstatSync(fd).isFile()) throw notRegular(oid, what);
        buf = readFileSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw missing(oid, what);
      throw err;
    }
    const got = oidFromHex(createHash('sha256').update(buf).digest('hex'));
    if (got !== oid) throw corrupt(oid, what);
    return buf;
  }

  /** A verifying read stream: it errors with INTEGRITY before its end when the bytes do not hash to `oid`. */
  async open(oid: Oid, kind: ObjectKind, what: string = oid): Promise<Readable> {
    let fd: number;
    try {
      fd = openSync(this.pathOf(oid, kind), fsc.O_RDONLY | fsc.O_NONBLOCK);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw missing(oid, what);
      throw err;
    }
    try {
      if (!fstatSync(fd).isFile()) throw notRegular(oid, what);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    const src = createReadStream('', { fd });
    const out = verifying(oid, what);
    src.on('error', (err) => out.destroy(err));
    out.on('close', () => src.destroy()); // a consumer that stops early closes the file too
    return src.pipe(out);
  }

  async withFile<T>(oid: Oid, kind: ObjectKind, fn: (file: string, size: number) => Promise<T>): Promise<T> {
    const p = this.pathOf(oid, kind);
    let st;
    try {
      st = await fsp.lstat(p);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw missing(oid, oid);
      throw err;
    }
    if (!st.isFile()) throw notRegular(oid, oid);
    return fn(p, st.size);
  }

  /** Re-hashes one object. Anything but a regular file (a FIFO, socket, device, link) is not a good object. */
  async verify(oid: Oid, kind: ObjectKind): Promise<boolean> {
    const fh = await fsp.open(this.pathOf(oid, kind), fsc.O_RDONLY | fsc.O_NONBLOCK);
    try {
      if (!(await fh.stat()).isFile()) return false;
      const hash = createHash('sha256');
      const buf = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
        if (bytesRead === 0) break;
        hash.update(bytesRead === CHUNK ? buf : buf.subarray(0, bytesRead));
      }
      return oidFromHex(hash.digest('hex')) === oid;
    } finally {
      await fh.close();
    }
  }

  /**
   * Every object in the store, blobs then trees, by name (names that are not valid oids are skipped,
   * as are entries that are not regular files: fsck of a FIFO must not block). One lstat each,
   * synchronous: ~3 µs, where a promise per object cost more than the call.
   */
  async *list(): AsyncIterable<ObjectInfo> {
    for (const kind of ['blob', 'tree'] as const) {
      for (const { fan, dir, names } of fanoutFolders(this.kindDir(kind), { sort: true })) {
        const batch: ObjectInfo[] = [];
        for (const n of names) {
          const oid = oidFromHex(fan + n);
          if (!isOid(oid)) continue;
          try {
            const st = lstatSync(path.join(dir, n));
            batch.push({ oid, kind, size: st.isFile() ? st.size : 0, mtimeMs: st.mtimeMs });
          } catch (err) {
            if (!isErrno(err, 'ENOENT')) throw err; // removed meanwhile
          }
        }
        yield* batch;
      }
    }
  }

  /**
   * Removes temp files left by trove processes that are gone (kill -9, power loss). Temp names
   * start with the writer's pid; a live pid's files are left alone.
   */
  async cleanStaleTemp(): Promise<number> {
    let names: string[];
    try {
      names = await fsp.readdir(this.tmpDir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const n of names) {
      const pid = writerPid(n);
      if (!pid || pid === process.pid || pidIsAlive(pid)) continue;
      await fsp.rm(path.join(this.tmpDir, n), { force: true, recursive: true });
      removed++;
    }
    return removed;
  }

  async countTemp(): Promise<number> {
    try {
      return (await fsp.readdir(this.tmpDir)).length;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return 0;
      throw err;
    }
  }

  /** Moves a corrupt object aside (never deletes it). */
  async quarantine(oid: Oid, kind: ObjectKind): Promise<string> {
    this.treeMemo.delete(oid);
    if (!this.removing) this.bumpGeneration();
    await fsp.mkdir(this.quarantineDir, { recursive: true });
    const dest = path.join(this.quarantineDir, `${kind}-${hexOf(oid)}.${Date.now()}`);
    await fsp.rename(this.pathOf(oid, kind), dest);
    return dest;
  }

  async delete(refs: ObjectRef[]): Promise<void> {
    for (const { oid, kind } of refs) {
      if (kind === 'tree') this.treeMemo.delete(oid);
      if (!this.removing) this.bumpGeneration();
      await fsp.rm(this.pathOf(oid, kind), { force: true });
    }
  }

  linkedBlob(linkAbs: string): Oid | null {
    const blobs = this.kindDir('blob');
    try {
      const target = readlinkSync(linkAbs);
      if (!target.startsWith(blobs + path.sep)) return null;
      const oid = oidFromHex(path.relative(blobs, target).split(path.sep).join(''));
      return isOid(oid) ? oid : null;
    } catch {
      return null;
    }
  }

  /**
   * Creates `dest` through a temp name in the store's tmp dir (so a crash leaves nothing in the
   * workspace) and renames it over whatever was there; across filesystems, a sibling temp name.
   */
  private async replaceWith(dest: string, make: (tmp: string) => Promise<void>): Promise<void> {
    let tmp = await this.tempPath();
    try {
      try {
        await make(tmp);
        await fsp.rename(tmp, dest);
      } catch (err) {
        if (!isErrno(err, 'EXDEV')) throw err;
        await fsp.rm(tmp, { force: true });
        tmp = tempBeside(dest);
        await make(tmp);
        await fsp.rename(tmp, dest);
      }
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
  }

  /**
   * materialize() for small objects, with synchronous calls (the per-file cost is syscalls, see
   * putFileSync). `fresh`: dest is known not to exist, so a link can be made in place
   * (link() is atomic); copies always go through a temp file so that no partial file is visible.
   */
  materializeSync(oid: Oid, dest: string, mode: LinkMode, exec: boolean, fresh: boolean): LinkMode {
    const src = this.pathOf(oid, 'blob');
    const st = lstatOrMissing(src, oid, dest);
    if (!st.isFile()) throw notRegular(oid, dest);
    if (mode === 'hardlink' || mode === 'symlink') {
      try {
        if (fresh) (mode === 'hardlink' ? linkSync : symlinkSync)(src, dest);
        else {
          const tmp = this.tempPathSync();
          try {
            (mode === 'hardlink' ? linkSync : symlinkSync)(src, tmp);
            renameSync(tmp, dest);
          } catch (err) {
            rmSync(tmp, { force: true });
            throw err;
          }
        }
        return mode;
      } catch (err) {
        if (mode === 'symlink' || !isErrno(err, 'EXDEV', 'EMLINK', 'EPERM')) throw err;
      }
    }
    // a copy appears whole: temp in the store's tmp dir, or beside the destination across filesystems
    const copyVia = (tmp: string) => {
      try {
        if (st.size <= COPY_BY_READ) {
          // a small file: read + write costs fewer syscalls than copyFile's clone attempt and
          // copy_file_range (measured ~2× faster for 1 KiB files; a pull of 100k spent 5 s in copyFile)
          const buf = readFileSync(src);
          const fd = openSync(tmp, 'wx', exec ? 0o755 : 0o644);
          try {
            writeSync(fd, buf);
            fchmodSync(fd, exec ? 0o755 : 0o644); // the exact mode, whatever the umask
          } finally {
            closeSync(fd);
          }
        } else {
          copyFileSync(src, tmp, fsc.COPYFILE_FICLONE);
          chmodSync(tmp, exec ? 0o755 : 0o644);
        }
        renameSync(tmp, dest);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
    };
    try {
      copyVia(this.tempPathSync());
    } catch (err) {
      if (!isErrno(err, 'EXDEV')) throw err;
      copyVia(tempBeside(dest));
    }
    return 'copy';
  }

  private tempPathSync(): string {
    this.ensureDirSync(this.tmpDir);
    return tempIn(this.tmpDir, 'm');
  }

  /**
   * Writes blob `oid` to `dest` (whose parent exists) by `mode`. The result appears atomically:
   * copies go through a temp file + rename, links are created in one step.
   * Returns the mode actually used (hardlink falls back to copy across filesystems).
   */
  async materialize(oid: Oid, dest: string, mode: LinkMode, exec: boolean): Promise<LinkMode> {
    const src = this.pathOf(oid, 'blob');
    const st = await fsp.lstat(src).catch((err: unknown) => {
      throw isErrno(err, 'ENOENT', 'ENOTDIR') ? missing(oid, dest) : err;
    });
    if (!st.isFile()) throw notRegular(oid, dest);
    if (mode === 'hardlink') {
      try {
        await this.replaceWith(dest, (tmp) => fsp.link(src, tmp));
        return 'hardlink';
      } catch (err) {
        if (!isErrno(err, 'EXDEV', 'EMLINK', 'EPERM')) throw err;
        mode = 'copy';
      }
    }
    if (mode === 'symlink') {
      await this.replaceWith(dest, (tmp) => fsp.symlink(src, tmp));
      return 'symlink';
    }
    await this.replaceWith(dest, async (tmp) => {
      // COPYFILE_FICLONE: clone where the filesystem can (btrfs, xfs, APFS), copy otherwise.
      await fsp.copyFile(src, tmp, fsc.COPYFILE_FICLONE);
      await fsp.chmod(tmp, exec ? 0o755 : 0o644);
    });
    return mode;
  }
}

/**
 * Copies `src` to `out` while hashing, reading each byte once. Reads of chunk n+1 and the write of
 * chunk n run in the thread pool while chunk n is hashed here, so a big file costs about
 * max(read, hash, write) rather than their sum.
 */
async function pipeHashed(src: fsp.FileHandle, out: fsp.FileHandle, onBytes?: (n: number) => void): Promise<{ hex: string; size: number }> {
  const hash = createHash('sha256');
  const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  let i = 0;
  let size = 0;
  let pendingWrite: Promise<unknown> = Promise.resolve();
  let n = (await src.read(bufs[0], 0, CHUNK, null)).bytesRead;
  while (n > 0) {
    const cur = bufs[i % 3].subarray(0, n);
    const nextBuf = bufs[(i + 1) % 3];
    const nextRead = src.read(nextBuf, 0, CHUNK, null);
    hash.update(cur);
    await pendingWrite;
    pendingWrite = out.write(cur, 0, cur.length, null);
    size += n;
    onBytes?.(n);
    n = (await nextRead).bytesRead;
    i++;
  }
  await pendingWrite;
  return { hex: hash.digest('hex'), size };
}

/** A pass-through that hashes and fails the stream (INTEGRITY) at its end when the bytes are not `oid`'s. */
function verifying(oid: Oid, what: string): Transform {
  const hash = createHash('sha256');
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      cb(oidFromHex(hash.digest('hex')) === oid ? null : corrupt(oid, what));
    },
  });
}

function missing(oid: Oid, what: string): TroveError {
  return new TroveError('MISSING_OBJECT', `${what}: object ${oid} is not in the cache`, 'run `trove pull` (or `trove fetch`) to get it from a remote', { data: { oids: [oid] } });
}

function corrupt(oid: Oid, what: string): TroveError {
  return new TroveError('INTEGRITY', `${what}: cached object ${oid} is corrupt`, 'run `trove fsck` to quarantine it, then `trove pull` to fetch a good copy');
}

function lstatOrMissing(p: string, oid: Oid, what: string) {
  try {
    return lstatSync(p);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw missing(oid, what);
    throw err;
  }
}

/** A cache entry that is a FIFO, socket, device or link: never opened for reading, never copied out. */
function notRegular(oid: Oid, what: string): TroveError {
  return new TroveError('INTEGRITY', `${what}: cached object ${oid} is not a regular file (fifo, socket, device or link)`,
    'run `trove fsck` to quarantine it, then `trove pull` to fetch a good copy');
}
