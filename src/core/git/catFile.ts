/**
 * `git cat-file --batch`: many objects through one process, answers in the order asked.
 *
 * Each request is a line (`<oid>`, `<rev>:<path>`, `:<stage>:<path>`); git answers each with
 * `<oid> <type> <size>\n<bytes>\n`, or `<spec> missing` / `<spec> ambiguous`. The parser streams: it keeps
 * at most one object's bytes, and an object above `maxSize` is skipped as it arrives, never held whole.
 */
import { spawn } from 'node:child_process';
import { TroveError } from '../errors.js';
import { gitEnv } from './env.js';

export interface CatFileOptions {
  /** objects larger than this come back as null, unread (default 64 KiB: pointers are small) */
  maxSize?: number;
  /** only objects of this type are returned; others come back as null (default 'blob') */
  type?: 'blob' | 'tree' | 'commit' | 'tag';
}

/**
 * The bytes of each object named by `specs`, in the same order; null where git has no such object, the
 * name is ambiguous, the object is of another type, or it is larger than `maxSize`.
 * @example const [a, b] = await catFileBatch(repo.root, ['HEAD:data.trove', `${commit}:models/m.trove`])
 */
export function catFileBatch(cwd: string, specs: string[], o: CatFileOptions = {}): Promise<(Buffer | null)[]> {
  const maxSize = o.maxSize ?? 64 * 1024;
  const want = o.type ?? 'blob';
  for (const s of specs) {
    // one request per line: a newline would split it into two, and answers would no longer line up
    if (s.includes('\n') || s.includes('\r')) throw new TroveError('BAD_ARGS', `bad git object name ${JSON.stringify(s)}`);
  }
  const out: (Buffer | null)[] = [];
  if (!specs.length) return Promise.resolve(out);
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['cat-file', '--batch'], { cwd, env: gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let buf: Buffer = Buffer.alloc(0);
    let stderr = '';
    // the object being read: its size, whether it is kept, and how many of its bytes (+ the newline) are still to come
    let body: { keep: boolean; left: number; parts: Buffer[] } | null = null;
    const drain = () => {
      for (;;) {
        if (!body) {
          const nl = buf.indexOf(10);
          if (nl < 0) return;
          const header = buf.subarray(0, nl).toString('utf8');
          buf = buf.subarray(nl + 1);
          const f = header.split(' ');
          if (f.length !== 3 || !/^\d+$/.test(f[2])) {
            out.push(null); // `<spec> missing` or `<spec> ambiguous`: no body follows
            continue;
          }
          const size = Number(f[2]);
          body = { keep: f[1] === want && size <= maxSize, left: size + 1, parts: [] };
        }
        if (!buf.length) return;
        const take = Math.min(body.left, buf.length);
        if (body.keep) body.parts.push(Buffer.from(buf.subarray(0, take)));
        buf = buf.subarray(take);
        body.left -= take;
        if (body.left > 0) return;
        out.push(body.keep ? Buffer.concat(body.parts).subarray(0, -1) : null); // without git's trailing newline
        body = null;
      }
    };
    child.stdout.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      drain();
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (err) => reject(new TroveError('GIT', `git cat-file failed: ${err.message}`, undefined, { cause: err })));
    child.on('close', (code) => {
      if (code !== 0) return reject(new TroveError('GIT', `git cat-file failed (exit ${code}): ${stderr.trim().split('\n')[0]}`));
      if (out.length !== specs.length) return reject(new TroveError('GIT', `git cat-file answered ${out.length} of ${specs.length} requests`));
      resolve(out);
    });
    child.stdin.on('error', () => {}); // EPIPE if git died: reported by 'close'
    child.stdin.end(specs.join('\n') + '\n');
  });
}
