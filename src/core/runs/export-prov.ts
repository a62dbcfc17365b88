/**
 * Run records as W3C PROV-JSON (https://www.w3.org/submissions/prov-json/): one document for all the
 * runs given.
 *
 * - each run is an `activity` `run:<id>` (prov:startTime, prov:endTime, prov:label, trove:status,
 *   trove:command, trove:commit);
 * - each data version is an `entity` `data:<64 hex>` named by its content (the same bytes at two paths are
 *   one entity), with trove:oid, trove:path (the first path it was seen at), trove:type, trove:size;
 * - the user@host that ran it is an `agent` (prov:type prov:Person);
 * - relations, each under its own blank-node id: `used` (run read entity; prov:role = the input's role),
 *   `wasGeneratedBy` (output entity ← run), `wasDerivedFrom` (every output from every input of the same
 *   run, with prov:activity), `wasAssociatedWith` (run ↔ agent).
 */
import type { RunRecord } from './record.js';

export const PROV_PREFIXES = {
  prov: 'http://www.w3.org/ns/prov#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
  trove: 'urn:trove:',
  run: 'urn:trove:run:',
  data: 'urn:trove:data:sha256:',
  agent: 'urn:trove:agent:',
};

type Attrs = Record<string, unknown>;
export interface ProvDocument {
  prefix: Record<string, string>;
  entity: Record<string, Attrs>;
  activity: Record<string, Attrs>;
  agent: Record<string, Attrs>;
  used: Record<string, Attrs>;
  wasGeneratedBy: Record<string, Attrs>;
  wasDerivedFrom: Record<string, Attrs>;
  wasAssociatedWith: Record<string, Attrs>;
}

const dateTime = (s: string) => ({ $: s, type: 'xsd:dateTime' });
const dataId = (oid: string) => `data:${oid.replace(/^sha256:/, '')}`;
// A QName's local part: keep it to characters every PROV serialization accepts.
const agentId = (user: string, host: string) => `agent:${encodeURIComponent(`${user || 'unknown'}@${host || 'unknown'}`).replace(/%/g, '_')}`;

/** The PROV-JSON document for `recs`. @example JSON.stringify(runsToProv([rec])) */
export function runsToProv(recs: RunRecord[]): ProvDocument {
  const doc: ProvDocument = { prefix: { ...PROV_PREFIXES }, entity: {}, activity: {}, agent: {}, used: {}, wasGeneratedBy: {}, wasDerivedFrom: {}, wasAssociatedWith: {} };
  let n = 0;
  const rel = (kind: 'used' | 'wasGeneratedBy' | 'wasDerivedFrom' | 'wasAssociatedWith', attrs: Attrs) => void (doc[kind][`_:${kind}${++n}`] = attrs);
  const entity = (d: { path: string; oid: string; type?: string; size?: number }, extra: Attrs = {}) => {
    const id = dataId(d.oid);
    doc.entity[id] ??= { 'prov:type': `trove:${d.type ?? 'file'}`, 'trove:oid': d.oid, 'trove:path': d.path, ...(d.size === undefined ? {} : { 'trove:size': d.size }), ...extra };
    return id;
  };
  for (const r of recs) {
    const act = `run:${r.id}`;
    doc.activity[act] = {
      'prov:startTime': dateTime(r.start), ...(r.end ? { 'prov:endTime': dateTime(r.end) } : {}),
      'prov:label': r.name || r.id, 'trove:status': r.status, 'trove:experiment': r.experiment,
      ...(r.command.length ? { 'trove:command': JSON.stringify(r.command) } : {}),
      ...(r.git?.commit ? { 'trove:commit': r.git.commit } : {}),
      ...(r.reproduces ? { 'trove:reproduces': `run:${r.reproduces}` } : {}),
    };
    const ag = agentId(r.user, r.host);
    doc.agent[ag] ??= { 'prov:type': 'prov:Person', 'prov:label': `${r.user}@${r.host}` };
    rel('wasAssociatedWith', { 'prov:activity': act, 'prov:agent': ag });
    const ins = r.inputs.map((i) => {
      const id = entity(i, i.origin ? { 'trove:originRepo': i.origin.repo, 'trove:originRev': i.origin.rev, 'trove:originPath': i.origin.path } : {});
      rel('used', { 'prov:activity': act, 'prov:entity': id, ...(i.role ? { 'prov:role': i.role } : {}) });
      return id;
    });
    for (const o of r.outputs) {
      if (o.oid === null) continue;
      const id = entity({ path: o.path, oid: o.oid, type: o.type, size: o.size });
      rel('wasGeneratedBy', { 'prov:entity': id, 'prov:activity': act, ...(r.end ? { 'prov:time': dateTime(r.end) } : {}) });
      for (const u of ins) if (u !== id) rel('wasDerivedFrom', { 'prov:generatedEntity': id, 'prov:usedEntity': u, 'prov:activity': act });
    }
  }
  return doc;
}
