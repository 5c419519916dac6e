import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  pushOciImage,
  type RunningRegistry,
  startRegistry,
  writeOciLayout,
} from '../support/registry.ts';

// The real Distribution registry and skopeo behind test/support/registry.ts: a push is stored under
// the digest skopeo reports and the registry delivers a manifest push notification for it.

const USER = 'ci-bot';
const PASSWORD = 'not-a-secret';
const TOKEN = 'Bearer registry-notify';

interface Delivery {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

describe('Distribution registry peer', () => {
  const deliveries: Delivery[] = [];
  const waiters: (() => void)[] = [];
  const receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      deliveries.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      });
      for (const wake of waiters.splice(0)) wake();
      response.writeHead(200).end();
    });
  });
  let registry: RunningRegistry;

  before(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as AddressInfo;
    registry = await startRegistry({
      username: USER,
      password: PASSWORD,
      notifications: {
        url: `http://127.0.0.1:${port}/webhooks/distribution`,
        headers: { Authorization: [TOKEN] },
      },
    });
  });
  after(async () => {
    await registry?.stop();
    await new Promise((resolve) => receiver.close(resolve));
  });

  async function nextDelivery(predicate: (body: unknown) => boolean): Promise<Delivery> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = deliveries.find((delivery) => predicate(JSON.parse(delivery.body)));
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      assert.ok(left > 0, `no matching notification; got ${JSON.stringify(deliveries)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  test('a pushed tag is served under the digest skopeo reports and notified', async () => {
    const pushedAt = Date.now();
    const { digest } = await pushOciImage({
      registryHost: registry.host,
      repository: 'team/api',
      tag: 'v1',
      username: USER,
      password: PASSWORD,
    });
    // skopeo pushes the layout's manifest byte for byte, so the digest is known before the push.
    const layout = await mkdtemp(join(tmpdir(), 'pullwarden-layout-'));
    try {
      assert.equal(await writeOciLayout(layout, 'v1', 'team/api:v1'), digest);
    } finally {
      await rm(layout, { recursive: true, force: true });
    }

    const manifest = await fetch(`${registry.url}/v2/team/api/manifests/v1`, {
      headers: {
        Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
        // Distribution 2.8 answers 404 for an OCI manifest unless the client accepts OCI.
        Accept: 'application/vnd.oci.image.manifest.v1+json',
      },
    });
    await manifest.body?.cancel();
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get('docker-content-digest'), digest);

    type Envelope = { events: { action: string; target: Record<string, unknown> }[] };
    const isPush = (body: unknown) =>
      (body as Envelope).events.some((e) => e.action === 'push' && e.target.digest === digest);
    const delivery = await nextDelivery(isPush);
    if (process.env.REGISTRY_PEER_DEBUG) {
      console.log(JSON.stringify({ ...delivery, ms: delivery.at - pushedAt }, null, 2));
    }

    assert.equal(delivery.method, 'POST');
    assert.equal(delivery.url, '/webhooks/distribution');
    assert.equal(delivery.headers.authorization, TOKEN);
    assert.equal(
      delivery.headers['content-type'],
      'application/vnd.docker.distribution.events.v1+json',
    );
    const event = (JSON.parse(delivery.body) as Envelope).events.find(
      (e) => e.action === 'push' && e.target.digest === digest,
    );
    assert.deepEqual(
      {
        mediaType: event?.target.mediaType,
        digest: event?.target.digest,
        repository: event?.target.repository,
        tag: event?.target.tag,
      },
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest,
        repository: 'team/api',
        tag: 'v1',
      },
    );
  });

  test('different seeds give different digests', async () => {
    const push = (seed: string) =>
      pushOciImage({
        registryHost: registry.host,
        repository: 'team/seeded',
        tag: seed,
        username: USER,
        password: PASSWORD,
        seed,
      });
    const [a, b] = [await push('a'), await push('b')];
    assert.notEqual(a.digest, b.digest);
  });
});
