/**
 * The SHA-256 of a whole file, computed beside the chunker: in a worker thread for big files (the
 * chunker's gear hash and the chunks' own SHA-256 keep the main thread busy; the whole-file hash on a
 * second core runs at the same time), inline for small ones (starting a worker costs ~30 ms).
 *
 * Pieces are handed over by transferring their ArrayBuffer (no copy): a piece given to `update` must
 * own its whole ArrayBuffer (`Buffer.allocUnsafeSlow`) and is unusable afterwards. In-flight bytes are
 * bounded (`update` waits when the worker is behind), so memory stays flat whatever the file size.
 */
import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

export interface WholeHasher {
  /**
   * Adds the next piece (in file order). The piece's ArrayBuffer may be detached by this call; once
   * hashed it comes back through `recycle` (given to the constructor), so the caller can read into
   * it again and no garbage piles up (1 GiB in fresh 1 MiB pieces made RSS grow by ~70 MB).
   */
  update(piece: Buffer): Promise<void>;
  /** The hex digest of everything added; the hasher is done afterwards. */
  digest(): Promise<string>;
  /** Stops early (an error elsewhere); safe to call twice or after digest. */
  close(): Promise<void>;
}

export type Recycle = (ab: ArrayBuffer) => void;

export class InlineHasher implements WholeHasher {
  private readonly h: Hash = createHash('sha256');
  constructor(private readonly recycle: Recycle = () => {}) {}
  async update(piece: Buffer): Promise<void> {
    this.h.update(piece);
    if (piece.buffer instanceof ArrayBuffer && piece.byteOffset === 0) this.recycle(piece.buffer);
  }
  async digest(): Promise<string> {
    return this.h.digest('hex');
  }
  async close(): Promise<void> {}
}

// The worker's code: CommonJS (eval workers are), a few lines, no imports from trove.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const h = require('node:crypto').createHash('sha256');
parentPort.on('message', (m) => {
  if (m === null) { parentPort.postMessage({ hex: h.digest('hex') }); return; }
  h.update(new Uint8Array(m.ab, 0, m.len));
  parentPort.postMessage({ done: m.len, ab: m.ab }, [m.ab]);
});
`;

/** No more than this many bytes wait for the worker (a few reads' worth). */
const MAX_IN_FLIGHT = 8 << 20;

export class WorkerHasher implements WholeHasher {
  // execArgv []: a parent started with `--input-type=module` would make the eval'd CommonJS source an ES module
  private readonly w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
  private inFlight = 0;
  private wake: (() => void) | null = null;
  private result: ((hex: string) => void) | null = null;
  private failure: Error | null = null;
  private closed = false;

  constructor(private readonly recycle: Recycle = () => {}) {
    this.w.on('message', (m: { done?: number; hex?: string; ab?: ArrayBuffer }) => {
      if (m.hex !== undefined) this.result?.(m.hex);
      else {
        this.inFlight -= m.done ?? 0;
        if (m.ab) this.recycle(m.ab);
      }
      this.wake?.();
    });
    this.w.on('error', (err) => this.fail(err));
    this.w.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`hash worker exited with code ${code}`));
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.wake?.();
    this.result?.('');
  }

  async update(piece: Buffer): Promise<void> {
    while (this.inFlight > MAX_IN_FLIGHT && !this.failure) await new Promise<void>((r) => (this.wake = r));
    this.wake = null;
    if (this.failure) throw this.failure;
    const whole = piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength && piece.buffer instanceof ArrayBuffer;
    const ab = whole ? (piece.buffer as ArrayBuffer) : piece.buffer.slice(piece.byteOffset, piece.byteOffset + piece.byteLength);
    this.inFlight += piece.byteLength;
    this.w.postMessage({ ab, len: piece.byteLength }, [ab as ArrayBuffer]);
  }

  async digest(): Promise<string> {
    if (this.failure) throw this.failure;
    const hex = await new Promise<string>((resolve) => {
      this.result = resolve;
      this.w.postMessage(null);
    });
    if (this.failure) throw this.failure;
    await this.close();
    return hex;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.w.terminate();
  }
}
