import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { DynamoStateStore } from '#shared/aws/dynamo-state-store.ts';
import { DynamoFindingsStore } from '#shared/aws/findings-store.ts';
import { DynamoInventory } from '#shared/aws/inventory-store.ts';
import type { MetricPoint } from '#shared/aws/powertools.ts';
import { DynamoPullTelemetry } from '#shared/aws/pull-telemetry-store.ts';
import {
  type ClusterEventsEntryDependencies,
  handleClusterEventsBatch,
  handleClusterEventsRequest,
} from '#shared/cluster/entry.ts';
import { parseDelivery } from '#shared/cluster/events.ts';
import { type ClusterEventDependencies, ingestClusterEvents } from '#shared/cluster/ingest.ts';
import { type Config, configSchema } from '#shared/config/schema.ts';
import { environmentSecretResolver } from '#shared/config/secret-ref.ts';
import {
  type Emulators,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startEmulators,
} from '#shared/local/emulators.ts';
import { provision } from '#shared/local/provision.ts';
import type { PrepullMessage } from '#shared/prepull/message.ts';
import { DigestResolutionError, type DigestResolver } from '#shared/registry/digest-resolver.ts';
import {
  coreEvent,
  deploymentPod,
  type Json,
  launchEvent,
  node,
  pod,
  structuredEvent,
  watch,
} from '../support/cluster.ts';
import { DIGEST_A, DIGEST_B } from '../support/webhooks.ts';

// cluster-events against the embedded DynamoDB: watch events in any order and any number of times,
// node warm-ups, kubelet pull events as telemetry and findings.

const RESOURCES = fileURLToPath(
  new URL('../../infra/cloudformation/intake-resources.yml', import.meta.url),
);
const NOW = new Date('2026-11-20T09:10:00Z');
const API = 'registry.example.com/team/api';

function config(extra: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    apiVersion: 'pullwarden.dev/v1',
    kind: 'Config',
    clusterEvents: { token: { env: 'EVENTS_TOKEN' } },
    ...extra,
  });
}

const resolver: DigestResolver = {
  async resolve(registry, repository, tag) {
    if (`${registry}/${repository}:${tag}` === 'docker.io/library/busybox:1.37') {
      return { digest: DIGEST_B, mediaType: 'application/vnd.oci.image.index.v1+json' };
    }
    throw new DigestResolutionError(`${registry}/${repository}:${tag} does not exist`, 'not-found');
  },
};

describe('cluster events on the emulators', () => {
  let emulators: Emulators;
  let stage = 0;
  let deps: ClusterEventDependencies;
  let inventory: DynamoInventory;
  let store: DynamoStateStore;
  let findings: DynamoFindingsStore;
  let queued: PrepullMessage[];
  let table: string;

  before(async () => {
    emulators = await startEmulators();
  });
  after(async () => {
    await emulators.stop();
  });

  beforeEach(async () => {
    stage++;
    const resources = await provision(
      RESOURCES,
      { 'self:service': 'pw', 'sls:stage': `c${stage}` },
      emulators,
    );
    table = resources.tables.StateTable as string;
    inventory = new DynamoInventory(emulators.dynamo, table);
    store = new DynamoStateStore(emulators.dynamo, table);
    findings = new DynamoFindingsStore(emulators.dynamo, table);
    queued = [];
    deps = {
      config: config(),
      inventory,
      store,
      queue: {
        async send(messages) {
          queued.push(...messages);
          return { calls: 1 };
        },
      },
      findings,
      telemetry: new DynamoPullTelemetry(emulators.dynamo, table),
      resolver,
      now: () => NOW,
    };
  });

  const apply = (...entries: Json[]) =>
    ingestClusterEvents(parseDelivery(JSON.stringify(entries)), deps);

  test('watch events keep the inventory whatever their order and repetition', async () => {
    const first = await apply(
      watch('ADDED', node('ip-10-0-1-17', 'general', { resourceVersion: '100' })),
      watch(
        'ADDED',
        deploymentPod('shop', 'api', 1, {
          nodeName: 'ip-10-0-1-17',
          containers: [{ name: 'api', image: `${API}:1.4.0` }],
          resourceVersion: '200',
        }),
      ),
    );
    assert.deepEqual(first.watch, { applied: 2, stale: 0, duplicate: 0 });
    assert.deepEqual(await inventory.nodeGroupsRunning(API), ['general']);

    // The same events again (a re-list after a restart) and an older version of the pod.
    const again = await apply(
      watch('ADDED', node('ip-10-0-1-17', 'general', { resourceVersion: '100' })),
      watch(
        'MODIFIED',
        deploymentPod('shop', 'api', 1, {
          nodeName: 'ip-10-0-1-17',
          containers: [{ name: 'api', image: `${API}:1.3.0` }],
          resourceVersion: '150',
        }),
      ),
    );
    assert.deepEqual(again.watch, { applied: 0, stale: 1, duplicate: 1 });
    const stored = await inventory.object('Pod', 'shop', 'api-7d4b9c8f6d-xxxx1');
    assert.equal(stored?.facts.sites[0]?.image, `${API}:1.4.0`);

    // Deleted, then a late ADDED of the version before the deletion: the pod stays gone.
    const deleted = deploymentPod('shop', 'api', 1, {
      nodeName: 'ip-10-0-1-17',
      containers: [{ name: 'api', image: `${API}:1.4.0` }],
      resourceVersion: '260',
    });
    const late = deploymentPod('shop', 'api', 1, {
      nodeName: 'ip-10-0-1-17',
      containers: [{ name: 'api', image: `${API}:1.4.0` }],
      resourceVersion: '250',
    });
    const removal = await apply(watch('DELETED', deleted), watch('ADDED', late));
    assert.deepEqual(removal.watch, { applied: 1, stale: 1, duplicate: 0 });
    assert.equal(await inventory.object('Pod', 'shop', 'api-7d4b9c8f6d-xxxx1'), undefined);
    assert.deepEqual(await inventory.nodeGroupsRunning(API), []);
    assert.deepEqual(
      await inventory.objectsUsingTag({
        registry: 'registry.example.com',
        repository: 'team/api',
        tag: '1.4.0',
      }),
      [],
    );
  });

  test('an index write that failed is completed by the redelivery, for changes and deletions', async () => {
    // The same table through a client whose BatchWriteItem fails while `failing` is set.
    let failing = false;
    const client = new DynamoDBClient({
      endpoint: emulators.dynamoEndpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (failing && context.commandName === 'BatchWriteItemCommand') {
          throw Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failBatchWrites' },
    );
    deps.inventory = new DynamoInventory(client, table);
    const apiPod = (image: string, resourceVersion: string) =>
      deploymentPod('shop', 'api', 1, {
        nodeName: 'ip-10-0-1-17',
        containers: [{ name: 'api', image }],
        resourceVersion,
      });
    const usersOf = async (tag: string) =>
      (
        await inventory.objectsUsingTag({
          registry: 'registry.example.com',
          repository: 'team/api',
          tag,
        })
      ).map((object) => object.name);
    await apply(
      watch('ADDED', node('ip-10-0-1-17', 'general')),
      watch('ADDED', apiPod(`${API}:1.0`, '10')),
    );
    assert.deepEqual(await usersOf('1.0'), ['api-7d4b9c8f6d-xxxx1']);

    const moved = watch('MODIFIED', apiPod(`${API}:2.0`, '11'));
    failing = true;
    await assert.rejects(apply(moved), /throttled/);
    failing = false;
    const redelivered = await apply(moved);
    assert.deepEqual(redelivered.watch, { applied: 0, stale: 0, duplicate: 1 });
    assert.deepEqual(await usersOf('1.0'), [], 'the entry of the old image is gone');
    assert.deepEqual(await usersOf('2.0'), ['api-7d4b9c8f6d-xxxx1']);

    const gone = watch('DELETED', apiPod(`${API}:2.0`, '12'));
    failing = true;
    await assert.rejects(apply(gone), /throttled/);
    failing = false;
    assert.deepEqual((await apply(gone)).watch, { applied: 0, stale: 0, duplicate: 1 });
    assert.deepEqual(await usersOf('2.0'), []);
    assert.deepEqual(await inventory.nodeGroupsRunning(API), []);
    client.destroy();
  });

  test('a node warm-up that failed is done by the redelivery', async () => {
    await store.putWarmSetEntry('general', {
      registry: 'registry.example.com',
      repository: 'team/api',
      digest: DIGEST_A,
      reason: 'push',
      selectedBy: 'x',
      firstRequestedAt: '2026-11-19T10:00:00.000Z',
      lastRequestedAt: '2026-11-19T10:00:00.000Z',
    });
    const send = deps.queue.send;
    deps.queue = {
      send: async () => {
        throw new Error('queue unavailable');
      },
    };
    const joining = watch(
      'ADDED',
      node('ip-10-0-5-5', 'general', { createdAt: '2026-11-20T09:05:00Z' }),
    );
    await assert.rejects(apply(joining), /queue unavailable/);
    deps.queue = { send };
    const again = await apply(joining);
    assert.deepEqual(again.watch, { applied: 0, stale: 0, duplicate: 1 });
    assert.deepEqual(
      again.nodeJoins.map((join) => join.status),
      ['queued'],
    );
    assert.equal(queued.length, 1);
    assert.equal((await apply(joining)).nodeJoins[0]?.status, 'duplicate');
    assert.equal(queued.length, 1);
  });

  test('a pod seen before its node gets its node group once the node arrives', async () => {
    await apply(
      watch(
        'ADDED',
        pod('ml', 'trainer-0', {
          nodeName: 'gpu-1',
          containers: [{ name: 'main', image: `${API}:2.0.0` }],
        }),
      ),
    );
    assert.deepEqual(await inventory.nodeGroupsRunning(API), []);
    await apply(watch('ADDED', node('gpu-1', 'gpu', { label: 'karpenter.sh/nodepool' })));
    assert.deepEqual(await inventory.nodeGroupsRunning(API), ['gpu']);
  });

  test('a joining node is warmed with its node group’s warm set and pre-pull set, once', async () => {
    deps.config = config({ nodeGroups: { prePull: { general: ['busybox:1.37', 'missing:1'] } } });
    await store.putWarmSetEntry('general', {
      registry: 'registry.example.com',
      repository: 'team/api',
      tag: '1.4.0',
      digest: DIGEST_A,
      reason: 'push',
      selectedBy: 'all-apps',
      firstRequestedAt: '2026-11-19T10:00:00.000Z',
      lastRequestedAt: '2026-11-19T10:00:00.000Z',
    });
    const joining = node('ip-10-0-2-9', 'general', {
      createdAt: '2026-11-20T09:08:00Z',
      instanceId: 'i-0abc123def4567890',
    });
    const summary = await apply(watch('ADDED', joining));
    assert.equal(summary.nodeJoins.length, 1);
    assert.equal(summary.nodeJoins[0]?.status, 'queued');
    assert.equal(summary.nodeJoins[0]?.unresolved.length, 1, 'missing:1 cannot be pinned');
    assert.deepEqual(
      queued.map((message) => [message.reason, message.image.digest, message.node]),
      [
        ['node-join', DIGEST_A, { name: 'ip-10-0-2-9', instanceId: 'i-0abc123def4567890' }],
        ['node-join', DIGEST_B, { name: 'ip-10-0-2-9', instanceId: 'i-0abc123def4567890' }],
      ],
    );
    // Redelivered, and then the node's next status update: no second warm-up.
    const modified = structuredClone(joining);
    (modified.metadata as Json).resourceVersion = '1001';
    await apply(watch('ADDED', joining), watch('MODIFIED', modified));
    assert.equal(queued.length, 2);

    // A node created long ago that the inventory sees for the first time is a re-list, not a join.
    await apply(
      watch('ADDED', node('ip-10-0-3-3', 'general', { createdAt: '2026-10-01T00:00:00Z' })),
    );
    assert.equal(queued.length, 2);
  });

  test('an Auto Scaling launch warms the node before it registers; its Node object does not again', async () => {
    const launch = launchEvent(
      'i-0fedcba9876543210',
      'eks-spot-3ac5e1d2-1234-4b6a-9c1d-0123456789ab',
    );
    await store.putWarmSetEntry('spot', {
      registry: 'registry.example.com',
      repository: 'team/api',
      digest: DIGEST_A,
      reason: 'push',
      selectedBy: 'x',
      firstRequestedAt: '2026-11-19T10:00:00.000Z',
      lastRequestedAt: '2026-11-19T10:00:00.000Z',
    });
    const first = await apply(launch);
    assert.deepEqual(
      first.nodeJoins.map((join) => [join.nodeGroup, join.node, join.status]),
      [['spot', 'i-0fedcba9876543210', 'queued']],
    );
    await apply(launch);
    await apply(
      watch(
        'ADDED',
        node('ip-10-0-4-4', 'spot', {
          createdAt: '2026-11-20T09:09:00Z',
          instanceId: 'i-0fedcba9876543210',
        }),
      ),
    );
    assert.equal(queued.length, 1);
    assert.deepEqual(queued[0]?.node, { instanceId: 'i-0fedcba9876543210' });
  });

  test('Pulled events become pull times, cache hits, pre-pull hits and time saved', async () => {
    await apply(watch('ADDED', node('ip-10-0-1-17.eu-west-1.compute.internal', 'general')));
    await store.putWarmSetEntry('general', {
      registry: 'registry.example.com',
      repository: 'team/api',
      tag: '1.4.0',
      digest: DIGEST_A,
      reason: 'push',
      selectedBy: 'x',
      firstRequestedAt: '2026-11-19T10:00:00.000Z',
      lastRequestedAt: '2026-11-19T10:00:00.000Z',
    });
    const pulled = coreEvent({
      namespace: 'shop',
      pod: 'api-1',
      container: 'api',
      reason: 'Pulled',
      message: `Successfully pulled image "${API}:1.4.0" in 4.2s (4.5s including waiting). Image size: 81234567 bytes.`,
    });
    const present = coreEvent({
      namespace: 'shop',
      pod: 'api-2',
      container: 'api',
      reason: 'Pulled',
      message: `Container image "${API}:1.4.0" already present on machine`,
    });
    const summary = await apply(pulled, present, pulled);
    assert.deepEqual(summary.kubeletEvents, { processed: 2, duplicate: 1 });
    const figure = (name: string) =>
      summary.metrics.find(
        (point: MetricPoint) => point.name === name && point.dimensions?.NodeGroup === 'general',
      )?.value;
    assert.equal(figure('ImagePulls'), 1);
    assert.equal(figure('ImageCacheHits'), 1);
    assert.equal(figure('PrepullHits'), 1);
    assert.equal(figure('ImagePullMs'), 4200);
    assert.equal(figure('PullTimeSavedMs'), 4200);
    assert.equal(figure('PrepullHitRate'), 50);
  });

  test('ErrImageNeverPull raises PW010 for the workload; repeated pull failures raise PW011 with the cause', async () => {
    await apply(
      watch('ADDED', node('ip-10-0-1-17.eu-west-1.compute.internal', 'general')),
      watch(
        'ADDED',
        deploymentPod('shop', 'worker', 1, {
          nodeName: 'ip-10-0-1-17.eu-west-1.compute.internal',
          containers: [{ name: 'worker', image: `${API}:1.4.0`, imagePullPolicy: 'Never' }],
        }),
      ),
    );
    await apply(
      coreEvent({
        namespace: 'shop',
        pod: 'worker-7d4b9c8f6d-xxxx1',
        container: 'worker',
        reason: 'ErrImageNeverPull',
        type: 'Warning',
        message: `Container image "${API}:1.4.0" is not present with pull policy of Never`,
      }),
    );
    const failure = (count: number, uid: string) =>
      structuredEvent({
        namespace: 'shop',
        pod: 'web-0',
        container: 'web',
        reason: 'Failed',
        type: 'Warning',
        uid,
        count,
        message:
          'Failed to pull image "registry.example.com/team/web:9.9": rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/team/web:9.9": failed to resolve reference "registry.example.com/team/web:9.9": registry.example.com/team/web:9.9: not found',
      });
    await apply(failure(1, 'e-1'), failure(2, 'e-1'));
    assert.deepEqual(
      (await findings.listFindings({})).map((f) => [f.ruleId, f.workload.kind, f.workload.name]),
      [['PW010', 'Deployment', 'worker']],
      'two failures are below the threshold of 3',
    );
    await apply(failure(3, 'e-1'));
    const open = await findings.listFindings({ rules: ['PW011'] });
    assert.equal(open.length, 1);
    assert.equal(open[0]?.workload.name, 'web-0');
    assert.match(open[0]?.message ?? '', /failed to pull 3 times.*not found/);
    assert.ok(open[0]?.evidence.includes('cause: not-found'));
    assert.equal(open[0]?.origin, 'event');
  });

  describe('entry points', () => {
    let log: string[];
    const entry = (): ClusterEventsEntryDependencies => ({
      loadConfig: async () => deps.config,
      secrets: environmentSecretResolver({ EVENTS_TOKEN: 'shipper-token' }),
      ingest: () => deps,
      publish: () => {},
      log: {
        info: (message) => log.push(message),
        warn: (message) => log.push(message),
        error: (message) => log.push(message),
      },
    });
    beforeEach(() => {
      log = [];
    });

    const post = (body: string, headers: Record<string, string>) =>
      handleClusterEventsRequest({ body, headers }, entry());

    test('POST /cluster-events: token, media type, and a bad entry that rejects the whole delivery', async () => {
      const good = JSON.stringify(watch('ADDED', node('n1', 'general')));
      assert.equal((await post(good, { 'content-type': 'application/json' })).statusCode, 401);
      assert.equal(
        (await post(good, { 'content-type': 'application/json', authorization: 'Bearer nope' }))
          .statusCode,
        401,
      );
      const auth = { authorization: 'Bearer shipper-token' };
      assert.equal((await post(good, { 'content-type': 'text/plain', ...auth })).statusCode, 415);
      const bad = `${good}\n{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{}}}`;
      const refused = await post(bad, { 'content-type': 'application/x-ndjson', ...auth });
      assert.equal(refused.statusCode, 400);
      assert.match(
        JSON.parse(refused.body).error.message,
        /entry 2: the Pod has no metadata\.name/,
      );
      assert.equal(await inventory.object('Node', '', 'n1'), undefined, 'nothing was applied');
      const accepted = await post(
        `${good}\n${JSON.stringify(watch('ADDED', node('n2', 'general')))}`,
        {
          'content-type': 'application/x-ndjson',
          ...auth,
        },
      );
      assert.equal(accepted.statusCode, 202);
      assert.equal(JSON.parse(accepted.body).watch.applied, 2);
    });

    test('without clusterEvents.token the HTTP route is closed', async () => {
      deps.config = config({ clusterEvents: {} });
      const response = await post('{}', {
        'content-type': 'application/json',
        authorization: 'Bearer shipper-token',
      });
      assert.equal(response.statusCode, 404);
    });

    test('SQS: a record that does not parse fails alone and goes back to the queue', async () => {
      const record = (id: string, body: string) => ({
        messageId: id,
        receiptHandle: id,
        body,
        attributes: {} as never,
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:eu-west-1:000000000000:pw-cluster-events',
        awsRegion: 'eu-west-1',
      });
      const event: SQSEvent = {
        Records: [
          record('m1', JSON.stringify([watch('ADDED', node('n3', 'general'))])),
          record('m2', 'not json'),
        ],
      };
      const response = await handleClusterEventsBatch(event, entry());
      assert.deepEqual(response.batchItemFailures, [{ itemIdentifier: 'm2' }]);
      assert.notEqual(await inventory.object('Node', '', 'n3'), undefined);
    });
  });
});
