import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, sh, tempDir } from '../helpers/repo.js';

describe('examples/iris/run.sh (the README example)', () => {
  it('runs end to end and verifies the restored data', async () => {
    const tmp = tempDir('trove-example-');
    // TMPDIR: the script's own temp repo lands in a folder this test removes.
    const r = await sh('bash', [path.join(ROOT, 'examples/iris/run.sh')], tmp, { TMPDIR: tmp });
    if (r.code !== 0) console.error(r.stdout.slice(-4000), r.stderr.slice(-4000));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('example passed');
    expect(r.stdout).toMatch(/RUN\s+NAME\s+STATUS\s+STARTED\s+params\.epochs\s+params\.lr\s+metrics\.loss\s+metrics\.test_accuracy/);
    expect(r.stdout).toMatch(/models\/model\.bin \([0-9a-f]{12}\)\n└─ produced by run lr-0\.5-v2/);
  }, 60_000);
});
