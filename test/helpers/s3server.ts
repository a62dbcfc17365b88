/**
 * An S3-compatible server (fauxqs) for tests, in process, on 127.0.0.1 and a free port.
 *
 * fauxqs' startFauxqs() always listens on 0.0.0.0 (its `host` option only changes the host name in
 * SQS queue urls), which would expose the test server to the network. So we build the same app with
 * buildApp() and listen on loopback ourselves. See /work/shared/S3-TESTING.md for its gaps
 * (no auth, bodies over 11 MiB get 413, in-memory only).
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { vi } from 'vitest';
import { buildApp } from 'fauxqs';

export interface TestS3 {
  endpoint: string;
  port: number;
  /** requests the server has answered, by method and in all (tests reset it with `requests.reset()`) */
  requests: { total: number; byMethod: Record<string, number>; ranged: number; reset(): void };
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** Client settings that work against the test server (fauxqs does no auth). */
export function testClientConfig(endpoint: string) {
  return { endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
}

export async function startS3(): Promise<TestS3> {
  const app = buildApp({ logger: false });
  const requests = {
    total: 0,
    byMethod: {} as Record<string, number>,
    /** GETs with a Range header */
    ranged: 0,
    reset() {
      this.total = 0;
      this.byMethod = {};
      this.ranged = 0;
    },
  };
  app.addHook('onRequest', async (req) => {
    requests.total++;
    requests.byMethod[req.method] = (requests.byMethod[req.method] ?? 0) + 1;
    if (req.headers.range) requests.ranged++;
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('fauxqs did not report a TCP address');
  const endpoint = `http://127.0.0.1:${addr.port}`;
  const admin = new S3Client(testClientConfig(endpoint));
  return {
    endpoint,
    port: addr.port,
    requests,
    async createBucket(name: string) {
      await admin.send(new CreateBucketCommand({ Bucket: name }));
    },
    async stop() {
      admin.destroy();
      await app.close();
    },
  };
}

/**
 * The test S3 server, with the AWS default credential chain pointed at test values (credentials come
 * only from that chain, so the tests use it too; fauxqs ignores them), and an admin client for
 * looking behind trove's back. Pair with `stopS3WithAdmin` in afterAll.
 * @example beforeAll(async () => ({ s3, admin } = await startS3WithAdmin()));
 */
export async function startS3WithAdmin(): Promise<{ s3: TestS3; admin: S3Client }> {
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
  vi.stubEnv('AWS_PROFILE', undefined);
  const s3 = await startS3();
  return { s3, admin: new S3Client(testClientConfig(s3.endpoint)) };
}

export async function stopS3WithAdmin(s3: TestS3 | undefined, admin: S3Client | undefined): Promise<void> {
  admin?.destroy();
  await s3?.stop();
  vi.unstubAllEnvs();
}
