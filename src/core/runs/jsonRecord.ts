import type { z } from 'zod';
import { TroveError } from '../errors.js';

/**
 * The first step of reading any JSON file trove keeps under `.trove/runs/` (experiments, logged
 * models, registry entries): JSON, then the zod schema, each failure a BAD_RUN naming the file, the
 * field and where to move the file. `inspect` sees the raw value before the schema does (checks that
 * zod would silently drop, such as a `__proto__` key).
 */
export function parseJsonRecord<S extends z.ZodTypeAny>(schema: S, text: string, source: string, folder: string, inspect?: (raw: unknown) => void): z.infer<S> {
  const hint = `move the file out of ${folder}`;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TroveError('BAD_RUN', `${source}: not valid JSON`, hint, { cause: err });
  }
  inspect?.(raw);
  const res = schema.safeParse(raw);
  if (!res.success) {
    const issue = res.error.issues[0]!;
    throw new TroveError('BAD_RUN', `${source}: field ${issue.path.join('.') || '(root)'} ${issue.message}`, hint);
  }
  return res.data;
}

/**
 * A small file's body from a remote, as text; refused past `maxBytes` (a remote is someone else's
 * storage: a multi-gigabyte "record" must not be read into memory).
 */
export async function readCappedBody(body: NodeJS.ReadableStream, key: string, maxBytes: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > maxBytes) {
      (body as unknown as { destroy?: () => void }).destroy?.();
      throw new TroveError('BAD_RUN', `${key}: larger than ${maxBytes} bytes; not ${what}`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}
