/**
 * Artifact previews for the run page: the first bytes of an object read as text, JSON, CSV rows or
 * an image (told by its magic bytes, never by its name). Only the head of the stream is read, so a
 * 10 GB artifact costs one small read.
 */
import type { Readable } from 'node:stream';

export const PREVIEW_BYTES = 64 * 1024;
export const PREVIEW_CSV_ROWS = 50;

export type Preview =
  | { kind: 'image'; type: string }
  | { kind: 'json'; text: string; truncated: boolean }
  | { kind: 'csv'; rows: string[][]; truncated: boolean }
  | { kind: 'text'; text: string; truncated: boolean }
  | { kind: 'binary'; size: number };

/** Up to `max` bytes from the start of a stream; the stream is destroyed after. */
export async function readHead(stream: Readable, max = PREVIEW_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of stream) {
      const b = c as Buffer;
      chunks.push(b);
      n += b.length;
      if (n >= max) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, max);
}

/** The MIME type of a PNG, JPEG, GIF or WebP image from its first bytes; null for anything else. */
export function imageTypeOf(b: Buffer): string | null {
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 6 && /^GIF8[79]a$/.test(b.subarray(0, 6).toString('latin1'))) return 'image/gif';
  if (b.length >= 12 && b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return null;
}

export async function imageType(stream: Readable): Promise<string | null> {
  return imageTypeOf(await readHead(stream, 16));
}

/** One CSV line split into cells (RFC 4180 quotes; a quoted newline is not followed in a preview). */
export function csvCells(line: string): string[] {
  const cells: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { cells.push(cur); cur = ''; }
    else cur += ch;
  }
  cells.push(cur);
  return cells;
}

/**
 * A preview of an artifact named `name` (used only to pick JSON or CSV for text) of `size` bytes.
 * @example await artifactPreview(await cache.open(oid, 'blob'), 'metrics.json', 1234)
 */
export async function artifactPreview(stream: Readable, name: string, size: number): Promise<Preview> {
  const head = await readHead(stream);
  const image = imageTypeOf(head);
  if (image) return { kind: 'image', type: image };
  if (head.includes(0)) return { kind: 'binary', size };
  const truncated = size > head.length;
  // Cut at the last full line when truncated so that no half character or row is shown.
  let text = head.toString('utf8');
  if (truncated) text = text.slice(0, Math.max(0, text.lastIndexOf('\n')));
  const lower = name.toLowerCase();
  if (lower.endsWith('.json') && !truncated) {
    try {
      return { kind: 'json', text: JSON.stringify(JSON.parse(text), null, 2), truncated };
    } catch {
      /* not valid JSON: show it as text */
    }
  }
  if (lower.endsWith('.csv') || lower.endsWith('.tsv')) {
    const lines = text.split(/\r?\n/).filter((l) => l !== '');
    const rows = lines.slice(0, PREVIEW_CSV_ROWS).map((l) => (lower.endsWith('.tsv') ? l.split('\t') : csvCells(l)));
    return { kind: 'csv', rows, truncated: truncated || lines.length > PREVIEW_CSV_ROWS };
  }
  return { kind: 'text', text, truncated };
}
