import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runToOpenLineage, ulidToUuid, type OLRunEvent } from '../../src/core/runs/export-openlineage.js';
import { runsToProv } from '../../src/core/runs/export-prov.js';
import { newRunRecord, ulid } from '../../src/core/runs/record.js';
import { git, newRepo, write } from '../helpers/repo.js';
import { SchemaSet } from '../helpers/jsonSchema.js';
import { lastRecord } from '../helpers/runs.js';
import { ok } from '../helpers/reproRepo.js';

const OL = '/work/shared/openlineage';
const load = (f: string) => JSON.parse(readFileSync(`${OL}/${f}`, 'utf8'));
const schemas = new SchemaSet().add(load('OpenLineage.json')).add(load('DatasetVersionDatasetFacet.json')).add(load('SourceCodeLocationJobFacet.json'));
const RUN_EVENT = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';
const VERSION_FACET = 'https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet';
const CODE_FACET = 'https://openlineage.io/spec/facets/1-1-0/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet';
const OID = (c: string) => `sha256:${c.repeat(64)}`;

/** Every event checked against the spec's schemas (the event and each facet), then field by field. */
function expectValidEvent(ev: OLRunEvent): void {
  expect(schemas.check(ev, RUN_EVENT)).toEqual([]);
  expect(schemas.check(ev, 'https://openlineage.io/spec/2-0-2/OpenLineage.json')).toEqual([]); // top-level oneOf
  for (const d of [...ev.inputs, ...ev.outputs]) {
    expect(schemas.check(d.facets.version, VERSION_FACET)).toEqual([]);
    expect(d.facets.version.datasetVersion).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(typeof d.namespace).toBe('string');
    expect(typeof d.name).toBe('string');
  }
  if (ev.job.facets.sourceCodeLocation) expect(schemas.check(ev.job.facets.sourceCodeLocation, CODE_FACET)).toEqual([]);
  // BaseEvent's required fields and types
  expect(Number.isFinite(Date.parse(ev.eventTime))).toBe(true);
  expect(() => new URL(ev.producer)).not.toThrow();
  expect(() => new URL(ev.schemaURL)).not.toThrow();
  expect(ev.run.runId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  expect(typeof ev.job.namespace).toBe('string');
  expect(typeof ev.job.name).toBe('string');
}

describe('the schema checker', () => {
  it('catches a missing required field, a wrong type, a bad enum and a bad format', () => {
    const good: OLRunEvent = runToOpenLineage(newRunRecord({ command: ['x'], status: 'FINISHED', end: '2026-01-01T00:00:01.000Z', start: '2026-01-01T00:00:00.000Z' }),
      { namespace: 'ns', repoUrl: 'file:///r', codeUrl: () => 'file:///r' })[1]!;
    expect(schemas.check(good, RUN_EVENT)).toEqual([]);
    const { producer: _p, ...noProducer } = good;
    expect(schemas.check(noProducer, RUN_EVENT)).toContain('$: missing required producer');
    expect(schemas.check({ ...good, eventType: 'DONE' }, RUN_EVENT).join()).toMatch(/eventType: must be one of/);
    expect(schemas.check({ ...good, run: { runId: 'not-a-uuid' } }, RUN_EVENT).join()).toMatch(/runId: not a valid uuid/);
    expect(schemas.check({ ...good, inputs: 'x' }, RUN_EVENT).join()).toMatch(/inputs: must be array/);
    expect(schemas.check({ _producer: 'https://x', _schemaURL: 'https://y' }, VERSION_FACET)).toContain('$: missing required datasetVersion');
  });
});

describe('OpenLineage export', () => {
  it('maps runs to START + COMPLETE/FAIL/ABORT events with full oids, the git facet, and imported inputs named at their source', () => {
    const id = ulid();
    const rec = newRunRecord({
      id, name: 'train', experiment: 'iris', command: ['node', 'train.mjs'], status: 'FINISHED',
      start: '2026-01-02T03:04:05.000Z', end: '2026-01-02T03:04:09.500Z', exitCode: 0,
      git: { commit: 'a'.repeat(40), branch: 'main', dirty: false, diffOid: null },
      inputs: [
        { path: 'data/iris.csv', oid: OID('1'), type: 'file', size: 10 },
        { path: 'ext/labels', oid: OID('2'), type: 'dir', size: 5, files: 2, origin: { repo: 'https://example.com/reg.git', rev: 'b'.repeat(40), path: 'labels' } },
      ],
      outputs: [{ path: 'models/model.bin', oid: OID('3'), type: 'file', size: 7 }, { path: 'models/none', oid: null, produced: false }],
    });
    const ctx = { namespace: 'https://example.com/me.git', repoUrl: 'https://example.com/me.git', codeUrl: (c: string) => `https://example.com/me/tree/${c}` };
    const [start, end] = runToOpenLineage(rec, ctx);
    for (const ev of [start!, end!]) expectValidEvent(ev);
    expect(start!.eventType).toBe('START');
    expect(start!.eventTime).toBe(rec.start);
    expect(start!.outputs).toEqual([]);
    expect(end!.eventType).toBe('COMPLETE');
    expect(end!.eventTime).toBe(rec.end);
    expect(start!.run.runId).toBe(ulidToUuid(id));
    expect(end!.run.runId).toBe(start!.run.runId);
    expect(end!.job).toEqual({
      namespace: ctx.namespace, name: 'iris.train',
      facets: { sourceCodeLocation: expect.objectContaining({ type: 'git', url: `https://example.com/me/tree/${'a'.repeat(40)}`, repoUrl: ctx.repoUrl, version: 'a'.repeat(40), branch: 'main' }) },
    });
    expect(end!.inputs.map((d) => [d.namespace, d.name, d.facets.version.datasetVersion])).toEqual([
      [ctx.namespace, 'data/iris.csv', OID('1')],
      ['https://example.com/reg.git', 'labels', OID('2')],
    ]);
    expect(end!.outputs.map((d) => [d.name, d.facets.version.datasetVersion])).toEqual([['models/model.bin', OID('3')]]);
    expect(runToOpenLineage({ ...rec, status: 'FAILED' }, ctx)[1]!.eventType).toBe('FAIL');
    expect(runToOpenLineage({ ...rec, status: 'KILLED' }, ctx)[1]!.eventType).toBe('ABORT');
    expect(runToOpenLineage({ ...rec, status: 'RUNNING', end: null }, ctx)).toHaveLength(1);
    // the ULID → UUID mapping keeps all 128 bits (distinct ids stay distinct, order is kept)
    expect(ulidToUuid('00000000000000000000000000')).toBe('00000000-0000-0000-0000-000000000000');
    expect(ulidToUuid('7ZZZZZZZZZZZZZZZZZZZZZZZZZ')).toBe('ffffffff-ffff-ffff-ffff-ffffffffffff');
  });

  it('trove runs export posts to a collector on 127.0.0.1 and retries when it fails at first; writes JSON lines and PROV-JSON', async () => {
    const dir = await newRepo();
    await write(dir, 'data/in.txt', 'x\n');
    await ok(dir, 0, 'add', 'data');
    await write(dir, 'make.mjs', `import { writeFileSync } from 'node:fs'; writeFileSync('out.txt', 'y');\n`);
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'c');
    await ok(dir, 0, 'run', '-n', 'make', '-i', 'data', '-o', 'out.txt', '--', 'node', 'make.mjs');
    const rec = await lastRecord(dir);

    const bodies: unknown[] = [];
    let calls = 0;
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c)).on('end', () => {
        calls++;
        if (calls <= 2) { res.writeHead(503).end('busy'); return; } // the first two attempts fail
        expect(req.url).toBe('/api/v1/lineage');
        expect(req.method).toBe('POST');
        bodies.push(JSON.parse(body));
        res.writeHead(201).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;
    const posted = await ok(dir, 0, 'runs', 'export', rec.id, '--to', `http://127.0.0.1:${port}`);
    expect(posted.stderr).toContain('posted 2 events for 1 run');
    expect(calls).toBe(4);
    expect(bodies.map((b) => (b as OLRunEvent).eventType)).toEqual(['START', 'COMPLETE']);
    for (const b of bodies) expectValidEvent(b as OLRunEvent);
    const end = bodies[1] as OLRunEvent;
    expect(end.inputs[0]!.facets.version.datasetVersion).toBe(rec.inputs[0]!.oid);
    expect(end.outputs[0]!.facets.version.datasetVersion).toBe(rec.outputs[0]!.oid);
    expect(end.job.facets.sourceCodeLocation!.version).toBe(rec.git!.commit);

    // a collector that never recovers: exit 1, the url named, no credentials echoed
    const down = http.createServer((_q, res) => res.writeHead(500).end());
    await new Promise<void>((r) => down.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => down.close(() => r())));
    const failed = await ok(dir, 1, 'runs', 'export', '--to', `http://user:s3cret@127.0.0.1:${(down.address() as AddressInfo).port}/api/v1/lineage`);
    expect(failed.stderr).toMatch(/collector answered 500/);
    expect(failed.stderr).not.toContain('s3cret');

    const lines = (await ok(dir, 0, 'runs', 'export', '--format', 'openlineage')).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    lines.forEach(expectValidEvent);
    expect((await ok(dir, 2, 'runs', 'export', '--format', 'xml')).stderr).toMatch(/--format must be/);

    const prov = JSON.parse((await ok(dir, 0, 'runs', 'export', '--format', 'prov-json')).stdout);
    expect(prov).toEqual(runsToProv([rec]));
  }, 30_000);
});

describe('PROV-JSON export', () => {
  it('has runs as activities, data versions as entities, and used / wasGeneratedBy / wasDerivedFrom / wasAssociatedWith', () => {
    const a = newRunRecord({ id: ulid(), name: 'prep', command: ['p'], status: 'FINISHED', start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T00:00:01.000Z', user: 'ann', host: 'h1',
      inputs: [{ path: 'raw', oid: OID('1'), type: 'dir', size: 3, files: 1, role: 'source' }], outputs: [{ path: 'clean.csv', oid: OID('2'), type: 'file', size: 2 }] });
    const b = newRunRecord({ id: ulid(), name: 'train', command: ['t'], status: 'FINISHED', start: '2026-01-01T00:00:02.000Z', end: '2026-01-01T00:00:03.000Z', user: 'ann', host: 'h1',
      inputs: [{ path: 'clean.csv', oid: OID('2'), type: 'file', size: 2 }], outputs: [{ path: 'model.bin', oid: OID('3'), type: 'file', size: 9 }] });
    const doc = runsToProv([a, b]);
    expect(doc.prefix.prov).toBe('http://www.w3.org/ns/prov#');
    expect(Object.keys(doc.activity)).toEqual([`run:${a.id}`, `run:${b.id}`]);
    expect(doc.activity[`run:${a.id}`]).toMatchObject({ 'prov:startTime': { $: a.start, type: 'xsd:dateTime' }, 'prov:endTime': { $: a.end, type: 'xsd:dateTime' }, 'prov:label': 'prep' });
    expect(Object.keys(doc.entity).sort()).toEqual([`data:${'1'.repeat(64)}`, `data:${'2'.repeat(64)}`, `data:${'3'.repeat(64)}`]);
    expect(doc.entity[`data:${'1'.repeat(64)}`]).toMatchObject({ 'prov:type': 'trove:dir', 'trove:oid': OID('1'), 'trove:path': 'raw' });
    expect(Object.keys(doc.agent)).toEqual(['agent:ann_40h1']);
    const rels = (k: keyof typeof doc) => Object.values(doc[k] as Record<string, Record<string, unknown>>);
    expect(rels('used')).toEqual([
      { 'prov:activity': `run:${a.id}`, 'prov:entity': `data:${'1'.repeat(64)}`, 'prov:role': 'source' },
      { 'prov:activity': `run:${b.id}`, 'prov:entity': `data:${'2'.repeat(64)}` },
    ]);
    expect(rels('wasGeneratedBy').map((r) => [r['prov:entity'], r['prov:activity']])).toEqual([[`data:${'2'.repeat(64)}`, `run:${a.id}`], [`data:${'3'.repeat(64)}`, `run:${b.id}`]]);
    expect(rels('wasDerivedFrom')).toEqual([
      { 'prov:generatedEntity': `data:${'2'.repeat(64)}`, 'prov:usedEntity': `data:${'1'.repeat(64)}`, 'prov:activity': `run:${a.id}` },
      { 'prov:generatedEntity': `data:${'3'.repeat(64)}`, 'prov:usedEntity': `data:${'2'.repeat(64)}`, 'prov:activity': `run:${b.id}` },
    ]);
    expect(rels('wasAssociatedWith')).toEqual([{ 'prov:activity': `run:${a.id}`, 'prov:agent': 'agent:ann_40h1' }, { 'prov:activity': `run:${b.id}`, 'prov:agent': 'agent:ann_40h1' }]);
    // relation ids are unique blank nodes across kinds
    const ids = (['used', 'wasGeneratedBy', 'wasDerivedFrom', 'wasAssociatedWith'] as const).flatMap((k) => Object.keys(doc[k]));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((i) => i.startsWith('_:'))).toBe(true);
  });
});
