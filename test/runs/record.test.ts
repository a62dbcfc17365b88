import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import {
  applyEvents, effectiveStatus, newRunRecord, parseRunRecord, RUN_LIMITS, serializeRunRecord, ulid, ulidTime, ULID_RE,
  type RunRecord,
} from '../../src/core/runs/record.js';

const OID = (c: string) => `sha256:${c.repeat(64)}`;

function sample(): RunRecord {
  return newRunRecord({
    id: '01JD3Z8Q4X6E0T8V5C1N2K7M9R',
    name: 'train',
    command: ['python', 'train.py'],
    start: '2026-01-02T03:04:05.678Z',
    user: 'ana',
    host: 'box',
    pid: 1234,
    git: { commit: 'a'.repeat(40), branch: 'main', dirty: false, diffOid: null },
    params: { lr: '0.1' },
    metrics: { acc: [{ value: 0.9, step: 0, ts: 1 }] },
    tags: { stage: 'dev' },
    inputs: [{ path: 'data/train.csv', oid: OID('a'), type: 'file', size: 10, files: 1, role: 'train' }],
    outputs: [
      { path: 'models/model.bin', oid: OID('b'), type: 'file', size: 20, files: 1 },
      { path: 'models/missing.bin', oid: null, produced: false },
    ],
  });
}
const SRC = 'runs/01JD3Z8Q4X6E0T8V5C1N2K7M9R.json';

function expectBadRun(fn: () => unknown, field?: string) {
  try {
    fn();
  } catch (err) {
    expect(isTroveError(err, 'BAD_RUN')).toBe(true);
    if (field !== undefined) expect((err as { data: { field: string } }).data.field).toBe(field);
    return err as Error;
  }
  throw new Error('expected BAD_RUN');
}

describe('ulid', () => {
  it('makes 26-char Crockford ids that sort by time and are monotonic within a ms', () => {
    const ids = Array.from({ length: 1000 }, () => ulid(1_767_225_600_000));
    for (const id of ids) expect(id).toMatch(ULID_RE);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ulidTime(ids[0]!)).toBe(1_767_225_600_000);
    const later = ulid(1_767_225_600_001);
    expect(later > ids.at(-1)!).toBe(true);
    expect(ulidTime(later)).toBe(1_767_225_600_001);
  });
  it('stays increasing when the clock steps back', () => {
    const a = ulid(1_800_000_000_000);
    const b = ulid(1_700_000_000_000);
    expect(b > a).toBe(true);
  });
});

describe('parseRunRecord / serializeRunRecord', () => {
  it('round-trips to identical bytes with a stable key order', () => {
    const text = serializeRunRecord(sample());
    const parsed = parseRunRecord(text, SRC);
    expect(serializeRunRecord(parsed)).toBe(text);
    expect(text.endsWith('}\n')).toBe(true);
    expect(Object.keys(JSON.parse(text))).toEqual([
      'schema', 'id', 'name', 'experiment', 'status', 'start', 'end', 'command', 'exitCode', 'user', 'host',
      'pid', 'git', 'params', 'metrics', 'tags', 'inputs', 'outputs',
    ]);
    // map keys sorted whatever the insertion order
    const r = sample();
    r.params = { z: '1', a: '2' };
    expect(Object.keys(JSON.parse(serializeRunRecord(r)).params)).toEqual(['a', 'z']);
  });

  const mutate = (f: (r: any) => void) => {
    const r = JSON.parse(serializeRunRecord(sample()));
    f(r);
    return JSON.stringify(r);
  };

  it.each([
    ['bad id', (r: any) => { r.id = 'not-a-ulid'; }, 'id'],
    ['id with I (not Crockford)', (r: any) => { r.id = '01JD3Z8Q4X6E0T8V5C1N2K7M9I'; }, 'id'],
    ['absolute input path', (r: any) => { r.inputs[0].path = '/etc/passwd'; }, 'inputs[0].path'],
    ['../ input path', (r: any) => { r.inputs[0].path = '../outside'; }, 'inputs[0].path'],
    ['.. inside the path', (r: any) => { r.outputs[0].path = 'a/../../b'; }, 'outputs[0].path'],
    ['backslash path', (r: any) => { r.inputs[0].path = 'a\\b'; }, 'inputs[0].path'],
    ['NUL in path', (r: any) => { r.inputs[0].path = 'a\0b'; }, 'inputs[0].path'],
    ['drive letter path', (r: any) => { r.inputs[0].path = 'C:/x'; }, 'inputs[0].path'],
    ['unnormalized path', (r: any) => { r.inputs[0].path = 'a//b'; }, 'inputs[0].path'],
    ['short oid', (r: any) => { r.inputs[0].oid = 'sha256:abc'; }, 'inputs[0].oid'],
    ['uppercase oid', (r: any) => { r.inputs[0].oid = `sha256:${'A'.repeat(64)}`; }, 'inputs[0].oid'],
    ['md5 oid', (r: any) => { r.outputs[0].oid = `md5:${'a'.repeat(32)}`; }, 'outputs[0].oid'],
    ['bad status', (r: any) => { r.status = 'DONE'; }, 'status'],
    ['non-UTC start', (r: any) => { r.start = '2026-01-02T03:04:05+02:00'; }, 'start'],
    ['string exitCode', (r: any) => { r.exitCode = '0'; }, 'exitCode'],
    ['float exitCode', (r: any) => { r.exitCode = 1.5; }, 'exitCode'],
    ['number param', (r: any) => { r.params.lr = 0.1; }, 'params.lr'],
    ['metric value as string', (r: any) => { r.metrics.acc[0].value = '0.9'; }, 'metrics.acc[0].value'],
    ['command not an array', (r: any) => { r.command = 'rm -rf /'; }, 'command'],
    ['unknown field', (r: any) => { r.evil = 1; }, ''],
    ['output without oid but produced', (r: any) => { r.outputs[1].produced = true; }, 'outputs[1].produced'],
    ['schema 0', (r: any) => { r.schema = 0; }, 'schema'],
    ['schema from the future', (r: any) => { r.schema = 2; }, 'schema'],
    ['__proto__ tag', (r: any) => { r.tags = JSON.parse('{"__proto__":{"x":"1"}}'); }, 'tags.__proto__'],
    ['too many inputs', (r: any) => {
      r.inputs = Array.from({ length: RUN_LIMITS.inputs + 1 }, (_, i) => ({ path: `f${i}`, oid: OID('a'), type: 'file', size: 1 }));
    }, 'inputs'],
    ['too many metric points', (r: any) => {
      r.metrics.loss = Array.from({ length: RUN_LIMITS.metricPoints + 1 }, () => 0);
    }, 'metrics.loss'],
    ['problem without message', (r: any) => { r.problems = [{ source: 'x' }]; }, 'problems[0].message'],
    ['problem line 0', (r: any) => { r.problems = [{ source: 'x', line: 0, message: 'm' }]; }, 'problems[0].line'],
    ['problem with an extra key', (r: any) => { r.problems = [{ source: 'x', message: 'm', evil: 1 }]; }, 'problems[0]'],
    ['too many problems', (r: any) => {
      r.problems = Array.from({ length: RUN_LIMITS.problems + 1 }, () => ({ source: 'x', message: 'm' }));
    }, 'problems'],
    ['too many params', (r: any) => {
      r.params = Object.fromEntries(Array.from({ length: RUN_LIMITS.keys + 1 }, (_, i) => [`p${i}`, 'x']));
    }, 'params'],
  ])('rejects %s', (_name, f, field) => {
    const text = mutate(f);
    const err = expectBadRun(() => parseRunRecord(text, SRC), field === '' ? undefined : field);
    expect(err.message).toContain(SRC);
  });

  it('keeps problems through serialize and parse, and writes no key when there are none', () => {
    const rec = { ...sample(), problems: [{ source: '.trove/runs/x.events.jsonl', line: 3, message: 'not valid JSON' }, { source: 'model.bin', message: 'not written' }] };
    const text = serializeRunRecord(rec);
    expect(parseRunRecord(text, SRC).problems).toEqual(rec.problems);
    expect(serializeRunRecord(sample())).not.toContain('problems');
    expect(serializeRunRecord({ ...sample(), problems: [] })).toBe(serializeRunRecord(sample()));
  });

  it('rejects non-finite numbers (1e999 parses to Infinity)', () => {
    const text = serializeRunRecord(sample()).replace('"value": 0.9', '"value": 1e999');
    expectBadRun(() => parseRunRecord(text, SRC), 'metrics.acc[0].value');
  });
  it('rejects a file whose name does not match its id', () => {
    expectBadRun(() => parseRunRecord(serializeRunRecord(sample()), 'runs/01JD3Z8Q4X6E0T8V5C1N2K7M9S.json'), 'id');
  });
  it('rejects invalid JSON and non-objects', () => {
    expectBadRun(() => parseRunRecord('{"schema":', SRC));
    expectBadRun(() => parseRunRecord('[]', SRC));
  });
  it('returns maps without a prototype so keys like constructor are plain data', () => {
    const r = sample();
    r.params = { constructor: 'x' };
    const parsed = parseRunRecord(serializeRunRecord(r), SRC);
    expect(parsed.params.constructor).toBe('x');
    expect(parsed.tags.toString).toBeUndefined();
  });
});

describe('applyEvents', () => {
  const base = () => newRunRecord({ id: '01JD3Z8Q4X6E0T8V5C1N2K7M9R', command: ['x'] });
  const ev = (o: object) => JSON.stringify(o);

  it('records metric history with default steps, params, tags, inputs and outputs', () => {
    const { record, problems } = applyEvents(base(), [
      ev({ metric: 'loss', value: 0.9, ts: 5 }),
      ev({ metric: 'loss', value: 0.5 }),
      ev({ metric: 'loss', value: 0.4, step: 10 }),
      ev({ param: 'lr', value: 0.1 }),
      ev({ tag: 'stage', value: 'a' }),
      ev({ tag: 'stage', value: 'b' }),
      ev({ input: 'data/x.csv', oid: OID('c'), type: 'file', size: 3 }),
      ev({ output: 'out/m.bin', oid: OID('d'), type: 'file', size: 4 }),
      ev({ output: 'out/m.bin', oid: OID('e'), type: 'file', size: 5 }),
      '',
    ], { now: 42 });
    expect(problems).toEqual([]);
    expect(record.metrics.loss).toEqual([
      { value: 0.9, step: 0, ts: 5 }, { value: 0.5, step: 1, ts: 42 }, { value: 0.4, step: 10, ts: 42 },
    ]);
    expect(record.params.lr).toBe('0.1');
    expect(record.tags.stage).toBe('b');
    expect(record.inputs).toEqual([{ path: 'data/x.csv', oid: OID('c'), type: 'file', size: 3 }]);
    expect(record.outputs).toEqual([{ path: 'out/m.bin', oid: OID('e'), type: 'file', size: 5 }]);
    // the result is a valid record
    const text = serializeRunRecord(record);
    expect(serializeRunRecord(parseRunRecord(text, 'x.json'.replace('x', record.id)))).toBe(text);
  });

  it('reports bad lines by 1-based number and applies the rest', () => {
    const { record, problems } = applyEvents(base(), [
      ev({ metric: 'acc', value: 0.1 }),
      'not json',
      ev({ metric: 'acc', value: 'high' }),
      ev({ nothing: 1 }),
      ev({ metric: 'acc', param: 'x', value: 1 }),
      ev({ input: '../etc/passwd', oid: OID('a'), type: 'file', size: 1 }),
      '[1,2]',
      ev({ metric: 'acc', value: 0.2 }),
    ]);
    expect(problems.map((p) => p.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(record.metrics.acc!.map((p) => p.value)).toEqual([0.1, 0.2]);
    expect(record.inputs).toEqual([]);
  });

  it('keeps params write-once: same value fine, a different one is a problem', () => {
    const { record, problems } = applyEvents(base(), [
      ev({ param: 'lr', value: '0.1' }), ev({ param: 'lr', value: '0.1' }), ev({ param: 'lr', value: '0.2' }),
    ]);
    expect(record.params.lr).toBe('0.1');
    expect(problems).toHaveLength(1);
    expect(problems[0]!.line).toBe(3);
  });

  it('reports a truncated last line as a problem, not a failure', () => {
    const text = ev({ metric: 'a', value: 1 }) + '\n' + '{"metric":"a","val';
    const { record, problems } = applyEvents(base(), text.split('\n'));
    expect(record.metrics.a).toHaveLength(1);
    expect(problems).toEqual([{ line: 2, message: expect.stringContaining('truncated') }]);
  });

  it('keeps both writers lines when two processes interleave', () => {
    const lines: string[] = [];
    for (let i = 0; i < 50; i++) {
      lines.push(ev({ metric: 'w1', value: i }), ev({ metric: 'shared', value: i, step: i }));
      lines.push(ev({ metric: 'w2', value: -i }), ev({ metric: 'shared', value: 100 + i, step: i }));
    }
    const { record, problems } = applyEvents(base(), lines);
    expect(problems).toEqual([]);
    expect(record.metrics.w1).toHaveLength(50);
    expect(record.metrics.w2).toHaveLength(50);
    expect(record.metrics.shared).toHaveLength(100);
  });

  it('does not modify the record it was given', () => {
    const r = base();
    applyEvents(r, [ev({ metric: 'a', value: 1 }), ev({ param: 'p', value: 'v' })]);
    expect(r.metrics).toEqual({});
    expect(r.params).toEqual({});
  });

  it('treats the empty string after a final newline as nothing', () => {
    const text = ev({ metric: 'a', value: 1 }) + '\n' + ev({ metric: 'a', value: 2 }) + '\n';
    const { record, problems } = applyEvents(base(), text.split('\n'));
    expect(problems).toEqual([]);
    expect(record.metrics.a).toHaveLength(2);
  });

  it('reports an unparsable line in the middle as invalid, not truncated', () => {
    const { problems } = applyEvents(base(), ['{"metric":"a","val', ev({ metric: 'a', value: 1 })]);
    expect(problems).toEqual([{ line: 1, message: 'not valid JSON' }]);
  });

  it('caps distinct keys and handles large files', () => {
    const lines: string[] = [];
    for (let i = 0; i <= RUN_LIMITS.keys; i++) lines.push(ev({ tag: `t${i}`, value: 'x' }));
    for (let i = 0; i < 50_000; i++) lines.push(ev({ input: `data/f${i}`, oid: OID('a'), type: 'file', size: 1 }));
    const { record, problems } = applyEvents(base(), lines);
    expect(Object.keys(record.tags)).toHaveLength(RUN_LIMITS.keys);
    expect(problems.map((p) => p.line)).toEqual([RUN_LIMITS.keys + 1]);
    expect(record.inputs).toHaveLength(50_000);
  });

  it('skips events over the metric point limit', () => {
    const r = base();
    r.metrics.big = Array.from({ length: RUN_LIMITS.metricPoints }, (_, i) => ({ value: i, step: i, ts: 0 }));
    const { problems } = applyEvents(r, [ev({ metric: 'big', value: 1 })]);
    expect(problems).toHaveLength(1);
  });
});

describe('effectiveStatus', () => {
  const r = (o: Partial<RunRecord>) => newRunRecord({ command: ['x'], host: 'box', pid: 42, ...o });
  it.each([
    [{}, 'box', false, 'KILLED'],
    [{}, 'box', true, 'RUNNING'],
    [{}, 'other', false, 'RUNNING'], // another host's pid cannot be judged here
    [{ pid: null }, 'box', false, 'RUNNING'],
    [{ status: 'FINISHED' as const }, 'box', false, 'FINISHED'],
  ])('%j on %s alive=%s → %s', (o, host, alive, expected) => {
    expect(effectiveStatus(r(o), { host, isAlive: () => alive })).toBe(expected);
  });
});
