/**
 * git child processes that simple-git does not fit (binary output, stdin, streaming), always with the
 * scrubbed environment of env.ts plus what the caller adds (e.g. `GIT_INDEX_FILE` for a scratch index).
 * Errors are `TroveError('GIT')` naming the git command and its first stderr line.
 */
import { spawn } from 'node:child_process';
import { TroveError } from '../errors.js';
import { gitEnv } from './env.js';

export interface GitSpawnOptions {
  /** added to the scrubbed environment */
  env?: Record<string, string>;
  /** written to git's stdin, which is then closed */
  input?: string;
}

/** Runs git and returns its stdout (for short outputs such as a file list). */
export function runGit(cwd: string, args: string[], o: GitSpawnOptions = {}): Promise<Buffer> {
  const out: Buffer[] = [];
  return streamGit(cwd, args, (b) => out.push(b), o).then(() => Buffer.concat(out));
}

/** Runs git with its stdout handed to `onData` chunk by chunk (memory does not grow with the output). */
export function streamGit(cwd: string, args: string[], onData: (b: Buffer) => void, o: GitSpawnOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...gitEnv(), ...o.env } });
    if (o.input !== undefined) {
      child.stdin!.on('error', () => {}); // EPIPE if git died early: reported by 'close'
      child.stdin!.end(o.input);
    }
    const errs: Buffer[] = [];
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => errs.push(b));
    child.on('error', (err) => reject(new TroveError('GIT', `git ${args[0]} could not start: ${err.message}`, 'is git installed and on PATH?', { cause: err })));
    child.on('close', (c) => (c === 0 ? resolve()
      : reject(new TroveError('GIT', `git ${args[0]} failed (exit ${c}): ${Buffer.concat(errs).toString().trim().split('\n')[0]}`))));
  });
}

/** Runs git with stdout into an open file descriptor (binary-safe, flat memory); GIT error on a non-zero exit. */
export function gitToFd(cwd: string, args: string[], fd: number, o: GitSpawnOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, stdio: ['ignore', fd, 'pipe'], env: { ...gitEnv(), ...o.env } });
    const errs: Buffer[] = [];
    child.stderr!.on('data', (b: Buffer) => errs.push(b));
    child.on('error', (err) => reject(new TroveError('GIT', `git ${args[0]} could not start: ${err.message}`, 'is git installed and on PATH?', { cause: err })));
    child.on('close', (c) => (c === 0 ? resolve()
      : reject(new TroveError('GIT', `git ${args[0]} failed: ${Buffer.concat(errs).toString().trim().split('\n')[0]}`))));
  });
}
