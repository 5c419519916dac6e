import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '#shared/config/load.ts';
import { type Config, DEFAULT_CONFIG } from '#shared/config/schema.ts';
import { DriftEvaluator } from '#shared/drift/evaluator.ts';
import type { DriftReport, Finding } from '#shared/drift/model.ts';
import { runDrift } from '#shared/drift/run.ts';
import { extractObject } from '#shared/workload/extract.ts';

// Table-driven checks of every rule through the whole evaluation path (YAML in, report out).

function config(yaml = ''): Config {
  return yaml === ''
    ? DEFAULT_CONFIG
    : parseConfig(`apiVersion: pullwarden.dev/v1\nkind: Config\n${yaml}`, 'test');
}

async function evaluate(
  objects: readonly unknown[],
  settings: Config = DEFAULT_CONFIG,
): Promise<DriftReport> {
  const text = objects.map((object) => stringify(object)).join('---\n');
  return runDrift(settings, [{ name: '-', format: 'yaml' }], {
    stdin: [Buffer.from(text)],
    threads: 0,
  });
}

function brief(findings: readonly Finding[]): string[] {
  return findings
    .map(
      (finding) =>
        `${finding.ruleId} ${finding.workload.kind}/${finding.workload.name} ${finding.container.name}`,
    )
    .sort();
}

function deployment(
  containers: Record<string, unknown>[],
  options: {
    name?: string;
    namespace?: string;
    metadata?: Record<string, unknown>;
    podSpec?: Record<string, unknown>;
  } = {},
) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: options.name ?? 'api',
      namespace: options.namespace ?? 'shop',
      ...options.metadata,
    },
    spec: {
      template: { metadata: { labels: { app: 'api' } }, spec: { containers, ...options.podSpec } },
    },
  };
}

const DIGEST = `sha256:${'3f'.repeat(32)}`;
const OTHER_DIGEST = `sha256:${'4e'.repeat(32)}`;

describe('image reference rules on authored manifests (PW001, PW003, PW006, PW007)', () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    [
      'untagged image defaults to Always: latest, not cached',
      { name: 'c', image: 'nginx' },
      ['PW001'],
    ],
    [
      'explicit latest with IfNotPresent',
      { name: 'c', image: 'nginx:latest', imagePullPolicy: 'IfNotPresent' },
      ['PW001', 'PW003'],
    ],
    [
      'a registry port is not a tag (kube-score reads "5000/app" as one)',
      { name: 'c', image: 'registry.local:5000/app' },
      ['PW001'],
    ],
    [
      'a version tag defaults to IfNotPresent',
      { name: 'c', image: 'registry.local:5000/app:1.2' },
      ['PW003'],
    ],
    [
      'digest only defaults to IfNotPresent: nothing to report (Checkov assumes Always)',
      { name: 'c', image: `app@${DIGEST}` },
      [],
    ],
    [
      'digest pinned with explicit Always (Polaris wants Always everywhere)',
      { name: 'c', image: `app@${DIGEST}`, imagePullPolicy: 'Always' },
      ['PW006'],
    ],
    [
      'latest tag with digest defaults to Always',
      { name: 'c', image: `app:latest@${DIGEST}` },
      ['PW006', 'PW007'],
    ],
    [
      'tag and digest with IfNotPresent',
      { name: 'c', image: `app:1.0@${DIGEST}`, imagePullPolicy: 'IfNotPresent' },
      ['PW007'],
    ],
    [
      'a mutable tag with Always is fine',
      { name: 'c', image: 'app:1.0', imagePullPolicy: 'Always' },
      [],
    ],
  ];
  for (const [name, container, rules] of cases) {
    test(name, async () => {
      const report = await evaluate([deployment([container])]);
      assert.deepEqual(report.problems, []);
      assert.deepEqual(report.findings.map((finding) => finding.ruleId).sort(), rules);
    });
  }

  test('init, ephemeral containers and image volumes are all checked', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'debug', namespace: 'ops' },
      spec: {
        initContainers: [{ name: 'init', image: 'busybox' }],
        containers: [{ name: 'main', image: `app@${DIGEST}` }],
        ephemeralContainers: [{ name: 'shell', image: 'alpine:latest' }],
        volumes: [
          {
            name: 'models',
            image: { reference: 'ghcr.io/acme/models:v3', pullPolicy: 'IfNotPresent' },
          },
        ],
      },
    };
    const report = await evaluate([pod]);
    assert.deepEqual(brief(report.findings), [
      'PW001 Pod/debug init',
      'PW001 Pod/debug shell',
      'PW003 Pod/debug models',
    ]);
    assert.deepEqual(report.findings.map((finding) => finding.container.kind).sort(), [
      'ephemeralContainer',
      'imageVolume',
      'initContainer',
    ]);
  });

  test('latest is an error in production namespaces and a warning elsewhere', async () => {
    const settings = config('namespaces:\n  production: ["prod-*"]\n');
    const report = await evaluate(
      [
        deployment([{ name: 'c', image: 'nginx' }], { namespace: 'prod-eu' }),
        deployment([{ name: 'c', image: 'nginx' }], { namespace: 'dev' }),
      ],
      settings,
    );
    assert.deepEqual(
      report.findings.map((finding) => `${finding.workload.namespace} ${finding.severity}`).sort(),
      ['dev warning', 'prod-eu error'],
    );
  });
});

describe('PW002 stale defaulted policy', () => {
  const live = { uid: 'd1', resourceVersion: '42', creationTimestamp: '2026-01-01T00:00:00Z' };
  const applied = (container: Record<string, unknown>) => ({
    'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(deployment([container])),
  });

  test('last-applied-configuration without a policy: defaulted, high confidence', async () => {
    const report = await evaluate([
      deployment([{ name: 'c', image: 'app:latest', imagePullPolicy: 'IfNotPresent' }], {
        metadata: { ...live, annotations: applied({ name: 'c', image: 'app:latest' }) },
      }),
    ]);
    const finding = report.findings.find((candidate) => candidate.ruleId === 'PW002');
    assert.ok(finding);
    assert.equal(finding.confidence, 'high');
    assert.match(
      finding.message,
      /was defaulted for an earlier image; for app:latest Kubernetes would now choose Always/,
    );
    assert.match(finding.remediation, /Set imagePullPolicy: Always explicitly/);
  });

  test('last-applied-configuration with the policy: explicit, no finding', async () => {
    const report = await evaluate([
      deployment([{ name: 'c', image: 'app:latest', imagePullPolicy: 'IfNotPresent' }], {
        metadata: {
          ...live,
          annotations: applied({ name: 'c', image: 'app:latest', imagePullPolicy: 'IfNotPresent' }),
        },
      }),
    ]);
    assert.equal(report.findings.filter((finding) => finding.ruleId === 'PW002').length, 0);
  });

  const fields = (policy: boolean) => ({
    'f:spec': {
      'f:template': {
        'f:spec': {
          'f:containers': {
            'k:{"name":"c"}': {
              '.': {},
              'f:image': {},
              'f:name': {},
              ...(policy ? { 'f:imagePullPolicy': {} } : {}),
            },
          },
        },
      },
    },
  });
  const managedCases: [string, Record<string, unknown>[], 'high' | 'low' | undefined][] = [
    [
      'server-side apply sets the policy: explicit',
      [{ manager: 'argocd', operation: 'Apply', fieldsV1: fields(true) }],
      undefined,
    ],
    [
      'server-side apply leaves it out: defaulted',
      [{ manager: 'argocd', operation: 'Apply', fieldsV1: fields(false) }],
      'high',
    ],
    [
      'only update requests own it: cannot tell',
      [{ manager: 'kubectl-create', operation: 'Update', fieldsV1: fields(true) }],
      'low',
    ],
  ];
  for (const [name, managedFields, confidence] of managedCases) {
    test(`managedFields — ${name}`, async () => {
      const report = await evaluate([
        deployment([{ name: 'c', image: `app@${DIGEST}`, imagePullPolicy: 'Always' }], {
          metadata: { ...live, managedFields },
        }),
      ]);
      const finding = report.findings.find((candidate) => candidate.ruleId === 'PW002');
      assert.equal(finding?.confidence, confidence);
      if (finding !== undefined) assert.match(finding.remediation, /IfNotPresent explicitly/);
    });
  }

  test('a live object without history is reported at low confidence, and says why', async () => {
    const report = await evaluate([
      deployment([{ name: 'c', image: 'app', imagePullPolicy: 'IfNotPresent' }], {
        metadata: live,
      }),
    ]);
    const finding = report.findings.find((candidate) => candidate.ruleId === 'PW002');
    assert.equal(finding?.confidence, 'low');
    assert.ok(finding?.evidence.some((line) => /neither .* nor managedFields/.test(line)));
  });

  test('an authored manifest states its policy explicitly: never PW002', async () => {
    const report = await evaluate([
      deployment([{ name: 'c', image: 'app', imagePullPolicy: 'IfNotPresent' }]),
    ]);
    assert.equal(report.findings.filter((finding) => finding.ruleId === 'PW002').length, 0);
  });
});

describe('PW004 Never without a guaranteed image', () => {
  const settings = config(
    'nodeGroups:\n  prePull:\n    gpu: ["nvcr.io/nvidia/driver:550"]\n    "*": ["registry.k8s.io/pause:3.10"]\n',
  );
  const never = (image: string, podSpec: Record<string, unknown> = {}) =>
    deployment([{ name: 'c', image, imagePullPolicy: 'Never' }], { podSpec });

  test('pre-pulled on the node group the pods are pinned to: fine', async () => {
    const report = await evaluate(
      [
        never('nvcr.io/nvidia/driver:550', {
          nodeSelector: { 'eks.amazonaws.com/nodegroup': 'gpu' },
        }),
      ],
      settings,
    );
    assert.deepEqual(report.findings, []);
  });

  test('pre-pulled on every group: fine wherever the pods land', async () => {
    const report = await evaluate([never('registry.k8s.io/pause:3.10')], settings);
    assert.deepEqual(report.findings, []);
  });

  test('not pre-pulled where the pods are pinned: high confidence', async () => {
    const report = await evaluate(
      [never('app:1.0', { nodeSelector: { 'eks.amazonaws.com/nodegroup': 'gpu' } })],
      settings,
    );
    const finding = report.findings.find((candidate) => candidate.ruleId === 'PW004');
    assert.equal(finding?.confidence, 'high');
    assert.match(finding?.message ?? '', /not in the pre-pull set of node group\(s\) gpu/);
  });

  test('placement unknown and only one group has it: medium confidence', async () => {
    const report = await evaluate(
      [never('nvcr.io/nvidia/driver:550')],
      config('nodeGroups:\n  prePull:\n    gpu: ["nvcr.io/nvidia/driver:550"]\n    general: []\n'),
    );
    const finding = report.findings.find((candidate) => candidate.ruleId === 'PW004');
    assert.equal(finding?.confidence, 'medium');
    assert.match(finding?.message ?? '', /node group\(s\) general/);
  });

  test('required node affinity counts like a nodeSelector', async () => {
    const affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                { key: 'eks.amazonaws.com/nodegroup', operator: 'In', values: ['gpu'] },
              ],
            },
          ],
        },
      },
    };
    const report = await evaluate([never('nvcr.io/nvidia/driver:550', { affinity })], settings);
    assert.deepEqual(report.findings, []);
  });
});

describe('PW005 private image on a shared cache', () => {
  const image = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1.0';
  const base = 'registries:\n  private: ["*.dkr.ecr.*.amazonaws.com"]\n';
  const cases: [string, string, boolean][] = [
    ['single-tenant cluster', base, false],
    ['multi-tenant, nothing verifies', `${base}cluster:\n  multiTenant: true\n`, true],
    [
      'multi-tenant with AlwaysPullImages',
      `${base}cluster:\n  multiTenant: true\n  alwaysPullImages: true\n`,
      false,
    ],
    [
      'multi-tenant, kubelets AlwaysVerify',
      `${base}cluster:\n  multiTenant: true\n  imagePullCredentialsVerificationPolicy: AlwaysVerify\n`,
      false,
    ],
    [
      'multi-tenant, NeverVerify declared',
      `${base}cluster:\n  multiTenant: true\n  imagePullCredentialsVerificationPolicy: NeverVerify\n`,
      true,
    ],
    [
      'NeverVerifyPreloadedImages protects images the kubelet pulled',
      `${base}cluster:\n  multiTenant: true\n  imagePullCredentialsVerificationPolicy: NeverVerifyPreloadedImages\n`,
      false,
    ],
    [
      'NeverVerifyPreloadedImages does not protect a pre-pulled image',
      `${base}cluster:\n  multiTenant: true\n  imagePullCredentialsVerificationPolicy: NeverVerifyPreloadedImages\nnodeGroups:\n  prePull:\n    "*": ["${image}"]\n    general: []\n`,
      true,
    ],
    [
      'a public registry is not private',
      `registries:\n  private: ["ghcr.io/acme"]\ncluster:\n  multiTenant: true\n`,
      false,
    ],
  ];
  for (const [name, yaml, expected] of cases) {
    test(name, async () => {
      const report = await evaluate([deployment([{ name: 'c', image }])], config(yaml));
      assert.equal(
        report.findings.some((finding) => finding.ruleId === 'PW005'),
        expected,
      );
    });
  }
});

describe('workloads, replicas and PW008 skew', () => {
  const node = (name: string, arch: string, group = 'general') => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'eks.amazonaws.com/nodegroup': group } },
    status: { nodeInfo: { architecture: arch } },
  });
  const pod = (name: string, nodeName: string, imageID: string, owner = 'api-6d5f7c9b8') => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'shop',
      uid: name,
      labels: { 'pod-template-hash': '6d5f7c9b8' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner, controller: true },
      ],
    },
    spec: {
      nodeName,
      containers: [{ name: 'c', image: 'ghcr.io/acme/api:2.0', imagePullPolicy: 'Always' }],
    },
    status: { containerStatuses: [{ name: 'c', image: 'ghcr.io/acme/api:2.0', imageID }] },
  });
  const replicaSet = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: 'api-6d5f7c9b8',
      namespace: 'shop',
      uid: 'rs',
      ownerReferences: [{ kind: 'Deployment', name: 'api', controller: true }],
    },
    spec: {
      template: {
        spec: {
          containers: [{ name: 'c', image: 'ghcr.io/acme/api:2.0', imagePullPolicy: 'Always' }],
        },
      },
    },
  };
  const api = deployment(
    [{ name: 'c', image: 'ghcr.io/acme/api:2.0', imagePullPolicy: 'Always' }],
    { metadata: { uid: 'd' } },
  );
  const at = (digest: string) => `ghcr.io/acme/api@${digest}`;

  test('pods, their ReplicaSet and Deployment are one workload, reported once', async () => {
    const owners = [api, replicaSet];
    const pods = [
      node('n1', 'amd64'),
      node('n2', 'amd64'),
      pod('p1', 'n1', at(DIGEST)),
      pod('p2', 'n2', at(OTHER_DIGEST)),
      pod('p3', 'n2', at(DIGEST)),
    ];
    // Owners first, as in a manifest, or last, as `kubectl get pods,rs,deploy` lists them.
    for (const objects of [
      [...owners, ...pods],
      [...pods, ...[...owners].reverse()],
    ]) {
      const report = await evaluate(objects);
      assert.equal(report.summary.workloads, 1);
      assert.equal(report.summary.pods, 3);
      const skews = report.findings.filter((finding) => finding.ruleId === 'PW008');
      assert.deepEqual(brief(skews), ['PW008 Deployment/api c']);
      assert.ok(report.findings.every((finding) => finding.workload.kind === 'Deployment'));
      const skew = skews[0] as Finding;
      assert.equal(skew.confidence, 'high');
      assert.match(skew.message, /3 pods run 2 different digests/);
    }
  });

  test('different digests on different architectures are platform manifests, not skew', async () => {
    const report = await evaluate([
      api,
      replicaSet,
      node('n1', 'amd64'),
      node('n2', 'arm64'),
      pod('p1', 'n1', at(DIGEST)),
      pod('p2', 'n2', at(OTHER_DIGEST)),
    ]);
    assert.equal(report.findings.filter((finding) => finding.ruleId === 'PW008').length, 0);
  });

  test('without Node objects a difference is reported at low confidence and says why', async () => {
    const report = await evaluate([pod('p1', 'n1', at(DIGEST)), pod('p2', 'n2', at(OTHER_DIGEST))]);
    const finding = report.findings.find((candidate) => candidate.ruleId === 'PW008');
    assert.equal(finding?.confidence, 'low');
    assert.ok(finding?.evidence.some((line) => /cannot be told/.test(line)));
    // No ReplicaSet in the input: the pod-template-hash names the Deployment.
    assert.equal(finding?.workload.kind, 'Deployment');
    assert.equal(finding?.workload.name, 'api');
    assert.ok(
      finding?.evidence.some((line) => /pod-template-hash names Deployment api/.test(line)),
    );
  });

  test('a platform index lookup folds platform manifests into their index', async () => {
    const text = [
      node('n1', 'amd64'),
      node('n2', 'amd64'),
      pod('p1', 'n1', at(DIGEST)),
      pod('p2', 'n2', at(OTHER_DIGEST)),
    ]
      .map((object) => stringify(object))
      .join('---\n');
    const report = await runDrift(DEFAULT_CONFIG, [{ name: '-', format: 'yaml' }], {
      stdin: [Buffer.from(text)],
      threads: 0,
      indexOf: (digest) => (digest === OTHER_DIGEST ? DIGEST : undefined),
    });
    assert.equal(report.findings.filter((finding) => finding.ruleId === 'PW008').length, 0);
  });

  test('an evaluator folds its workloads in place, so it evaluates once', () => {
    const evaluator = new DriftEvaluator(DEFAULT_CONFIG);
    const facts = extractObject(
      pod('p1', 'n1', at(DIGEST)),
      { file: 'pods.yaml', document: 0, itemPath: '' },
      { nodeGroupLabels: [], locate: () => undefined },
    ).facts;
    assert.ok(facts !== undefined);
    evaluator.addFacts(facts);
    assert.equal(evaluator.finish().summary.workloads, 1);
    assert.throws(() => evaluator.finish(), /evaluates once/);
    assert.throws(() => evaluator.addFacts(facts), /evaluates once/);
  });
});

describe('configuration: severities, suppressions, filters', () => {
  const objects = [
    deployment(
      [
        { name: 'c', image: 'nginx' },
        { name: 'd', image: 'redis:7' },
      ],
      { namespace: 'legacy' },
    ),
  ];

  test('a rule can be disabled or change severity', async () => {
    const report = await evaluate(
      objects,
      config('rules:\n  PW003: { enabled: false }\n  PW001: { severity: info }\n'),
    );
    assert.deepEqual(
      report.findings.map((finding) => `${finding.ruleId} ${finding.severity}`),
      ['PW001 info'],
    );
  });

  test('a suppression needs a reason and moves matching findings aside', async () => {
    const report = await evaluate(
      objects,
      config(
        'suppressions:\n  - rules: [PW003]\n    namespace: leg*\n    workload: Deployment/api\n    reason: vendor chart\n',
      ),
    );
    assert.deepEqual(brief(report.findings), ['PW001 Deployment/api c']);
    assert.deepEqual(
      report.suppressed.map((finding) => [finding.ruleId, finding.suppression.reason]),
      [['PW003', 'vendor chart']],
    );
    assert.throws(() => config('suppressions:\n  - rules: [PW003]\n'), /suppressions\[0\]\.reason/);
  });

  test('rule and namespace filters narrow the report', async () => {
    const settings = DEFAULT_CONFIG;
    const text = objects.map((object) => stringify(object)).join('---\n');
    const run = (options: Parameters<typeof runDrift>[2]) =>
      runDrift(settings, [{ name: '-', format: 'yaml' }], {
        stdin: [Buffer.from(text)],
        threads: 0,
        ...options,
      });
    assert.deepEqual(brief((await run({ rules: ['PW003'] })).findings), ['PW003 Deployment/api d']);
    assert.deepEqual(brief((await run({ skipRules: ['PW003'] })).findings), [
      'PW001 Deployment/api c',
    ]);
    assert.deepEqual((await run({ namespaces: ['other'] })).findings, []);
  });
});

describe('bad input is reported with file, document and field path', () => {
  test('an invalid image reference and an invalid policy', async () => {
    const report = await evaluate([
      deployment([
        { name: 'bad', image: 'Registry.Example.com/App:1' },
        { name: 'policy', image: 'app:1', imagePullPolicy: 'Sometimes' },
        { name: 'good', image: 'nginx' },
      ]),
    ]);
    assert.deepEqual(
      report.problems.map((problem) => [problem.document, problem.path]),
      [
        [1, 'spec.template.spec.containers[0].image'],
        [1, 'spec.template.spec.containers[1].imagePullPolicy'],
      ],
    );
    assert.match(report.problems[0]?.message ?? '', /invalid image reference/);
    assert.match(report.problems[1]?.message ?? '', /invalid pull policy "Sometimes"/);
    assert.deepEqual(brief(report.findings), ['PW001 Deployment/api good']);
  });

  test('a document that is not a Kubernetes object', async () => {
    const report = await evaluate([
      { hello: 'world' },
      deployment([{ name: 'c', image: 'nginx' }]),
    ]);
    assert.match(report.problems[0]?.message ?? '', /not a Kubernetes object/);
    assert.equal(report.findings.length, 1);
  });
});
