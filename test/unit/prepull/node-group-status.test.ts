import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nodeGroupStatus, parseNodeGroupStatus } from '#shared/prepull/node-group-status.ts';
import type { NodeGroupStatus, NodeReport } from '#shared/prepull/node-report.ts';
import type { StoredNodeReport } from '#shared/state/store.ts';
import {
  API,
  DIGEST_OLD_API,
  held,
  nodeReport,
  OLD_API,
  PAUSE,
  WARM_SET,
  WORKER,
} from '../../support/node-reports.ts';

// The status of a node group: fresh reports counted against the warm set, stale ones listed.

const NOW = new Date('2026-03-01T10:30:00.000Z');
const STALE_AFTER_SECONDS = 900;

/** A report as the store hands it back, received `minutesAgo` before NOW and kept for a day. */
function received(
  report: NodeReport,
  minutesAgo = 1,
  expiresInMinutes = 24 * 60,
): StoredNodeReport {
  return {
    report,
    receivedAt: new Date(NOW.getTime() - minutesAgo * 60_000).toISOString(),
    expiresAt: new Date(NOW.getTime() + expiresInMinutes * 60_000).toISOString(),
  };
}

/** The counts a reader looks at, per image. */
function summary(status: NodeGroupStatus) {
  return {
    nodes: status.nodes.map((node) => node.node),
    stale: status.staleNodes.map((node) => node.node),
    images: status.images.map((image) => ({
      image: image.image,
      inWarmSet: image.inWarmSet,
      present: image.present,
      pulling: image.pulling,
      failed: image.failed.map((failure) => `${failure.node}:${failure.cause}`),
      missing: image.missing,
      pinned: image.pinned,
    })),
  };
}

const row = (
  image: string,
  counts: Partial<ReturnType<typeof summary>['images'][number]> = {},
): ReturnType<typeof summary>['images'][number] => ({
  image,
  inWarmSet: true,
  present: [],
  pulling: [],
  failed: [],
  missing: [],
  pinned: 0,
  ...counts,
});

const cases: {
  name: string;
  reports: StoredNodeReport[];
  expected: ReturnType<typeof summary>;
}[] = [
  {
    name: 'no reports: every warm-set image, held by nobody, missing nowhere',
    reports: [],
    expected: { nodes: [], stale: [], images: [row(API), row(WORKER), row(PAUSE)] },
  },
  {
    name: 'fresh nodes holding everything, pinned',
    reports: [
      received(
        nodeReport(
          'node-b',
          [API, WORKER, PAUSE].map((i) => held(i, 'present')),
        ),
      ),
      received(
        nodeReport('node-a', [
          held(API, 'present', { pinned: true }),
          held(WORKER, 'present', { pinned: true }),
          held(PAUSE, 'present'),
        ]),
      ),
    ],
    expected: {
      nodes: ['node-a', 'node-b'],
      stale: [],
      images: [
        row(API, { present: ['node-a', 'node-b'], pinned: 1 }),
        row(WORKER, { present: ['node-a', 'node-b'], pinned: 1 }),
        row(PAUSE, { present: ['node-a', 'node-b'] }),
      ],
    },
  },
  {
    name: 'present, pulling, failed and missing on one image',
    reports: [
      received(nodeReport('node-a', [held(API, 'present')])),
      received(nodeReport('node-b', [held(API, 'pulling')])),
      received(
        nodeReport('node-c', [held(API, 'failed', { cause: 'authentication', reason: '401' })]),
      ),
      received(nodeReport('node-d', [held(WORKER, 'present')])),
    ],
    expected: {
      nodes: ['node-a', 'node-b', 'node-c', 'node-d'],
      stale: [],
      images: [
        row(API, {
          present: ['node-a'],
          pulling: ['node-b'],
          failed: ['node-c:authentication'],
          missing: ['node-d'],
        }),
        row(WORKER, { present: ['node-d'], missing: ['node-a', 'node-b', 'node-c'] }),
        row(PAUSE, { missing: ['node-a', 'node-b', 'node-c', 'node-d'] }),
      ],
    },
  },
  {
    name: 'a stale node is listed, not counted, and not missing anything',
    reports: [
      received(nodeReport('node-a', [held(API, 'present')])),
      received(
        nodeReport('node-old', [held(API, 'failed', { cause: 'network' })]),
        STALE_AFTER_SECONDS / 60 + 1,
      ),
    ],
    expected: {
      nodes: ['node-a'],
      stale: ['node-old'],
      images: [
        row(API, { present: ['node-a'] }),
        row(WORKER, { missing: ['node-a'] }),
        row(PAUSE, { missing: ['node-a'] }),
      ],
    },
  },
  {
    name: 'a report exactly at the stale limit is still fresh',
    reports: [received(nodeReport('node-a', [held(API, 'present')]), STALE_AFTER_SECONDS / 60)],
    expected: {
      nodes: ['node-a'],
      stale: [],
      images: [
        row(API, { present: ['node-a'] }),
        row(WORKER, { missing: ['node-a'] }),
        row(PAUSE, { missing: ['node-a'] }),
      ],
    },
  },
  {
    name: 'an expired report the TTL has not removed yet is left out entirely',
    reports: [received(nodeReport('node-gone', [held(API, 'present')]), 25 * 60, -60)],
    expected: { nodes: [], stale: [], images: [row(API), row(WORKER), row(PAUSE)] },
  },
  {
    name: 'images out of the warm set follow it, flagged, missing nowhere',
    reports: [
      received(nodeReport('node-a', [held(OLD_API, 'present'), held(API, 'pulling')])),
      received(nodeReport('node-b', [held(OLD_API, 'failed'), held(API, 'present')])),
    ],
    expected: {
      nodes: ['node-a', 'node-b'],
      stale: [],
      images: [
        row(API, { present: ['node-b'], pulling: ['node-a'] }),
        row(WORKER, { missing: ['node-a', 'node-b'] }),
        row(PAUSE, { missing: ['node-a', 'node-b'] }),
        row(OLD_API, { inWarmSet: false, present: ['node-a'], failed: ['node-b:unknown'] }),
      ],
    },
  },
  {
    name: 'an image a node names twice counts once, by its first entry',
    reports: [received(nodeReport('node-a', [held(API, 'failed'), held(API, 'present')]))],
    expected: {
      nodes: ['node-a'],
      stale: [],
      images: [
        row(API, { failed: ['node-a:unknown'] }),
        row(WORKER, { missing: ['node-a'] }),
        row(PAUSE, { missing: ['node-a'] }),
      ],
    },
  },
];

describe('nodeGroupStatus: counts per image', () => {
  for (const { name, reports, expected } of cases) {
    test(name, () => {
      const status = nodeGroupStatus({
        nodeGroup: 'general',
        warmSet: WARM_SET,
        reports,
        now: NOW,
        staleAfterSeconds: STALE_AFTER_SECONDS,
      });
      assert.deepEqual(summary(status), expected);
    });
  }
});

describe('nodeGroupStatus: the document', () => {
  const reports = [
    received(
      nodeReport(
        'node-a',
        [
          held(API, 'present', { durationMs: 4000, pinned: true }),
          held(OLD_API, 'present'),
          held(WORKER, 'failed', {
            cause: 'not-found',
            reason: 'manifest unknown',
            attempts: 3,
          }),
        ],
        {
          instanceId: 'i-0123456789abcdef0',
          warmSetEtag: '"abc"',
          disk: { path: '/var/lib/containerd', freeBytes: 10, totalBytes: 100 },
        },
      ),
    ),
    received(nodeReport('node-b', [held(API, 'present', { durationMs: 1000 })])),
    received(nodeReport('node-c', [held(API, 'present', { durationMs: 2000 })])),
    received(nodeReport('node-d', [held(API, 'present', { durationMs: 9000 })])),
    received(nodeReport('node-e', [held(API, 'present')]), 60),
  ];
  const status = nodeGroupStatus({
    nodeGroup: 'general',
    warmSet: WARM_SET,
    reports,
    now: NOW,
    staleAfterSeconds: STALE_AFTER_SECONDS,
  });

  test('names its schema, node group, time and stale limit', () => {
    assert.equal(status.schema, 'pullwarden.nodegroupstatus/v1');
    assert.equal(status.nodeGroup, 'general');
    assert.equal(status.generatedAt, NOW.toISOString());
    assert.equal(status.staleAfterSeconds, STALE_AFTER_SECONDS);
  });

  test('describes fresh and stale nodes from their reports', () => {
    assert.deepEqual(status.nodes[0], {
      node: 'node-a',
      instanceId: 'i-0123456789abcdef0',
      sequence: 1_772_360_000_000,
      reportedAt: '2026-03-01T10:20:00.000Z',
      receivedAt: '2026-03-01T10:29:00.000Z',
      warmSetEtag: '"abc"',
      agent: { version: '0.1.0', runtime: 'containerd 1.7.27' },
      disk: { path: '/var/lib/containerd', freeBytes: 10, totalBytes: 100 },
    });
    assert.deepEqual(
      status.staleNodes.map((node) => [node.node, node.receivedAt]),
      [['node-e', '2026-03-01T09:30:00.000Z']],
    );
  });

  test('gives the median and longest pull of the fresh nodes that timed theirs', () => {
    const api = status.images.find((image) => image.image === API);
    // 1000, 2000, 4000, 9000: the median of an even count is the mean of the middle two.
    assert.deepEqual(api?.pullDurationMs, { median: 3000, max: 9000, samples: 4 });
    assert.equal(
      status.images.find((image) => image.image === PAUSE)?.pullDurationMs,
      undefined,
      'no duration without samples',
    );
  });

  test('lists failures with cause, reason, attempts and the time the node reported them', () => {
    const worker = status.images.find((image) => image.image === WORKER);
    assert.deepEqual(worker?.failed, [
      {
        node: 'node-a',
        cause: 'not-found',
        reason: 'manifest unknown',
        at: '2026-03-01T10:20:00.000Z',
        attempts: 3,
      },
    ]);
  });

  test('takes tag and digest from the warm set, or from the name of an image that left it', () => {
    assert.deepEqual(
      status.images.map((image) => [image.tag, image.digest.slice(0, 11), image.inWarmSet]),
      [
        ['1.4.0', 'sha256:a1a1', true],
        ['2.0.0', 'sha256:b2b2', true],
        [undefined, 'sha256:c3c3', true],
        ['1.3.0', DIGEST_OLD_API.slice(0, 11), false],
      ],
    );
  });

  test('lists nodes and images by UTF-16 code units, whatever the locale', () => {
    const listed = nodeGroupStatus({
      nodeGroup: 'general',
      warmSet: WARM_SET,
      reports: ['node_c', 'node-b', 'Node-z', 'node.a'].map((node) =>
        received(nodeReport(node, [held(API, 'present')])),
      ),
      now: NOW,
      staleAfterSeconds: STALE_AFTER_SECONDS,
    });
    assert.deepEqual(
      listed.nodes.map((node) => node.node),
      ['Node-z', 'node-b', 'node.a', 'node_c'],
    );
  });

  test('survives JSON and parses back as a status document', () => {
    const parsed = parseNodeGroupStatus(JSON.parse(JSON.stringify(status)));
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.status, status);
    const broken = parseNodeGroupStatus({ ...status, images: [{ image: 1 }] });
    assert.deepEqual(broken, {
      ok: false,
      reason: 'images.0.image: Invalid input: expected string, received number',
    });
  });

  test('a client keeps the fields it knows and drops those a newer server adds', () => {
    const sent = JSON.parse(JSON.stringify(status));
    sent.futureField = 'ignored';
    sent.nodes[0].agent.futureField = 1;
    sent.nodes[0].disk.futureField = true;
    sent.images[0].futureField = [];
    const parsed = parseNodeGroupStatus(sent);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.status, status);
    assert.equal(JSON.stringify(parsed.status).includes('futureField'), false);
  });

  test('every field a client reads is checked, the optional ones too', () => {
    const withNode = (change: (node: Record<string, unknown>) => void) => {
      const sent = JSON.parse(JSON.stringify(status));
      change(sent.nodes[0]);
      return parseNodeGroupStatus(sent);
    };
    assert.deepEqual(
      withNode((node) => {
        (node.disk as Record<string, unknown>).freeBytes = '10';
      }),
      {
        ok: false,
        reason: 'nodes.0.disk.freeBytes: Invalid input: expected number, received string',
      },
    );
    assert.deepEqual(
      withNode((node) => {
        node.instanceId = 7;
      }),
      { ok: false, reason: 'nodes.0.instanceId: Invalid input: expected string, received number' },
    );
    const failure = JSON.parse(JSON.stringify(status));
    const failing = failure.images.find((image: { failed: unknown[] }) => image.failed.length > 0);
    assert.ok(failing !== undefined, 'the fixture has a failed pull');
    failing.failed[0].attempts = 'three';
    const parsed = parseNodeGroupStatus(failure);
    assert.equal(parsed.ok, false);
    assert.match(parsed.ok ? '' : parsed.reason, /^images\.\d+\.failed\.0\.attempts: /);
  });
});
