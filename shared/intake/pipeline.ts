import type { PrepullQueue } from '#shared/aws/prepull-queue.ts';
import type { Config } from '#shared/config/schema.ts';
import { PREPULL_SCHEMA, type PrepullMessage } from '#shared/prepull/message.ts';
import { type InventoryQuery, planPrepull } from '#shared/prepull/plan.ts';
import { DigestResolutionError, type DigestResolver } from '#shared/registry/digest-resolver.ts';
import { imageKey, type StateStore } from '#shared/state/store.ts';
import {
  type ImageDeleted,
  type ImagePushed,
  imageReferenceOf,
  type NormalizedEvent,
} from './model.ts';

// From normalised events to queued pre-pull requests: each delivery and each
// registry+repository+tag+digest is processed once, the digest is pinned (resolved from the registry
// when the sender has none), the tag's state records whether it moved, and one request per selected
// node group goes to the FIFO queue.

/**
 * Told about every push of a tag, to re-evaluate the workloads that use it (PW009). It reports its own
 * failures: a push is not refused because the workloads could not be judged.
 */
export interface TagWatch {
  tagPushed(push: {
    registry: string;
    repository: string;
    tag: string;
    digest: string;
    mediaType?: string;
  }): Promise<void>;
}

export interface IntakeDependencies {
  config: Config;
  store: StateStore;
  /** Node groups that run a repository (cluster inventory), for inventory-following targets. */
  inventory: InventoryQuery;
  tagWatch?: TagWatch;
  queue: PrepullQueue;
  resolver: DigestResolver;
  now: () => Date;
}

export type EventStatus =
  | 'queued'
  | 'not-planned'
  | 'duplicate'
  | 'in-progress'
  | 'stale'
  | 'deleted'
  | 'unresolved';

export interface EventOutcome {
  image: string;
  status: EventStatus;
  digest?: string;
  tagMoved?: boolean;
  previousDigest?: string;
  nodeGroups?: string[];
  reason?: string;
}

export interface IntakeSummary {
  accepted: number;
  queued: number;
  sendCalls: number;
  events: EventOutcome[];
  ignored: { reason: string }[];
}

/** A claim survives this long if processing dies half-way; then a redelivery may take over. */
const CLAIM_LEASE_SECONDS = 60;

export async function processEvents(
  events: readonly NormalizedEvent[],
  deps: IntakeDependencies,
): Promise<IntakeSummary> {
  const summary: IntakeSummary = { accepted: 0, queued: 0, sendCalls: 0, events: [], ignored: [] };
  for (const event of events) {
    if (event.kind === 'ignored') {
      summary.ignored.push({ reason: event.reason });
      continue;
    }
    const outcome =
      event.kind === 'pushed'
        ? await processPush(event, deps, summary)
        : await processDeletion(event, deps);
    if (outcome.status !== 'duplicate' && outcome.status !== 'in-progress') summary.accepted++;
    summary.events.push(outcome);
  }
  return summary;
}

/** Runs `work` under a claim on `key`: released when it throws, completed when it returns. */
async function once<T extends EventOutcome>(
  key: string,
  image: string,
  deps: IntakeDependencies,
  work: () => Promise<T>,
): Promise<EventOutcome> {
  const claim = await deps.store.claim(key, deps.now(), CLAIM_LEASE_SECONDS);
  if (claim !== 'claimed') return { image, status: claim };
  let result: T;
  try {
    result = await work();
  } catch (error) {
    await deps.store.release(key);
    throw error;
  }
  if (result.status === 'unresolved') await deps.store.release(key);
  else await deps.store.complete(key, deps.now(), deps.config.webhooks.duplicateWindowSeconds);
  return result;
}

function processDeletion(event: ImageDeleted, deps: IntakeDependencies): Promise<EventOutcome> {
  const image = imageReferenceOf(event);
  return once(`delivery#${event.source}#${event.deliveryId}`, image, deps, async () => {
    await deps.store.recordDeletion(event);
    return { image, status: 'deleted' as const };
  });
}

function processPush(
  event: ImagePushed,
  deps: IntakeDependencies,
  summary: IntakeSummary,
): Promise<EventOutcome> {
  const image = imageReferenceOf(event);
  return once(`delivery#${event.source}#${event.deliveryId}`, image, deps, async () => {
    let digest = event.digest;
    let mediaType = event.mediaType;
    if (digest === undefined) {
      if (event.tag === undefined)
        return { image, status: 'unresolved', reason: 'neither tag nor digest' };
      try {
        const resolved = await deps.resolver.resolve(event.registry, event.repository, event.tag);
        digest = resolved.digest;
        mediaType ??= resolved.mediaType;
      } catch (error) {
        if (error instanceof DigestResolutionError) {
          return { image, status: 'unresolved', reason: error.message };
        }
        throw error;
      }
    }
    const pinned = { ...event, digest, ...(mediaType === undefined ? {} : { mediaType }) };
    const pinnedImage = imageReferenceOf(pinned);
    // Another sender (or a redelivery with a new id) reporting the same push within the window.
    return once(`content#${pinnedImage}`, pinnedImage, deps, async () => {
      const outcome = await planAndQueue(pinned, deps, summary);
      // After the requests are queued: judging the workloads must not hold up their pre-pulls.
      if (pinned.tag !== undefined && outcome.status !== 'stale') {
        await deps.tagWatch?.tagPushed({ ...pinned, tag: pinned.tag });
      }
      return outcome;
    });
  });
}

async function planAndQueue(
  push: ImagePushed & { digest: string },
  deps: IntakeDependencies,
  summary: IntakeSummary,
): Promise<EventOutcome> {
  const image = imageReferenceOf(push);
  let tagState: Awaited<ReturnType<StateStore['recordPush']>> | undefined;
  if (push.tag !== undefined) {
    tagState = await deps.store.recordPush({ ...push, tag: push.tag });
    if (tagState.stale) {
      return {
        image,
        status: 'stale',
        digest: push.digest,
        reason: 'a newer push of this tag was recorded already',
      };
    }
  }
  const moved = {
    ...(tagState === undefined ? {} : { tagMoved: tagState.tagMoved }),
    ...(tagState?.previousDigest === undefined ? {} : { previousDigest: tagState.previousDigest }),
  };
  const plan = await planPrepull(push, deps.config, deps.inventory);
  if (plan.targets.length === 0) {
    return {
      image,
      status: 'not-planned',
      digest: push.digest,
      ...moved,
      ...(plan.note === undefined ? {} : { reason: plan.note }),
    };
  }
  const messages: PrepullMessage[] = plan.targets.map((target) => ({
    schema: PREPULL_SCHEMA,
    nodeGroup: target.nodeGroup,
    image: {
      registry: push.registry,
      repository: push.repository,
      ...(push.tag === undefined ? {} : { tag: push.tag }),
      digest: push.digest,
      ...(push.mediaType === undefined ? {} : { mediaType: push.mediaType }),
    },
    reason: 'push',
    selectedBy: target.selectedBy,
    priority: target.priority,
    // The push time orders requests for one tag, whatever order they are delivered in.
    requestedAt: push.at,
    source: push.source,
    deliveryId: push.deliveryId,
  }));
  // One marker per node group, written side by side: they are independent items.
  await Promise.all(
    messages.map((message) =>
      deps.store.markRequested(message.nodeGroup, imageKey(message.image), {
        digest: message.image.digest,
        requestedAt: message.requestedAt,
      }),
    ),
  );
  const { calls } = await deps.queue.send(messages);
  summary.sendCalls += calls;
  summary.queued += messages.length;
  return {
    image,
    status: 'queued',
    digest: push.digest,
    ...moved,
    nodeGroups: plan.targets.map((target) => target.nodeGroup),
  };
}
