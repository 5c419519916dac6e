import { randomUUID } from 'node:crypto';
import { DEFAULT_CONFIG } from '#shared/config/schema.ts';
import { extractObject, type ObjectFacts } from '#shared/workload/extract.ts';

// Kubernetes objects and events shaped like the API server returns them (server-populated metadata,
// defaulted fields, statuses), for cluster-events tests and benchmarks.

export type Json = Record<string, unknown>;

export interface ContainerSpec {
  name: string;
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** `repo@sha256:…` the runtime reports; absent for a container that has not started. */
  imageID?: string;
  /** A waiting state instead of running, e.g. ErrImageNeverPull. */
  waiting?: { reason: string; message: string };
}

export function node(
  name: string,
  nodeGroup: string,
  options: {
    resourceVersion?: string;
    createdAt?: string;
    instanceId?: string;
    arch?: string;
    label?: string;
  } = {},
): Json {
  const instanceId = options.instanceId ?? `i-0${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      uid: randomUUID(),
      resourceVersion: options.resourceVersion ?? '1000',
      creationTimestamp: options.createdAt ?? '2026-11-20T08:00:00Z',
      labels: {
        'beta.kubernetes.io/arch': options.arch ?? 'amd64',
        'kubernetes.io/arch': options.arch ?? 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        [options.label ?? 'eks.amazonaws.com/nodegroup']: nodeGroup,
        'topology.kubernetes.io/zone': 'eu-west-1a',
      },
    },
    spec: { providerID: `aws:///eu-west-1a/${instanceId}` },
    status: {
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
      nodeInfo: {
        architecture: options.arch ?? 'amd64',
        containerRuntimeVersion: 'containerd://1.7.27',
        kubeletVersion: 'v1.34.2-eks-1234567',
        operatingSystem: 'linux',
      },
    },
  };
}

export function pod(
  namespace: string,
  name: string,
  options: {
    nodeName?: string;
    containers: ContainerSpec[];
    resourceVersion?: string;
    owner?: { kind: string; name: string };
    podTemplateHash?: string;
  },
): Json {
  const statuses = options.containers.map((container) => ({
    name: container.name,
    image: container.image,
    imageID: container.imageID ?? '',
    ready: container.waiting === undefined && container.imageID !== undefined,
    restartCount: 0,
    started: container.waiting === undefined,
    state:
      container.waiting === undefined
        ? { running: { startedAt: '2026-11-20T09:00:00Z' } }
        : { waiting: container.waiting },
    ...(container.imageID === undefined
      ? {}
      : { containerID: `containerd://${randomUUID().replaceAll('-', '')}` }),
  }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      uid: randomUUID(),
      resourceVersion: options.resourceVersion ?? '2000',
      creationTimestamp: '2026-11-20T09:00:00Z',
      labels: {
        app: name.split('-')[0],
        ...(options.podTemplateHash === undefined
          ? {}
          : { 'pod-template-hash': options.podTemplateHash }),
      },
      ...(options.owner === undefined
        ? {}
        : {
            ownerReferences: [
              {
                apiVersion: options.owner.kind === 'Job' ? 'batch/v1' : 'apps/v1',
                kind: options.owner.kind,
                name: options.owner.name,
                uid: randomUUID(),
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          }),
    },
    spec: {
      ...(options.nodeName === undefined ? {} : { nodeName: options.nodeName }),
      containers: options.containers.map((container) => ({
        name: container.name,
        image: container.image,
        imagePullPolicy:
          container.imagePullPolicy ??
          (/:latest$|^[^:@]+$/.test(container.image.split('/').pop() ?? '')
            ? 'Always'
            : 'IfNotPresent'),
        resources: {},
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
      })),
      dnsPolicy: 'ClusterFirst',
      restartPolicy: 'Always',
      schedulerName: 'default-scheduler',
      serviceAccountName: 'default',
    },
    status: {
      phase: options.nodeName === undefined ? 'Pending' : 'Running',
      qosClass: 'BestEffort',
      ...(options.nodeName === undefined ? {} : { hostIP: '10.0.1.17', podIP: '10.0.1.200' }),
      containerStatuses: options.nodeName === undefined ? [] : statuses,
    },
  };
}

/** A Deployment's pod (owned by its ReplicaSet, `<deployment>-<hash>-<suffix>`). */
export function deploymentPod(
  namespace: string,
  deployment: string,
  index: number,
  options: { nodeName?: string; containers: ContainerSpec[]; resourceVersion?: string },
): Json {
  const hash = '7d4b9c8f6d';
  return pod(namespace, `${deployment}-${hash}-${String(index).padStart(5, 'x')}`, {
    ...options,
    owner: { kind: 'ReplicaSet', name: `${deployment}-${hash}` },
    podTemplateHash: hash,
  });
}

export function watch(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Json): Json {
  return { type, object };
}

/** A core/v1 Event as the kubelet records it and event exporters ship it. */
export function coreEvent(options: {
  namespace: string;
  pod: string;
  container?: string;
  reason: string;
  type?: 'Normal' | 'Warning';
  message: string;
  node?: string;
  count?: number;
  at?: string;
  uid?: string;
}): Json {
  const at = options.at ?? '2026-11-20T09:00:05Z';
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: `${options.pod}.18a6b1c2d3e4f5a6`,
      namespace: options.namespace,
      uid: options.uid ?? randomUUID(),
      resourceVersion: '123456',
      creationTimestamp: at,
    },
    involvedObject: {
      apiVersion: 'v1',
      kind: 'Pod',
      name: options.pod,
      namespace: options.namespace,
      uid: randomUUID(),
      resourceVersion: '2000',
      ...(options.container === undefined
        ? {}
        : { fieldPath: `spec.containers{${options.container}}` }),
    },
    reason: options.reason,
    message: options.message,
    source: {
      component: 'kubelet',
      host: options.node ?? 'ip-10-0-1-17.eu-west-1.compute.internal',
    },
    firstTimestamp: at,
    lastTimestamp: at,
    count: options.count ?? 1,
    type: options.type ?? 'Normal',
    eventTime: null,
    reportingComponent: 'kubelet',
    reportingInstance: options.node ?? 'ip-10-0-1-17.eu-west-1.compute.internal',
  };
}

/** The same event as `events.k8s.io/v1` serves it. */
export function structuredEvent(options: Parameters<typeof coreEvent>[0]): Json {
  const core = coreEvent(options);
  const at = options.at ?? '2026-11-20T09:00:05Z';
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: core.metadata,
    eventTime: null,
    reason: options.reason,
    note: options.message,
    regarding: core.involvedObject,
    reportingController: 'kubelet',
    reportingInstance: options.node ?? 'ip-10-0-1-17.eu-west-1.compute.internal',
    type: options.type ?? 'Normal',
    deprecatedSource: core.source,
    deprecatedFirstTimestamp: at,
    deprecatedLastTimestamp: at,
    deprecatedCount: options.count ?? 1,
    ...((options.count ?? 1) > 1
      ? { series: { count: options.count, lastObservedTime: `${at.replace('Z', '.000000Z')}` } }
      : {}),
  };
}

/** An Auto Scaling `EC2 Instance Launch Successful` event as EventBridge delivers it. */
export function launchEvent(instanceId: string, autoScalingGroup: string): Json {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'EC2 Instance Launch Successful',
    source: 'aws.autoscaling',
    account: '123456789012',
    time: '2026-11-20T08:59:00Z',
    region: 'eu-west-1',
    resources: [
      `arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/${autoScalingGroup}`,
      `arn:aws:ec2:eu-west-1:123456789012:instance/${instanceId}`,
    ],
    detail: {
      StatusCode: 'InProgress',
      AutoScalingGroupName: autoScalingGroup,
      ActivityId: randomUUID(),
      RequestId: randomUUID(),
      StatusMessage: '',
      EndTime: '2026-11-20T08:59:00.000Z',
      EC2InstanceId: instanceId,
      StartTime: '2026-11-20T08:58:20.000Z',
      Cause: 'At 2026-11-20T08:58:10Z a user request update of AutoScalingGroup constraints…',
      Details: { 'Subnet ID': 'subnet-0123456789abcdef0', 'Availability Zone': 'eu-west-1a' },
    },
  };
}

function facts(object: Json): ObjectFacts {
  const extracted = extractObject(
    object,
    { file: 'cluster', document: 1, itemPath: '' },
    { nodeGroupLabels: DEFAULT_CONFIG.nodeGroups.labels, locate: () => undefined },
  ).facts;
  if (extracted === undefined) throw new Error('the test object has no facts');
  return extracted;
}

export function nodeFacts(name: string, nodeGroup: string): ObjectFacts {
  return facts(node(name, nodeGroup));
}

export function podFacts(
  namespace: string,
  name: string,
  nodeName: string,
  image: string,
): ObjectFacts {
  return facts(pod(namespace, name, { nodeName, containers: [{ name: 'main', image }] }));
}
