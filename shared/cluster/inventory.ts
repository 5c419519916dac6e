import type { InventoryQuery } from '#shared/prepull/plan.ts';
import type { ObjectFacts } from '#shared/workload/extract.ts';
import type { WatchType } from './events.ts';

// What pullwarden knows about a cluster, kept from its watch events: nodes and their node groups, pods
// with their node, images and running digests, and workloads with their pod templates. The domain sees
// these operations; the state table holds them (shared/aws/inventory-store.ts).

export interface InventoryObject {
  kind: string;
  namespace: string;
  name: string;
  facts: ObjectFacts;
  /** When a Node was created (metadata.creationTimestamp), to tell a joining node from a re-list. */
  createdAt?: string;
}

export interface ObjectChange {
  type: WatchType;
  kind: string;
  namespace: string;
  name: string;
  resourceVersion: string | undefined;
  /** The object's facts; absent for DELETED. */
  facts?: ObjectFacts;
  createdAt?: string;
  at: Date;
}

/**
 * `applied`: the change is the newest seen. `stale`: a newer version (or the deletion) is stored, so an
 * out-of-order event changes nothing. `duplicate`: this exact version is stored already.
 */
export type ApplyOutcome = 'applied' | 'stale' | 'duplicate';

export interface ApplyResult {
  outcome: ApplyOutcome;
  /** The stored object this change replaced, when there was one (and it was not deleted). */
  previous: InventoryObject | undefined;
}

export interface InstanceRecord {
  instanceId: string;
  nodeGroup: string | undefined;
  state: 'launched' | 'terminated';
  at: string;
}

export interface Inventory extends InventoryQuery {
  apply(change: ObjectChange): Promise<ApplyResult>;
  /** Applies a batch: changes to one object in order, different objects side by side. */
  applyAll(changes: readonly ObjectChange[]): Promise<ApplyResult[]>;
  object(kind: string, namespace: string, name: string): Promise<InventoryObject | undefined>;
  /** Pods and workloads whose pod spec names `registry/repository:tag` without a digest. */
  objectsUsingTag(image: {
    registry: string;
    repository: string;
    tag: string;
  }): Promise<InventoryObject[]>;
  nodeGroupOf(node: string): Promise<string | undefined>;
  /**
   * Records an EC2 instance's launch or termination, and answers the instance's state afterwards: a
   * launch reported after the termination leaves it `terminated`.
   */
  recordInstance(record: InstanceRecord): Promise<InstanceRecord['state']>;
  /** Every object kept, for a sweep. */
  allObjects(): AsyncIterable<InventoryObject>;
}

/** `aws:///eu-west-1a/i-0123456789abcdef0` → `i-0123456789abcdef0` */
export function instanceIdOfProviderId(providerId: string | undefined): string | undefined {
  if (providerId === undefined) return undefined;
  return /^aws:\/\/\/[^/]*\/(i-[0-9a-f]{8,17})$/.exec(providerId)?.[1];
}
