import { asArray, asRecord, asString, type JsonRecord } from '#shared/kubernetes/object.ts';

// What cluster-events accepts, reduced to four shapes: Kubernetes watch events for nodes, pods and
// workloads; kubelet Events (core/v1 as event exporters ship them, and events.k8s.io/v1); EC2 Auto
// Scaling and EC2 state-change notifications from EventBridge. A delivery may carry one of them, a JSON
// array, a List (`items`), or newline-delimited JSON (a watch stream as `kubectl get -w -o json` and the
// API's `?watch=1` write it).

export const WATCH_TYPES = ['ADDED', 'MODIFIED', 'DELETED'] as const;
export type WatchType = (typeof WATCH_TYPES)[number];

export interface WatchEvent {
  kind: 'watch';
  type: WatchType;
  object: JsonRecord;
  objectKind: string;
  namespace: string;
  name: string;
  /** Opaque to clients, but the API server's are etcd revisions: ordered integers. */
  resourceVersion: string | undefined;
}

export interface KubeletEvent {
  kind: 'kubelet-event';
  /** metadata.uid of the Event object. */
  uid: string;
  reason: string;
  type: string;
  message: string;
  involved: {
    kind: string;
    namespace: string;
    name: string;
    uid: string | undefined;
    fieldPath: string | undefined;
  };
  /** The node whose kubelet reported it. */
  node: string | undefined;
  /** How many times the API server has seen it (core/v1 `count`, events.k8s.io `series.count`). */
  count: number;
  /** The latest occurrence, ISO 8601. */
  at: string;
}

export interface InstanceEvent {
  kind: 'instance';
  action: 'launch' | 'terminate';
  instanceId: string;
  autoScalingGroup: string | undefined;
  at: string;
  /** The EventBridge event id. */
  id: string;
}

export interface IgnoredClusterEvent {
  kind: 'ignored';
  reason: string;
}

export type ClusterEvent = WatchEvent | KubeletEvent | InstanceEvent | IgnoredClusterEvent;

export class ClusterEventError extends Error {
  override readonly name = 'ClusterEventError';
}

/** Kinds whose watch events the inventory keeps. */
export const INVENTORY_KINDS: ReadonlySet<string> = new Set([
  'Node',
  'Pod',
  'Deployment',
  'ReplicaSet',
  'StatefulSet',
  'DaemonSet',
  'Job',
  'CronJob',
  'ReplicationController',
]);

/** Splits a delivery's body into entries: JSON value, array, List, or newline-delimited JSON. */
export function splitDelivery(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === '') throw new ClusterEventError('the delivery is empty');
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    const lines = trimmed.split(/\r?\n/).filter((line) => line.trim() !== '');
    if (lines.length < 2) throw new ClusterEventError('the delivery is not JSON');
    return lines.map((line, index) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        throw new ClusterEventError(`line ${index + 1} of the delivery is not JSON`);
      }
    });
  }
  if (Array.isArray(parsed)) return parsed;
  const record = asRecord(parsed);
  const items = asArray(record?.items);
  if (items !== undefined && typeof record?.kind === 'string' && record.kind.endsWith('List')) {
    // The API server leaves kind and apiVersion out of a typed list's items (`PodList`); kubectl adds them.
    const itemKind = record.kind === 'List' ? undefined : record.kind.slice(0, -'List'.length);
    return items.map((item) => {
      const object = asRecord(item);
      if (object === undefined || itemKind === undefined || typeof object.kind === 'string') {
        return { type: 'ADDED', object: item };
      }
      return {
        type: 'ADDED',
        object: { ...object, kind: itemKind, apiVersion: record.apiVersion },
      };
    });
  }
  return [parsed];
}

function isoTime(value: unknown): string | undefined {
  const text = asString(value);
  if (text === undefined || text === '') return undefined;
  const time = new Date(text);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

function positiveCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

function kubeletEvent(object: JsonRecord, entry: string): KubeletEvent | IgnoredClusterEvent {
  const metadata = asRecord(object.metadata);
  const structured = asString(object.apiVersion) === 'events.k8s.io/v1';
  const involved = asRecord(structured ? object.regarding : object.involvedObject);
  const uid = asString(metadata?.uid);
  const reason = asString(object.reason);
  if (involved === undefined || reason === undefined) {
    throw new ClusterEventError(
      `${entry}: an Event needs ${structured ? 'regarding' : 'involvedObject'} and reason`,
    );
  }
  const kind = asString(involved.kind);
  const name = asString(involved.name);
  if (kind === undefined || name === undefined) {
    throw new ClusterEventError(`${entry}: the Event's object has no kind or name`);
  }
  const series = asRecord(object.series);
  const count =
    positiveCount(series?.count) ??
    positiveCount(object.count) ??
    positiveCount(object.deprecatedCount) ??
    1;
  const at =
    isoTime(series?.lastObservedTime) ??
    isoTime(object.lastTimestamp) ??
    isoTime(object.deprecatedLastTimestamp) ??
    isoTime(object.eventTime) ??
    isoTime(object.firstTimestamp) ??
    isoTime(metadata?.creationTimestamp);
  if (at === undefined) throw new ClusterEventError(`${entry}: the Event has no time`);
  const source = asRecord(object.source);
  const node =
    asString(source?.host) ??
    (asString(object.reportingController ?? object.reportingComponent) === 'kubelet'
      ? asString(object.reportingInstance)
      : undefined);
  return {
    kind: 'kubelet-event',
    // Exporters that strip metadata still give the involved object and time: derive a stable id.
    uid: uid ?? `${kind}/${asString(involved.namespace) ?? ''}/${name}/${reason}/${at}`,
    reason,
    type: asString(object.type) ?? 'Normal',
    message: asString(structured ? object.note : object.message) ?? '',
    involved: {
      kind,
      namespace: asString(involved.namespace) ?? asString(metadata?.namespace) ?? 'default',
      name,
      uid: asString(involved.uid),
      fieldPath: asString(involved.fieldPath),
    },
    node: node === '' ? undefined : node,
    count,
    at,
  };
}

const LAUNCH_TYPES = new Set(['EC2 Instance Launch Successful']);
const TERMINATE_TYPES = new Set(['EC2 Instance Terminate Successful']);

function instanceEvent(event: JsonRecord, entry: string): InstanceEvent | IgnoredClusterEvent {
  const detailType = asString(event['detail-type']) ?? '';
  const detail = asRecord(event.detail);
  const id = asString(event.id);
  const at = isoTime(event.time);
  if (detail === undefined || id === undefined || at === undefined) {
    throw new ClusterEventError(`${entry}: an EventBridge event needs id, time and detail`);
  }
  if (event.source === 'aws.autoscaling') {
    const action = LAUNCH_TYPES.has(detailType)
      ? 'launch'
      : TERMINATE_TYPES.has(detailType)
        ? 'terminate'
        : undefined;
    if (action === undefined) return { kind: 'ignored', reason: `${detailType} is not followed` };
    const instanceId = asString(detail.EC2InstanceId);
    if (instanceId === undefined || !/^i-[0-9a-f]{8,17}$/.test(instanceId)) {
      throw new ClusterEventError(`${entry}: ${detailType} without a valid EC2InstanceId`);
    }
    return {
      kind: 'instance',
      action,
      instanceId,
      autoScalingGroup: asString(detail.AutoScalingGroupName),
      at,
      id,
    };
  }
  if (detailType !== 'EC2 Instance State-change Notification') {
    return { kind: 'ignored', reason: `${detailType || 'the event'} is not followed` };
  }
  const instanceId = asString(detail['instance-id']);
  const state = asString(detail.state);
  if (instanceId === undefined || !/^i-[0-9a-f]{8,17}$/.test(instanceId) || state === undefined) {
    throw new ClusterEventError(
      `${entry}: a state-change notification needs instance-id and state`,
    );
  }
  const action =
    state === 'pending' || state === 'running'
      ? 'launch'
      : state === 'shutting-down' || state === 'terminated'
        ? 'terminate'
        : undefined;
  if (action === undefined) return { kind: 'ignored', reason: `instance state ${state}` };
  return { kind: 'instance', action, instanceId, autoScalingGroup: undefined, at, id };
}

/** Classifies one entry of a delivery; `index` names it in errors. */
export function classifyClusterEvent(value: unknown, index: number): ClusterEvent {
  const entry = `entry ${index + 1}`;
  const record = asRecord(value);
  if (record === undefined) throw new ClusterEventError(`${entry} is not a JSON object`);
  if (typeof record.source === 'string' && typeof record['detail-type'] === 'string') {
    if (record.source !== 'aws.autoscaling' && record.source !== 'aws.ec2') {
      return { kind: 'ignored', reason: `events from ${record.source} are not followed` };
    }
    return instanceEvent(record, entry);
  }
  if (typeof record.type === 'string' && 'object' in record) {
    if (record.type === 'BOOKMARK') return { kind: 'ignored', reason: 'bookmark' };
    if (record.type === 'ERROR') return { kind: 'ignored', reason: 'watch error status' };
    if (!(WATCH_TYPES as readonly string[]).includes(record.type)) {
      throw new ClusterEventError(`${entry}: unknown watch event type "${record.type}"`);
    }
    const object = asRecord(record.object);
    if (object === undefined)
      throw new ClusterEventError(`${entry}: the watch event has no object`);
    if (object.kind === 'Event') {
      return record.type === 'DELETED'
        ? { kind: 'ignored', reason: 'deleted Event' }
        : kubeletEvent(object, entry);
    }
    return watchEvent(record.type as WatchType, object, entry);
  }
  if (record.kind === 'Event' && typeof record.apiVersion === 'string') {
    return kubeletEvent(record, entry);
  }
  throw new ClusterEventError(
    `${entry} is neither a watch event ({type, object}), an Event, nor an EC2/Auto Scaling event`,
  );
}

function watchEvent(type: WatchType, object: JsonRecord, entry: string): ClusterEvent {
  const objectKind = asString(object.kind);
  if (objectKind === undefined || asString(object.apiVersion) === undefined) {
    throw new ClusterEventError(`${entry}: the object has no apiVersion or kind`);
  }
  if (!INVENTORY_KINDS.has(objectKind)) {
    return { kind: 'ignored', reason: `${objectKind} objects are not kept` };
  }
  const metadata = asRecord(object.metadata);
  const name = asString(metadata?.name);
  if (name === undefined || name === '') {
    throw new ClusterEventError(`${entry}: the ${objectKind} has no metadata.name`);
  }
  return {
    kind: 'watch',
    type,
    object,
    objectKind,
    namespace: objectKind === 'Node' ? '' : (asString(metadata?.namespace) ?? 'default'),
    name,
    resourceVersion: asString(metadata?.resourceVersion),
  };
}

/** Parses and classifies a whole delivery; any bad entry rejects all of it. */
export function parseDelivery(text: string): ClusterEvent[] {
  return splitDelivery(text).map((entry, index) => classifyClusterEvent(entry, index));
}
