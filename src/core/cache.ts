import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants as fsc, copyFileSync, createReadStream, existsSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, promises as fsp, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { TroveError, isErrno } from './errors.js';
import { hexOf, isOid, oidFromHex, type Oid } from './oid.js';

/** How a cached object is put into the workspace. `copy` clones where the filesystem can (FICLONE). */
export type LinkMode = 'reflink' | 'copy' | 'hardlink' | 'symlink';

/** Files up to this size are read whole (memory is bounded by it, not by file size). */
const SMALL_FILE = 1 << 20;
/** Files up to this size are stored with synchronous calls (see putSmallFileSync). */
export const SYNC_FILE = 256 << 10;
const CHUNK = 1 << 20;

let tmpCounter = 0;

/**
 * The local object store: `<dir>/objects/sha256/ab/cdef…`, each object read-only and complete.
 *
 * Writes follow cacache/pnpm: stream into `<tmpDir>/<unique>` (same filesystem) while hashing,
 * then rename into place. A rename onto an existing object is harmless: same name, same bytes.
 */
export class Cache {
  private readonly madeDirs = new Set<string>();
  /** parsed trees by oid (see workspace.readTree); entries are frozen facts about immutable objects */
  readonly treeMemo = new Map<Oid, unknown>();

  /** objects were renamed into place since the last syncToDisk */
  private unsynced = false;

  constructor(readonly dir: string, readonly tmpDir: string) {}

  /**
   * Makes every object stored so far durable, in one call for the whole command: `sync -f` (syncfs
   * of the cache's filesystem) instead of an fsync per object, which cost ~1 ms each here and would
   * dominate `add` of 100,000 small files. Callers run it before they write anything that names the
   * new objects (a pointer, a run record), so that after a power cut a pointer never names an
   * object that was lost. Where `sync -f` is unavailable, the objects folder itself is fsynced.
   */
  async syncToDisk(): Promise<void> {
    if (!this.unsynced) return;
    const { execFile } = await import('node:child_process');
    const ok = await new Promise<boolean>((resolve) => execFile('sync', ['-f', this.objectsDir], (err) => resolve(!err)));
    if (!ok) {
      const fh = await fsp.open(this.objectsDir, 'r').catch(() => null);
      await fh?.sync().catch(() => {});
      await fh?.close();
    }
    this.unsynced = false;
  }

  get objectsDir(): string {
    return path.join(this.dir, 'objects', 'sha256');
  }

  get quarantineDir(): string {
    return path.join(this.dir, 'quarantine');
  }

  /**
   * A token that changes whenever an object may leave the cache (delete, quarantine), so that a memo
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

  private bumpGeneration(): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(path.join(this.dir, 'generation'), randomBytes(8).toString('hex'));
  }

  objectPath(oid: Oid): string {
    const hex = hexOf(oid);
    return path.join(this.objectsDir, hex.slice(0, 2), hex.slice(2));
  }

  async has(oid: Oid): Promise<boolean> {
    try {
      await fsp.access(this.objectPath(oid));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return false;
      throw err;
    }
  }

  /** The object's size; null when it is absent or not a regular file (a FIFO is never an object). */
  async size(oid: Oid): Promise<number | null> {
    try {
      const st = await fsp.lstat(this.objectPath(oid));
      return st.isFile() ? st.size : null;
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
      throw err;
    }
  }

  /** A fresh temp path on the cache's filesystem. */
  async tempPath(): Promise<string> {
    await this.ensureDir(this.tmpDir);
    return path.join(this.tmpDir, `${process.pid}-${randomBytes(3).toString('hex')}-${++tmpCounter}`);
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await fsp.mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
  }

  /** Moves a complete, verified temp file into place as `oid`, read-only. */
  private async commit(tmp: string, oid: Oid): Promise<void> {
    const dest = this.objectPath(oid);
    await this.ensureDir(path.dirname(dest));
    await fsp.rename(tmp, dest);
    this.unsynced = true;
  }

  /**
   * Stores a workspace file: reads each byte once, hashing while copying. Returns its oid and the
   * number of bytes read. Memory stays at a few MiB whatever the file size.
   */
  async putFile(src: string, onBytes?: (n: number) => void): Promise<{ oid: Oid; size: number; stored: boolean }> {
    const fh = await fsp.open(src, 'r');
    const tmp = await this.tempPath();
    let out: fsp.FileHandle | undefined;
    try {
      const st = await fh.stat();
      if (st.size <= SMALL_FILE) {
        const buf = await fh.readFile();
        const oid = oidFromHex(createHash('sha256').update(buf).digest('hex'));
        if (await this.has(oid)) return { oid, size: buf.length, stored: false };
        // 0o444 at creation: one syscall fewer than a chmod afterwards; the fd stays writable.
        out = await fsp.open(tmp, 'wx', 0o444);
        await out.writeFile(buf);
        await out.close();
        out = undefined;
        await this.commit(tmp, oid);
        return { oid, size: buf.length, stored: true };
      }
      out = await fsp.open(tmp, 'wx', 0o444);
      const { hex, size } = await pipeHashed(fh, out, onBytes);
      await out.close();
      out = undefined;
      const oid = oidFromHex(hex);
      if (await this.has(oid)) return { oid, size, stored: false };
      await this.commit(tmp, oid);
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
  putSmallFileSync(src: string, size: number): { oid: Oid; size: number; stored: boolean } {
    const buf = readFileSync(src);
    if (buf.length !== size && buf.length > SMALL_FILE) throw new TroveError('IO', `${src}: grew while being read`, 'wait until whatever writes it has finished, then add it again');
    const oid = oidFromHex(createHash('sha256').update(buf).digest('hex'));
    const dest = this.objectPath(oid);
    if (existsSync(dest)) return { oid, size: buf.length, stored: false };
    const dir = path.dirname(dest);
    if (!this.madeDirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    if (!this.madeDirs.has(this.tmpDir)) {
      mkdirSync(this.tmpDir, { recursive: true });
      this.madeDirs.add(this.tmpDir);
    }
    const tmp = path.join(this.tmpDir, `${process.pid}-s-${++tmpCounter}`);
    try {
      writeFileSync(tmp, buf, { flag: 'wx', mode: 0o444 });
      renameSync(tmp, dest);
      this.unsynced = true;
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return { oid, size: buf.length, stored: true };
  }

  /** Stores bytes already in memory (trees, diffs). */
  async putBytes(data: Buffer | string): Promise<Oid> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const oid = oidFromHex(createHash('sha256').update(buf).digest('hex'));
    if (await this.has(oid)) return oid;
    const tmp = await this.tempPath();
    try {
      await fsp.writeFile(tmp, buf, { flag: 'wx', mode: 0o444 });
      await this.commit(tmp, oid);
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
    return oid;
  }

  /**
   * Inserts an object that arrives as a stream (a download), verifying it before it becomes visible.
   * A mismatch is INTEGRITY and nothing is inserted.
   */
  async putStream(expected: Oid, body: Readable | NodeJS.ReadableStream, what: string, onBytes?: (n: number) => void): Promise<number> {
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
      await this.commit(tmp, expected);
      return size;
    } finally {
      await out?.close().catch(() => {});
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
  }

  /** Reads a small object (tree, record) whole and checks its hash. */
  async readBytes(oid: Oid, what: string = oid): Promise<Buffer> {
    return this.readBytesSync(oid, what);
  }

  /**
   * readBytes with one synchronous read: trees are a few KiB and are read one after another while
   * walking history; through the thread pool each read cost ~0.2 ms of waiting (`trove log` over
   * 1,000 commits spent 0.9 s idle doing that).
   */
  readBytesSync(oid: Oid, what: string = oid): Buffer {
    let buf: Buffer;
    try {
      // O_NONBLOCK + fstat: a FIFO or device where an object should be is refused, never waited on
      const fd = openSync(this.objectPath(oid), fsc.O_RDONLY | fsc.O_NONBLOCK);
      try {
        if (!fstatSync(fd).isFile()) throw notRegular(oid, what);
        buf = readFileSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) {
        throw new TroveError('MISSING_OBJECT', `${what}: object ${oid} is not in the cache`, 'run `trove pull` (or `trove fetch`) to get it from a remote', { data: { oids: [oid] } });
      }
      throw err;
    }
    const got = oidFromHex(createHash('sha256').update(buf).digest('hex'));
    if (got !== oid) throw new TroveError('INTEGRITY', `${what}: cached object ${oid} is corrupt`, 'run `trove fsck` to quarantine it, then `trove pull` to fetch a good copy');
    return buf;
  }

  openRead(oid: Oid): Readable {
    const p = this.objectPath(oid);
    const st = lstatSync(p);
    if (!st.isFile()) throw notRegular(oid, oid);
    return createReadStream(p);
  }

  /** Re-hashes one object. Anything but a regular file (a FIFO, socket, device, link) is not a good object. */
  async verify(oid: Oid): Promise<boolean> {
    const fh = await fsp.open(this.objectPath(oid), fsc.O_RDONLY | fsc.O_NONBLOCK);
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

  /** Every object in the cache (names that are not valid oids are skipped). */
  async *list(): AsyncIterable<Oid> {
    let fans: string[];
    try {
      fans = await fsp.readdir(this.objectsDir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    for (const fan of fans.sort()) {
      if (!/^[0-9a-f]{2}$/.test(fan)) continue;
      const names = await fsp.readdir(path.join(this.objectsDir, fan)).catch(() => [] as string[]);
      for (const n of names.sort()) {
        const oid = oidFromHex(fan + n);
        if (isOid(oid)) yield oid;
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
      const pid = Number(/^(\d+)-/.exec(n)?.[1]);
      if (!pid || pid === process.pid || isAlive(pid)) continue;
      await fsp.rm(path.join(this.tmpDir, n), { force: true, recursive: true });
      removed++;
    }
    return removed;
  }

  /** Moves a corrupt object aside (never deletes it). */
  async quarantine(oid: Oid): Promise<string> {
    this.treeMemo.delete(oid);
    this.bumpGeneration();
    await fsp.mkdir(this.quarantineDir, { recursive: true });
    const dest = path.join(this.quarantineDir, `${hexOf(oid)}.${Date.now()}`);
    await fsp.rename(this.objectPath(oid), dest);
    return dest;
  }

  async delete(oid: Oid): Promise<void> {
    this.treeMemo.delete(oid);
    this.bumpGeneration();
    await fsp.rm(this.objectPath(oid), { force: true });
  }

  /**
   * Creates `dest` through a temp name in the cache's tmp dir (so a crash leaves nothing in the
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
        tmp = path.join(path.dirname(dest), `.trove-tmp-${process.pid}-${++tmpCounter}`);
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
   * putSmallFileSync). `fresh`: dest is known not to exist, so a link can be made in place
   * (link() is atomic); copies always go through a temp file so that no partial file is visible.
   */
  materializeSync(oid: Oid, dest: string, mode: LinkMode, exec: boolean, fresh: boolean): LinkMode {
    const src = this.objectPath(oid);
    if (!lstatSync(src).isFile()) throw notRegular(oid, dest);
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
    // a copy appears whole: temp in the cache's tmp dir, or beside the destination across filesystems
    const copyVia = (tmp: string) => {
      try {
        copyFileSync(src, tmp, fsc.COPYFILE_FICLONE);
        chmodSync(tmp, exec ? 0o755 : 0o644);
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
      copyVia(path.join(path.dirname(dest), `.trove-tmp-${process.pid}-${++tmpCounter}`));
    }
    return 'copy';
  }

  private tempPathSync(): string {
    if (!this.madeDirs.has(this.tmpDir)) {
      mkdirSync(this.tmpDir, { recursive: true });
      this.madeDirs.add(this.tmpDir);
    }
    return path.join(this.tmpDir, `${process.pid}-m-${++tmpCounter}`);
  }

  /**
   * Writes object `oid` to `dest` (whose parent exists) by `mode`. The result appears atomically:
   * copies go through a temp file + rename, links are created in one step.
   * Returns the mode actually used (hardlink falls back to copy across filesystems).
   */
  async materialize(oid: Oid, dest: string, mode: LinkMode, exec: boolean): Promise<LinkMode> {
    const src = this.objectPath(oid);
    if (!(await fsp.lstat(src)).isFile()) throw notRegular(oid, dest);
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

/** A cache entry that is a FIFO, socket, device or link: never opened for reading, never copied out. */
function notRegular(oid: Oid, what: string): TroveError {
  return new TroveError('INTEGRITY', `${what}: cached object ${oid} is not a regular file (fifo, socket, device or link)`,
    'run `trove fsck` to quarantine it, then `trove pull` to fetch a good copy');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
}
