/**
 * The run search grammar: MLflow's `search_runs` filter and `order_by` syntax with MLflow's rules (the
 * cases of MLflow's tests/utils/test_search_utils.py are pinned in test/runs/filter-mlflow.test.ts),
 * plus trove's extensions: OR, NOT, parentheses, `IN`/`NOT IN`, `IS [NOT] NULL` and `NOT LIKE` on
 * every kind of key, and a quoted date for the time attributes.
 *
 * ```
 * expr       := or
 * or         := and ( OR and )*                       precedence: NOT > AND > OR
 * and        := not ( AND not )*
 * not        := NOT not | '(' expr ')' | comparison
 * comparison := ident op value
 *             | ident [NOT] ( LIKE | ILIKE ) string      SQL wildcards % and _, `\` escapes them
 *             | ident [NOT] IN '(' value ( ',' value )* ')'
 *             | ident IS [NOT] NULL
 * op         := = | != | > | >= | < | <=
 * ident      := entity '.' key | attribute | `attribute` | "attribute"
 * entity     := metric(s) | param(s) | parameter(s) | tag(s) | attribute(s) | attr | run, bare or `backquoted`
 * key        := [\p{L}\p{N}_.]+ | `backquoted` | "double quoted"
 * value      := number | 'single quoted' | "double quoted"  (a quote inside is doubled: 'it''s')
 * ```
 * Keywords are case-insensitive; entity types and attribute names are not (as in MLflow). Attributes:
 * run_id, run_name (also `run name`, `Run name`, `Run Name`), status, user_id, start_time (created,
 * Created), end_time; trove's own: experiment, host, exit_code.
 *
 * Type rules (MLflow's):
 * - Metrics, exit_code, start_time and end_time are numbers: `=`, `!=`, `<`, `<=`, `>`, `>=` (and IN,
 *   IS NULL) against a number literal. LIKE, or a quoted value, is an error (except a quoted date for the
 *   times, an extension: `start_time > '2026-01-01'`). Times are ms since the epoch.
 * - Params, tags and the other attributes are strings: `=`, `!=`, LIKE, ILIKE (and IN, IS NULL) against
 *   a quoted string. `<`, `>` … on them, or an unquoted number, is an error.
 * - A run without the key fails every comparison except `IS NULL` (even `!=` and `NOT IN`), as in SQL.
 * - An empty expression matches every run.
 */
import { TroveError } from '../errors.js';

/** What the filter and the sort see of a run. Times are ms since the epoch. */
export interface RunView {
  id: string;
  name: string;
  experiment: string;
  status: string;
  start: number;
  end: number | null;
  user: string;
  host: string;
  exitCode: number | null;
  params: Record<string, string>;
  metrics: Record<string, number>;
  tags: Record<string, string>;
}

type Kind = 'metric' | 'param' | 'tag' | 'attr';
type ValueType = 'number' | 'time' | 'string';

/** A parsed key such as `metrics.acc` or `run_name`. */
export interface Identifier {
  kind: Kind;
  /** For an attribute: the RunView property. */
  key: string;
  type: ValueType;
  /** As the user wrote it, for messages: `params.lr`, `run_name`. */
  name: string;
  column: number;
}

/** Entity types, as MLflow spells them (case-sensitive). */
const PREFIXES: Record<string, Kind> = {
  metric: 'metric', metrics: 'metric',
  param: 'param', params: 'param', parameter: 'param', parameters: 'param',
  tag: 'tag', tags: 'tag',
  attribute: 'attr', attributes: 'attr', attr: 'attr', run: 'attr',
};

/**
 * Attribute names, exactly as MLflow spells them (case-sensitive), plus trove's own fields that MLflow's
 * runs do not have (experiment, host, exit_code). MLflow's `artifact_uri` and `lifecycle_stage` have no
 * counterpart in a trove record and are unknown here.
 */
const ATTRS: Record<string, { key: keyof RunView; type: ValueType }> = {
  run_id: { key: 'id', type: 'string' },
  run_name: { key: 'name', type: 'string' },
  'run name': { key: 'name', type: 'string' },
  'Run name': { key: 'name', type: 'string' },
  'Run Name': { key: 'name', type: 'string' },
  status: { key: 'status', type: 'string' },
  user_id: { key: 'user', type: 'string' },
  start_time: { key: 'start', type: 'time' },
  created: { key: 'start', type: 'time' },
  Created: { key: 'start', type: 'time' },
  end_time: { key: 'end', type: 'time' },
  // trove's extensions
  experiment: { key: 'experiment', type: 'string' },
  host: { key: 'host', type: 'string' },
  exit_code: { key: 'exitCode', type: 'number' },
};

const KEYWORDS = new Set(['and', 'or', 'not', 'like', 'ilike', 'in', 'is', 'null', 'asc', 'desc']);
const NUMBER_RE = /[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/y;
const WORD_RE = /[A-Za-z_][A-Za-z0-9_]*/y;
const KEY_RE = /[\p{L}\p{N}_.]+/uy;
const DECIMAL_RE = /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/;

const SYNTAX_HINT = "e.g. metrics.acc > 0.9 AND params.C = '1.0'";

function queryError(column: number, message: string, hint = SYNTAX_HINT): TroveError {
  return new TroveError('BAD_QUERY', `${message} at column ${column}`, hint, { data: { column } });
}

type Value = { type: 'number'; n: number; text: string; column: number } | { type: 'string'; s: string; column: number };

/** A hand-written scanner over the expression; columns are 1-based. */
class Scanner {
  pos = 0;
  constructor(readonly src: string) {}

  get column(): number { return this.pos + 1; }
  skipWs(): void { while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++; }
  atEnd(): boolean { this.skipWs(); return this.pos >= this.src.length; }
  peekChar(): string | undefined { this.skipWs(); return this.src[this.pos]; }

  match(re: RegExp): string | null {
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    if (!m) return null;
    this.pos += m[0].length;
    return m[0];
  }

  /** The next word if it is `kw` (case-insensitive), consuming it. */
  keyword(...kws: string[]): string | null {
    this.skipWs();
    const save = this.pos;
    const w = this.match(WORD_RE);
    if (w && kws.includes(w.toLowerCase())) return w.toLowerCase();
    this.pos = save;
    return null;
  }

  /** A quoted string starting at the current position (quote char included), doubled quotes escape. */
  quoted(): string {
    const q = this.src[this.pos]!;
    const start = this.pos;
    let out = '';
    this.pos++;
    for (;;) {
      const i = this.src.indexOf(q, this.pos);
      if (i < 0) {
        this.pos = start;
        throw queryError(start + 1, `unterminated string starting with ${q}`, `close it with a matching ${q}`);
      }
      out += this.src.slice(this.pos, i);
      this.pos = i + 1;
      if (this.src[this.pos] === q) { out += q; this.pos++; continue; }
      return out;
    }
  }

  /** What is at the current position, for messages. */
  describe(): string {
    this.skipWs();
    if (this.pos >= this.src.length) return 'end of filter';
    const w = this.src.slice(this.pos).match(/^(\S{1,20})/);
    return `'${w ? w[1] : this.src[this.pos]}'`;
  }
}

/** A key or entity name at the current position: bare, `backquoted` or (where allowed) "double quoted". */
function identPart(sc: Scanner, bare: RegExp, allowDouble: boolean): { text: string; quoted: '`' | '"' | null } | null {
  const c = sc.src[sc.pos];
  if (c === '`' || (allowDouble && c === '"')) return { text: sc.quoted(), quoted: c };
  const w = sc.match(bare);
  return w === null ? null : { text: w, quoted: null };
}

/** Characters that MLflow reads as operators inside a bare key, so such a key must be quoted. */
const NEEDS_QUOTES_RE = /[-/:@#$%&*+]/;

function attributeFor(sc: Scanner, name: string, column: number): Identifier {
  const attr = Object.hasOwn(ATTRS, name) ? ATTRS[name]! : undefined;
  if (attr) return { kind: 'attr', key: attr.key, type: attr.type, name: /\s/.test(name) ? `\`${name}\`` : name, column };
  const folded = Object.keys(ATTRS).find((k) => k.toLowerCase() === name.toLowerCase());
  if (folded) {
    const spelled = /\s/.test(folded) ? `\`${folded}\`` : folded;
    throw queryError(column, `unknown attribute '${name}' (names are case-sensitive)`, `did you mean ${spelled}?`);
  }
  throw queryError(column, `unknown attribute '${name}'`,
    `attributes: ${Object.keys(ATTRS).filter((k) => !/\s|^Created$/.test(k)).join(', ')}, \`run name\`; or metrics.x, params.x, tags.x`);
}

/**
 * An identifier, by MLflow's rules: `entity.key` where the entity is one of PREFIXES, bare or in
 * backquotes (`` `params`.lr ``), and the key is bare (`[\w.]+`), `backquoted` or "double quoted";
 * or a lone attribute (`status`, `` `run name` ``, `"Run Name"`). Names are case-sensitive, as in MLflow.
 */
function parseIdent(sc: Scanner): Identifier {
  sc.skipWs();
  const column = sc.column;
  const head = identPart(sc, WORD_RE, true);
  if (!head) {
    throw queryError(column, `expected a key such as metrics.x, params.x, tags.x or an attribute, found ${sc.describe()}`);
  }
  if (sc.src[sc.pos] === '.') {
    if (head.quoted === '"') {
      throw queryError(column, `"${head.text}" cannot name an entity type (only \`backquotes\` can)`, `write \`${head.text}\`.key or ${head.text}.key`);
    }
    const kind = Object.hasOwn(PREFIXES, head.text) ? PREFIXES[head.text] : undefined;
    if (!kind) {
      const lower = PREFIXES[head.text.toLowerCase()];
      throw queryError(column, `unknown entity type '${head.text}'`,
        lower ? `entity types are lower case: ${head.text.toLowerCase()}.` : 'use metrics., params., tags. or attributes.');
    }
    sc.pos++;
    const keyColumn = sc.column;
    const key = identPart(sc, KEY_RE, true);
    if (!key) throw queryError(keyColumn, `missing key after '${head.text}.'`, 'quote keys with spaces or symbols: tags.`my key`');
    if (key.quoted === null && NEEDS_QUOTES_RE.test(sc.src[sc.pos] ?? '')) {
      throw queryError(sc.column, `'${sc.src[sc.pos]}' in a key needs quotes`, `write ${head.text}.\`${key.text}${sc.src.slice(sc.pos).match(/^[^\s=!<>]*/)![0]}\``);
    }
    if (key.quoted === null && key.text.endsWith('.')) {
      throw queryError(sc.column - 1, `key '${key.text}' ends with '.'`, 'quote keys with dots at the ends: tags.`x.`');
    }
    if (kind === 'attr') return attributeFor(sc, key.text, keyColumn);
    return { kind, key: key.text, type: kind === 'metric' ? 'number' : 'string', name: sc.src.slice(column - 1, sc.pos), column };
  }
  if (head.quoted === null && Object.hasOwn(PREFIXES, head.text)) throw queryError(sc.column, `expected '.' and a key after '${head.text}'`);
  if (head.quoted === null && KEYWORDS.has(head.text.toLowerCase())) {
    throw queryError(column, `expected a key, found the keyword ${head.text.toUpperCase()}`);
  }
  if (head.quoted === null && !Object.hasOwn(ATTRS, head.text) && !Object.keys(ATTRS).some((k) => k.toLowerCase() === head.text.toLowerCase())) {
    throw queryError(column, `unknown key '${head.text}'`, 'use metrics.x, params.x, tags.x, or an attribute such as status or run_name');
  }
  return attributeFor(sc, head.text, column);
}

function parseValue(sc: Scanner): Value {
  sc.skipWs();
  const column = sc.column;
  const c = sc.src[sc.pos];
  if (c === "'" || c === '"') return { type: 'string', s: sc.quoted(), column };
  const num = sc.match(NUMBER_RE);
  if (num !== null) {
    if (/[A-Za-z0-9_.]/.test(sc.src[sc.pos] ?? '')) {
      throw queryError(column, `bad number '${num}${sc.src[sc.pos]}'`, "quote strings: 'like this'");
    }
    const n = Number(num);
    if (!Number.isFinite(n)) throw queryError(column, `number ${num} is out of range`);
    return { type: 'number', n, text: num, column };
  }
  if (c === undefined) throw queryError(column, 'missing value');
  throw queryError(column, `expected a number or a quoted string, found ${sc.describe()}`, "quote strings: 'like this'");
}

type Pred = (run: RunView) => boolean;
type Getter = (run: RunView) => string | number | undefined;

export function getterFor(id: Identifier): Getter {
  const key = id.key;
  switch (id.kind) {
    case 'metric': return (r) => (Object.hasOwn(r.metrics, key) ? r.metrics[key] : undefined);
    case 'param': return (r) => (Object.hasOwn(r.params, key) ? r.params[key] : undefined);
    case 'tag': return (r) => (Object.hasOwn(r.tags, key) ? r.tags[key] : undefined);
    case 'attr': return (r) => {
      const v = r[key as keyof RunView];
      return typeof v === 'string' || typeof v === 'number' ? v : undefined;
    };
  }
}

const describeIdent = (id: Identifier) => id.name;

/** Turn a value into what the field compares against, or throw at the value's column (MLflow's type rules). */
function coerce(id: Identifier, v: Value): { num: number } | { str: string } {
  if (id.type === 'string') {
    if (v.type === 'string') return { str: v.s };
    throw queryError(v.column, `${describeIdent(id)} is a string; expected a quoted string, found the number ${v.text}`,
      `quote it: '${v.text}'`);
  }
  if (v.type === 'number') return { num: v.n };
  if (id.type === 'time') {
    const t = Date.parse(v.s);
    if (Number.isFinite(t)) return { num: t };
    throw queryError(v.column, `'${v.s}' is not a time for ${describeIdent(id)}`, 'use ms since the epoch or a date like 2026-01-02T03:04:05Z');
  }
  throw queryError(v.column, `${describeIdent(id)} is a number; expected a number, found a string`, 'write the number without quotes');
}

type Op = '=' | '!=' | '>' | '>=' | '<' | '<=';

function compareOp(op: Op, c: number): boolean {
  switch (op) {
    case '=': return c === 0;
    case '!=': return c !== 0;
    case '>': return c > 0;
    case '>=': return c >= 0;
    case '<': return c < 0;
    case '<=': return c <= 0;
  }
}

const cmp = (a: number | string, b: number | string) => (a < b ? -1 : a > b ? 1 : 0);

/** Does stored value `x` (present) satisfy `x op target`? Strings compare as strings, numbers as numbers. */
function test(x: string | number, op: Op, target: { num: number } | { str: string }): boolean {
  if ('str' in target) return compareOp(op, cmp(String(x), target.str));
  if (typeof x !== 'number' || !Number.isFinite(x)) return op === '!=';
  return compareOp(op, cmp(x, target.num));
}

const ANY_ONE = Symbol('_');
const ANY_RUN = Symbol('%');

/**
 * A SQL LIKE matcher: `%` any run of characters, `_` one character, `\` makes the next one literal.
 * Not a RegExp: `%a%a%a%b` as a regex backtracks polynomially over an 8,000-character tag value;
 * this is the greedy wildcard match that backs up only to the last `%`, O(pattern × text) at worst.
 * @example likeMatcher('train%', false)('train-big') // true
 */
export function likeMatcher(pattern: string, caseInsensitive: boolean): (text: string) => boolean {
  const fold = (s: string) => (caseInsensitive ? s.toLowerCase() : s);
  const p: (string | symbol)[] = [];
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\' && i + 1 < chars.length) p.push(...Array.from(fold(chars[++i]!)));
    else if (c === '%') { if (p.at(-1) !== ANY_RUN) p.push(ANY_RUN); }
    else if (c === '_') p.push(ANY_ONE);
    else p.push(...Array.from(fold(c)));
  }
  return (text) => {
    const t = Array.from(fold(text));
    let i = 0;
    let j = 0;
    let star = -1;
    let mark = 0;
    while (i < t.length) {
      if (j < p.length && (p[j] === ANY_ONE || p[j] === t[i])) { i++; j++; }
      else if (j < p.length && p[j] === ANY_RUN) { star = j++; mark = i; }
      else if (star >= 0) { j = star + 1; i = ++mark; }
      else return false;
    }
    while (j < p.length && p[j] === ANY_RUN) j++;
    return j === p.length;
  };
}

function parseComparison(sc: Scanner): Pred {
  const id = parseIdent(sc);
  const get = getterFor(id);
  sc.skipWs();
  const opColumn = sc.column;

  const kw = sc.keyword('is', 'not', 'in', 'like', 'ilike');
  if (kw === 'is') {
    const not = sc.keyword('not');
    if (!sc.keyword('null')) throw queryError(sc.column, `expected NULL after IS${not ? ' NOT' : ''}, found ${sc.describe()}`);
    return not ? (r) => get(r) !== undefined : (r) => get(r) === undefined;
  }
  let negate = false;
  let kind = kw;
  if (kw === 'not') {
    negate = true;
    kind = sc.keyword('in', 'like', 'ilike');
    if (!kind) throw queryError(sc.column, `expected IN, LIKE or ILIKE after NOT, found ${sc.describe()}`);
  }
  if (kind === 'like' || kind === 'ilike') {
    if (id.type !== 'string') {
      throw queryError(opColumn, `${kind.toUpperCase()} does not apply to ${describeIdent(id)}, which is a number`, 'use =, !=, <, <=, >, >= or IN');
    }
    const v = parseValue(sc);
    if (v.type !== 'string') throw queryError(v.column, `${kind.toUpperCase()} needs a quoted pattern`, "e.g. tags.x LIKE '%abc%'");
    const like = likeMatcher(v.s, kind === 'ilike');
    return (r) => {
      const x = get(r);
      return x !== undefined && like(String(x)) !== negate;
    };
  }
  if (kind === 'in') {
    if (sc.peekChar() !== '(') throw queryError(sc.column, `expected '(' after IN, found ${sc.describe()}`, "e.g. params.opt IN ('adam', 'sgd')");
    sc.pos++;
    if (sc.peekChar() === ')') throw queryError(sc.column, 'empty IN list', 'give at least one value');
    const targets = [coerce(id, parseValue(sc))];
    while (sc.peekChar() === ',') {
      sc.pos++;
      targets.push(coerce(id, parseValue(sc)));
    }
    if (sc.peekChar() !== ')') throw queryError(sc.column, `expected ',' or ')' in IN list, found ${sc.describe()}`);
    sc.pos++;
    return (r) => {
      const x = get(r);
      if (x === undefined) return false;
      const hit = targets.some((t) => test(x, '=', t));
      return hit !== negate;
    };
  }
  // A symbolic operator. Longest first so that `<=` is not read as `<`.
  let op: Op | undefined;
  for (const [text, o] of [['!=', '!='], ['<>', null], ['>=', '>='], ['<=', '<='], ['==', null], ['=', '='], ['>', '>'], ['<', '<']] as const) {
    if (sc.src.startsWith(text, sc.pos)) {
      if (o === null) throw queryError(opColumn, `unknown operator '${text}'`, text === '==' ? 'use = to compare' : 'use != for "not equal"');
      op = o;
      sc.pos += text.length;
      break;
    }
  }
  if (!op) {
    throw queryError(opColumn, `expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL), found ${sc.describe()}`);
  }
  if (id.type === 'string' && op !== '=' && op !== '!=') {
    throw queryError(opColumn, `'${op}' does not apply to ${describeIdent(id)}, which is a string`,
      'strings take =, !=, LIKE, ILIKE, IN or IS NULL; metrics and times take < <= > >=');
  }
  const target = coerce(id, parseValue(sc));
  const o = op;
  return (r) => {
    const x = get(r);
    return x !== undefined && test(x, o, target);
  };
}

function parseNot(sc: Scanner): Pred {
  if (sc.keyword('not')) {
    const inner = parseNot(sc);
    return (r) => !inner(r);
  }
  if (sc.peekChar() === '(') {
    const column = sc.column;
    sc.pos++;
    const inner = parseOr(sc);
    if (sc.peekChar() !== ')') {
      throw queryError(sc.column, `expected ')' to close the '(' at column ${column}, found ${sc.describe()}`);
    }
    sc.pos++;
    return inner;
  }
  return parseComparison(sc);
}

function parseAnd(sc: Scanner): Pred {
  const parts = [parseNot(sc)];
  while (sc.keyword('and')) parts.push(parseNot(sc));
  return parts.length === 1 ? parts[0]! : (r) => parts.every((p) => p(r));
}

function parseOr(sc: Scanner): Pred {
  const parts = [parseAnd(sc)];
  while (sc.keyword('or')) parts.push(parseAnd(sc));
  return parts.length === 1 ? parts[0]! : (r) => parts.some((p) => p(r));
}

/**
 * Compile a filter expression into a predicate over runs. Throws `TroveError('BAD_QUERY')` whose
 * message ends in `at column N` (also in `data.column`) at the offending token.
 * @example
 * const keep = compileFilter("metrics.acc > 0.9 and (params.opt = 'adam' or tags.\"x.y\" LIKE '%a%')")
 * runs.filter(keep)
 */
export function compileFilter(expr: string): (run: RunView) => boolean {
  const sc = new Scanner(expr);
  if (sc.atEnd()) return () => true;
  const pred = parseOr(sc);
  if (!sc.atEnd()) {
    const column = sc.column;
    const rest = sc.describe();
    throw queryError(column, `unexpected ${rest}`,
      sc.src[sc.pos] === ')' ? "this ')' has no matching '('" : 'combine conditions with AND or OR');
  }
  return pred;
}

// ---------------------------------------------------------------------------------------------
// Sorting

/** Params and tags sort numbers first (numerically), then other strings (code-unit order). */
function compareValues(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return cmp(a, b);
  const na = typeof a === 'number' ? a : DECIMAL_RE.test(a) ? Number(a) : NaN;
  const nb = typeof b === 'number' ? b : DECIMAL_RE.test(b) ? Number(b) : NaN;
  const fa = Number.isFinite(na);
  const fb = Number.isFinite(nb);
  if (fa && fb) return cmp(na, nb) || cmp(String(a), String(b));
  if (fa !== fb) return fa ? -1 : 1;
  return cmp(String(a), String(b));
}

/** The default order: newest first, then by id. */
export function compareDefault(a: RunView, b: RunView): number {
  return cmp(b.start, a.start) || cmp(a.id, b.id);
}

/**
 * Parse an MLflow-style order_by list into a comparator: keys separated by commas, each optionally
 * followed by ASC (default) or DESC. Runs missing a key sort after those that have it, whatever the
 * direction; ties are broken by start time (newest first) and then id.
 * @example runs.sort(parseOrderBy('metrics.acc DESC, params.lr'))
 */
export function parseOrderBy(expr: string): (a: RunView, b: RunView) => number {
  const sc = new Scanner(expr);
  const keys: { get: Getter; desc: boolean }[] = [];
  if (!sc.atEnd()) {
    for (;;) {
      const id = parseIdent(sc);
      const dir = sc.keyword('asc', 'desc');
      keys.push({ get: getterFor(id), desc: dir === 'desc' });
      if (sc.atEnd()) break;
      if (sc.peekChar() !== ',') {
        throw queryError(sc.column, `expected ',', ASC or DESC, found ${sc.describe()}`, 'e.g. metrics.acc DESC, params.lr');
      }
      sc.pos++;
    }
  }
  return (a, b) => {
    for (const k of keys) {
      const va = k.get(a);
      const vb = k.get(b);
      if (va === undefined || vb === undefined) {
        if (va === vb) continue;
        return va === undefined ? 1 : -1;
      }
      const c = compareValues(va, vb);
      if (c !== 0) return k.desc ? -c : c;
    }
    return compareDefault(a, b);
  };
}
