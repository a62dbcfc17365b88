/**
 * The gear pass of the chunker (chunker.ts) as a few WebAssembly instructions, for the parallel
 * pipeline, where the gear pass is the longest of the three passes over a big file's bytes.
 *
 * Measured on the 2-core Xeon (1 GiB of random bytes): the JavaScript loop in `Cutter.scan` ≈ 0.9–1.1 s
 * per GiB hashed, this loop ≈ 0.72 s, about what the loop's dependency chain allows (`h << 1` then `+`:
 * two cycles a byte); unrolling to 4 bytes a word or 2-byte steps measured no faster.
 *
 * `WasmCutter` is `Cutter` with the same state machine and the same cuts (test/unit/gearWasm.test.ts
 * checks them against `Cutter` on random data in random pieces), but over bytes that live in a shared
 * WebAssembly memory: the pipeline reads the file straight into that memory, so nothing is copied.
 *
 * The module, written out by hand (no toolchain needed), exports `gear(p, stop, h, mask) -> i32`:
 *   while (p < stop) { h = (h << 1) + table[mem[p]]; p++; if ((h & mask) == 0) { g = h; return p } }
 *   g = h; return -1
 * where `table` is the gear table at address 0 (256 × i32, little-endian) and `g` an exported global
 * that carries `h` out.
 */
import { gearTable, validateParams, type ChunkerParams } from './chunker.js';

/** WebAssembly pages are 64 KiB; the table lives in the first page, data from the second on. */
export const WASM_PAGE = 1 << 16;
export const DATA_START = WASM_PAGE;

const L = (i: number) => [0x20, i]; // local.get
const S = (i: number) => [0x21, i]; // local.set
const C = (v: number) => [0x41, v & 0x7f]; // i32.const, for -64 ≤ v ≤ 63
const [P, STOP, H, MASK] = [0, 1, 2, 3];

const BODY = [
  0x00, // no locals beyond the four parameters
  0x02, 0x40, 0x03, 0x40, // block, loop
  ...L(P), ...L(STOP), 0x4f, 0x0d, 0x01, // if p >= stop (unsigned): leave the block
  ...L(H), ...C(1), 0x74, // h << 1
  ...L(P), 0x2d, 0x00, 0x00, ...C(2), 0x74, 0x28, 0x02, 0x00, // table[mem[p]] (load8_u, << 2, load)
  0x6a, ...S(H), // h = (h << 1) + table[…]
  ...L(P), ...C(1), 0x6a, ...S(P), // p++
  ...L(H), ...L(MASK), 0x71, 0x45, // (h & mask) == 0
  0x04, 0x40, ...L(H), 0x24, 0x00, ...L(P), 0x0f, 0x0b, // if: g = h; return p
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end loop; end block
  ...L(H), 0x24, 0x00, ...C(-1), 0x0b, // g = h; return -1
];

function leb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const section = (id: number, content: number[]) => [id, ...leb(content.length), ...content];
const name = (s: string) => [s.length, ...Buffer.from(s, 'latin1')];

const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
  ...section(1, [1, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f]), // type: (i32 × 4) -> i32
  ...section(2, [1, ...name('env'), ...name('mem'), 0x02, 0x03, 0x01, ...leb(65536)]), // import shared memory, 1..65536 pages
  ...section(3, [1, 0]), // one function of type 0
  ...section(6, [1, 0x7f, 0x01, 0x41, 0x00, 0x0b]), // global g: mut i32 = 0
  ...section(7, [2, ...name('gear'), 0x00, 0x00, ...name('h'), 0x03, 0x00]), // exports
  ...section(10, [1, ...leb(BODY.length), ...BODY]),
]);

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null where WebAssembly (or shared memory) is not available (e.g. --jitless). */
function gearModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    compiled = new WebAssembly.Module(MODULE);
  } catch {
    compiled = null;
  }
  return compiled;
}

export interface GearMemory {
  /** the shared memory; bytes to cut go at DATA_START and after */
  memory: WebAssembly.Memory;
  /** its bytes (a view of a SharedArrayBuffer, which worker threads can share) */
  buffer: SharedArrayBuffer;
}

/**
 * A shared memory with `dataBytes` bytes of room from DATA_START, holding the gear table, or null
 * where WebAssembly is not available (the caller then uses `Cutter` over a plain SharedArrayBuffer).
 */
export function gearMemory(dataBytes: number): GearMemory | null {
  if (!gearModule()) return null;
  const pages = 1 + Math.ceil(dataBytes / WASM_PAGE);
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    return null;
  }
  const buffer = memory.buffer as unknown as SharedArrayBuffer;
  const table = new DataView(buffer, 0, 1024);
  const gear = gearTable();
  for (let i = 0; i < 256; i++) table.setUint32(i * 4, gear[i], true);
  return { memory, buffer };
}

/**
 * `Cutter` over bytes in a gear memory: `scan(base, start, end)` consumes the bytes at addresses
 * `base + start` to `base + end` and returns what `Cutter.scan` returns for the same piece (an index
 * relative to `base`, or -1).
 */
export class WasmCutter {
  private readonly maskS: number;
  private readonly maskL: number;
  private readonly gear: (p: number, stop: number, h: number, mask: number) => number;
  private readonly g: WebAssembly.Global;
  private pos = 0;
  private h = 0;

  constructor(mem: GearMemory, private readonly p: ChunkerParams) {
    ({ maskS: this.maskS, maskL: this.maskL } = validateParams(p));
    const mod = gearModule();
    if (!mod) throw new Error('WebAssembly is not available');
    const inst = new WebAssembly.Instance(mod, { env: { mem: mem.memory } });
    this.gear = inst.exports.gear as (p: number, stop: number, h: number, mask: number) => number;
    this.g = inst.exports.h as WebAssembly.Global;
  }

  get pending(): number {
    return this.pos;
  }

  scan(base: number, start: number, end: number): number {
    const { minSize, avgSize, maxSize } = this.p;
    const b = this.pos - start; // the byte at index i is byte (b + i) of the chunk
    let i = start;
    if (b + i < minSize) i = Math.min(end, minSize - b); // cut-point skipping: not hashed
    if (b + i === maxSize) return this.cut(i);
    let h = this.h;
    const stopS = Math.min(end, avgSize - b);
    if (i < stopS) {
      const r = this.gear(base + i, base + stopS, h, this.maskS);
      h = this.g.value as number;
      if (r >= 0) return this.cut(r - base);
      i = stopS;
    }
    const stopL = Math.min(end, maxSize - b);
    if (i < stopL) {
      const r = this.gear(base + i, base + stopL, h, this.maskL);
      h = this.g.value as number;
      if (r >= 0) return this.cut(r - base);
      i = stopL;
    }
    if (b + i === maxSize) return this.cut(i);
    this.h = h;
    this.pos = b + end;
    return -1;
  }

  private cut(at: number): number {
    this.pos = 0;
    this.h = 0;
    return at;
  }
}
