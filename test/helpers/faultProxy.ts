/**
 * An HTTP proxy for tests that sits in front of a server and, for a chosen share of requests,
 * answers 500 or 503 (with an S3-style XML error) or resets the connection; everything else passes
 * through, streaming both ways. Decisions come from a seeded PRNG so a failing run can be replayed
 * (modulo request interleaving), and the number of faults is bounded.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * 500 / 503: an S3-style error response; reset: the connection is destroyed before any response;
 * truncate (opt-in): the upstream response starts, then the connection is cut midway through the body.
 */
export type FaultKind = '500' | '503' | 'reset' | 'truncate';

export interface FaultProxyOptions {
  /** Share of requests that get a fault, 0..1 (default 0.1). */
  rate?: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /** Stop injecting after this many faults (default: unbounded). */
  maxFaults?: number;
  kinds?: FaultKind[];
}

export interface FaultStats {
  requests: number;
  passed: number;
  faults: number;
  byKind: Record<FaultKind, number>;
}

export interface FaultProxy {
  endpoint: string;
  stats: FaultStats;
  stop(): Promise<void>;
}

/** mulberry32: tiny, fast, good enough for test decisions. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const errorBody = (code: string, msg: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${msg}</Message><RequestId>fault-proxy</RequestId></Error>`;

export async function startFaultProxy(upstream: string, o: FaultProxyOptions = {}): Promise<FaultProxy> {
  const target = new URL(upstream);
  const rate = o.rate ?? 0.1;
  const kinds = o.kinds ?? ['500', '503', 'reset'];
  const rand = prng(o.seed ?? 1);
  const stats: FaultStats = { requests: 0, passed: 0, faults: 0, byKind: { '500': 0, '503': 0, reset: 0, truncate: 0 } };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const server = http.createServer((req, res) => {
    stats.requests++;
    const roll = rand();
    const pick = rand();
    let kind: FaultKind | undefined;
    if (roll < rate && (o.maxFaults === undefined || stats.faults < o.maxFaults)) {
      kind = kinds[Math.floor(pick * kinds.length)];
      stats.faults++;
      stats.byKind[kind]++;
    } else {
      stats.passed++;
    }
    if (kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (kind === '500' || kind === '503') {
      // Drain the request body first, so the client sees the error response rather than EPIPE.
      req.resume();
      req.on('end', () => {
        const body = kind === '500' ? errorBody('InternalError', 'injected fault') : errorBody('SlowDown', 'injected fault');
        res.writeHead(kind === '500' ? 500 : 503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    const headers = { ...req.headers };
    // This server already answered "100 Continue" to the client (Node does so when there is no
    // 'checkContinue' listener), so the upstream must not wait for another round trip.
    delete headers.expect;
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        const length = Number(upRes.headers['content-length'] ?? 0);
        if (kind === 'truncate' && length > 1) {
          // Forward about half of the body, then cut the connection.
          let sent = 0;
          upRes.on('data', (chunk: Buffer) => {
            const room = Math.floor(length / 2) - sent;
            if (room > 0) res.write(chunk.subarray(0, room));
            sent += chunk.length;
            if (sent >= length / 2) {
              upRes.destroy();
              req.socket.destroy();
            }
          });
        } else {
          upRes.pipe(res);
        }
        upRes.on('error', () => res.destroy());
      },
    );
    up.on('error', () => res.destroy());
    req.on('error', () => up.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    async stop() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
