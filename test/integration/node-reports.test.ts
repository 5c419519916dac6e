import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoStateStore } from '#shared/aws/dynamo-state-store.ts';
import { configSchema } from '#shared/config/schema.ts';
import { environmentSecretResolver } from '#shared/config/secret-ref.ts';
import {
  type Emulators,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startEmulators,
} from '#shared/local/emulators.ts';
import { provision } from '#shared/local/provision.ts';
import { handleNodeGroupApiRequest } from '#shared/prepull/node-group-api.ts';
import type { NodeImage } from '#shared/prepull/node-report.ts';
import { NodeReportTooLargeError } from '#shared/state/store.ts';
import { API, held, nodeReport, WARM_SET, WORKER } from '../support/node-reports.ts';

// Node reports in the state table on the embedded DynamoDB, provisioned from the resources file
// serverless.yml deploys: conditional on the sequence, gzipped, with the TTL attribute, read back a
// node group at a time across pages.

const RESOURCES = fileURLToPath(
  new URL('../../infra/cloudformation/intake-resources.yml', import.meta.url),
);
const RECEIVED = new Date('2026-03-01T10:30:00.000Z');
const DAY = 24 * 3600;

let emulators: Emulators;
let stage = 0;

before(async () => {
  emulators = await startEmulators();
});
after(async () => {
  await emulators.stop();
});

/** A fresh table per test, so each starts empty. */
async function freshTable(): Promise<string> {
  stage++;
  const resources = await provision(
    RESOURCES,
    { 'self:service': 'pw', 'sls:stage': `nr${stage}` },
    emulators,
  );
  return resources.tables.StateTable as string;
}

/** Images with digests of their own, which compress about as badly as real ones. */
function distinctImages(node: string, count: number): NodeImage[] {
  return Array.from({ length: count }, (_, index) => {
    const digest = `sha256:${createHash('sha256').update(`${node}/${index}`).digest('hex')}`;
    return held(`registry.example.com/team/service-${index}:1.0.${index}@${digest}`, 'present', {
      bytes: 50_000_000 + index,
      durationMs: 1000 + index,
      pinned: true,
    });
  });
}

describe('DynamoStateStore: node reports', () => {
  test('a higher sequence replaces the report; an equal or lower one changes nothing', async () => {
    const table = await freshTable();
    const store = new DynamoStateStore(emulators.dynamo, table);
    const first = nodeReport('node-a', [held(API, 'present'), held(WORKER, 'pulling')]);
    assert.equal(await store.putNodeReport(first, RECEIVED, DAY), 'stored');
    const later = new Date(RECEIVED.getTime() + 60_000);
    const failing = { ...first, images: [held(API, 'failed', { cause: 'network' as const })] };
    assert.equal(await store.putNodeReport(failing, later, DAY), 'stale');
    assert.equal(
      await store.putNodeReport({ ...failing, sequence: first.sequence - 1 }, later, DAY),
      'stale',
    );
    assert.deepEqual(await store.nodeReports('general', RECEIVED), [
      {
        report: first,
        receivedAt: RECEIVED.toISOString(),
        expiresAt: '2026-03-02T10:30:00.000Z',
      },
    ]);
    const newer = { ...failing, sequence: first.sequence + 1 };
    assert.equal(await store.putNodeReport(newer, later, DAY), 'stored');
    const [stored] = await store.nodeReports('general', later);
    assert.deepEqual(stored?.report, newer);
    assert.equal(stored?.receivedAt, later.toISOString());
  });

  test('keeps reports per node group and node, with expiresAt in epoch seconds for the TTL', async () => {
    const table = await freshTable();
    const store = new DynamoStateStore(emulators.dynamo, table);
    await store.putNodeReport(nodeReport('node-a', []), RECEIVED, 3600);
    await store.putNodeReport(nodeReport('node-b', []), RECEIVED, 3600);
    await store.putNodeReport({ ...nodeReport('node-a', []), nodeGroup: 'gpu' }, RECEIVED, 3600);
    assert.deepEqual(
      (await store.nodeReports('general', RECEIVED)).map((stored) => stored.report.node).sort(),
      ['node-a', 'node-b'],
    );
    assert.equal((await store.nodeReports('gpu', RECEIVED)).length, 1);
    assert.deepEqual(await store.nodeReports('spot', RECEIVED), []);
    const item = await emulators.dynamo.send(
      new GetItemCommand({
        TableName: table,
        Key: { pk: { S: 'nodereport#general' }, sk: { S: 'node-a' } },
      }),
    );
    assert.equal(item.Item?.expiresAt?.N, String(RECEIVED.getTime() / 1000 + 3600));
    assert.ok(item.Item?.report?.B !== undefined, 'the report is stored as binary (gzip)');
  });

  test('an expired report the TTL has not removed yet gives way even to a lower sequence', async () => {
    const store = new DynamoStateStore(emulators.dynamo, await freshTable());
    const report = nodeReport('node-a', [held(API, 'present')]);
    await store.putNodeReport(report, RECEIVED, 60);
    // The node's clock went back: its sequence is lower than the expired report's.
    const afterReset = { ...report, sequence: 5 };
    const later = new Date(RECEIVED.getTime() + 120_000);
    assert.equal(await store.putNodeReport(afterReset, later, 60), 'stored');
    assert.deepEqual((await store.nodeReports('general', later))[0]?.report, afterReset);
  });

  test('at the second a report expires, a lower sequence replaces it, as reads already hide it', async () => {
    const store = new DynamoStateStore(emulators.dynamo, await freshTable());
    const report = nodeReport('node-a', [held(API, 'present')]);
    await store.putNodeReport(report, RECEIVED, 60);
    const expiry = new Date(RECEIVED.getTime() + 60_000);
    assert.deepEqual(await store.nodeReports('general', expiry), []);
    const afterReset = { ...report, sequence: 5 };
    assert.equal(await store.putNodeReport(afterReset, expiry, 60), 'stored');
    assert.deepEqual((await store.nodeReports('general', expiry))[0]?.report, afterReset);
  });

  test('leaves out reports expired at the time asked, though the TTL has not removed them', async () => {
    const store = new DynamoStateStore(emulators.dynamo, await freshTable());
    await store.putNodeReport(nodeReport('node-a', []), RECEIVED, 60);
    await store.putNodeReport(nodeReport('node-b', []), RECEIVED, 3600);
    const nodes = async (at: Date) =>
      (await store.nodeReports('general', at)).map((stored) => stored.report.node).sort();
    assert.deepEqual(await nodes(RECEIVED), ['node-a', 'node-b']);
    assert.deepEqual(await nodes(new Date(RECEIVED.getTime() + 59_000)), ['node-a', 'node-b']);
    assert.deepEqual(await nodes(new Date(RECEIVED.getTime() + 60_000)), ['node-b']);
    assert.deepEqual(await nodes(new Date(RECEIVED.getTime() + 3_600_000)), []);
  });

  test('reads every node of a large node group across query pages', async () => {
    const table = await freshTable();
    const store = new DynamoStateStore(emulators.dynamo, table);
    // 80 reports of about 17 KB gzipped: more than the 1 MB one query page holds.
    const nodes = Array.from(
      { length: 80 },
      (_, index) => `node-${String(index).padStart(2, '0')}`,
    );
    for (const node of nodes) {
      await store.putNodeReport(nodeReport(node, distinctImages(node, 300)), RECEIVED, DAY);
    }
    // A client of its own, counting the queries the read takes.
    let queries = 0;
    const counting = new DynamoDBClient({
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: emulators.dynamoEndpoint,
    });
    counting.middlewareStack.add(
      (next, context) => (args) => {
        if (context.commandName === 'QueryCommand') queries++;
        return next(args);
      },
      { step: 'initialize' },
    );
    try {
      const reports = await new DynamoStateStore(counting, table).nodeReports('general', RECEIVED);
      assert.deepEqual(reports.map((stored) => stored.report.node).sort(), nodes);
      assert.ok(reports.every((stored) => stored.report.images.length === 300));
      assert.ok(queries > 1, `more than one page (${queries} queries)`);
    } finally {
      counting.destroy();
    }
  });

  test('refuses a report that does not fit in an item even gzipped, and stores nothing', async () => {
    const store = new DynamoStateStore(emulators.dynamo, await freshTable());
    const images = distinctImages('node-a', 2000).map((image) => ({
      ...image,
      state: 'failed' as const,
      reason: randomBytes(225).toString('base64'),
    }));
    await assert.rejects(
      store.putNodeReport(nodeReport('node-a', images), RECEIVED, DAY),
      NodeReportTooLargeError,
    );
    assert.deepEqual(await store.nodeReports('general', RECEIVED), []);
  });
});

describe('the node-group routes on the state table', () => {
  test('a report posted with the node group token shows in the status', async () => {
    const store = new DynamoStateStore(emulators.dynamo, await freshTable());
    for (const entry of WARM_SET) await store.putWarmSetEntry('general', entry);
    const config = configSchema.parse({
      apiVersion: 'pullwarden.dev/v1',
      kind: 'Config',
      nodeGroups: { groups: { general: { token: { env: 'NG_TOKEN' } } } },
    });
    const deps = {
      loadConfig: async () => config,
      store,
      secrets: environmentSecretResolver({ NG_TOKEN: 'agent-token' }),
      authentication: 'token' as const,
      logger: { info() {}, error() {} },
      now: () => RECEIVED,
    };
    const report = nodeReport('node-a', [
      held(API, 'present', { pinned: true, durationMs: 2500 }),
      held(WORKER, 'failed', { cause: 'not-found', reason: 'manifest unknown' }),
    ]);
    const posted = await handleNodeGroupApiRequest(
      {
        routeKey: 'POST /v1/nodegroups/{nodeGroup}/nodes/{node}/report',
        pathParameters: { nodeGroup: 'general', node: 'node-a' },
        headers: { authorization: 'Bearer agent-token', 'content-type': 'application/json' },
        body: JSON.stringify(report),
      },
      deps,
    );
    assert.equal(posted.statusCode, 200, posted.body);
    const answer = await handleNodeGroupApiRequest(
      {
        routeKey: 'GET /v1/nodegroups/{nodeGroup}/status',
        pathParameters: { nodeGroup: 'general' },
      },
      deps,
    );
    assert.equal(answer.statusCode, 200, answer.body);
    const status = JSON.parse(answer.body);
    assert.deepEqual(
      status.images.map(
        (image: { image: string; present: string[]; failed: unknown[]; missing: string[] }) => [
          image.image,
          image.present.length,
          image.failed.length,
          image.missing.length,
        ],
      ),
      [
        [API, 1, 0, 0],
        [WORKER, 0, 1, 0],
        [
          WARM_SET.map((entry) => `${entry.registry}/${entry.repository}@${entry.digest}`)[2],
          0,
          0,
          1,
        ],
      ],
    );
    assert.deepEqual(status.images[0].pullDurationMs, { median: 2500, max: 2500, samples: 1 });
  });
});
