/**
 * Folder remote: `/abs/path` or `file:///abs/path` (a local disk, NFS or SMB mount).
 *
 * Writes follow the cache's rule: copy into `<root>/tmp/<random>` (same file system, so the rename
 * is atomic), fsync, then rename into place; the temp file is removed in `finally`. A crash leaves at
 * most a stray temp file, which `list` never reports and a later put does not trip over.
 */
import { constants as fsc, createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, opendir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, addAbortSignal } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TroveError, isErrno } from '../core/errors.js';
import { tempIn } from '../core/tempName.js';
import { type ByteRange, type OpenBody, type PutOptions, type Remote, type RemoteEntry, bodyToBuffer, validateKey, validatePrefix } from './remote.js';
import { DEFAULT_ATTEMPTS } from './retry.js';
import { checkSha256, sha256Gate } from './verify.js';

/** File-system errors that another attempt may not meet (a busy NFS server, a stale handle). */
const TRANSIENT_ERRNO = ['EAGAIN', 'EBUSY', 'EINTR', 'ETIMEDOUT', 'ESTALE', 'ECONNRESET', 'EIO'];

/** Objects up to this size are copied with one read and one write (memory bounded by it). */
const SMALL = 1 << 20;

/** Top-level folder that holds partial writes; reserved, never listed. */
const TMP_DIR = 'tmp';

export class FsRemote implements Remote {
  readonly url: string;
  readonly attempts = DEFAULT_ATTEMPTS;

  /** @param root absolute path of the remote folder (created on first put). */
  constructor(
    readonly name: string,
    readonly root: string,
  ) {
    if (!path.isAbsolute(root)) {
      throw new TroveError('CONFIG', `folder remote "${name}": path ${root} is not absolute`);
    }
    this.root = path.resolve(root);
    this.url = this.root;
  }

  /** Absolute path for `key`, checked to stay inside the root. */
  private pathOf(key: string): string {
    validateKey(key);
    if (key === TMP_DIR || key.startsWith(`${TMP_DIR}/`)) {
      throw new TroveError('REMOTE', `invalid remote key ${JSON.stringify(key)}: "${TMP_DIR}/" is reserved for partial writes`);
    }
    const p = path.join(this.root, ...key.split('/'));
    // validateKey already rules this out; the check stays as a second lock on the door.
    if (!p.startsWith(this.root + path.sep)) {
      throw new TroveError('REMOTE', `invalid remote key ${JSON.stringify(key)}: outside ${this.root}`);
    }
    return p;
  }

  private wrap(err: unknown, what: string, key: string): unknown {
    if (err instanceof TroveError) return err;
    if (isAbort(err)) return new TroveError('ABORTED', `${what} ${key} on remote "${this.name}" was aborted`, undefined, { cause: err });
    const code = isErrno(err) ? ` (${err.code})` : '';
    return new TroveError('REMOTE', `folder remote "${this.name}": ${what} ${key} failed${code}: ${(err as Error)?.message ?? String(err)}`,
      isErrno(err, 'EACCES', 'EPERM', 'EROFS') ? `check that ${this.root} is writable` : undefined, { cause: err, retryable: isErrno(err, ...TRANSIENT_ERRNO) });
  }

  async stat(key: string): Promise<{ size: number } | null> {
    const p = this.pathOf(key);
    try {
      const st = await stat(p);
      return st.isFile() ? { size: st.size } : null;
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
      throw this.wrap(err, 'stat', key);
    }
  }

  async *list(prefix: string, o?: { signal?: AbortSignal }): AsyncIterable<RemoteEntry> {
    validatePrefix(prefix);
    // Walk only the deepest folder the prefix names, then filter by plain string prefix (S3 semantics:
    // 'objects/sha256/a' matches 'objects/sha256/ab/…').
    const cut = prefix.lastIndexOf('/');
    const base = cut < 0 ? '' : prefix.slice(0, cut);
    try {
      for await (const e of this.walk(base, o?.signal)) {
        if (e.key.startsWith(prefix)) yield e;
      }
    } catch (err) {
      throw this.wrap(err, 'list', prefix || '/');
    }
  }

  /** Depth-first walk below `rel` in S3 order (names compared with a '/' appended to folders). */
  private async *walk(rel: string, signal?: AbortSignal): AsyncGenerator<RemoteEntry> {
    signal?.throwIfAborted();
    const dir = rel === '' ? this.root : path.join(this.root, ...rel.split('/'));
    let entries: { name: string; isDir: boolean; isFile: boolean }[] = [];
    try {
      const d = await opendir(dir);
      for await (const de of d) entries.push({ name: de.name, isDir: de.isDirectory(), isFile: de.isFile() });
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return;
      throw this.wrap(err, 'list', rel || '/');
    }
    const sortKey = (e: { name: string; isDir: boolean }) => (e.isDir ? `${e.name}/` : e.name);
    entries = entries.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
    for (const e of entries) {
      const key = rel === '' ? e.name : `${rel}/${e.name}`;
      if (rel === '' && e.name === TMP_DIR) continue;
      if (e.isDir) {
        yield* this.walk(key, signal);
      } else if (e.isFile) {
        try {
          const st = await stat(path.join(dir, e.name));
          yield { key, size: st.size, mtimeMs: st.mtimeMs };
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw this.wrap(err, 'list', key); // deleted while listing
        }
      }
    }
  }

  async get(key: string, o?: { signal?: AbortSignal; range?: ByteRange }): Promise<NodeJS.ReadableStream> {
    const p = this.pathOf(key);
    try {
      o?.signal?.throwIfAborted();
      // Open first so that a missing object is an error here, not later on the stream.
      // O_NONBLOCK: a FIFO (or device) planted where an object should be must not hang the open;
      // for a regular file the flag changes nothing.
      const fh = await open(p, fsc.O_RDONLY | fsc.O_NONBLOCK);
      const st = await fh.stat().catch(async (e) => { await fh.close(); throw e; });
      if (!st.isFile()) {
        await fh.close();
        if (st.isDirectory()) throw new TroveError('NOT_FOUND', `remote "${this.name}" has no object ${key}`);
        throw new TroveError('REMOTE', `folder remote "${this.name}": ${key} is not a regular file (a fifo, socket or device); it is not an object`,
          `remove ${p} from the remote`);
      }
      const r = o?.range;
      if (r && !(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && r.start >= 0 && r.end >= r.start && r.end < st.size)) {
        await fh.close();
        throw new TroveError('REMOTE', `folder remote "${this.name}": range ${r.start}-${r.end} is outside ${key} (${st.size} bytes)`);
      }
      const rs = createReadStream('', { fd: fh, ...(r && { start: r.start, end: r.end }) });
      return o?.signal ? addAbortSignal(o.signal, rs) : rs;
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) {
        throw new TroveError('NOT_FOUND', `remote "${this.name}" has no object ${key}`, undefined, { cause: err });
      }
      throw this.wrap(err, 'get', key);
    }
  }

  async put(key: string, openBody: OpenBody, size: number, o?: PutOptions): Promise<void> {
    const dest = this.pathOf(key);
    const tmp = await this.tempPath();
    try {
      o?.signal?.throwIfAborted();
      const body = await openBody();
      if (size <= SMALL || Buffer.isBuffer(body)) {
        // small objects (most of a dataset's): one buffer and one write
        const buf = await bodyToBuffer(body, size, key);
        if (buf.length !== size) {
          throw new TroveError('INTEGRITY', `${key}: the body has ${buf.length} bytes, expected ${size}: it changed while it was being uploaded`);
        }
        if (o?.sha256) checkSha256(buf, o.sha256, key);
        await writeFile(tmp, buf, { flag: 'wx', flush: true });
        o?.onBytes?.(size);
        await this.moveIntoPlace(tmp, dest);
        return;
      }
      let copied = 0;
      const count = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          copied += chunk.length;
          o?.onBytes?.(chunk.length);
          cb(null, chunk);
        },
      });
      // flush: fsync before close, so that after the rename a power cut cannot leave a named but empty file.
      const stages: NodeJS.ReadWriteStream[] = o?.sha256 ? [sha256Gate(o.sha256, key), count] : [count];
      const src = body instanceof Readable ? body : Readable.from(body as AsyncIterable<Buffer>);
      await pipeline([src, ...stages, createWriteStream(tmp, { flags: 'wx', flush: true })], { signal: o?.signal });
      if (copied !== size) {
        throw new TroveError('INTEGRITY', `${key}: the body has ${copied} bytes, expected ${size}: it changed while it was being uploaded`);
      }
      await this.moveIntoPlace(tmp, dest);
    } catch (err) {
      throw this.wrap(err, 'put', key);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async putBytes(key: string, body: Buffer | string, o?: { signal?: AbortSignal }): Promise<void> {
    const dest = this.pathOf(key);
    const tmp = await this.tempPath();
    try {
      o?.signal?.throwIfAborted();
      await writeFile(tmp, body, { flag: 'wx', flush: true });
      await this.moveIntoPlace(tmp, dest);
    } catch (err) {
      throw this.wrap(err, 'put', key);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async delete(keys: string[]): Promise<void> {
    const paths = keys.map((k) => [k, this.pathOf(k)] as const); // validate all before deleting any
    for (const [key, p] of paths) {
      try {
        await unlink(p);
      } catch (err) {
        if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw this.wrap(err, 'delete', key);
      }
    }
  }

  async close(): Promise<void> {}

  /** A fresh temp path under `<root>/tmp`; creates the root on first use. */
  private async tempPath(): Promise<string> {
    const dir = path.join(this.root, TMP_DIR);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw this.wrap(err, 'create', dir);
    }
    return tempIn(dir, 'r');
  }

  /** mkdir -p the fan-out folder, then rename (atomic; replaces an existing object). */
  private async moveIntoPlace(tmp: string, dest: string): Promise<void> {
    await mkdir(path.dirname(dest), { recursive: true });
    await rename(tmp, dest);
  }
}

function isAbort(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'AbortError';
}
