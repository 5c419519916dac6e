import type { MetricPoint } from '#shared/aws/powertools.ts';
import type { PrepullQueue } from '#shared/aws/prepull-queue.ts';
import type { Config } from '#shared/config/schema.ts';
import type { Finding, ImageSiteKind } from '#shared/drift/model.ts';
import { pullFailureFinding } from '#shared/drift/pull-failures.ts';
import { evaluateLive, parsedImage, tagKey } from '#shared/findings/live-evaluation.ts';
import type { FindingsStore } from '#shared/findings/store.ts';
import { asString, getPath } from '#shared/kubernetes/object.ts';
import type { DigestResolver } from '#shared/registry/digest-resolver.ts';
import type { StateStore } from '#shared/state/store.ts';
import { extractObject, type ObjectFacts } from '#shared/workload/extract.ts';
import type { ClusterEvent, InstanceEvent, KubeletEvent, WatchEvent } from './events.ts';
import { type Inventory, instanceIdOfProviderId, type ObjectChange } from './inventory.ts';
import { type NodeJoinOutcome, nodeGroupOfAutoScalingGroup, warmJoiningNode } from './node-join.ts';
import {
  classifyPullFailure,
  containerOfFieldPath,
  imageInMessage,
  pullEventKind,
} from './pull-messages.ts';
import { averagePullMs, type PullTelemetry } from './pull-telemetry.ts';

// Applies cluster events: watch events keep the inventory (and announce joining nodes), kubelet events
// become pull telemetry and PW010/PW011 findings, EC2 launch events warm nodes before they register.
// Every event is safe to apply twice: the inventory orders by resource version, kubelet events are
// claimed by uid and count, and node warm-ups by node.

export interface ClusterEventDependencies {
  config: Config;
  inventory: Inventory;
  store: Pick<StateStore, 'claim' | 'release' | 'complete' | 'warmSet'>;
  queue: PrepullQueue;
  findings: FindingsStore;
  telemetry: PullTelemetry;
  resolver: DigestResolver;
  now: () => Date;
}

export interface ClusterEventSummary {
  watch: { applied: number; stale: number; duplicate: number };
  kubeletEvents: { processed: number; duplicate: number };
  instances: number;
  ignored: number;
  nodeJoins: NodeJoinOutcome[];
  findings: number;
  metrics: MetricPoint[];
}

/** A node whose object appears this long after its creation is a re-list, not a join. */
const JOIN_WINDOW_MS = 30 * 60_000;
/** A kubelet event's claim outlives any redelivery of it. */
const EVENT_CLAIM_SECONDS = 24 * 3600;
const EVENT_LEASE_SECONDS = 60;
const UNKNOWN_NODE_GROUP = 'unknown';

const EXTRACTION = {
  locate: () => undefined,
};

function emptySummary(): ClusterEventSummary {
  return {
    watch: { applied: 0, stale: 0, duplicate: 0 },
    kubeletEvents: { processed: 0, duplicate: 0 },
    instances: 0,
    ignored: 0,
    nodeJoins: [],
    findings: 0,
    metrics: [],
  };
}

export async function ingestClusterEvents(
  events: readonly ClusterEvent[],
  deps: ClusterEventDependencies,
): Promise<ClusterEventSummary> {
  const summary = emptySummary();
  const pulls = new PullMetrics();
  // Watch events first, together: a kubelet event in the same delivery then finds its pod.
  await applyWatchEvents(
    events.filter((event): event is WatchEvent => event.kind === 'watch'),
    deps,
    summary,
  );
  for (const event of events) {
    switch (event.kind) {
      case 'watch':
        break;
      case 'kubelet-event':
        await applyKubeletEvent(event, deps, summary, pulls);
        break;
      case 'instance':
        await applyInstanceEvent(event, deps, summary);
        break;
      default:
        summary.ignored++;
    }
  }
  summary.metrics = pulls.points();
  return summary;
}

function factsOf(event: WatchEvent, config: Config): ObjectFacts | undefined {
  return extractObject(
    event.object,
    { file: 'cluster', document: 1, itemPath: '' },
    { nodeGroupLabels: config.nodeGroups.labels, ...EXTRACTION },
  ).facts;
}

async function applyWatchEvents(
  events: readonly WatchEvent[],
  deps: ClusterEventDependencies,
  summary: ClusterEventSummary,
): Promise<void> {
  const now = deps.now();
  const changes: ObjectChange[] = [];
  const sources: { event: WatchEvent; facts: ObjectFacts | undefined; createdAt?: string }[] = [];
  for (const event of events) {
    const facts = event.type === 'DELETED' ? undefined : factsOf(event, deps.config);
    if (event.type !== 'DELETED' && facts === undefined) {
      summary.ignored++;
      continue;
    }
    const createdAt = asString(getPath(event.object, ['metadata', 'creationTimestamp']));
    changes.push({
      type: event.type,
      kind: event.objectKind,
      namespace: event.namespace,
      name: event.name,
      resourceVersion: event.resourceVersion,
      ...(facts === undefined ? {} : { facts }),
      ...(createdAt === undefined ? {} : { createdAt }),
      at: now,
    });
    sources.push({ event, facts, ...(createdAt === undefined ? {} : { createdAt }) });
  }
  if (changes.length === 0) return;
  const results = await deps.inventory.applyAll(changes);
  for (const [index, result] of results.entries()) {
    summary.watch[result.outcome]++;
    const { event, facts, createdAt } = sources[index] as (typeof sources)[number];
    if (event.objectKind !== 'Node' || facts === undefined) continue;
    const nodeGroup = facts.node?.nodeGroup;
    const created = createdAt === undefined ? Number.NaN : new Date(createdAt).getTime();
    // First sight of a node that was created moments ago: it is joining its node group. A repeat of
    // that event tries again (the warm-up claim makes it happen once): the first may have failed.
    const firstSight =
      (result.outcome === 'applied' && result.previous === undefined) ||
      result.outcome === 'duplicate';
    if (!firstSight || nodeGroup === undefined || !(now.getTime() - created <= JOIN_WINDOW_MS)) {
      continue;
    }
    const instanceId = instanceIdOfProviderId(
      asString(getPath(event.object, ['spec', 'providerID'])),
    );
    summary.nodeJoins.push(
      await warmJoiningNode({ nodeGroup, name: event.name, instanceId, announcedBy: 'node' }, deps),
    );
  }
}

async function applyInstanceEvent(
  event: InstanceEvent,
  deps: ClusterEventDependencies,
  summary: ClusterEventSummary,
): Promise<void> {
  summary.instances++;
  const nodeGroup = nodeGroupOfAutoScalingGroup(deps.config, event.autoScalingGroup);
  const state = await deps.inventory.recordInstance({
    instanceId: event.instanceId,
    nodeGroup,
    state: event.action === 'launch' ? 'launched' : 'terminated',
    at: event.at,
  });
  // A repeated launch tries again (the warm-up claim makes it happen once): the first may have failed.
  if (state !== 'launched' || nodeGroup === undefined) return;
  summary.nodeJoins.push(
    await warmJoiningNode(
      { nodeGroup, instanceId: event.instanceId, announcedBy: 'instance' },
      deps,
    ),
  );
}

/** Owner references climbed at most this far (pod → ReplicaSet → Deployment → a custom owner). */
const OWNER_DEPTH = 4;

/** A stored pod and the owners above it, as the evaluator needs them to name its workload. */
async function podWithOwners(
  namespace: string,
  name: string,
  inventory: Inventory,
): Promise<ObjectFacts[]> {
  const pod = (await inventory.object('Pod', namespace, name))?.facts;
  if (pod === undefined) return [];
  const chain = [pod];
  let owner = pod.owner;
  for (let depth = 0; owner !== undefined && depth < OWNER_DEPTH; depth++) {
    const object = (await inventory.object(owner.kind, namespace, owner.name))?.facts;
    if (object === undefined) break;
    chain.push(object);
    owner = object.owner;
  }
  return chain;
}

/**
 * PW010/PW011 for a pod's container, judged by the evaluator on the stored pod (so the workload, rule
 * settings and suppressions are those a sweep applies); a pod not in the inventory stands for itself.
 */
async function pullFailureFindings(
  event: KubeletEvent,
  container: { kind: ImageSiteKind; name: string },
  image: string,
  observed: {
    reason: 'ErrImageNeverPull' | 'ImagePullBackOff';
    message: string;
    failures?: number;
  },
  deps: ClusterEventDependencies,
): Promise<Finding[]> {
  const { namespace, name } = event.involved;
  const [pod, ...owners] = await podWithOwners(namespace, name, deps.inventory);
  if (pod === undefined) {
    return [
      pullFailureFinding({
        workload: { kind: 'Pod', namespace, name },
        container,
        image,
        kind: observed.reason === 'ErrImageNeverPull' ? 'never-pull' : 'pull-failure',
        message: observed.message,
        pods: 1,
        ...(observed.failures === undefined ? {} : { failures: observed.failures }),
        ...(event.node === undefined ? {} : { nodes: [event.node] }),
      }),
    ];
  }
  const podImage =
    pod.sites.find((site) => site.kind === container.kind && site.name === container.name)?.image ??
    image;
  const waiting = { ...container, image: podImage, ...observed };
  const report = evaluateLive(
    deps.config,
    [{ ...pod, nodeName: pod.nodeName ?? event.node, waiting: [waiting] }, ...owners],
    new Map(),
    { rules: [observed.reason === 'ErrImageNeverPull' ? 'PW010' : 'PW011'] },
  );
  return report.findings.map((finding) =>
    observed.failures === undefined
      ? finding
      : {
          ...finding,
          evidence: [...finding.evidence, `${observed.failures} failed pulls counted`],
        },
  );
}

async function applyKubeletEvent(
  event: KubeletEvent,
  deps: ClusterEventDependencies,
  summary: ClusterEventSummary,
  pulls: PullMetrics,
): Promise<void> {
  const kind = pullEventKind(event.reason, event.message);
  // `Error: ErrImagePull` restates the failure the event before it reported with its cause.
  if (
    event.involved.kind !== 'Pod' ||
    kind.kind === 'other' ||
    kind.kind === 'pulling' ||
    kind.kind === 'invalid-name' ||
    ('restated' in kind && kind.restated === true)
  ) {
    summary.ignored++;
    return;
  }
  const key = `kevent#${event.uid}#${event.count}`;
  const claim = await deps.store.claim(key, deps.now(), EVENT_LEASE_SECONDS);
  if (claim !== 'claimed') {
    summary.kubeletEvents.duplicate++;
    return;
  }
  try {
    await handleKubeletEvent(event, kind, deps, summary, pulls);
  } catch (error) {
    await deps.store.release(key);
    throw error;
  }
  await deps.store.complete(key, deps.now(), EVENT_CLAIM_SECONDS);
  summary.kubeletEvents.processed++;
}

async function handleKubeletEvent(
  event: KubeletEvent,
  kind: ReturnType<typeof pullEventKind>,
  deps: ClusterEventDependencies,
  summary: ClusterEventSummary,
  pulls: PullMetrics,
): Promise<void> {
  const image = imageInMessage(event.message);
  if (kind.kind === 'pulled' || kind.kind === 'present') {
    const reference = image === undefined ? undefined : parsedImage(image);
    if (reference === undefined) return;
    const nodeGroup =
      (event.node === undefined ? undefined : await deps.inventory.nodeGroupOf(event.node)) ??
      UNKNOWN_NODE_GROUP;
    const normalized = tagKey(reference) ?? reference.canonical;
    const stats = await deps.telemetry.recordPull({
      nodeGroup,
      image: normalized,
      present: kind.kind === 'present',
      ...(kind.kind === 'pulled' ? { pullMs: kind.pullMs } : {}),
    });
    if (kind.kind === 'pulled') {
      pulls.pull(nodeGroup, kind.pullMs);
      return;
    }
    const prePulled = await pulls.inWarmSet(nodeGroup, reference, deps.store);
    pulls.hit(nodeGroup, prePulled, prePulled ? averagePullMs(stats) : undefined);
    return;
  }
  const container = containerOfFieldPath(event.involved.fieldPath ?? '');
  if (container === undefined || image === undefined) return;
  if (kind.kind === 'never-pull') {
    summary.findings += await deps.findings.raise(
      await pullFailureFindings(
        event,
        container,
        image,
        { reason: 'ErrImageNeverPull', message: event.message },
        deps,
      ),
      'event',
      deps.now(),
    );
    return;
  }
  if (kind.kind !== 'failed' && kind.kind !== 'backoff') return;
  const named = classifyPullFailure(event.message).cause !== 'unknown';
  const counted = await deps.telemetry.countFailure(
    { namespace: event.involved.namespace, name: event.involved.name },
    `${container.kind}/${container.name}`,
    named ? event.message : '',
    new Date(event.at),
  );
  const failures = Math.max(counted.failures, event.count);
  if (failures < deps.config.clusterEvents.pullFailureThreshold) return;
  summary.findings += await deps.findings.raise(
    await pullFailureFindings(
      event,
      container,
      image,
      { reason: 'ImagePullBackOff', message: named ? event.message : counted.message, failures },
      deps,
    ),
    'event',
    deps.now(),
  );
}

/** Per node group figures of one batch, published as metrics by the handler. */
class PullMetrics {
  private readonly groups = new Map<
    string,
    { pulls: number; pullMs: number; hits: number; prePullHits: number; savedMs: number }
  >();
  private readonly warmSets = new Map<string, Promise<Set<string>>>();

  private group(nodeGroup: string) {
    let figures = this.groups.get(nodeGroup);
    if (figures === undefined) {
      figures = { pulls: 0, pullMs: 0, hits: 0, prePullHits: 0, savedMs: 0 };
      this.groups.set(nodeGroup, figures);
    }
    return figures;
  }

  pull(nodeGroup: string, ms: number): void {
    const figures = this.group(nodeGroup);
    figures.pulls++;
    figures.pullMs += ms;
  }

  hit(nodeGroup: string, prePulled: boolean, savedMs: number | undefined): void {
    const figures = this.group(nodeGroup);
    figures.hits++;
    if (prePulled) figures.prePullHits++;
    figures.savedMs += savedMs ?? 0;
  }

  /** Whether the node group's warm set holds the image (by tag, or by digest). */
  async inWarmSet(
    nodeGroup: string,
    reference: { name: string; tag: string | undefined; digest: string | undefined },
    store: Pick<StateStore, 'warmSet'>,
  ): Promise<boolean> {
    let keys = this.warmSets.get(nodeGroup);
    if (keys === undefined) {
      keys = store.warmSet(nodeGroup).then(
        (entries) =>
          new Set(
            entries.flatMap((entry) => {
              const name = `${entry.registry}/${entry.repository}`;
              return [
                `${name}@${entry.digest}`,
                ...(entry.tag === undefined ? [] : [`${name}:${entry.tag}`]),
              ];
            }),
          ),
      );
      this.warmSets.set(nodeGroup, keys);
    }
    const held = await keys;
    return reference.digest !== undefined
      ? held.has(`${reference.name}@${reference.digest}`)
      : held.has(tagKey(reference) as string);
  }

  points(): MetricPoint[] {
    const points: MetricPoint[] = [];
    for (const [nodeGroup, figures] of this.groups) {
      const dimensions = { NodeGroup: nodeGroup };
      const starts = figures.pulls + figures.hits;
      points.push(
        { name: 'ImagePulls', unit: 'Count', value: figures.pulls, dimensions },
        { name: 'ImageCacheHits', unit: 'Count', value: figures.hits, dimensions },
        { name: 'PrepullHits', unit: 'Count', value: figures.prePullHits, dimensions },
        {
          name: 'PullTimeSavedMs',
          unit: 'Milliseconds',
          value: Math.round(figures.savedMs),
          dimensions,
        },
        {
          name: 'PrepullHitRate',
          unit: 'Percent',
          value: starts === 0 ? 0 : Math.round((figures.prePullHits / starts) * 1000) / 10,
          dimensions,
        },
      );
      if (figures.pulls > 0) {
        points.push({
          name: 'ImagePullMs',
          unit: 'Milliseconds',
          value: Math.round(figures.pullMs / figures.pulls),
          dimensions,
        });
      }
    }
    return points;
  }
}
