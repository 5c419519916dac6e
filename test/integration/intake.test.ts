import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { DynamoStateStore } from '#shared/aws/dynamo-state-store.ts';
import { DynamoInventory } from '#shared/aws/inventory-store.ts';
import { SqsPrepullQueue } from '#shared/aws/prepull-queue.ts';
import { type Config, configSchema } from '#shared/config/schema.ts';
import { environmentSecretResolver } from '#shared/config/secret-ref.ts';
import type { IntakeDependencies } from '#shared/intake/pipeline.ts';
import { handleWebhook, type WebhookDependencies } from '#shared/intake/webhook-http.ts';
import { type Emulators, startEmulators } from '#shared/local/emulators.ts';
import { type ProvisionedResources, provision } from '#shared/local/provision.ts';
import { handleDispatchBatch } from '#shared/prepull/dispatch-batch.ts';
import { handleWarmSetRequest } from '#shared/prepull/warm-set-http.ts';
import { HttpDigestResolver } from '#shared/registry/digest-resolver.ts';
import { nodeFacts, podFacts } from '../support/cluster.ts';
import { DIGEST_A, DIGEST_B, distributionEnvelope } from '../support/webhooks.ts';

// The intake against the embedded DynamoDB and SQS emulators, provisioned from the resources file
// serverless.yml deploys.

const RESOURCES = fileURLToPath(
  new URL('../../infra/cloudformation/intake-resources.yml', import.meta.url),
);
const SECRETS = {
  DIST_TOKEN: 'Bearer registry-notify',
  NG_TOKEN: 'agent-token',
  REG_PASSWORD: 'pw',
};

const silent = { info() {}, warn() {}, error() {} };

function config(extra: Record<string, unknown>): Config {
  return configSchema.parse({
    apiVersion: 'pullwarden.dev/v1',
    kind: 'Config',
    webhooks: {
      sources: {
        distribution: { token: { env: 'DIST_TOKEN' } },
        dockerhub: { token: { env: 'DIST_TOKEN' } },
      },
    },
    ...extra,
  });
}

describe('push intake on the emulators', () => {
  let emulators: Emulators;
  let resources: ProvisionedResources;
  let store: DynamoStateStore;
  let inventory: DynamoInventory;
  let sendCalls: number;
  let stage = 0;

  before(async () => {
    emulators = await startEmulators();
  });
  after(async () => {
    await emulators.stop();
  });

  /** A fresh table and queue per test, so each starts empty. */
  async function fresh() {
    stage++;
    resources = await provision(
      RESOURCES,
      { 'self:service': 'pw', 'sls:stage': `t${stage}` },
      emulators,
    );
    store = new DynamoStateStore(emulators.dynamo, resources.tables.StateTable as string);
    inventory = new DynamoInventory(emulators.dynamo, resources.tables.StateTable as string);
    sendCalls = 0;
  }

  function deps(cfg: Config, now = () => new Date('2026-03-01T10:20:00Z')): WebhookDependencies {
    const queue = new SqsPrepullQueue(emulators.sqs, resources.queues.PrepullQueue?.url as string);
    const counting = {
      async send(messages: Parameters<SqsPrepullQueue['send']>[0]) {
        const result = await queue.send(messages);
        sendCalls += result.calls;
        return result;
      },
    };
    const secrets = environmentSecretResolver(SECRETS);
    return {
      loadConfig: async () => cfg,
      secrets,
      intake: (c): IntakeDependencies => ({
        config: c,
        store,
        inventory,
        queue: counting,
        resolver: new HttpDigestResolver(c, secrets),
        now,
      }),
      logger: silent,
      now,
    };
  }

  const post = (
    body: unknown,
    d: WebhookDependencies,
    source = 'distribution',
    headers: Record<string, string> = { Authorization: SECRETS.DIST_TOKEN },
  ) =>
    handleWebhook(
      {
        body: JSON.stringify(body),
        headers: {
          'content-type': 'application/vnd.docker.distribution.events.v1+json',
          ...headers,
        },
        pathParameters: { source },
      },
      d,
    );

  async function drain(): Promise<SQSEvent['Records']> {
    const records: SQSEvent['Records'] = [];
    for (;;) {
      const received = await emulators.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: resources.queues.PrepullQueue?.url,
          MaxNumberOfMessages: 10,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      const messages = received.Messages ?? [];
      if (messages.length === 0) return records;
      for (const message of messages) {
        records.push({
          messageId: message.MessageId as string,
          receiptHandle: message.ReceiptHandle as string,
          body: message.Body as string,
          attributes: message.Attributes as never,
          messageAttributes: {},
          md5OfBody: message.MD5OfBody as string,
          eventSource: 'aws:sqs',
          eventSourceARN: resources.queues.PrepullQueue?.arn as string,
          awsRegion: 'eu-west-1',
        });
        await emulators.sqs.send(
          new DeleteMessageCommand({
            QueueUrl: resources.queues.PrepullQueue?.url,
            ReceiptHandle: message.ReceiptHandle,
          }),
        );
      }
    }
  }

  const rules = (nodeGroups: string[]) => ({
    prePull: {
      followInventory: true,
      rules: [
        {
          name: 'team',
          images: ['registry.example.com/team/*'],
          tags: { semver: '>=1.0.0' },
          nodeGroups,
          priority: 5,
        },
      ],
    },
  });

  test('the same delivery three times queues one message per node group', async () => {
    await fresh();
    const d = deps(config(rules(['general', 'spot'])));
    const body = distributionEnvelope([
      { action: 'push', tag: '1.4.2', digest: DIGEST_A, id: 'delivery-1' },
    ]);
    const first = await post(body, d);
    assert.equal(first.statusCode, 202);
    const summary = JSON.parse(first.body);
    assert.equal(summary.queued, 2);
    assert.deepEqual(summary.events[0].nodeGroups, ['general', 'spot']);
    for (let i = 0; i < 2; i++) {
      const again = await post(body, d);
      assert.equal(again.statusCode, 200);
      assert.equal(JSON.parse(again.body).events[0].status, 'duplicate');
    }
    // A different delivery id for the same push is a duplicate by content.
    const resent = await post(
      distributionEnvelope([{ action: 'push', tag: '1.4.2', digest: DIGEST_A, id: 'delivery-2' }]),
      d,
    );
    assert.equal(JSON.parse(resent.body).events[0].status, 'duplicate');
    const records = await drain();
    assert.deepEqual(records.map((r) => JSON.parse(r.body).nodeGroup).sort(), ['general', 'spot']);
    assert.equal(sendCalls, 1);
  });

  test('25 node groups go out in 3 SendMessageBatch calls', async () => {
    await fresh();
    const groups = Array.from({ length: 25 }, (_, i) => `ng-${String(i).padStart(2, '0')}`);
    const response = await post(
      distributionEnvelope([{ action: 'push', tag: '2.0.0', digest: DIGEST_A }]),
      deps(config(rules(groups))),
    );
    assert.equal(JSON.parse(response.body).queued, 25);
    assert.equal(sendCalls, 3);
    assert.equal((await drain()).length, 25);
  });

  test('planning: tag filter, inventory-following, no match', async () => {
    await fresh();
    // The cluster inventory: a pod of the repository runs on a node of node group gpu.
    const at = new Date();
    await inventory.apply({
      type: 'ADDED',
      kind: 'Node',
      namespace: '',
      name: 'gpu-node-1',
      resourceVersion: '10',
      facts: nodeFacts('gpu-node-1', 'gpu'),
      at,
    });
    await inventory.apply({
      type: 'ADDED',
      kind: 'Pod',
      namespace: 'ml',
      name: 'trainer-0',
      resourceVersion: '11',
      facts: podFacts('ml', 'trainer-0', 'gpu-node-1', 'registry.example.com/team/api:0.9.0'),
      at,
    });
    const d = deps(config(rules(['general'])));
    const matched = JSON.parse(
      (await post(distributionEnvelope([{ action: 'push', tag: '1.0.0', digest: DIGEST_A }]), d))
        .body,
    );
    assert.deepEqual(matched.events[0].nodeGroups, ['general', 'gpu']);
    const prerelease = JSON.parse(
      (
        await post(
          distributionEnvelope([{ action: 'push', tag: 'nightly', digest: DIGEST_B, id: 'n' }]),
          d,
        )
      ).body,
    );
    assert.deepEqual(prerelease.events[0].nodeGroups, ['gpu']);
    await drain();
  });

  test('a newer digest for the tag supersedes the queued one; the warm set serves the newest with an ETag', async () => {
    await fresh();
    const cfg = config({
      ...rules(['general']),
      nodeGroups: { groups: { general: { token: { env: 'NG_TOKEN' } } } },
    });
    const d = deps(cfg);
    await post(
      distributionEnvelope([{ action: 'push', tag: '1.0.0', digest: DIGEST_A, id: 'old' }]),
      d,
    );
    const second = await post(
      {
        events: distributionEnvelope([
          { action: 'push', tag: '1.0.0', digest: DIGEST_B, id: 'new' },
        ]).events.map((e) => ({ ...e, timestamp: '2026-03-01T10:16:00Z' })),
      },
      d,
    );
    const outcome = JSON.parse(second.body).events[0];
    assert.equal(outcome.tagMoved, true);
    assert.equal(outcome.previousDigest, DIGEST_A);
    const records = await drain();
    assert.equal(records.length, 2);
    const dispatchDeps = {
      loadConfig: async () => cfg,
      dispatch: (c: Config) => ({
        config: c,
        store,
        commands: { sendPullCommand: async () => 'never' },
        now: () => new Date('2026-03-01T10:21:00Z'),
      }),
      logger: silent,
    };
    const batch = await handleDispatchBatch({ Records: records }, dispatchDeps);
    assert.deepEqual(batch.batchItemFailures, []);
    const warmSet = store.warmSet('general');
    assert.deepEqual(
      (await warmSet).map((entry) => entry.digest),
      [DIGEST_B],
    );

    const warmDeps = {
      loadConfig: async () => cfg,
      store,
      secrets: environmentSecretResolver(SECRETS),
      authentication: 'token' as const,
      logger: silent,
    };
    const get = (headers: Record<string, string>) =>
      handleWarmSetRequest({ pathParameters: { nodeGroup: 'general' }, headers }, warmDeps);
    const ok = await get({ authorization: 'Bearer agent-token' });
    assert.equal(ok.statusCode, 200);
    const document = JSON.parse(ok.body);
    assert.equal(document.schema, 'pullwarden.warmset/v1');
    assert.equal(document.images[0].image, `registry.example.com/team/api:1.0.0@${DIGEST_B}`);
    const etag = ok.headers.etag as string;
    assert.equal(
      (await get({ authorization: 'Bearer agent-token', 'if-none-match': etag })).statusCode,
      304,
    );
    assert.equal((await get({ authorization: 'Bearer wrong' })).statusCode, 401);
    assert.equal((await get({})).statusCode, 401);
  });

  test('a malformed queue message fails its record and the ones after it (FIFO order)', async () => {
    await fresh();
    const cfg = config({});
    const record = (body: string, id: string) => ({
      messageId: id,
      receiptHandle: id,
      body,
      attributes: { MessageGroupId: 'general' } as never,
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:eu-west-1:000000000000:q.fifo',
      awsRegion: 'eu-west-1',
    });
    const result = await handleDispatchBatch(
      { Records: [record('{"schema":"other"}', 'm1'), record('{}', 'm2')] },
      {
        loadConfig: async () => cfg,
        dispatch: (c) => ({
          config: c,
          store,
          commands: { sendPullCommand: async () => 'x' },
          now: () => new Date(),
        }),
        logger: silent,
      },
    );
    assert.deepEqual(
      result.batchItemFailures.map((f) => f.itemIdentifier),
      ['m1', 'm2'],
    );
  });

  test('HTTP answers: 401, 404, 413, 415, 422 change nothing', async () => {
    await fresh();
    const d = deps(config(rules(['general'])));
    const body = distributionEnvelope([{ action: 'push', tag: '1.0.0', digest: DIGEST_A }]);
    assert.equal(
      (await post(body, d, 'distribution', { Authorization: 'Bearer wrong' })).statusCode,
      401,
    );
    assert.equal((await post(body, d, 'distribution', {})).statusCode, 401);
    assert.equal((await post(body, d, 'nexus')).statusCode, 404);
    assert.equal((await post(body, d, 'harbor')).statusCode, 404);
    const big = await handleWebhook(
      {
        body: 'x'.repeat(1024 * 1024 + 1),
        headers: { 'content-type': 'application/json', authorization: SECRETS.DIST_TOKEN },
        pathParameters: { source: 'distribution' },
      },
      d,
    );
    assert.equal(big.statusCode, 413);
    const wrongType = await handleWebhook(
      {
        body: JSON.stringify(body),
        headers: { 'content-type': 'text/plain', authorization: SECRETS.DIST_TOKEN },
        pathParameters: { source: 'distribution' },
      },
      d,
    );
    assert.equal(wrongType.statusCode, 415);
    assert.equal((await post({ hello: 'world' }, d)).statusCode, 422);
    assert.equal((await post('{"events": [', d)).statusCode, 422);
    assert.equal((await drain()).length, 0);
    assert.equal(sendCalls, 0);
  });

  test('Docker Hub pushes without a digest: resolved over the Distribution API with a bearer challenge', async () => {
    await fresh();
    const seen: string[] = [];
    const registry = createServer((request, response) => {
      const port = (registry.address() as AddressInfo).port;
      seen.push(`${request.method} ${request.url} ${request.headers.authorization ?? '-'}`);
      if (request.url?.startsWith('/token')) {
        const expected = `Basic ${Buffer.from('robot:pw').toString('base64')}`;
        if (request.headers.authorization !== expected) return response.writeHead(401).end();
        return response
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"token":"t0k"}');
      }
      if (request.headers.authorization !== 'Bearer t0k') {
        return response
          .writeHead(401, {
            'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="reg",scope="repository:acme/api:pull"`,
          })
          .end();
      }
      response
        .writeHead(200, {
          'docker-content-digest': DIGEST_B,
          'content-type': 'application/vnd.oci.image.index.v1+json',
        })
        .end();
    });
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    try {
      const port = (registry.address() as AddressInfo).port;
      const cfg = config({
        ...rules(['general']),
        prePull: {
          rules: [{ name: 'hub', images: ['docker.io/acme/*'], nodeGroups: ['general'] }],
        },
        registries: {
          endpoints: [
            {
              host: 'docker.io',
              url: `http://127.0.0.1:${port}`,
              username: 'robot',
              password: { env: 'REG_PASSWORD' },
            },
          ],
        },
      });
      const response = await handleWebhook(
        {
          body: JSON.stringify({
            push_data: { pushed_at: 1740823530, tag: 'latest' },
            repository: { repo_name: 'acme/api' },
          }),
          headers: { 'content-type': 'application/json' },
          pathParameters: { source: 'dockerhub', token: SECRETS.DIST_TOKEN },
        },
        deps(cfg),
      );
      assert.equal(response.statusCode, 202, response.body);
      const outcome = JSON.parse(response.body).events[0];
      assert.equal(outcome.digest, DIGEST_B);
      assert.deepEqual(outcome.nodeGroups, ['general']);
      assert.match(
        seen.join('\n'),
        /HEAD \/v2\/acme\/api\/manifests\/latest -[\s\S]*GET \/token\?service=reg&scope=repository%3Aacme%2Fapi%3Apull Basic[\s\S]*HEAD \/v2\/acme\/api\/manifests\/latest Bearer t0k/,
      );
      const [message] = await drain();
      assert.equal(JSON.parse(message?.body ?? '{}').image.digest, DIGEST_B);
    } finally {
      registry.close();
    }
  });
});
