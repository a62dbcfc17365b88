/**
 * A Map-backed ObjectStore for in-process unit tests of the algorithms above the store (gc mark, push
 * order, diff, checkout plan). Same contract as the loose store: kinds are separate namespaces, reads
 * verify, puts are all-or-nothing. Bytes live in memory, so it is for small test data only.
 * `materialize` writes real files (always a copy: there is no file to link to).
 */
import { promises as fsp, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { TroveError } from '../errors.js';
import { hashBytes, type Oid } from '../oid.js';
import type { LinkMode, ObjectInfo, ObjectKind, ObjectRef, ObjectStore, Part, PutResult } from './objectStore.js';
import { wholeParts } from './objectStore.js';
import { tempBeside, tempIn } from '../tempName.js';

interface Entry {
  bytes: Buffer;
  mtimeMs: number;
}

export class MemoryStore implements ObjectStore {
  readonly dir = '(memory)';
  readonly tmpDir = os.tmpdir();
  readonly treeMemo = new Map<Oid, unknown>();
  private readonly objects = new Map<string, Entry>();
  private gen = 0;
  /** what the store was asked for, in order (tests of "read only what is needed"): `kind:oid` */
  readonly reads: string[] = [];

  /** `now`: the mtime given to new objects (tests of gc's grace period set it) */
  constructor(private readonly now: () => number = Date.now) {}

  private key(oid: Oid, kind: ObjectKind): string {
    return `${kind}:${oid}`;
  }

  private get(oid: Oid, kind: ObjectKind, what: string): Buffer {
    this.reads.push(this.key(oid, kind));
    const e = this.objects.get(this.key(oid, kind));
    if (!e) throw new TroveError('MISSING_OBJECT', `${what}: object ${oid} is not in the cache`, 'run `trove pull` (or `trove fetch`) to get it from a remote', { data: { oids: [oid] } });
    if (hashBytes(e.bytes) !== oid) throw new TroveError('INTEGRITY', `${what}: cached object ${oid} is corrupt`, 'run `trove fsck` to quarantine it');
    return e.bytes;
  }

  /** Tests: stores bytes under any name and time (a corrupt object, an old one). */
  insertRaw(oid: Oid, kind: ObjectKind, bytes: Buffer | string, mtimeMs = this.now()): void {
    this.objects.set(this.key(oid, kind), { bytes: Buffer.from(bytes), mtimeMs });
  }

  async has(oid: Oid, kind: ObjectKind): Promise<boolean> {
    return this.hasSync(oid, kind);
  }
  hasSync(oid: Oid, kind: ObjectKind): boolean {
    return this.objects.has(this.key(oid, kind));
  }
  async stat(oid: Oid, kind: ObjectKind): Promise<ObjectInfo | null> {
    const e = this.objects.get(this.key(oid, kind));
    return e ? { oid, kind, size: e.bytes.length, mtimeMs: e.mtimeMs } : null;
  }
  /** Like the loose store's: MISSING_OBJECT at once, rotten bytes as a stream error at the end. */
  async open(oid: Oid, kind: ObjectKind, what: string = oid): Promise<Readable> {
    let err: unknown = null;
    let bytes: Buffer;
    try {
      bytes = this.get(oid, kind, what);
    } catch (e) {
      if ((e as TroveError).code !== 'INTEGRITY') throw e;
      err = e;
      bytes = this.objects.get(this.key(oid, kind))!.bytes;
    }
    let sent = false;
    return new Readable({
      read() {
        if (!sent) {
          sent = true;
          this.push(bytes);
        } else if (err) this.destroy(err as Error);
        else this.push(null);
      },
    });
  }
  readSmall(oid: Oid, kind: ObjectKind, what: string = oid): Buffer {
    return this.get(oid, kind, what);
  }
  async withFile<T>(oid: Oid, kind: ObjectKind, fn: (file: string, size: number) => Promise<T>): Promise<T> {
    const e = this.objects.get(this.key(oid, kind));
    if (!e) this.get(oid, kind, oid); // throws MISSING_OBJECT
    const tmp = await this.tempPath();
    await fsp.writeFile(tmp, e!.bytes, { mode: 0o444 });
    try {
      return await fn(tmp, e!.bytes.length);
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }
  async verify(oid: Oid, kind: ObjectKind): Promise<boolean> {
    const e = this.objects.get(this.key(oid, kind));
    return !!e && hashBytes(e.bytes) === oid;
  }

  private put(buf: Buffer, kind: ObjectKind): PutResult {
    const oid = hashBytes(buf);
    if (this.hasSync(oid, kind)) return { oid, size: buf.length, stored: false };
    this.objects.set(this.key(oid, kind), { bytes: Buffer.from(buf), mtimeMs: this.now() });
    return { oid, size: buf.length, stored: true };
  }
  async putFile(src: string, kind: ObjectKind, o: { onBytes?: (n: number) => void } = {}): Promise<PutResult> {
    const buf = await fsp.readFile(src);
    o.onBytes?.(buf.length);
    return this.put(buf, kind);
  }
  putFileSync(src: string, _size: number, kind: ObjectKind): PutResult {
    return this.put(readFileSync(src), kind);
  }
  async putBytes(data: Buffer | string, kind: ObjectKind): Promise<Oid> {
    return this.put(typeof data === 'string' ? Buffer.from(data) : data, kind).oid;
  }
  putBytesSync(data: Buffer, kind: ObjectKind): Oid {
    return this.put(data, kind).oid;
  }
  async putStream(expected: Oid, kind: ObjectKind, body: Readable | NodeJS.ReadableStream, what: string, onBytes?: (n: number) => void): Promise<number> {
    const parts: Buffer[] = [];
    for await (const c of body as AsyncIterable<Buffer>) {
      parts.push(c);
      onBytes?.(c.length);
    }
    const buf = Buffer.concat(parts);
    const got = hashBytes(buf);
    if (got !== expected) throw new TroveError('INTEGRITY', `${what}: content does not match its name (expected ${expected}, got ${got})`, 'nothing was inserted into the cache');
    this.put(buf, kind);
    return buf.length;
  }

  async *list(): AsyncIterable<ObjectInfo> {
    const all = [...this.objects].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [k, e] of all) {
      const i = k.indexOf(':');
      yield { kind: k.slice(0, i) as ObjectKind, oid: k.slice(i + 1) as Oid, size: e.bytes.length, mtimeMs: e.mtimeMs };
    }
  }
  async delete(refs: ObjectRef[]): Promise<void> {
    for (const r of refs) {
      this.gen++;
      this.treeMemo.delete(r.oid);
      this.objects.delete(this.key(r.oid, r.kind));
    }
  }
  async quarantine(oid: Oid, kind: ObjectKind): Promise<string> {
    await this.delete([{ oid, kind }]);
    return `(memory quarantine)/${kind}-${oid}`;
  }

  async materialize(oid: Oid, dest: string, _mode: LinkMode, exec: boolean): Promise<LinkMode> {
    return this.materializeSync(oid, dest, 'copy', exec, false);
  }
  materializeSync(oid: Oid, dest: string, _mode: LinkMode, exec: boolean, _fresh: boolean): LinkMode {
    const buf = this.get(oid, 'blob', dest);
    const tmp = tempBeside(dest);
    writeFileSync(tmp, buf, { mode: exec ? 0o755 : 0o644 });
    renameSync(tmp, dest);
    return 'copy';
  }
  linkedBlob(): Oid | null {
    return null;
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
    if (!st) this.get(oid, kind, oid);
    return [{ oid, kind, size: st!.size }];
  }

  generation(): string {
    return String(this.gen);
  }
  async removals<T>(fn: () => Promise<T>): Promise<T> {
    this.gen++;
    try {
      return await fn();
    } finally {
      this.gen++;
    }
  }
  async syncToDisk(): Promise<void> {}
  async tempPath(): Promise<string> {
    return tempIn(this.tmpDir, 'mem');
  }
  async cleanStaleTemp(): Promise<number> {
    return 0;
  }
  async countTemp(): Promise<number> {
    return 0;
  }
}
