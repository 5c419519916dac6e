import {
  type ProjectionNode,
  type ProjectionSpec,
  projection,
} from '#shared/input/json-projection.ts';
import { LAST_APPLIED_ANNOTATION } from '#shared/kubernetes/object.ts';

// Exactly the fields extraction reads; anything else in a cluster dump is validated and skipped.
// Labels are read only where extraction looks at them, so the projection depends on the node-group
// labels of the configuration.

const container = projection(
  { name: true, image: true, imagePullPolicy: true },
  { positions: ['image'] },
);

const containerStatus: ProjectionSpec = {
  name: true,
  image: true,
  imageID: true,
  state: { waiting: { reason: true, message: true } },
};

/** Labels read on every object: the ReplicaSet hash on pods, the architecture on nodes. */
const OBJECT_LABELS = ['pod-template-hash', 'kubernetes.io/arch'];

function only(keys: readonly string[]): ProjectionSpec {
  return Object.fromEntries(keys.map((key) => [key, true]));
}

function objectProjection(nodeGroupLabels: readonly string[]): ProjectionNode {
  const podSpec: ProjectionSpec = {
    containers: container,
    initContainers: container,
    ephemeralContainers: container,
    volumes: {
      name: true,
      image: projection({ reference: true, pullPolicy: true }, { positions: ['reference'] }),
    },
    nodeSelector: only(nodeGroupLabels),
    nodeName: true,
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: true } },
  };
  const podTemplate: ProjectionSpec = { spec: podSpec };
  return projection({
    apiVersion: true,
    kind: true,
    metadata: {
      name: true,
      generateName: true,
      namespace: true,
      uid: true,
      resourceVersion: true,
      creationTimestamp: true,
      labels: only([...OBJECT_LABELS, ...nodeGroupLabels]),
      annotations: { [LAST_APPLIED_ANNOTATION]: true },
      ownerReferences: { kind: true, name: true, uid: true, controller: true },
      managedFields: { manager: true, operation: true, subresource: true, fieldsV1: true },
    },
    spec: {
      ...podSpec,
      template: podTemplate,
      jobTemplate: { spec: { template: podTemplate } },
    },
    template: podTemplate,
    status: {
      containerStatuses: containerStatus,
      initContainerStatuses: containerStatus,
      ephemeralContainerStatuses: containerStatus,
      nodeInfo: { architecture: true },
    },
  });
}

const projections = new Map<string, ProjectionNode>();

/** The projection of a Kubernetes object for extraction with these node-group labels. */
export function kubernetesObjectProjection(nodeGroupLabels: readonly string[]): ProjectionNode {
  const key = nodeGroupLabels.join('\n');
  let node = projections.get(key);
  if (node === undefined) {
    node = objectProjection(nodeGroupLabels);
    projections.set(key, node);
  }
  return node;
}
