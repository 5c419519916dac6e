// Writes a synthetic cluster dump the way `kubectl get nodes,pods,deploy,sts,ds,rs,job,cronjob -A -o json`
// prints it: one `List`, objects as the API server returns them (managedFields stripped, as kubectl does by
// default). The mix follows what large clusters look like: mostly Deployments with a current and an old
// ReplicaSet, some StatefulSets and CronJobs, a few DaemonSets on every node, a few bare pods; images from
// ECR, Docker Hub, GHCR and Quay; tags, digests and both; every pull policy; a handful of workloads whose
// replicas run different builds. The same seed always writes the same bytes.

import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { stringify as stringifyYaml } from 'yaml';
import { parseImageReference } from '#shared/image/reference.ts';
import { defaultPullPolicy } from '#shared/policy/pull-policy.ts';

/** `watch-ndjson`: one `{"type":"ADDED","object":…}` per line, as a watch of the cluster streams it. */
export type DumpFormat = 'kubectl-json' | 'compact-json' | 'kubectl-yaml' | 'watch-ndjson';

export interface ClusterDumpOptions {
  readonly pods: number;
  readonly out: string;
  readonly format: DumpFormat;
  readonly seed: number;
}

export interface ClusterDumpSummary {
  readonly bytes: number;
  readonly pods: number;
  readonly workloads: number;
  readonly nodes: number;
  readonly objects: number;
}

type KubeObject = Record<string, unknown>;

/** mulberry32: small, fast, and stable across Node versions. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Dice {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = random(seed);
  }
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  chance(probability: number): boolean {
    return this.next() < probability;
  }
  pick<T>(values: readonly T[]): T {
    return values[this.int(values.length)] as T;
  }
  weighted<T>(table: readonly (readonly [T, number])[]): T {
    let roll = this.next() * table.reduce((sum, [, weight]) => sum + weight, 0);
    for (const [value, weight] of table) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return (table.at(-1) as readonly [T, number])[0];
  }
  hex(length: number): string {
    let text = '';
    while (text.length < length)
      text += Math.floor(this.next() * 0x100000000)
        .toString(16)
        .padStart(8, '0');
    return text.slice(0, length);
  }
  suffix(length: number): string {
    const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
    let text = '';
    for (let i = 0; i < length; i++) text += alphabet[this.int(alphabet.length)];
    return text;
  }
  uid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

const ECR = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const APP_REPOSITORIES = [
  `${ECR}/shop/checkout`,
  `${ECR}/shop/cart`,
  `${ECR}/shop/catalog`,
  `${ECR}/payments/ledger`,
  `${ECR}/payments/gateway`,
  `${ECR}/search/indexer`,
  `${ECR}/search/query`,
  `${ECR}/ml/feature-store`,
  'ghcr.io/acme/web',
  'ghcr.io/acme/api',
  'ghcr.io/acme/worker',
  'quay.io/acme/notifier',
  'docker.io/acme/legacy-billing',
  'registry.internal.acme.dev:5000/platform/auth',
];
const THIRD_PARTY = [
  ['nginx', ['1.27.3', '1.27', 'stable-alpine']],
  ['redis', ['7.4.2', '7.2-alpine']],
  ['postgres', ['16.6', '17.2']],
  ['bitnami/kafka', ['3.9.0']],
  ['grafana/grafana', ['11.4.0']],
  ['quay.io/prometheus/node-exporter', ['v1.8.2']],
] as const;
const SIDECARS = [
  { name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.24.2', policy: 'IfNotPresent' },
  { name: 'fluent-bit', image: 'cr.fluentbit.io/fluent/fluent-bit:3.2.4', policy: undefined },
  {
    name: 'cloud-sql-proxy',
    image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.3',
    policy: 'Always',
  },
] as const;
const DAEMONSETS = [
  {
    name: 'aws-node',
    image: '602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v1.19.2-eksbuild.1',
  },
  {
    name: 'kube-proxy',
    image: '602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.31.3-minimal-eksbuild.2',
  },
  { name: 'ebs-csi-node', image: 'public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.38.1' },
  { name: 'node-exporter', image: 'quay.io/prometheus/node-exporter:v1.8.2' },
] as const;
const NODE_GROUPS = [
  'general-a',
  'general-b',
  'general-c',
  'memory',
  'compute',
  'gpu',
  'arm-general',
  'arm-batch',
];
const TEAMS = [
  'shop',
  'payments',
  'search',
  'ml',
  'platform',
  'growth',
  'identity',
  'data',
  'mobile',
  'ads',
];
const STAGES = ['prod', 'staging', 'dev'];
const REPLICAS: readonly (readonly [number, number])[] = [
  [1, 30],
  [2, 25],
  [3, 20],
  [5, 12],
  [10, 8],
  [20, 4],
  [50, 1],
];
const POLICIES: readonly (readonly [string | undefined, number])[] = [
  [undefined, 50],
  ['IfNotPresent', 30],
  ['Always', 18],
  ['Never', 2],
];
type ReferenceShape = 'semver' | 'latest' | 'untagged' | 'digest' | 'tag-and-digest' | 'git-sha';
const SHAPES: readonly (readonly [ReferenceShape, number])[] = [
  ['semver', 55],
  ['git-sha', 8],
  ['latest', 8],
  ['untagged', 4],
  ['digest', 17],
  ['tag-and-digest', 8],
];
const CREATED = Date.parse('2026-09-01T00:00:00Z');

interface ContainerPlan {
  readonly name: string;
  readonly image: string;
  readonly policy: string | undefined;
  readonly repository: string;
  /** Manifest digest the replicas run; a skewed workload has two. */
  readonly digests: readonly string[];
}

interface WorkloadPlan {
  readonly kind: 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob' | 'Job' | 'Pod';
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly replicas: number;
  readonly labels: Record<string, string>;
  readonly containers: readonly ContainerPlan[];
  readonly initContainers: readonly ContainerPlan[];
  readonly nodeGroup: string | undefined;
  readonly applied: boolean;
}

function timestamp(dice: Dice, base = CREATED): string {
  return new Date(base + dice.int(60 * 24 * 3600) * 1000).toISOString().replace('.000', '');
}

function appReference(dice: Dice, repository: string): { image: string; digest: string } {
  const digest = `sha256:${dice.hex(64)}`;
  const version = `${1 + dice.int(4)}.${dice.int(30)}.${dice.int(12)}`;
  switch (dice.weighted(SHAPES)) {
    case 'semver':
      return { image: `${repository}:${version}`, digest };
    case 'git-sha':
      return { image: `${repository}:${dice.hex(12)}`, digest };
    case 'latest':
      return { image: `${repository}:latest`, digest };
    case 'untagged':
      return { image: repository, digest };
    case 'digest':
      return { image: `${repository}@${digest}`, digest };
    case 'tag-and-digest':
      return { image: `${repository}:${version}@${digest}`, digest };
  }
}

function container(
  dice: Dice,
  name: string,
  repository: string,
  image: string,
  digest: string,
  policy: string | undefined,
  skew: boolean,
): ContainerPlan {
  return {
    name,
    image,
    policy,
    repository,
    digests: skew ? [digest, `sha256:${dice.hex(64)}`] : [digest],
  };
}

function planWorkload(
  dice: Dice,
  index: number,
  kind: WorkloadPlan['kind'],
  replicas: number,
): WorkloadPlan {
  const team = dice.pick(TEAMS);
  const stage = dice.weighted([
    [STAGES[0] as string, 6],
    [STAGES[1] as string, 3],
    [STAGES[2] as string, 1],
  ]);
  const namespace = `${team}-${stage}-${index % 17}`;
  const thirdParty = dice.chance(0.2);
  const skew = kind !== 'CronJob' && kind !== 'Job' && replicas > 1 && dice.chance(0.005);
  let main: ContainerPlan;
  let name: string;
  if (thirdParty) {
    const [repository, tags] = dice.pick(THIRD_PARTY);
    const tag = dice.pick(tags);
    const qualified = repository.includes('.')
      ? repository
      : `docker.io/${repository.includes('/') ? '' : 'library/'}${repository}`;
    name = `${repository.split('/').at(-1)}-${index}`;
    main = container(
      dice,
      repository.split('/').at(-1) as string,
      qualified,
      `${repository}:${tag}`,
      `sha256:${dice.hex(64)}`,
      dice.weighted(POLICIES),
      skew,
    );
  } else {
    const repository = dice.pick(APP_REPOSITORIES);
    const reference = appReference(dice, repository);
    name = `${repository.split('/').at(-1)}-${index}`;
    main = container(
      dice,
      'app',
      repository,
      reference.image,
      reference.digest,
      dice.weighted(POLICIES),
      skew,
    );
  }
  const containers = [main];
  if (dice.chance(0.3)) {
    const sidecar = dice.pick(SIDECARS);
    const repository = sidecar.image.slice(0, sidecar.image.lastIndexOf(':'));
    containers.push(
      container(
        dice,
        sidecar.name,
        repository,
        sidecar.image,
        `sha256:${dice.hex(64)}`,
        sidecar.policy,
        false,
      ),
    );
  }
  const initContainers =
    dice.chance(0.2) && !thirdParty
      ? [
          container(
            dice,
            'migrate',
            main.repository,
            main.image,
            main.digests[0] as string,
            main.policy,
            false,
          ),
        ]
      : [];
  return {
    kind,
    name,
    namespace,
    uid: dice.uid(),
    replicas,
    labels: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': team, team },
    containers,
    initContainers,
    nodeGroup: dice.chance(0.4) ? dice.pick(NODE_GROUPS) : undefined,
    applied: dice.chance(0.6),
  };
}

function containerSpec(plan: ContainerPlan, dice: Dice, withPolicy: boolean): KubeObject {
  const spec: KubeObject = {
    name: plan.name,
    image: plan.image,
    ports:
      plan.name === 'app' ? [{ containerPort: 8080, name: 'http', protocol: 'TCP' }] : undefined,
    env: [
      { name: 'LOG_LEVEL', value: dice.pick(['info', 'debug', 'warn']) },
      {
        name: 'POD_NAME',
        valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } },
      },
      {
        name: 'POD_NAMESPACE',
        valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
      },
    ],
    resources: {
      limits: { cpu: `${1 + dice.int(4)}`, memory: `${256 * (1 + dice.int(8))}Mi` },
      requests: { cpu: `${100 * (1 + dice.int(9))}m`, memory: `${128 * (1 + dice.int(8))}Mi` },
    },
    readinessProbe:
      plan.name === 'app'
        ? {
            failureThreshold: 3,
            httpGet: { path: '/ready', port: 8080, scheme: 'HTTP' },
            periodSeconds: 10,
            successThreshold: 1,
            timeoutSeconds: 1,
          }
        : undefined,
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
    },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    volumeMounts: [
      {
        mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
        name: 'kube-api-access',
        readOnly: true,
      },
    ],
  };
  if (withPolicy)
    spec.imagePullPolicy = plan.policy ?? defaultPullPolicy(parseImageReference(plan.image));
  else if (plan.policy !== undefined) spec.imagePullPolicy = plan.policy;
  return spec;
}

function podTemplate(
  plan: WorkloadPlan,
  dice: Dice,
  stored: boolean,
  extraLabels: Record<string, string> = {},
): KubeObject {
  return {
    metadata: { labels: { ...plan.labels, ...extraLabels } },
    spec: {
      containers: plan.containers.map((c) => containerSpec(c, dice, stored)),
      ...(plan.initContainers.length > 0
        ? { initContainers: plan.initContainers.map((c) => containerSpec(c, dice, stored)) }
        : {}),
      dnsPolicy: 'ClusterFirst',
      ...(plan.nodeGroup === undefined
        ? {}
        : { nodeSelector: { 'eks.amazonaws.com/nodegroup': plan.nodeGroup } }),
      restartPolicy: plan.kind === 'CronJob' || plan.kind === 'Job' ? 'OnFailure' : 'Always',
      schedulerName: 'default-scheduler',
      securityContext: { fsGroup: 2000, runAsUser: 1000 },
      serviceAccountName: plan.name,
      terminationGracePeriodSeconds: 30,
    },
  };
}

function lastApplied(plan: WorkloadPlan, apiVersion: string, spec: KubeObject): string {
  return JSON.stringify({
    apiVersion,
    kind: plan.kind,
    metadata: { annotations: {}, labels: plan.labels, name: plan.name, namespace: plan.namespace },
    spec,
  });
}

function workloadObject(plan: WorkloadPlan, dice: Dice): KubeObject {
  const apiVersion = plan.kind === 'CronJob' || plan.kind === 'Job' ? 'batch/v1' : 'apps/v1';
  const selector = { matchLabels: { 'app.kubernetes.io/name': plan.name } };
  const authored = podTemplate(plan, dice, false);
  let authoredSpec: KubeObject;
  let storedSpec: KubeObject;
  if (plan.kind === 'CronJob') {
    authoredSpec = {
      schedule: `${dice.int(60)} * * * *`,
      jobTemplate: { spec: { template: authored } },
    };
    storedSpec = {
      concurrencyPolicy: 'Forbid',
      failedJobsHistoryLimit: 1,
      jobTemplate: {
        metadata: {},
        spec: { backoffLimit: 6, template: podTemplate(plan, dice, true) },
      },
      schedule: authoredSpec.schedule,
      successfulJobsHistoryLimit: 3,
      suspend: false,
    };
  } else if (plan.kind === 'DaemonSet') {
    authoredSpec = { selector, template: authored };
    storedSpec = {
      revisionHistoryLimit: 10,
      selector,
      template: podTemplate(plan, dice, true),
      updateStrategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: 1 }, type: 'RollingUpdate' },
    };
  } else {
    authoredSpec = { replicas: plan.replicas, selector, template: authored };
    storedSpec = {
      progressDeadlineSeconds: plan.kind === 'Deployment' ? 600 : undefined,
      replicas: plan.replicas,
      revisionHistoryLimit: 10,
      selector,
      ...(plan.kind === 'StatefulSet'
        ? { serviceName: plan.name, podManagementPolicy: 'OrderedReady' }
        : {}),
      strategy:
        plan.kind === 'Deployment'
          ? { rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' }, type: 'RollingUpdate' }
          : undefined,
      template: podTemplate(plan, dice, true),
    };
  }
  return {
    apiVersion,
    kind: plan.kind,
    metadata: {
      annotations: {
        ...(plan.kind === 'Deployment'
          ? { 'deployment.kubernetes.io/revision': `${1 + dice.int(40)}` }
          : {}),
        ...(plan.applied
          ? {
              'kubectl.kubernetes.io/last-applied-configuration': `${lastApplied(plan, apiVersion, authoredSpec)}\n`,
            }
          : {}),
      },
      creationTimestamp: timestamp(dice),
      generation: 1 + dice.int(40),
      labels: plan.labels,
      name: plan.name,
      namespace: plan.namespace,
      resourceVersion: `${10_000_000 + dice.int(90_000_000)}`,
      uid: plan.uid,
    },
    spec: storedSpec,
    status: { observedGeneration: 1, replicas: plan.replicas, readyReplicas: plan.replicas },
  };
}

interface NodePlan {
  readonly name: string;
  readonly group: string;
  readonly arch: string;
}

function nodeObject(node: NodePlan, dice: Dice): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      labels: {
        'beta.kubernetes.io/arch': node.arch,
        'eks.amazonaws.com/nodegroup': node.group,
        'kubernetes.io/arch': node.arch,
        'kubernetes.io/hostname': node.name,
        'kubernetes.io/os': 'linux',
        'node.kubernetes.io/instance-type': node.arch === 'arm64' ? 'm7g.2xlarge' : 'm7i.2xlarge',
        'topology.kubernetes.io/zone': dice.pick(['us-east-1a', 'us-east-1b', 'us-east-1c']),
      },
      name: node.name,
      resourceVersion: `${10_000_000 + dice.int(90_000_000)}`,
      uid: dice.uid(),
    },
    spec: { providerID: `aws:///us-east-1a/i-0${dice.hex(16)}` },
    status: {
      allocatable: { cpu: '7910m', memory: '31369728Ki', pods: '110' },
      nodeInfo: {
        architecture: node.arch,
        containerRuntimeVersion: 'containerd://1.7.25',
        kubeletVersion: 'v1.31.3-eks-59bf375',
        operatingSystem: 'linux',
      },
    },
  };
}

function podObject(
  plan: WorkloadPlan,
  dice: Dice,
  ordinal: number,
  owner: { kind: string; name: string; uid: string } | undefined,
  node: NodePlan,
  hash: string | undefined,
): KubeObject {
  const name =
    plan.kind === 'StatefulSet'
      ? `${plan.name}-${ordinal}`
      : plan.kind === 'Pod'
        ? plan.name
        : `${owner?.name ?? plan.name}-${dice.suffix(5)}`;
  const started = timestamp(dice, CREATED + 30 * 24 * 3600 * 1000);
  const pick = (c: ContainerPlan) => c.digests[ordinal % c.digests.length] as string;
  const template = podTemplate(
    plan,
    dice,
    true,
    hash === undefined ? {} : { 'pod-template-hash': hash },
  );
  const spec = template.spec as KubeObject;
  const statuses = (containers: readonly ContainerPlan[]) =>
    containers.map((c) => ({
      containerID: `containerd://${dice.hex(64)}`,
      image: c.image,
      imageID: `${c.repository}@${pick(c)}`,
      lastState: {},
      name: c.name,
      ready: true,
      restartCount: dice.chance(0.1) ? dice.int(5) : 0,
      started: true,
      state: { running: { startedAt: started } },
    }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      creationTimestamp: started,
      ...(plan.kind === 'Pod' || plan.kind === 'StatefulSet'
        ? {}
        : { generateName: `${owner?.name ?? plan.name}-` }),
      labels: (template.metadata as KubeObject).labels,
      name,
      namespace: plan.namespace,
      ...(owner === undefined
        ? {}
        : {
            ownerReferences: [
              {
                apiVersion: owner.kind === 'Job' ? 'batch/v1' : 'apps/v1',
                blockOwnerDeletion: true,
                controller: true,
                kind: owner.kind,
                name: owner.name,
                uid: owner.uid,
              },
            ],
          }),
      resourceVersion: `${10_000_000 + dice.int(90_000_000)}`,
      uid: dice.uid(),
    },
    spec: {
      ...spec,
      enableServiceLinks: true,
      nodeName: node.name,
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0,
      tolerations: [
        {
          effect: 'NoExecute',
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          tolerationSeconds: 300,
        },
        {
          effect: 'NoExecute',
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          tolerationSeconds: 300,
        },
      ],
      volumes: [
        {
          name: 'kube-api-access',
          projected: {
            defaultMode: 420,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              {
                configMap: { items: [{ key: 'ca.crt', path: 'ca.crt' }], name: 'kube-root-ca.crt' },
              },
              {
                downwardAPI: {
                  items: [
                    {
                      fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' },
                      path: 'namespace',
                    },
                  ],
                },
              },
            ],
          },
        },
      ],
    },
    status: {
      conditions: [
        'PodReadyToStartContainers',
        'Initialized',
        'Ready',
        'ContainersReady',
        'PodScheduled',
      ].map((type) => ({
        lastProbeTime: null,
        lastTransitionTime: started,
        status: 'True',
        type,
      })),
      containerStatuses: statuses(plan.containers),
      ...(plan.initContainers.length > 0
        ? { initContainerStatuses: statuses(plan.initContainers) }
        : {}),
      hostIP: `10.${dice.int(256)}.${dice.int(256)}.${dice.int(256)}`,
      phase: 'Running',
      podIP: `10.${dice.int(256)}.${dice.int(256)}.${dice.int(256)}`,
      qosClass: 'Burstable',
      startTime: started,
    },
  };
}

/** Serialises list items in one of the dump formats, streaming to disk with backpressure. */
class ListWriter {
  private readonly stream: WriteStream;
  private readonly format: DumpFormat;
  private first = true;
  bytes = 0;
  objects = 0;

  constructor(out: string, format: DumpFormat) {
    this.stream = createWriteStream(out);
    this.format = format;
  }

  private async write(text: string): Promise<void> {
    this.bytes += Buffer.byteLength(text);
    if (!this.stream.write(text)) await once(this.stream, 'drain');
  }

  async open(): Promise<void> {
    if (this.format === 'kubectl-json')
      await this.write('{\n    "apiVersion": "v1",\n    "items": [\n');
    else if (this.format === 'compact-json') await this.write('{"apiVersion":"v1","items":[');
    else if (this.format === 'kubectl-yaml') await this.write('apiVersion: v1\nitems:\n');
  }

  async item(object: KubeObject): Promise<void> {
    this.objects++;
    const separator = this.first ? '' : ',';
    this.first = false;
    if (this.format === 'kubectl-json') {
      const body = JSON.stringify(object, null, 4).replaceAll('\n', '\n        ');
      await this.write(`${separator === '' ? '' : ',\n'}        ${body}`);
    } else if (this.format === 'compact-json') {
      await this.write(separator + JSON.stringify(object));
    } else if (this.format === 'watch-ndjson') {
      await this.write(`${JSON.stringify({ type: 'ADDED', object })}\n`);
    } else {
      const body = stringifyYaml(object, { lineWidth: 0 }).trimEnd().replaceAll('\n', '\n  ');
      await this.write(`- ${body}\n`);
    }
  }

  async close(): Promise<void> {
    if (this.format === 'kubectl-json') {
      await this.write(
        `\n    ],\n    "kind": "List",\n    "metadata": {\n        "resourceVersion": ""\n    }\n}\n`,
      );
    } else if (this.format === 'compact-json') {
      await this.write('],"kind":"List","metadata":{"resourceVersion":""}}\n');
    } else if (this.format === 'kubectl-yaml') {
      await this.write('kind: List\nmetadata:\n  resourceVersion: ""\n');
    }
    this.stream.end();
    await once(this.stream, 'finish');
  }
}

export async function writeClusterDump(options: ClusterDumpOptions): Promise<ClusterDumpSummary> {
  if (!Number.isInteger(options.pods) || options.pods < 1)
    throw new Error('pods must be a positive integer');
  const dice = new Dice(options.seed);
  const nodeCount = Math.min(5000, Math.max(3, Math.ceil(options.pods / 30)));
  const nodes: NodePlan[] = [];
  for (let i = 0; i < nodeCount; i++) {
    const group = NODE_GROUPS[i % NODE_GROUPS.length] as string;
    nodes.push({
      name: `ip-10-${(i >> 8) & 255}-${i & 255}-${10 + (i % 200)}.ec2.internal`,
      group,
      arch: group.startsWith('arm') ? 'arm64' : 'amd64',
    });
  }
  const nodesByGroup = new Map<string, NodePlan[]>();
  for (const node of nodes)
    nodesByGroup.set(node.group, [...(nodesByGroup.get(node.group) ?? []), node]);
  const placeFor = (plan: WorkloadPlan): NodePlan => {
    const pool = plan.nodeGroup === undefined ? nodes : (nodesByGroup.get(plan.nodeGroup) ?? nodes);
    return dice.pick(pool);
  };

  const writer = new ListWriter(options.out, options.format);
  await writer.open();
  for (const node of nodes) await writer.item(nodeObject(node, dice));

  let pods = 0;
  let workloads = 0;
  const daemonSets = Math.max(
    0,
    Math.min(DAEMONSETS.length, Math.floor((0.15 * options.pods) / nodeCount)),
  );
  for (let d = 0; d < daemonSets; d++) {
    const ds = DAEMONSETS[d] as (typeof DAEMONSETS)[number];
    const repository = ds.image.slice(0, ds.image.lastIndexOf(':'));
    const plan: WorkloadPlan = {
      kind: 'DaemonSet',
      name: ds.name,
      namespace: 'kube-system',
      uid: dice.uid(),
      replicas: nodeCount,
      labels: { 'app.kubernetes.io/name': ds.name, 'k8s-app': ds.name },
      containers: [
        container(dice, ds.name, repository, ds.image, `sha256:${dice.hex(64)}`, undefined, false),
      ],
      initContainers: [],
      nodeGroup: undefined,
      applied: false,
    };
    workloads++;
    await writer.item(workloadObject(plan, dice));
    for (let i = 0; i < nodeCount; i++) {
      await writer.item(
        podObject(
          plan,
          dice,
          i,
          { kind: 'DaemonSet', name: plan.name, uid: plan.uid },
          nodes[i] as NodePlan,
          undefined,
        ),
      );
      pods++;
    }
  }

  let index = 0;
  while (pods < options.pods) {
    const kind = dice.weighted<WorkloadPlan['kind']>([
      ['Deployment', 80],
      ['StatefulSet', 10],
      ['CronJob', 6],
      ['Job', 2],
      ['Pod', 2],
    ]);
    const wanted =
      kind === 'Pod' || kind === 'CronJob' || kind === 'Job' ? 1 : dice.weighted(REPLICAS);
    const replicas = Math.min(wanted, options.pods - pods);
    const plan = planWorkload(dice, index++, kind, replicas);
    workloads++;
    if (kind !== 'Pod') await writer.item(workloadObject(plan, dice));
    let owner: { kind: string; name: string; uid: string } | undefined;
    let hash: string | undefined;
    if (kind === 'Deployment') {
      hash = dice.suffix(10);
      const current = { kind: 'ReplicaSet', name: `${plan.name}-${hash}`, uid: dice.uid() };
      const old = { kind: 'ReplicaSet', name: `${plan.name}-${dice.suffix(10)}`, uid: dice.uid() };
      for (const [replicaSet, count] of [
        [current, replicas],
        [old, 0],
      ] as const) {
        await writer.item({
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: {
            annotations: {
              'deployment.kubernetes.io/desired-replicas': `${replicas}`,
              'deployment.kubernetes.io/max-replicas': `${replicas + 1}`,
            },
            creationTimestamp: timestamp(dice),
            labels: {
              ...plan.labels,
              'pod-template-hash': replicaSet.name.slice(plan.name.length + 1),
            },
            name: replicaSet.name,
            namespace: plan.namespace,
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                blockOwnerDeletion: true,
                controller: true,
                kind: 'Deployment',
                name: plan.name,
                uid: plan.uid,
              },
            ],
            resourceVersion: `${10_000_000 + dice.int(90_000_000)}`,
            uid: replicaSet.uid,
          },
          spec: {
            replicas: count,
            selector: {
              matchLabels: {
                'app.kubernetes.io/name': plan.name,
                'pod-template-hash': replicaSet.name.slice(plan.name.length + 1),
              },
            },
            template: podTemplate(plan, dice, true, {
              'pod-template-hash': replicaSet.name.slice(plan.name.length + 1),
            }),
          },
          status: { replicas: count, readyReplicas: count },
        });
      }
      owner = current;
    } else if (kind === 'CronJob') {
      const job = {
        kind: 'Job',
        name: `${plan.name}-${29_000_000 + dice.int(100_000)}`,
        uid: dice.uid(),
      };
      await writer.item({
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: {
          creationTimestamp: timestamp(dice),
          labels: plan.labels,
          name: job.name,
          namespace: plan.namespace,
          ownerReferences: [
            {
              apiVersion: 'batch/v1',
              blockOwnerDeletion: true,
              controller: true,
              kind: 'CronJob',
              name: plan.name,
              uid: plan.uid,
            },
          ],
          uid: job.uid,
        },
        spec: {
          backoffLimit: 6,
          completions: 1,
          parallelism: 1,
          template: podTemplate(plan, dice, true),
        },
        status: { active: 1 },
      });
      owner = job;
    } else if (kind !== 'Pod') {
      owner = { kind, name: plan.name, uid: plan.uid };
    }
    for (let ordinal = 0; ordinal < replicas; ordinal++) {
      await writer.item(podObject(plan, dice, ordinal, owner, placeFor(plan), hash));
      pods++;
    }
  }
  await writer.close();
  return { bytes: writer.bytes, pods, workloads, nodes: nodeCount, objects: writer.objects };
}
