/**
 * A small JSON Schema checker for the subset the OpenLineage schemas in /work/shared/openlineage use:
 * $ref (local `#/$defs/X` and absolute `<$id>#/$defs/X` across the loaded documents), allOf, anyOf,
 * oneOf, not, type, properties, required, additionalProperties (boolean or schema), items, enum and the
 * formats uri, date-time and uuid. Returns every problem with its JSON path (empty: valid).
 */
type Schema = Record<string, unknown> | boolean;

export class SchemaSet {
  private docs = new Map<string, Record<string, unknown>>();

  add(doc: Record<string, unknown>): this {
    this.docs.set(String(doc.$id), doc);
    return this;
  }

  /** Problems of `value` against `<docId>#/$defs/<name>`. */
  check(value: unknown, ref: string): string[] {
    const out: string[] = [];
    this.visit(value, { $ref: ref }, '$', String([...this.docs.keys()][0]), out);
    return out;
  }

  private resolve(ref: string, base: string): { schema: Schema; base: string } {
    const [docPart, frag = ''] = ref.split('#');
    const docId = docPart || base;
    const doc = this.docs.get(docId);
    if (!doc) throw new Error(`schema ${docId} not loaded`);
    let cur: unknown = doc;
    for (const seg of frag.split('/').filter(Boolean)) cur = (cur as Record<string, unknown>)[seg];
    if (cur === undefined) throw new Error(`no ${ref}`);
    return { schema: cur as Schema, base: docId };
  }

  private visit(v: unknown, s: Schema, at: string, base: string, out: string[]): void {
    if (s === true) return;
    if (s === false) return void out.push(`${at}: not allowed`);
    if (typeof s.$ref === 'string') {
      const r = this.resolve(s.$ref, base);
      this.visit(v, r.schema, at, r.base, out);
    }
    for (const sub of (s.allOf as Schema[] | undefined) ?? []) this.visit(v, sub, at, base, out);
    if (s.anyOf) {
      const ok = (s.anyOf as Schema[]).some((sub) => { const o: string[] = []; this.visit(v, sub, at, base, o); return !o.length; });
      if (!ok) out.push(`${at}: matches none of anyOf`);
    }
    if (s.oneOf) {
      const n = (s.oneOf as Schema[]).filter((sub) => { const o: string[] = []; this.visit(v, sub, at, base, o); return !o.length; }).length;
      if (n !== 1) out.push(`${at}: matches ${n} of oneOf, expected exactly 1`);
    }
    if (s.not) {
      const o: string[] = [];
      this.visit(v, s.not as Schema, at, base, o);
      if (!o.length) out.push(`${at}: matches a "not" schema`);
    }
    if (s.type !== undefined && !typeOk(v, s.type as string)) return void out.push(`${at}: must be ${s.type}, got ${JSON.stringify(v)?.slice(0, 60)}`);
    if (s.enum && !(s.enum as unknown[]).includes(v)) out.push(`${at}: must be one of ${JSON.stringify(s.enum)}`);
    if (typeof v === 'string' && typeof s.format === 'string') {
      const f = FORMATS[s.format];
      if (f && !f(v)) out.push(`${at}: not a valid ${s.format}: ${v.slice(0, 80)}`);
    }
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      for (const k of (s.required as string[] | undefined) ?? []) if (!(k in o)) out.push(`${at}: missing required ${k}`);
      const props = (s.properties as Record<string, Schema> | undefined) ?? {};
      for (const [k, val] of Object.entries(o)) {
        if (k in props) this.visit(val, props[k]!, `${at}.${k}`, base, out);
        else if (s.additionalProperties !== undefined) this.visit(val, s.additionalProperties as Schema, `${at}.${k}`, base, out);
      }
    }
    if (Array.isArray(v) && s.items) v.forEach((x, i) => this.visit(x, s.items as Schema, `${at}[${i}]`, base, out));
  }
}

function typeOk(v: unknown, t: string): boolean {
  switch (t) {
    case 'object': return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'boolean': return typeof v === 'boolean';
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'integer': return Number.isInteger(v);
    case 'null': return v === null;
    default: throw new Error(`type ${t} not supported by this checker`);
  }
}

const FORMATS: Record<string, (s: string) => boolean> = {
  uri: (s) => { try { return !!new URL(s).protocol; } catch { return false; } },
  'date-time': (s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && Number.isFinite(Date.parse(s)),
  uuid: (s) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s),
};
