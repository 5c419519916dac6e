import { type ProjectionSpec, projection } from '#shared/input/json-projection.ts';
import { LAST_APPLIED_ANNOTATION } from '#shared/kubernetes/object.ts';

// Exactly the fields extraction reads; anything else in a cluster dump is validated and skipped.

const container = projection(
  { name: true, image: true, imagePullPolicy: true },
  { positions: ['image'] },
);

const podSpec: ProjectionSpec = {
  containers: container,
  initContainers: container,
  ephemeralContainers: container,
  volumes: {
    name: true,
    image: projection({ reference: true, pullPolicy: true }, { positions: ['reference'] }),
  },
  nodeSelector: true,
  nodeName: true,
  affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: true } },
};

const podTemplate: ProjectionSpec = {
  metadata: { labels: true },
  spec: podSpec,
};

const containerStatus: ProjectionSpec = {
  name: true,
  image: true,
  imageID: true,
  state: { waiting: { reason: true, message: true } },
};

export const KUBERNETES_OBJECT_PROJECTION = projection({
  apiVersion: true,
  kind: true,
  metadata: {
    name: true,
    generateName: true,
    namespace: true,
    uid: true,
    resourceVersion: true,
    creationTimestamp: true,
    labels: true,
    annotations: { [LAST_APPLIED_ANNOTATION]: true },
    ownerReferences: true,
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
