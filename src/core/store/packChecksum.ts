/**
 * A pack's checksum (the SHA-256 of every byte before its trailer, pack.ts) computed on a worker thread,
 * so that the main thread of an `add` only reads, hashes each object and writes. Measured on the
 * 20,000 × 16 KiB set: the running checksum was ~200 ms of add's ~1.3 s of main-thread CPU, the same
 * again as hashing the objects; restic uses both cores too.
 *
 * How: the writer tells the worker how far the file is written (`wrote`); the worker reads those bytes
 * back from the file (page cache) and folds them in. `digestSync` waits (Atomics.wait, at most a few
 * MiB behind) for the digest in shared memory. The bytes hashed are the bytes in the file, which is what
 * the checksum is about. Anything that goes wrong (no worker, a read error, a worker gone at process
 * exit) yields null, and the writer hashes the file itself: slower, never wrong.
 *
 * One worker per process, made on first use (a pack that stays under the 1 MiB write buffer never
 * starts it) and unref'd, so it never keeps a process alive.
 */
import { Worker } from 'node:worker_threads';

// CommonJS, evaluated in the worker: no file of its own to find next to the compiled module
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const jobs = new Map();
const buf = Buffer.allocUnsafe(1 << 20);
const settle = (j, state) => {
  if (j.fd >= 0) try { closeSync(j.fd); } catch {}
  Atomics.store(j.state, 0, state);
  Atomics.notify(j.state, 0);
};
parentPort.on('message', (m) => {
  let j = jobs.get(m.id);
  try {
    if (m.file !== undefined) {
      j = { fd: -1, hash: createHash('sha256'), at: 0, state: new Int32Array(m.shared, 0, 1), digest: new Uint8Array(m.shared, 4, 32) };
      jobs.set(m.id, j);
      j.fd = openSync(m.file, 'r');
    }
    if (!j) return;
    if (m.drop) { jobs.delete(m.id); return settle(j, 2); }
    while (j.at < m.upTo) {
      const n = readSync(j.fd, buf, 0, Math.min(buf.length, m.upTo - j.at), j.at);
      if (n === 0) throw new Error('short read');
      j.hash.update(n === buf.length ? buf : buf.subarray(0, n));
      j.at += n;
    }
    if (m.end) {
      jobs.delete(m.id);
      j.digest.set(j.hash.digest());
      settle(j, 1);
    }
  } catch {
    if (j) { jobs.delete(m.id); settle(j, 2); }
  }
});
`;

let worker: Worker | null | undefined;
let nextId = 0;

function theWorker(): Worker | null {
  if (worker !== undefined) return worker;
  try {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref();
    // a worker that dies (out of memory, terminated) leaves waiting jobs to their timeout, then to the fallback
    w.on('error', () => { if (worker === w) worker = null; });
    w.on('exit', () => { if (worker === w) worker = null; });
    worker = w;
  } catch {
    worker = null;
  }
  return worker;
}

/** How long digestSync waits for the worker before the caller hashes the file itself. */
const WAIT_MS = 10_000;
const TELL_EVERY = 4 << 20;

export class OffloadedChecksum {
  private readonly state: Int32Array;
  private readonly digest: Uint8Array;
  private over = false;

  private constructor(private readonly w: Worker, private readonly id: number, shared: SharedArrayBuffer) {
    this.state = new Int32Array(shared, 0, 1);
    this.digest = new Uint8Array(shared, 4, 32);
  }

  /** Starts checksumming `file` from its first byte; null when no worker can be had (hash inline then). */
  static start(file: string): OffloadedChecksum | null {
    const w = theWorker();
    if (!w) return null;
    const shared = new SharedArrayBuffer(36);
    const c = new OffloadedChecksum(w, nextId++, shared);
    try {
      w.postMessage({ id: c.id, file, shared, upTo: 0 });
    } catch {
      return null;
    }
    return c;
  }

  private told = 0;

  /**
   * The file's bytes [0, upTo) are written: the worker may fold them in. Told every 4 MiB, not at each
   * 1 MiB write: each message wakes the worker, and on a busy machine a wake-up shows up in the main
   * thread's profile; the worker is at most 4 MiB (~2 ms of hashing) behind when the digest is asked for.
   */
  wrote(upTo: number): void {
    if (this.over || upTo - this.told < TELL_EVERY) return;
    this.told = upTo;
    this.w.postMessage({ id: this.id, upTo });
  }

  /** The checksum of the file's bytes [0, total), or null (the caller then hashes them itself). */
  digestSync(total: number): Buffer | null {
    if (this.over) return null;
    this.over = true;
    this.w.postMessage({ id: this.id, upTo: total, end: true });
    const until = Date.now() + WAIT_MS;
    while (Atomics.load(this.state, 0) === 0) {
      const left = until - Date.now();
      if (left <= 0) return null;
      Atomics.wait(this.state, 0, 0, Math.min(left, 500));
    }
    return Atomics.load(this.state, 0) === 1 ? Buffer.from(this.digest) : null;
  }

  /** The pack is given up (or checksummed inline from now on): the worker forgets it and closes the file. */
  drop(): void {
    if (this.over) return;
    this.over = true;
    try { this.w.postMessage({ id: this.id, drop: true }); } catch { /* the worker is gone: nothing to drop */ }
  }
}
