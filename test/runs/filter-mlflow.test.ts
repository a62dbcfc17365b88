/**
 * The filter grammar against MLflow's published accept/reject cases (tests/utils/test_search_utils.py in
 * mlflow/mlflow, read for reference; the tables here are our own). Each accepted expression is run against
 * two runs chosen so that it matches exactly the ones listed; each rejected one must fail with BAD_QUERY
 * at the column of the token that MLflow objects to. A last table pins trove's documented extensions,
 * which MLflow rejects.
 */
import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import { compileFilter, parseOrderBy, type RunView } from '../../src/core/runs/filter.js';

const base = (id: string, o: Partial<RunView>): RunView => ({
  id, name: '', experiment: 'Default', status: 'FINISHED', start: 0, end: 1, user: 'user-id', host: 'h',
  exitCode: 0, params: {}, metrics: {}, tags: {}, ...o,
});

const P = base('P', {
  name: 'my run', status: 'RUNNING', start: 2000,
  metrics: { acc: 0.95, XYZ: 3, 'legit name': 0.3, 'X-Y-Z': 3, 'X//Y#$$@&Z': 3, rmse: 0.5, a: 0.2, 'accuracy.2.0': 6, 'spacey name': 6 },
  params: { m: 'LR', model: 'LinearRegression', 'cat dog': 'pets', model_class: 'LR', 'p.a.r.a.m': 'b', batch: '32' },
  tags: { version: 'commit-hash', source_name: 'a notebook', 't.a.g': 'a' },
});
const Q = base('Q', {
  name: 'other', start: 1000,
  metrics: { acc: 100, rmse: 2, a: 0.05 },
  params: { m: "L'Hosp", lr: '0.1', b: 'val' },
  tags: { a: 'x' },
});
const matches = (expr: string) => [P, Q].filter(compileFilter(expr)).map((r) => r.id).join('');

describe('MLflow filters that parse', () => {
  it.each([
    ['metric.acc >= 0.94', 'PQ'],
    ['metric.acc>=100', 'Q'],
    ["params.m!='tf'", 'PQ'],
    ['params."m"!="tf"', 'PQ'],
    ['metric."legit name" >= 0.243', 'P'],
    ['metrics.XYZ = 3', 'P'],
    ['params."cat dog" = "pets"', 'P'],
    ['metrics."X-Y-Z" = 3', 'P'],
    ['metrics."X//Y#$$@&Z" = 3', 'P'],
    ["params.model = 'LinearRegression'", 'P'],
    ["metrics.rmse < 1 and params.model_class = 'LR'", 'P'],
    ['', 'PQ'],
    ['`metric`.a >= 0.1', 'P'],
    ["`params`.batch = '32'", 'P'],
    ["tags.version = 'commit-hash'", 'P'],
    ["`tags`.source_name = 'a notebook'", 'P'],
    ['metrics."accuracy.2.0" > 5', 'P'],
    ['metrics.`spacey name` > 5', 'P'],
    ['params."p.a.r.a.m" != "a"', 'P'],
    ['tags."t.a.g" = "a"', 'P'],
    ['attribute.start_time >= 1234', 'P'],
    ["run.status = 'RUNNING'", 'P'],
    ['tags.version IS NULL', 'Q'],
    ['tags.version IS NOT NULL', 'P'],
    ['params.lr IS NULL', 'P'],
    ['params.lr IS NOT NULL', 'Q'],
    ["tags.a IS NULL AND params.b = 'val'", ''],
    ["tags.a IS NOT NULL AND params.b = 'val'", 'Q'],
    // quotes around values: single or double, the other kind inside is literal
    ["params.m = 'LR'", 'P'],
    ['params.m = "LR"', 'P'],
    ['params.m = "L\'Hosp"', 'Q'],
    // attribute names and their aliases
    ["run_name = 'my run'", 'P'],
    ["attributes.run_name = 'other'", 'Q'],
    ["`run name` = 'my run'", 'P'],
    ["`Run name` LIKE 'my%'", 'P'],
    ["`Run Name` ILIKE 'OTHER'", 'Q'],
    ["\"run name\" = 'other'", 'Q'],
    ["attributes.`Run name` = 'my run'", 'P'],
    ['attributes."Run Name" != \'my run\'', 'Q'],
    ['created > 1500', 'P'],
    ['Created <= 1500', 'Q'],
    ['attributes.end_time = 1', 'PQ'],
    ["attributes.user_id = 'user-id'", 'PQ'],
    ["attributes.run_id = 'Q'", 'Q'],
    ["run_id IN ('P', 'Q')", 'PQ'],
    ["status NOT IN ('RUNNING')", 'Q'],
    // keywords in any case
    ["params.m like 'L%' AnD metrics.acc > 1", 'Q'],
  ])('%s matches [%s]', (expr, expected) => {
    expect(matches(expr)).toBe(expected);
  });

  it('sorts by aliased and backquoted keys too', () => {
    expect([Q, P].sort(parseOrderBy('`Run name` DESC')).map((r) => r.id)).toEqual(['Q', 'P']);
    expect([P, Q].sort(parseOrderBy('`metrics`.acc')).map((r) => r.id)).toEqual(['P', 'Q']);
  });
});

/**
 * [expression, where the error points]: a string is the token the column must point at (its first
 * occurrence), a number is the column itself.
 */
type Reject = [string, string | number];

const REJECTED: Record<string, Reject[]> = {
  'one expression only': [
    ['metric.acc >= 0.94; metrics.rmse < 1', ';'],
    ["metrics.A > 0.1 NAND params.B = 'LR'", 'NAND'],
  ],
  'entity types': [
    ['m.acc >= 0.94', 1],
    ["p.model >= 'LR'", 1],
    ['attri.x != 1', 1],
    ['a.x != 1', 1],
    ['METRICS.acc > 1', 1],
    ["\"params\".x = 'a'", 1],
    ['`metrics.A > 0.1', 1],
    ['param`.A > 0.1', '`'],
    ['`dummy.A > 0.1', 1],
    ['dummy`.A > 0.1', 1],
  ],
  'attribute keys': [
    ['acc >= 0.94', 1],
    ["model >= 'LR'", 1],
    ['acc != 1.0', 1],
    ['foo is null', 1],
    ['attribute.start != 1', 'start'],
    ['attribute.experiment_id != 1', 'experiment_id'],
    ["attribute.lifecycle_stage = 'ACTIVE'", 'lifecycle_stage'],
    ['attribute.name != 1', 'name'],
    ['attribute.time != 1', 'time'],
    ["attribute._status != 'RUNNING'", '_status'],
    ["`RUN NAME` = 'x'", 1],
    ["Status = 'x'", 1],
  ],
  'value types': [
    ["metric.model = 'LR'", "'LR'"],
    ["metric.model = '5'", "'5'"],
    ['params.acc = 5', '5'],
    ['tags.acc = 5', '5'],
    ['metrics.acc != metrics.acc', 16],
    ['attribute.status = 1', '1'],
    ['attribute.status = true', 'true'],
    ["attribute.start_time = 'soon'", "'soon'"],
    ["params.x IN ('a', 2)", '2'],
  ],
  'not a comparison': [
    ['1.0 > metrics.acc', 1],
    ['1=1', 1],
    ['1==2', 1],
    ['params.acc LR !=', 'LR'],
    ['params.acc LR', 'LR'],
    ['metric.acc !=', 14],
    ["attribute.status IS 'RUNNING'", "'RUNNING'"],
    ["tags.acc = = 'LR'", 12],
  ],
  quotes: [
    ['params.acc = LR', 'LR'],
    ['tags.acc = LR', 'LR'],
    ['params.acc = `LR`', '`LR`'],
    ["params.'acc = LR", "'acc"],
    ["params.acc = 'LR", "'LR"],
    ["params.acc = LR'", 'LR'],
    ['params.acc = "LR\'', '"LR'],
    ['tags.acc = "LR\'', '"LR'],
    ['metrics.val-loss > 1', '-'],
  ],
  'comparators per type': [
    ['metrics.abc ~ 1.0', '~'],
    ['metrics.abc ~= 1.0', '~'],
    ['metrics.abc <> 1.0', '<>'],
    ["params.abc > 'my-param-value'", '>'],
    ["params.abc < 'my-param-value'", '<'],
    ["params.abc >= 'my-param-value'", '>='],
    ["params.abc <= 'my-param-value'", '<='],
    ["params.abc ~ 'my-param-value'", '~'],
    ["tags.abc > 'my-tag-value'", '>'],
    ["tags.abc < 'my-tag-value'", '<'],
    ["tags.abc >= 'my-tag-value'", '>='],
    ["tags.abc <= 'my-tag-value'", '<='],
    ["tags.abc ~ 'my-tag-value'", '~'],
    ["attributes.status > 'my-tag-value'", '>'],
    ["attributes.status < 'my-tag-value'", '<'],
    ["attributes.status >= 'my-tag-value'", '>='],
    ["attributes.status <= 'my-tag-value'", '<='],
    ["attributes.status ~ 'my-tag-value'", '~'],
    ["attributes.run_name > 'a'", '>'],
    ['attributes.start_time LIKE 1234', 'LIKE'],
    ['attributes.start_time ILIKE 1234', 'ILIKE'],
    ["metrics.acc LIKE '1%'", 'LIKE'],
  ],
};

describe('MLflow filters that are rejected, at the column', () => {
  for (const [group, cases] of Object.entries(REJECTED)) {
    it.each(cases)(`${group}: %s (at %s)`, (expr, at) => {
      const column = typeof at === 'number' ? at : expr.indexOf(at) + 1;
      expect(column).toBeGreaterThan(0);
      let caught: unknown;
      try {
        compileFilter(expr);
      } catch (err) {
        caught = err;
      }
      expect(isTroveError(caught, 'BAD_QUERY'), `expected BAD_QUERY for ${expr}`).toBe(true);
      const e = caught as { message: string; data: { column: number }; hint?: string };
      expect(e.data.column).toBe(column);
      expect(e.message).toMatch(new RegExp(`at column ${column}$`));
      expect(e.hint).toBeTruthy();
    });
  }
});

describe("trove's documented extensions (MLflow rejects these)", () => {
  it.each([
    ["metrics.A > 0.1 OR params.m = 'LR'", 'P'],
    ["metrics.acc > 0.1 AND (params.m = 'LR')", 'P'],
    ["(params.m = 'LR' OR params.m = 'tf') AND metrics.rmse > 1", ''],
    ["NOT params.m = 'LR'", 'Q'],
    ["params.m IN ('LR', 'tf')", 'P'],
    ["params.m NOT IN ('LR')", 'Q'],
    ["tags.version NOT LIKE 'commit%'", ''],
    ['metrics.XYZ IS NULL', 'Q'],
    ['attribute.status IS NOT NULL', 'PQ'],
    ['metrics.acc IN (100, 3)', 'Q'],
    ["start_time > '1970-01-01T00:00:01.500Z'", 'P'],
    ["experiment = 'Default' AND host = 'h' AND exit_code = 0", 'PQ'],
  ])('%s matches [%s]', (expr, expected) => {
    expect(matches(expr)).toBe(expected);
  });
});
