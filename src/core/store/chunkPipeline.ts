/**
 * The parallel chunking pipeline for big files: the three passes over a file's bytes (the gear hash
 * that finds the cut points, each chunk's SHA-256, the whole file's SHA-256) run on three threads at
 * once over one read of the file, so a 2-core machine keeps both cores busy.
 *
 *   main thread     reads pieces into a ring of shared buffers, runs the gear pass (gearWasm.ts), sends
 *                   each piece to the whole-file worker and each chunk's segments to the chunk worker,
 *                   stores the new chunks (the bytes are still in the ring) when their digests return
 *   whole worker    SHA-256 of every piece, in file order
 *   chunk worker    SHA-256 of each chunk's segments, one digest per chunk, in chunk order
 *
 * Measured on a 1 GiB file (2-core Xeon, loaded), CPU of each thread: before, the main thread did the
 * gear pass and the chunk hashes (2.4 s) while the whole-file worker needed 0.8 s; now the main thread
 * needs 0.6 s (WebAssembly gear pass; 1.4 s with the JavaScript one), each hash worker ~0.7 s, so the
 * three passes spread over both cores.
 *
 * Memory: the ring (a SharedArrayBuffer of `slots` pieces, fixed: the file is never held whole); a slot
 * is reused once the whole-file worker is done with it and every chunk with bytes in it is hashed and,
 * when new, written. Messages carry slot numbers and offsets, never bytes.
 */
import type { FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { oidFromHex, type Oid } from '../oid.js';
import { Cutter, type ChunkerParams } from './chunker.js';
import { DATA_START, gearMemory, WasmCutter } from './gearWasm.js';
import type { ManifestEntry } from './manifest.js';
import { SlotRing } from './slotRing.js';

const PIECE = 1 << 20;

// The workers' code: CommonJS (eval workers are), no imports from trove. role 'whole': one message per
// piece [slot, len], answered [slot] once hashed; [-1] asks for the digest. role 'chunk': [slot, off,
// len, end] per segment; end = 1 closes the chunk and answers its digest.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const ring = new Uint8Array(workerData.sab, workerData.base);
const whole = workerData.role === 'whole';
let h = createHash('sha256');
parentPort.on('message', (m) => {
  if (whole) {
    if (m[0] < 0) { parentPort.postMessage(h.digest('hex')); return; }
    h.update(ring.subarray(m[0] * ${PIECE}, m[0] * ${PIECE} + m[1]));
    parentPort.postMessage(m[0]);
    return;
  }
  if (m[2] > 0) h.update(ring.subarray(m[0] * ${PIECE} + m[1], m[0] * ${PIECE} + m[1] + m[2]));
  if (m[3] === 1) { parentPort.postMessage(h.digest('hex')); h = createHash('sha256'); }
});
`;

export interface PipelineResult {
  /** hex SHA-256 of the whole file */
  wholeHex: string;
  size: number;
  /** the chunks in file order */
  entries: ManifestEntry[];
  /** chunks written (new) and their bytes */
  written: number;
  writtenBytes: number;
}

/**
 * Stores one chunk given as views of the ring (valid until the returned promise settles); resolves
 * to whether it wrote (false: it was there already).
 */
export type StoreChunk = (oid: Oid, segs: Buffer[], size: number) => Promise<boolean>;

export interface PipelineOptions {
  onBytes?: (n: number) => void;
  /** 'auto' (default): the WebAssembly gear pass where available; 'js': the Cutter (tests) */
  gear?: 'auto' | 'js';
}

interface OpenChunk {
  segs: Buffer[];
  slots: number[];
  size: number;
}

/**
 * Reads `fh` from its current position to the end, cutting, hashing and storing chunks (see the
 * header). Rejects with the first failure (a read, a write, a worker); the workers are gone either way.
 */
export async function chunkFileParallel(fh: FileHandle, params: ChunkerParams, store: StoreChunk, o: PipelineOptions = {}): Promise<PipelineResult> {
  const onBytes = o.onBytes;
  // the open chunk can span maxSize/PIECE + 1 slots; keep room for the read ahead and hashing lag
  const slots = Math.max(10, Math.ceil(params.maxSize / PIECE) + 6);
  // the ring lives in a shared WebAssembly memory, so that the gear pass (gearWasm.ts) runs over it
  // in place; without WebAssembly, a plain shared buffer and the JavaScript Cutter
  const mem = o.gear === 'js' ? null : gearMemory(slots * PIECE);
  const sab = mem ? mem.buffer : new SharedArrayBuffer(slots * PIECE);
  const base = mem ? DATA_START : 0;
  const view = (slot: number, off = 0, len = PIECE) => Buffer.from(sab, base + slot * PIECE + off, len);
  const execArgv: string[] = []; // a parent started with `--input-type=module` would make the eval'd source an ES module
  const wholeW = new Worker(WORKER_SOURCE, { eval: true, execArgv, workerData: { sab, base, role: 'whole' } });
  const chunkW = new Worker(WORKER_SOURCE, { eval: true, execArgv, workerData: { sab, base, role: 'chunk' } });

  const ring = new SlotRing(slots);
  const { refs, free, poke, fail, release, event } = ring;
  let finished = false;

  const entries: ManifestEntry[] = [];
  /** chunks cut and sent to the chunk worker, waiting for their digests (oldest first) */
  const hashing: OpenChunk[] = [];
  const storing = new Map<Oid, Promise<boolean>>();
  let pendingStores = 0;
  let written = 0;
  let writtenBytes = 0;
  let wholeHex: string | null = null;

  wholeW.on('message', (m: number | string) => {
    if (typeof m === 'string') {
      wholeHex = m;
      poke();
    } else release(m);
  });
  chunkW.on('message', (hex: string) => {
    const c = hashing.shift();
    if (!c) return fail(new Error('chunk worker answered a digest that no chunk waits for'));
    const oid = oidFromHex(hex);
    entries.push({ oid, size: c.size });
    // the same chunk twice in one file: store it once, release the second's slots when the first is stored
    const prior = storing.get(oid);
    const p = prior ?? store(oid, c.segs, c.size);
    if (!prior) storing.set(oid, p);
    pendingStores++;
    p.then((w) => {
      if (w && !prior) {
        written++;
        writtenBytes += c.size;
      }
    }, fail).finally(() => {
      for (const s of c.slots) release(s);
      pendingStores--;
      poke();
    });
  });
  for (const w of [wholeW, chunkW]) {
    w.on('error', fail);
    w.on('exit', (code) => {
      if (!finished) fail(new Error(`hash worker exited with code ${code}`));
    });
  }

  const wasm = mem ? new WasmCutter(mem, params) : null;
  const js = new Cutter(params);
  const cutter = wasm ?? js;
  let open: OpenChunk = { segs: [], slots: [], size: 0 };
  const addSegment = (slot: number, off: number, len: number, end: boolean) => {
    if (len > 0) {
      open.segs.push(view(slot, off, len));
      if (open.slots[open.slots.length - 1] !== slot) {
        open.slots.push(slot);
        refs[slot]++;
      }
      open.size += len;
    }
    chunkW.postMessage([slot, off, len, end ? 1 : 0]);
    if (end) {
      hashing.push(open);
      open = { segs: [], slots: [], size: 0 };
    }
  };

  const takeSlot = async (): Promise<number> => {
    while (free.length === 0 && !ring.failure) await event();
    if (ring.failure) throw ring.failure;
    return free.pop() as number;
  };
  const readSlot = async (slot: number): Promise<number> => {
    const buf = view(slot);
    let n = 0;
    while (n < PIECE) {
      const { bytesRead } = await fh.read(buf, n, PIECE - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return n;
  };

  let size = 0;
  let ahead: Promise<number> | null = null;
  try {
    let slot = await takeSlot();
    ahead = readSlot(slot);
    for (;;) {
      const n: number = await (ahead as Promise<number>);
      ahead = null;
      if (ring.failure) throw ring.failure;
      if (n === 0) {
        free.push(slot);
        break;
      }
      const cur = slot;
      // two references: the whole-file worker's, and this loop's until the gear pass below has added the
      // chunks' own (waiting for the next slot lets the whole worker's answer arrive before that)
      refs[cur] = 2;
      wholeW.postMessage([cur, n]);
      size += n;
      onBytes?.(n);
      // read the next piece while this one is cut (a read is a copy in the kernel, on a libuv thread)
      if (n === PIECE) {
        slot = await takeSlot();
        ahead = readSlot(slot);
      }
      const buf = view(cur, 0, n);
      const at = base + cur * PIECE;
      let i = 0;
      while (i < n) {
        const end = wasm ? wasm.scan(at, i, n) : js.scan(buf, i, n);
        addSegment(cur, i, (end < 0 ? n : end) - i, end >= 0);
        if (end < 0) break;
        i = end;
      }
      release(cur);
      if (n < PIECE) break; // the end of the file
    }
    if (cutter.pending > 0) addSegment(0, 0, 0, true);
    wholeW.postMessage([-1]);
    while ((wholeHex === null || hashing.length > 0 || pendingStores > 0) && !ring.failure) await event();
    if (ring.failure) throw ring.failure;
    return { wholeHex: wholeHex as unknown as string, size, entries, written, writtenBytes };
  } finally {
    finished = true;
    await ahead?.catch(() => {});
    // stores in flight read the ring: let them settle before returning (or rethrowing)
    while (pendingStores > 0) await event();
    await Promise.all([wholeW.terminate(), chunkW.terminate()]);
  }
}
