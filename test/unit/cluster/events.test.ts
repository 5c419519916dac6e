import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ClusterEventError,
  classifyClusterEvent,
  parseDelivery,
  splitDelivery,
} from '#shared/cluster/events.ts';
import { instanceIdOfProviderId } from '#shared/cluster/inventory.ts';
import { nodeGroupOfAutoScalingGroup } from '#shared/cluster/node-join.ts';
import { configSchema } from '#shared/config/schema.ts';
import {
  coreEvent,
  launchEvent,
  node,
  pod,
  structuredEvent,
  watch,
} from '../../support/cluster.ts';

const POD = pod('shop', 'api-1', {
  nodeName: 'n1',
  containers: [{ name: 'api', image: 'nginx:1.27', imageID: 'docker.io/library/nginx@sha256:' }],
});

test('deliveries: one value, an array, a List, or newline-delimited JSON', () => {
  const one = watch('ADDED', POD);
  assert.equal(splitDelivery(JSON.stringify(one)).length, 1);
  assert.equal(splitDelivery(JSON.stringify([one, one])).length, 2);
  const list = splitDelivery(
    JSON.stringify({ apiVersion: 'v1', kind: 'PodList', items: [POD, POD] }),
  );
  assert.deepEqual(
    list.map((entry) => (entry as { type: string }).type),
    ['ADDED', 'ADDED'],
  );
  assert.equal(splitDelivery(`${JSON.stringify(one)}\n\n${JSON.stringify(one)}\n`).length, 2);
  // The API server leaves kind and apiVersion out of a typed list's items.
  const { kind: _kind, apiVersion: _apiVersion, ...bare } = POD;
  const [typed] = parseDelivery(
    JSON.stringify({ apiVersion: 'v1', kind: 'PodList', items: [bare] }),
  );
  assert.equal(typed?.kind, 'watch');
  assert.equal(typed?.kind === 'watch' ? typed.objectKind : undefined, 'Pod');
  assert.throws(() => splitDelivery('  '), /empty/);
  assert.throws(() => splitDelivery('{"type":'), /not JSON/);
  assert.throws(() => splitDelivery(`${JSON.stringify(one)}\n{oops`), /line 2 of the delivery/);
});

const CLASSIFIED: [string, unknown, string, Record<string, unknown>?][] = [
  ['pod watch event', watch('MODIFIED', POD), 'watch', { objectKind: 'Pod', namespace: 'shop' }],
  [
    'node watch event (no namespace)',
    watch('ADDED', node('n1', 'general')),
    'watch',
    { namespace: '' },
  ],
  [
    'bookmark',
    { type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: '9' } } },
    'ignored',
  ],
  ['watch error', { type: 'ERROR', object: { kind: 'Status', code: 410 } }, 'ignored'],
  [
    'a kind the inventory does not keep',
    watch('ADDED', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }),
    'ignored',
  ],
  [
    'core/v1 Event',
    coreEvent({ namespace: 'shop', pod: 'api-1', reason: 'Pulled', message: 'm', count: 4 }),
    'kubelet-event',
    { count: 4, node: 'ip-10-0-1-17.eu-west-1.compute.internal' },
  ],
  [
    'events.k8s.io/v1 Event with a series',
    structuredEvent({ namespace: 'shop', pod: 'api-1', reason: 'BackOff', message: 'm', count: 7 }),
    'kubelet-event',
    { count: 7, reason: 'BackOff' },
  ],
  [
    'an Event inside a watch event',
    watch('ADDED', coreEvent({ namespace: 'a', pod: 'b', reason: 'Failed', message: 'x' })),
    'kubelet-event',
  ],
  [
    'a deleted Event',
    watch('DELETED', coreEvent({ namespace: 'a', pod: 'b', reason: 'Failed', message: 'x' })),
    'ignored',
  ],
  [
    'Auto Scaling launch',
    launchEvent('i-0123456789abcdef0', 'eks-general-1'),
    'instance',
    { action: 'launch', autoScalingGroup: 'eks-general-1' },
  ],
  [
    'EC2 state change to running',
    {
      id: 'e1',
      time: '2026-11-20T10:00:00Z',
      source: 'aws.ec2',
      'detail-type': 'EC2 Instance State-change Notification',
      detail: { 'instance-id': 'i-0123456789abcdef0', state: 'running' },
    },
    'instance',
    { action: 'launch', autoScalingGroup: undefined },
  ],
  [
    'EC2 state change to stopping',
    {
      id: 'e1',
      time: '2026-11-20T10:00:00Z',
      source: 'aws.ec2',
      'detail-type': 'EC2 Instance State-change Notification',
      detail: { 'instance-id': 'i-0123456789abcdef0', state: 'stopping' },
    },
    'ignored',
  ],
  [
    'another EventBridge source',
    {
      id: 'e',
      time: '2026-11-20T10:00:00Z',
      source: 'aws.ecr',
      'detail-type': 'ECR Image Action',
      detail: {},
    },
    'ignored',
  ],
];

for (const [name, input, kind, fields] of CLASSIFIED) {
  test(`classifies ${name}`, () => {
    const event = classifyClusterEvent(input, 0) as unknown as Record<string, unknown>;
    assert.equal(event.kind, kind);
    for (const [key, value] of Object.entries(fields ?? {}))
      assert.deepEqual(event[key], value, key);
  });
}

const REFUSED: [string, unknown, RegExp][] = [
  ['a string', 'ADDED', /not a JSON object/],
  [
    'an unknown watch type',
    { type: 'UPSERTED', object: POD },
    /unknown watch event type "UPSERTED"/,
  ],
  ['a watch event without object', { type: 'ADDED', object: null }, /has no object/],
  ['an object without kind', watch('ADDED', { metadata: { name: 'x' } }), /no apiVersion or kind/],
  [
    'a pod without name',
    watch('ADDED', { apiVersion: 'v1', kind: 'Pod', metadata: {} }),
    /Pod has no metadata\.name/,
  ],
  [
    'an Event without involvedObject',
    { apiVersion: 'v1', kind: 'Event', reason: 'Pulled', metadata: {} },
    /needs involvedObject and reason/,
  ],
  [
    'an Event without time',
    {
      apiVersion: 'v1',
      kind: 'Event',
      reason: 'Pulled',
      involvedObject: { kind: 'Pod', name: 'p' },
      metadata: {},
    },
    /has no time/,
  ],
  [
    'a launch without instance',
    { ...launchEvent('i-0123456789abcdef0', 'g'), detail: { AutoScalingGroupName: 'g' } },
    /without a valid EC2InstanceId/,
  ],
  ['something else', { hello: 'world' }, /neither a watch event/],
];

for (const [name, input, message] of REFUSED) {
  test(`refuses ${name} with the entry named`, () => {
    assert.throws(
      () => classifyClusterEvent(input, 4),
      (error: unknown) => {
        assert.ok(error instanceof ClusterEventError);
        assert.match(error.message, message);
        assert.match(error.message, /^entry 5/);
        return true;
      },
    );
  });
}

test('any JSON either classifies or is refused with a ClusterEventError, never another error', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      try {
        parseDelivery(JSON.stringify(value) ?? 'null');
      } catch (error) {
        assert.ok(error instanceof ClusterEventError, String(error));
      }
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      fc.record({
        type: fc.constantFrom('ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK'),
        object: fc.object(),
      }),
      (value) => {
        try {
          classifyClusterEvent(value, 0);
        } catch (error) {
          assert.ok(error instanceof ClusterEventError, String(error));
        }
      },
    ),
  );
});

test('node groups of Auto Scaling groups: configured globs first, then EKS managed names', () => {
  const config = configSchema.parse({
    apiVersion: 'pullwarden.dev/v1',
    kind: 'Config',
    clusterEvents: { autoScalingGroups: { 'spot-*': 'spot', 'eks-gpu-*': 'gpu-large' } },
  });
  const cases: [string | undefined, string | undefined][] = [
    ['spot-a-20261120', 'spot'],
    ['eks-gpu-3ac5e1d2-1234-4b6a-9c1d-0123456789ab', 'gpu-large'],
    ['eks-general-3ac5e1d2-1234-4b6a-9c1d-0123456789ab', 'general'],
    ['eks-my-ng-2-3ac5e1d2-1234-4b6a-9c1d-0123456789ab', 'my-ng-2'],
    ['eks-general', undefined],
    ['web-asg', undefined],
    [undefined, undefined],
  ];
  for (const [group, expected] of cases) {
    assert.equal(nodeGroupOfAutoScalingGroup(config, group), expected, String(group));
  }
});

test('instance ids from provider ids', () => {
  assert.equal(
    instanceIdOfProviderId('aws:///eu-west-1a/i-0123456789abcdef0'),
    'i-0123456789abcdef0',
  );
  assert.equal(instanceIdOfProviderId('aws:///us-east-1b/i-0abc1234'), 'i-0abc1234');
  assert.equal(instanceIdOfProviderId('gce://project/zone/instance'), undefined);
  assert.equal(instanceIdOfProviderId('aws:///eu-west-1a/i-XYZ'), undefined);
  assert.equal(instanceIdOfProviderId(undefined), undefined);
});
