/**
 * The shared state of a ring of buffer slots that the main thread fills and hands to worker threads
 * (chunkPipeline.ts for chunked add, chunkAssemble.ts for chunked checkout): which slots are free, how many
 * users each slot still has, the first failure, and the one waiter that any event wakes.
 */
export class SlotRing {
  /** users still holding each slot (a write, a hash); the last release frees it */
  readonly refs: Int32Array;
  /** free slots, taken from the end (slot 0 first) */
  readonly free: number[];
  /** the first failure of a read, a write or a worker; later ones are dropped */
  failure: unknown = null;
  private wake: (() => void) | null = null;

  constructor(slots: number) {
    this.refs = new Int32Array(slots);
    this.free = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  }

  /** wakes the waiter, if one waits */
  readonly poke = (): void => {
    const w = this.wake;
    this.wake = null;
    w?.();
  };

  /** records the first failure and wakes the waiter */
  readonly fail = (err: unknown): void => {
    this.failure ??= err;
    this.poke();
  };

  /** one user of the slot is done; the last one frees it and wakes the waiter */
  readonly release = (slot: number): void => {
    if (--this.refs[slot] === 0) {
      this.free.push(slot);
      this.poke();
    }
  };

  /** waits for any event (a slot freed, a result, a failure) */
  readonly event = (): Promise<void> => new Promise<void>((r) => (this.wake = r));
}
