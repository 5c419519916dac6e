import type { PrepullQueue } from '#shared/aws/prepull-queue.ts';
import { ALL_NODE_GROUPS, type Config } from '#shared/config/schema.ts';
import { effectiveTag, tryParseImageReference } from '#shared/image/reference.ts';
import { PREPULL_SCHEMA, type PrepullMessage } from '#shared/prepull/message.ts';
import { DigestResolutionError, type DigestResolver } from '#shared/registry/digest-resolver.ts';
import type { StateStore } from '#shared/state/store.ts';
import { globMatches } from '#shared/text/glob.ts';

// A node that joins a node group gets that group's images: its warm set (already pinned) and the
// configured pre-pull set (tags pinned now). The same node can be announced twice — by the Auto Scaling
// launch event before it registers, and by its Node object after — so each node is warmed once.

export interface NodeJoinDependencies {
  config: Config;
  store: Pick<StateStore, 'claim' | 'release' | 'complete' | 'warmSet'>;
  queue: PrepullQueue;
  resolver: DigestResolver;
  now: () => Date;
}

export interface JoiningNode {
  nodeGroup: string;
  name?: string | undefined;
  instanceId?: string | undefined;
  /** What announced it: `node` (its Node object) or `instance` (an EC2 / Auto Scaling event). */
  announcedBy: 'node' | 'instance';
}

export interface NodeJoinOutcome {
  nodeGroup: string;
  node: string;
  status: 'queued' | 'duplicate' | 'disabled';
  queued: number;
  /** Pre-pull set entries whose tag the registry could not pin. */
  unresolved: string[];
}

/** A node is warmed once per day at most, whichever announcement comes first. */
const JOIN_WINDOW_SECONDS = 24 * 3600;
const JOIN_LEASE_SECONDS = 60;

/** EKS managed node groups run in Auto Scaling groups named `eks-<node group>-<uuid>`. */
const EKS_MANAGED_GROUP = /^eks-(.+)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function nodeGroupOfAutoScalingGroup(
  config: Config,
  autoScalingGroup: string | undefined,
): string | undefined {
  if (autoScalingGroup === undefined) return undefined;
  for (const [pattern, nodeGroup] of Object.entries(config.clusterEvents.autoScalingGroups)) {
    if (globMatches(pattern, autoScalingGroup)) return nodeGroup;
  }
  return EKS_MANAGED_GROUP.exec(autoScalingGroup)?.[1];
}

export async function warmJoiningNode(
  node: JoiningNode,
  deps: NodeJoinDependencies,
): Promise<NodeJoinOutcome> {
  const label = node.instanceId ?? node.name ?? '';
  const outcome: NodeJoinOutcome = {
    nodeGroup: node.nodeGroup,
    node: label,
    status: 'disabled',
    queued: 0,
    unresolved: [],
  };
  if (!deps.config.clusterEvents.warmNodesOnJoin) return outcome;
  const key = `join#${node.nodeGroup}#${label}`;
  const claim = await deps.store.claim(key, deps.now(), JOIN_LEASE_SECONDS);
  if (claim !== 'claimed') return { ...outcome, status: 'duplicate' };
  try {
    const messages = await joinMessages(node, deps, outcome.unresolved);
    if (messages.length > 0) await deps.queue.send(messages);
    await deps.store.complete(key, deps.now(), JOIN_WINDOW_SECONDS);
    return { ...outcome, status: 'queued', queued: messages.length };
  } catch (error) {
    await deps.store.release(key);
    throw error;
  }
}

async function joinMessages(
  node: JoiningNode,
  deps: NodeJoinDependencies,
  unresolved: string[],
): Promise<PrepullMessage[]> {
  const requestedAt = deps.now().toISOString();
  const byDigest = new Map<string, PrepullMessage>();
  const nodeField = {
    ...(node.name === undefined ? {} : { name: node.name }),
    ...(node.instanceId === undefined ? {} : { instanceId: node.instanceId }),
  };
  const add = (image: PrepullMessage['image'], selectedBy: string) => {
    if (byDigest.has(image.digest)) return;
    byDigest.set(image.digest, {
      schema: PREPULL_SCHEMA,
      nodeGroup: node.nodeGroup,
      image,
      reason: 'node-join',
      selectedBy,
      // A joining node waits for these: ahead of push requests of ordinary priority.
      priority: 100,
      requestedAt,
      source: 'cluster',
      deliveryId: `node-join:${node.nodeGroup}:${node.instanceId ?? node.name ?? ''}`,
      node: nodeField,
    });
  };
  for (const entry of await deps.store.warmSet(node.nodeGroup)) {
    add(
      {
        registry: entry.registry,
        repository: entry.repository,
        ...(entry.tag === undefined ? {} : { tag: entry.tag }),
        digest: entry.digest,
        ...(entry.mediaType === undefined ? {} : { mediaType: entry.mediaType }),
      },
      'warm-set',
    );
  }
  const configured = [
    ...(deps.config.nodeGroups.prePull[node.nodeGroup] ?? []),
    ...(deps.config.nodeGroups.prePull[ALL_NODE_GROUPS] ?? []),
  ];
  for (const image of configured) {
    const reference = tryParseImageReference(image);
    if (reference instanceof Error) continue;
    let digest = reference.digest;
    let mediaType: string | undefined;
    if (digest === undefined) {
      try {
        const resolved = await deps.resolver.resolve(
          reference.registry,
          reference.repository,
          effectiveTag(reference) as string,
        );
        digest = resolved.digest;
        mediaType = resolved.mediaType;
      } catch (error) {
        if (!(error instanceof DigestResolutionError)) throw error;
        unresolved.push(`${image}: ${error.message}`);
        continue;
      }
    }
    add(
      {
        registry: reference.registry,
        repository: reference.repository,
        ...(reference.tag === undefined ? {} : { tag: reference.tag }),
        digest,
        ...(mediaType === undefined ? {} : { mediaType }),
      },
      'nodeGroups.prePull',
    );
  }
  return [...byDigest.values()];
}
