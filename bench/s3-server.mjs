#!/usr/bin/env node
/**
 * The bench's S3 server: fauxqs on 127.0.0.1 and a free port, in a process of its own, so that the
 * benchmark can time trove and rclone with blocking spawns while it serves them. Prints one line
 * `{"port":N}` when it listens. Reads commands on stdin, one a line: `count` prints
 * `{"requests":N}` (HTTP requests served since start), `bucket NAME` creates a bucket and prints
 * `{"ok":true}`. Exits when stdin closes.
 */
import { createInterface } from 'node:readline';
import { buildApp } from 'fauxqs';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

let requests = 0;
const app = buildApp({ logger: false });
app.addHook('onRequest', async () => {
  requests++;
});
await app.listen({ port: 0, host: '127.0.0.1' });
const port = app.server.address().port;
const admin = new S3Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
process.stdout.write(JSON.stringify({ port }) + '\n');
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'count') process.stdout.write(JSON.stringify({ requests }) + '\n');
  else if (cmd === 'bucket') {
    await admin.send(new CreateBucketCommand({ Bucket: arg }));
    process.stdout.write(JSON.stringify({ ok: true }) + '\n');
  } else process.stdout.write(JSON.stringify({ error: `unknown command ${cmd}` }) + '\n');
}
admin.destroy();
await app.close();
