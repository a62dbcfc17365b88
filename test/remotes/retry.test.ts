/** The one retry policy: pure logic, no I/O. */
import { describe, expect, it } from 'vitest';
import { TroveError } from '../../src/core/errors.js';
import { exhausted, isRetryable, withRetry } from '../../src/remotes/retry.js';

const transient = () => new TroveError('REMOTE', '503', undefined, { retryable: true });

describe('retry policy', () => {
  it('retries exactly the errors the backend marked retryable, up to `attempts` in all', async () => {
    let calls = 0;
    await expect(withRetry(async () => { calls++; throw transient(); }, { attempts: 4, baseMs: 0 })).rejects.toMatchObject({ code: 'REMOTE' });
    expect(calls).toBe(4);

    calls = 0;
    const ok = await withRetry(async (i) => { calls++; if (i < 2) throw transient(); return 'done'; }, { attempts: 8, baseMs: 0 });
    expect([ok, calls]).toEqual(['done', 3]);

    // not marked: one attempt, whatever the code (a REMOTE 403 is as final as a NOT_FOUND)
    for (const err of [new TroveError('REMOTE', '403'), new TroveError('NOT_FOUND', 'x'), new TroveError('INTEGRITY', 'x'), new Error('bug')]) {
      calls = 0;
      await expect(withRetry(async () => { calls++; throw err; }, { attempts: 8, baseMs: 0 })).rejects.toBe(err);
      expect(calls).toBe(1);
    }
  });

  it('stops at once when the signal is aborted', async () => {
    const ac = new AbortController();
    let calls = 0;
    const p = withRetry(async () => { calls++; ac.abort(); throw transient(); }, { attempts: 8, baseMs: 0, signal: ac.signal });
    await expect(p).rejects.toMatchObject({ code: 'REMOTE' });
    expect(calls).toBe(1);
  });

  it('an exhausted error is no longer retryable, so an outer layer does not retry retries', async () => {
    const e = transient();
    expect(isRetryable(e)).toBe(true);
    const x = exhausted(e) as TroveError;
    expect(isRetryable(x)).toBe(false);
    expect([x.code, x.message]).toEqual([e.code, e.message]);
    let calls = 0;
    await expect(withRetry(async () => { calls++; throw exhausted(transient()); }, { attempts: 8, baseMs: 0 })).rejects.toMatchObject({ code: 'REMOTE' });
    expect(calls).toBe(1);
  });
});
