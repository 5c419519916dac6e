import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CONFIG } from '#shared/config/schema.ts';
import type { Finding } from '#shared/drift/model.ts';
import { evaluateLive, tagsRunFromCache } from '#shared/findings/live-evaluation.ts';
import type { ResolvedDigest } from '#shared/registry/digest-resolver.ts';
import { extractObject, type ObjectFacts } from '#shared/workload/extract.ts';
import { type ContainerSpec, deploymentPod, type Json, node } from '../../support/cluster.ts';

// PW009–PW011 judged from live objects: running digests against the registry's answer, and containers
// waiting on their image.

const X = `sha256:${'1'.repeat(64)}`;
const Y = `sha256:${'2'.repeat(64)}`;
const ARM = `sha256:${'3'.repeat(64)}`;
const IMAGE = 'registry.example.com/team/api:1.0';
const KEY = 'registry.example.com/team/api:1.0';

function facts(object: Json): ObjectFacts {
  const extracted = extractObject(
    object,
    { file: 'cluster', document: 1, itemPath: '' },
    { nodeGroupLabels: DEFAULT_CONFIG.nodeGroups.labels, locate: () => undefined },
  ).facts;
  assert.ok(extracted);
  return extracted;
}

function pods(container: Partial<ContainerSpec>, digests: string[]): ObjectFacts[] {
  return digests.map((digest, index) =>
    facts(
      deploymentPod('shop', 'api', index, {
        nodeName: `node-${index}`,
        containers: [
          {
            name: 'api',
            image: IMAGE,
            imageID: `registry.example.com/team/api@${digest}`,
            ...container,
          },
        ],
      }),
    ),
  );
}

function evaluate(objects: ObjectFacts[], served?: ResolvedDigest): Finding[] {
  const nodes = [0, 1, 2].map((index) => facts(node(`node-${index}`, 'general')));
  return evaluateLive(
    DEFAULT_CONFIG,
    [...nodes, ...objects],
    new Map(served === undefined ? [] : [[KEY, served]]),
  ).findings;
}

const ids = (findings: Finding[]) => findings.map((finding) => finding.ruleId).sort();

test('PW009: pods run an older digest of a tag served anew, with IfNotPresent', () => {
  const findings = evaluate(pods({ imagePullPolicy: 'IfNotPresent' }, [X, X]), {
    digest: Y,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
  });
  const moved = findings.find((finding) => finding.ruleId === 'PW009');
  assert.ok(moved, JSON.stringify(ids(findings)));
  assert.deepEqual(moved.workload, { kind: 'Deployment', namespace: 'shop', name: 'api' });
  assert.equal(moved.confidence, 'high');
  assert.match(
    moved.message,
    /^2 pod\(s\) run sha256:111111111111… of .* now serves sha256:222222222222…/,
  );
  assert.match(moved.message, /restarts on node-0, node-1 keep the old build/);
});

const NOT_MOVED: [string, Partial<ContainerSpec>, string[], ResolvedDigest | undefined][] = [
  ['the registry serves what the pods run', {}, [Y, Y], { digest: Y, mediaType: undefined }],
  [
    'the pods run a platform manifest of the served index',
    {},
    [ARM],
    {
      digest: Y,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ digest: ARM }],
    },
  ],
  ['the policy is Always', { imagePullPolicy: 'Always' }, [X], { digest: Y, mediaType: undefined }],
  [
    'the reference pins a digest',
    { image: `registry.example.com/team/api:1.0@${X}` },
    [X],
    { digest: Y, mediaType: undefined },
  ],
  ['the registry did not answer', {}, [X], undefined],
];

for (const [name, container, digests, served] of NOT_MOVED) {
  test(`no PW009 when ${name}`, () => {
    assert.ok(!ids(evaluate(pods(container, digests), served)).includes('PW009'));
  });
}

test('no PW009 for a runtime-local image ID: a config digest is not comparable', () => {
  const local = pods({}, [X]).map((pod) => ({
    ...pod,
    running: pod.running.map((running) => ({ ...running, imageID: `sha256:${'9'.repeat(64)}` })),
  }));
  assert.ok(!ids(evaluate(local, { digest: Y, mediaType: undefined })).includes('PW009'));
});

test('tags worth resolving: run from the node cache, with a registry digest reported', () => {
  const tags = tagsRunFromCache([
    ...pods({}, [X]),
    ...pods({ name: 'sidecar', image: 'busybox:1.37', imagePullPolicy: 'Always' }, [X]),
  ]);
  assert.deepEqual([...tags.keys()], [KEY]);
});

function waiting(reason: string, message: string): ObjectFacts[] {
  return [
    facts(
      deploymentPod('shop', 'api', 0, {
        nodeName: 'node-0',
        containers: [{ name: 'api', image: IMAGE, waiting: { reason, message } }],
      }),
    ),
  ];
}

test('PW010 from a container waiting in ErrImageNeverPull', () => {
  const [finding] = evaluate(
    waiting(
      'ErrImageNeverPull',
      `Container image "${IMAGE}" is not present with pull policy of Never`,
    ),
  ).filter((f) => f.ruleId === 'PW010');
  assert.ok(finding);
  assert.equal(finding.severity, 'error');
  assert.match(finding.message, /cannot start on node-0/);
});

test('PW011 from ImagePullBackOff, with the cause from the message; not from a first ErrImagePull', () => {
  const [finding] = evaluate(
    waiting(
      'ImagePullBackOff',
      `Back-off pulling image "${IMAGE}": ErrImagePull: failed to pull and unpack image "${IMAGE}": failed to resolve reference "${IMAGE}": unexpected status from HEAD request to https://registry.example.com/v2/team/api/manifests/1.0: 401 Unauthorized`,
    ),
  ).filter((f) => f.ruleId === 'PW011');
  assert.ok(finding);
  assert.ok(finding.evidence.includes('cause: authentication'), finding.evidence.join('\n'));
  assert.ok(
    !ids(
      evaluate(waiting('ErrImagePull', 'rpc error: code = Unknown desc = 429 Too Many Requests')),
    ).includes('PW011'),
  );
});
