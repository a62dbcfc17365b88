import { createReadStream } from 'node:fs';
/** Temp dirs and random files for tests; every temp dir is removed when its test finishes. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';

/** A fresh temp dir, removed with onTestFinished (call inside a test). */
export async function tempDir(label = 'trove-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), label));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Write `size` random bytes to `file`; returns their sha256 (hex). */
export async function randomFile(file: string, size: number): Promise<string> {
  const buf = randomBytes(size);
  await writeFile(file, buf);
  return sha256(buf);
}

/** Read a stream to the end and return the sha256 (hex) and length of its bytes. */
export async function hashStream(s: NodeJS.ReadableStream): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of s as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { sha256: h.digest('hex'), size };
}

export async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of s as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

/** A re-openable body for Remote.put: the file, read again from its start on each call. */
export const fromFile = (file: string) => () => createReadStream(file);
