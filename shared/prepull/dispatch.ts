import type { Config, NodeGroupSettings } from '#shared/config/schema.ts';
import { imageKey, type StateStore } from '#shared/state/store.ts';
import { type PrepullMessage, pinnedReference } from './message.ts';

// Applies one pre-pull request to its node group: drops it when a newer digest of the same tag was
// requested since (superseded), records it in the warm set, and runs the node group's executor.

/** Starts `pullwarden-node pull <pinned reference>` on a node group's instances (SSM Run Command). */
export interface PullCommandSender {
  sendPullCommand(input: {
    nodeGroup: string;
    reference: string;
    settings: NonNullable<NodeGroupSettings['ssm']>;
    /** Only these instances (a joining node) instead of every instance with the node group's tag. */
    instanceIds?: readonly string[];
  }): Promise<string>;
}

export interface DispatchDependencies {
  config: Config;
  store: StateStore;
  commands: PullCommandSender;
  now: () => Date;
}

export type DispatchOutcome =
  | { status: 'superseded'; by: string }
  | { status: 'stale' }
  | { status: 'applied'; warmSet: 'added' | 'refreshed' | 'unchanged'; commandId?: string };

export async function dispatchPrepull(
  message: PrepullMessage,
  deps: DispatchDependencies,
): Promise<DispatchOutcome> {
  const key = imageKey(message.image);
  const latest = await deps.store.latestRequest(message.nodeGroup, key);
  if (
    latest !== undefined &&
    latest.digest !== message.image.digest &&
    latest.requestedAt >= message.requestedAt
  ) {
    return { status: 'superseded', by: latest.digest };
  }
  if (message.reason === 'node-join') return dispatchNodeJoin(message, deps);
  const warmSet = await deps.store.putWarmSetEntry(message.nodeGroup, {
    registry: message.image.registry,
    repository: message.image.repository,
    ...(message.image.tag === undefined ? {} : { tag: message.image.tag }),
    digest: message.image.digest,
    ...(message.image.mediaType === undefined ? {} : { mediaType: message.image.mediaType }),
    reason: message.reason,
    selectedBy: message.selectedBy,
    // Both are request times (the push), not dispatch times; the store keeps the first for a digest.
    firstRequestedAt: message.requestedAt,
    lastRequestedAt: message.requestedAt,
  });
  if (warmSet === 'stale') return { status: 'stale' };
  const settings = deps.config.nodeGroups.groups[message.nodeGroup];
  if (settings?.executor !== 'ssm' || settings.ssm === undefined) {
    return { status: 'applied', warmSet };
  }
  const existing = await deps.store.commandFor(message.nodeGroup, message.image.digest);
  if (existing !== undefined) return { status: 'applied', warmSet, commandId: existing };
  const commandId = await deps.commands.sendPullCommand({
    nodeGroup: message.nodeGroup,
    reference: pinnedReference(message),
    settings: settings.ssm,
  });
  await deps.store.recordCommand(message.nodeGroup, message.image.digest, commandId, deps.now());
  return { status: 'applied', warmSet, commandId };
}

/**
 * A node that joined needs what its node group already holds: the warm set is not changed (the request
 * repeats an entry of it), and on SSM node groups the pull runs on that instance only.
 */
async function dispatchNodeJoin(
  message: PrepullMessage,
  deps: DispatchDependencies,
): Promise<DispatchOutcome> {
  const settings = deps.config.nodeGroups.groups[message.nodeGroup];
  const instanceId = message.node?.instanceId;
  if (settings?.executor !== 'ssm' || settings.ssm === undefined || instanceId === undefined) {
    // Node agents reconcile the whole warm set when they start.
    return { status: 'applied', warmSet: 'unchanged' };
  }
  const key = `${message.image.digest}#${instanceId}`;
  const existing = await deps.store.commandFor(message.nodeGroup, key);
  if (existing !== undefined)
    return { status: 'applied', warmSet: 'unchanged', commandId: existing };
  const commandId = await deps.commands.sendPullCommand({
    nodeGroup: message.nodeGroup,
    reference: pinnedReference(message),
    settings: settings.ssm,
    instanceIds: [instanceId],
  });
  await deps.store.recordCommand(message.nodeGroup, key, commandId, deps.now());
  return { status: 'applied', warmSet: 'unchanged', commandId };
}
