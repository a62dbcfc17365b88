import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import { compileFilter, likeMatcher, parseOrderBy, type RunView } from '../../src/core/runs/filter.js';

const run = (id: string, o: Partial<RunView>): RunView => ({
  id, name: id.toLowerCase(), experiment: 'Default', status: 'FINISHED', start: 1000, end: 2000,
  user: 'ana', host: 'box', exitCode: 0, params: {}, metrics: {}, tags: {}, ...o,
});

const RUNS: RunView[] = [
  run('A', { name: 'train-small', metrics: { acc: 0.95, loss: 0.1 }, params: { lr: '0.1', C: '1.0', opt: 'adam' },
    tags: { 'x.y': 'alpha', 'my tag': 'v1' }, start: Date.parse('2026-01-01T00:00:00Z') }),
  run('B', { name: 'train-big', metrics: { acc: 0.85 }, params: { lr: '0.01', C: '10', opt: 'sgd' },
    tags: { 'x.y': 'beta' }, user: 'bob' }),
  run('C', { name: 'Eval', status: 'FAILED', exitCode: 1, end: null, metrics: { 'my metric': 3 },
    params: { lr: 'auto', opt: 'Adam' }, experiment: 'exp2' }),
  run('D', { name: 'empty', status: 'RUNNING', exitCode: null, end: null }),
];

const ids = (expr: string) => RUNS.filter(compileFilter(expr)).map((r) => r.id).join('');

describe('compileFilter: valid expressions', () => {
  it.each([
    ['', 'ABCD'],
    ['   ', 'ABCD'],
    // MLflow's grammar
    ['metrics.acc > 0.9', 'A'],
    ['metrics.acc >= 0.85', 'AB'],
    ['metrics.acc < 0.9', 'B'],
    ['metrics.acc <= 0.85', 'B'],
    ['metrics.acc = 0.95', 'A'],
    ['metrics.acc != 0.95', 'B'], // C and D have no acc: missing fails even !=
    ["metrics.acc > 0.9 and params.C = '1.0'", 'A'],
    ["metrics.acc > 0.8 AND params.C = '10'", 'B'],
    ["params.opt = 'adam'", 'A'],
    ["params.opt ILIKE 'ADAM'", 'AC'],
    ["params.opt LIKE 'a%'", 'A'],
    ["params.opt LIKE 'A%'", 'C'],
    ["params.opt LIKE '_dam'", 'AC'],
    ["attributes.status = 'FAILED'", 'C'],
    ["attribute.status = 'FAILED'", 'C'],
    ["attr.status = 'FAILED'", 'C'],
    ["run.status != 'FAILED'", 'ABD'],
    ["status = 'RUNNING'", 'D'],
    ["tags.\"x.y\" LIKE '%a%'", 'AB'],
    ["tags.`x.y` = 'alpha'", 'A'],
    ["tags.x.y = 'beta'", 'B'],
    ["tag.`my tag` = 'v1'", 'A'],
    ['metrics.`my metric` = 3', 'C'],
    ['metric."my metric" >= 3', 'C'],
    ["run_name ILIKE 'train%'", 'AB'],
    ["attributes.run_name = 'eval'", ''],
    ["attributes.run_name = 'Eval'", 'C'],
    ["run_id = 'B'", 'B'],
    ["user_id = 'bob'", 'B'],
    ["host = 'box'", 'ABCD'],
    ["experiment = 'exp2'", 'C'],
    ["attributes.experiment = 'Default'", 'ABD'],
    ['exit_code = 1', 'C'],
    ['exit_code IS NULL', 'D'],
    ['end_time IS NULL', 'CD'],
    ['end_time IS NOT NULL', 'AB'],
    ["start_time > '2025-06-01'", 'A'],
    ['start_time < 5000', 'BCD'],
    ['created = 1000', 'BCD'],
    ['parameters.lr = \'0.1\'', 'A'],
    ['parameter.lr = "0.1"', 'A'],
    ["params.opt = 'it''s'", ''],
    // beyond MLflow
    ["params.opt = 'adam' OR params.opt = 'sgd'", 'AB'],
    ["params.opt = 'sgd' or metrics.acc > 0.9 and params.C = '10'", 'B'], // AND binds tighter
    ["(params.opt = 'sgd' or metrics.acc > 0.9) and params.C = '1.0'", 'A'],
    ['NOT metrics.acc > 0.9', 'BCD'],
    ['not not metrics.acc > 0.9', 'A'],
    ["NOT status = 'FINISHED' AND exit_code IS NOT NULL", 'C'],
    ["params.opt IN ('adam', 'sgd')", 'AB'],
    ["params.opt NOT IN ('adam')", 'BC'],
    ['metrics.acc IN (0.95, 0.5)', 'A'],
    ['metrics.acc NOT IN (0.95)', 'B'],
    ["status in ('FAILED','RUNNING')", 'CD'],
    ['metrics.acc IS NULL', 'CD'],
    ['params.lr IS NOT NULL', 'ABC'],
    ["tags.`x.y` NOT LIKE 'a%'", 'B'],
    ["params.opt not ilike 'adam'", 'B'],
    // params are strings, compared as strings (MLflow: no numbers, no < >)
    ["params.lr = '0.1'", 'A'],
    ["params.lr = '0.10'", ''],
    ["params.lr != '0.1'", 'BC'],
    ["params.lr IN ('0.01', '0.1')", 'AB'],
    // keywords in any case, no spaces needed around symbols
    ['metrics.acc>0.9 AnD metrics.loss<1', 'A'],
    ['metrics.acc > .9', 'A'],
    ['metrics.acc > 9e-1', 'A'],
    ['metrics.loss > -1', 'A'],
    ['  ( ( metrics.acc > 0.9 ) )  ', 'A'],
    // keys that look like Object.prototype members are plain data
    ["params.constructor IS NULL", 'ABCD'],
    ["tags.toString = 'x'", ''],
  ])('%s → %s', (expr, expected) => {
    expect(ids(expr)).toBe(expected);
  });
});

describe('compileFilter: errors point at the column', () => {
  it.each([
    ['foo.acc > 1', 1, 'unknown entity type'],
    ['metrics.acc > 1 and bogus.x = 2', 21, 'unknown entity type'],
    ["tags.x = 'abc", 10, 'unterminated'],
    ['tags.`x = 1', 6, 'unterminated'],
    ['metrics.acc >', 14, 'missing value'],
    ['metrics.acc', 12, 'operator'],
    ["metrics.acc LIKE '%1'", 13, 'LIKE'],
    ["metrics.acc ILIKE '%1'", 13, 'ILIKE'],
    ["exit_code like '1'", 11, 'LIKE'],
    ["metrics.acc > 'high'", 15, 'number'],
    ['metrics.acc > 1 extra', 17, 'unexpected'],
    ['metrics.acc > 1 metrics.b < 2', 17, 'unexpected'],
    ['metrics.acc > 1)', 16, 'unexpected'],
    ['(metrics.acc > 1', 17, "expected ')'"],
    ["params.opt IN ()", 16, 'empty IN'],
    ["params.opt IN 'a'", 15, "'('"],
    ["params.opt IN ('a' 'b')", 20, "','"],
    ["params.opt NOT 'a'", 16, 'after NOT'],
    ['metrics.acc IS 1', 16, 'NULL'],
    ['metrics. > 1', 9, 'missing key'],
    ['metrics > 1', 8, "'.'"],
    ["nosuch = 'x'", 1, 'unknown key'],
    ["attributes.nosuch = 'x'", 12, 'unknown attribute'],
    ['metrics.acc == 1', 13, '=='],
    ['metrics.acc <> 1', 13, '<>'],
    ['params.lr > 0.05', 11, 'string'],
    ["params.lr > '0.05'", 11, 'string'],
    ["tags.t <= 'a'", 8, 'string'],
    ["status >= 'A'", 8, 'string'],
    ['params.lr = 0.1', 13, 'quoted string'],
    ["params.lr IN ('a', 1)", 20, 'quoted string'],
    ["exit_code = '1'", 13, 'number'],
    ["user = 'bob'", 1, 'unknown key'],
    ["attributes.experiment_id = 'x'", 12, 'unknown attribute'],
    ["STATUS = 'x'", 1, 'case-sensitive'],
    ["Metrics.acc > 1", 1, 'entity type'],
    ['metrics.val-loss > 1', 12, 'quotes'],
    ['metrics.acc ~ 1', 13, 'operator'],
    ['metrics.acc > 1 and', 20, 'expected a key'],
    ['metrics.acc > 1 and and', 21, 'keyword'],
    ['metrics.acc > 1abc', 15, 'bad number'],
    ['metrics.acc > status', 15, 'quoted string'],
    ["params.x LIKE 5", 15, 'pattern'],
    ["start_time > 'yesterday'", 14, 'not a time'],
    ['metrics.acc > 1e999', 15, 'range'],
  ])('%s → column %i', (expr, column, words) => {
    try {
      compileFilter(expr);
    } catch (err) {
      expect(isTroveError(err, 'BAD_QUERY')).toBe(true);
      const e = err as { message: string; data: { column: number }; hint?: string };
      expect(e.data.column).toBe(column);
      expect(e.message).toContain(`at column ${column}`);
      expect(e.message.toLowerCase()).toContain(words.toLowerCase());
      expect(e.hint).toBeTruthy();
      return;
    }
    throw new Error(`expected BAD_QUERY for ${expr}`);
  });
});

describe('parseOrderBy', () => {
  const order = (expr: string) => [...RUNS].sort(parseOrderBy(expr)).map((r) => r.id).join('');
  it.each([
    ['', 'ABCD'], // A is newest; B, C, D start together so their ids decide
    ['metrics.acc DESC', 'AB' + 'CD'],
    ['metrics.acc', 'BA' + 'CD'], // missing sort last both ways
    ['metrics.acc asc', 'BACD'],
    ['params.lr', 'BAC' + 'D'], // numbers first (numerically), then strings, missing last
    ['params.lr DESC', 'CAB' + 'D'],
    ['status, metrics.acc DESC', 'CABD'],
    ['attributes.run_name', 'CDBA'], // code-unit order: 'Eval' < 'empty' < 'train-big' < 'train-small'
    ['end_time DESC, run_id DESC', 'BADC'], // C and D have no end: last, then by the second key
  ])('%s → %s', (expr, expected) => {
    expect(order(expr)).toBe(expected);
  });
  it('breaks ties by start time desc, then id', () => {
    const a = run('X2', { start: 5 });
    const b = run('X1', { start: 5 });
    const c = run('X3', { start: 9 });
    expect([a, b, c].sort(parseOrderBy('params.none')).map((r) => r.id)).toEqual(['X3', 'X1', 'X2']);
  });
  it.each([
    ['metrics.acc DESC metrics.b', 18],
    ['metrics.acc,', 13],
    ['foo.x', 1],
    ['metrics.acc sideways', 13],
  ])('rejects %s at column %i', (expr, column) => {
    try {
      parseOrderBy(expr);
    } catch (err) {
      expect(isTroveError(err, 'BAD_QUERY')).toBe(true);
      expect((err as { data: { column: number } }).data.column).toBe(column);
      return;
    }
    throw new Error('expected BAD_QUERY');
  });
});

describe('likeMatcher', () => {
  it.each([
    ['abc', 'abc', false, true],
    ['abc', 'ABC', false, false],
    ['abc', 'ABC', true, true],
    ['a%', 'a', false, true],
    ['%', '', false, true],
    ['_', '', false, false],
    ['a_c', 'abc', false, true],
    ['a_c', 'abbc', false, false],
    ['%b%', 'abc', false, true],
    ['%.%', 'abc', false, false], // regex characters are literal
    ['a.c', 'abc', false, false],
    ['(x)+', '(x)+', false, true],
    ['50\\%', '50%', false, true],
    ['50\\%', '500', false, false],
    ['a\\_c', 'a_c', false, true],
    ['a\\_c', 'abc', false, false],
    ['%a%b', 'xaxxb', false, true],
    ['%a%b', 'xaxxbx', false, false],
    ['_é_', 'aéb', false, true], // one character is one code point
    ['😀_', '😀x', false, true],
    ['line%', 'line1\nline2', false, true],
  ])('%s ~ %j (ci=%s) → %s', (pattern, text, ci, expected) => {
    expect(likeMatcher(pattern, ci)(text)).toBe(expected);
  });

  it('stays fast on patterns that make regexes backtrack', () => {
    const m = likeMatcher('%a%a%a%a%a%a%a%a%b', false);
    expect(m('a'.repeat(8000))).toBe(false);
  });
});
