import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InlineHasher, WorkerHasher } from '../../src/core/store/wholeHasher.js';

describe('whole-file hasher', () => {
  it('the worker and the inline hasher give the SHA-256 of the pieces in order; whole pieces come back for reuse', async () => {
    const pieces = Array.from({ length: 40 }, (_, i) => {
      const b = Buffer.allocUnsafeSlow(1 << 20);
      randomBytes(1 << 20).copy(b);
      return i === 39 ? b.subarray(0, 12345) : b; // the last one a view: copied, not transferred
    });
    const want = createHash('sha256');
    for (const p of pieces) want.update(p);
    const hex = want.digest('hex');
    const copies = pieces.map((p) => Buffer.from(p));
    const back: ArrayBuffer[] = [];
    const w = new WorkerHasher((ab) => back.push(ab));
    for (const p of pieces) await w.update(p);
    expect(await w.digest()).toBe(hex);
    expect(back.filter((ab) => ab.byteLength === 1 << 20)).toHaveLength(39);
    expect(pieces[0].byteLength).toBe(0); // transferred: detached here, not copied
    const inline = new InlineHasher();
    for (const p of copies) await inline.update(p);
    expect(await inline.digest()).toBe(hex);
  });

  it('close before digest stops the worker (an add that failed half way)', async () => {
    const w = new WorkerHasher();
    await w.update(Buffer.from('partial'));
    await w.close();
    await w.close();
  });
});
