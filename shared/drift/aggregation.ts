import type { ImageSite, ObjectFacts, OwnerRef } from '#shared/workload/extract.ts';
import type { WorkloadRef } from './model.ts';
import type { NodeInfo, RunningDigests } from './replica-skew.ts';

// Folds object facts into one aggregate per workload (or bare pod). A thread that parses part of a
// dump folds its own objects; the main thread then merges those partial folds in input order and gets
// exactly the fold it would have built from every object one by one. The fold is plain data, which
// fold-codec.ts packs to cross threads.

/** Pods of a workload whose container waits on its image, by container and reason. */
export interface WaitingGroup {
  kind: ImageSite['kind'];
  name: string;
  image: string;
  reason: string;
  message: string;
  pods: number;
  nodes: Set<string>;
}

export interface MergedSite {
  site: ImageSite;
  /** From the workload's own object rather than one of its pods. */
  own: boolean;
}

/**
 * A merged site and the sites that shaped it, in order. Replaying them after any earlier fold gives
 * what replaying every site would: a site can only change a fold as its first site, its first own
 * site, or a site whose explicitness is more certain than any before it.
 */
export interface SiteFold extends MergedSite {
  /**
   * Undefined while the first site is the only one that shaped the fold (then it is the fold's own
   * site and flag): most folds never change, and this saves two objects each across threads.
   */
  shapers: MergedSite[] | undefined;
}

/** The sites that shaped a fold, in order. */
export function shapersOf(fold: SiteFold): readonly MergedSite[] {
  return fold.shapers ?? [fold];
}

/** The node-group constraints of an aggregate's pod specs. */
export interface Constraints {
  /** Pod specs seen. */
  specs: number;
  /** Some pod spec does not constrain its node group. */
  open: boolean;
  /** Node groups that constraining pod specs allow. */
  groups: Set<string>;
}

/** Everything known about one workload (or bare pod), keyed by `Kind/namespace/name`. */
export interface Aggregate {
  ref: WorkloadRef;
  /** The object itself appeared in the input. */
  seen: boolean;
  owner: OwnerRef | undefined;
  sites: Map<string, SiteFold>;
  /** kind\0name\0image → imageID → node → pods */
  running: Map<string, RunningDigests>;
  waiting: Map<string, WaitingGroup>;
  pods: number;
  nodes: Map<string, number>;
  constraints: Constraints;
  podTemplateHash: string | undefined;
}

/** A fold as plain data: what a parser thread hands back. */
export interface AggregationData {
  aggregates: Map<string, Aggregate>;
  /** Node objects by name. */
  nodes: Map<string, NodeInfo>;
  objects: number;
  pods: number;
}

export const KEY_SEPARATOR = '\u0000';

export function aggregateKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function siteKey(site: ImageSite): string {
  return `${site.kind}${KEY_SEPARATOR}${site.name}${KEY_SEPARATOR}${site.image}${KEY_SEPARATOR}${site.policy ?? ''}`;
}

function runningKey(kind: string, name: string, image: string): string {
  return `${kind}${KEY_SEPARATOR}${name}${KEY_SEPARATOR}${image}`;
}

const EXPLICITNESS_RANK = { high: 2, medium: 1, low: 0 } as const;

function explicitnessRank(site: ImageSite): number {
  return site.explicitness === undefined ? -1 : EXPLICITNESS_RANK[site.explicitness.confidence];
}

export function emptyAggregate(kind: string, namespace: string, name: string): Aggregate {
  return {
    ref: { kind, namespace, name },
    seen: false,
    owner: undefined,
    sites: new Map(),
    running: new Map(),
    waiting: new Map(),
    pods: 0,
    nodes: new Map(),
    constraints: { specs: 0, open: false, groups: new Set() },
    podTemplateHash: undefined,
  };
}

function withBetterExplicitness(preferred: ImageSite, other: ImageSite): ImageSite {
  return explicitnessRank(other) > explicitnessRank(preferred)
    ? { ...preferred, explicitness: other.explicitness }
    : preferred;
}

/**
 * Adds a site to a fold; the workload's own template speaks for its current spec. `key` is the site's
 * key, for a caller that has it already.
 */
export function mergeSite(
  target: Map<string, SiteFold>,
  site: ImageSite,
  own: boolean,
  key = siteKey(site),
): void {
  const existing = target.get(key);
  if (existing === undefined) {
    target.set(key, { site, own, shapers: undefined });
    return;
  }
  // The fold's site always carries the most certain explicitness of the sites before it.
  const shapes = (own && !existing.own) || explicitnessRank(site) > explicitnessRank(existing.site);
  // Only a site that shapes the fold changes it; the first site is listed before it does.
  if (!shapes) return;
  const shapers = existing.shapers ?? [{ site: existing.site, own: existing.own }];
  if (own && !existing.own) {
    existing.site = withBetterExplicitness(site, existing.site);
    existing.own = true;
  } else {
    existing.site = withBetterExplicitness(existing.site, site);
  }
  shapers.push({ site, own });
  existing.shapers = shapers;
}

/**
 * Adds pods waiting on an image. ErrImagePull alone may be a one-off; PW011 wants the back-off that
 * follows repeated failures, so only ErrImageNeverPull and ImagePullBackOff are kept.
 */
export function mergeWaiting(
  target: Map<string, WaitingGroup>,
  group: WaitingGroup,
  node?: string | undefined,
): void {
  if (group.reason !== 'ErrImageNeverPull' && group.reason !== 'ImagePullBackOff') return;
  const key = `${runningKey(group.kind, group.name, group.image)}${KEY_SEPARATOR}${group.reason}`;
  const existing = target.get(key);
  if (existing === undefined) {
    const copy = { ...group, nodes: new Set(group.nodes) };
    if (node !== undefined) copy.nodes.add(node);
    target.set(key, copy);
    return;
  }
  existing.pods += group.pods;
  for (const name of group.nodes) existing.nodes.add(name);
  if (node !== undefined) existing.nodes.add(node);
  // The longest message usually carries the cause (newer kubelets append it to the back-off).
  if (group.message.length > existing.message.length) existing.message = group.message;
}

/** The entry for `key`, created first when missing. */
function entry<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = create();
    map.set(key, value);
  }
  return value;
}

function increment(counts: Map<string, number>, key: string, by: number): void {
  counts.set(key, (counts.get(key) ?? 0) + by);
}

export function mergeRunning(
  target: Map<string, RunningDigests>,
  key: string,
  digests: RunningDigests,
): void {
  const byId = entry(target, key, () => new Map());
  for (const [imageId, nodes] of digests)
    mergeCounts(
      entry(byId, imageId, () => new Map()),
      nodes,
    );
}

export function mergeCounts(
  target: Map<string, number>,
  counts: ReadonlyMap<string, number>,
): void {
  for (const [key, count] of counts) increment(target, key, count);
}

export function mergeConstraints(target: Constraints, constraints: Constraints): void {
  target.specs += constraints.specs;
  target.open ||= constraints.open;
  for (const group of constraints.groups) target.groups.add(group);
}

function addConstraint(target: Constraints, constraint: readonly string[] | undefined): void {
  target.specs++;
  if (constraint === undefined) target.open = true;
  else for (const group of constraint) target.groups.add(group);
}

export class WorkloadAggregation {
  readonly data: AggregationData = {
    aggregates: new Map(),
    nodes: new Map(),
    objects: 0,
    pods: 0,
  };

  private aggregate(kind: string, namespace: string, name: string): Aggregate {
    return entry(this.data.aggregates, aggregateKey(kind, namespace, name), () =>
      emptyAggregate(kind, namespace, name),
    );
  }

  addFacts(facts: ObjectFacts): void {
    this.data.objects++;
    if (facts.node !== undefined) {
      this.data.nodes.set(facts.name, facts.node);
      return;
    }
    if (!facts.hasPodSpec) return;
    if (facts.kind !== 'Pod') {
      const aggregate = this.aggregate(facts.kind, facts.namespace, facts.name);
      aggregate.seen = true;
      aggregate.owner = facts.owner;
      addConstraint(aggregate.constraints, facts.nodeGroupConstraint);
      for (const site of facts.sites) mergeSite(aggregate.sites, site, true);
      return;
    }
    this.data.pods++;
    const owner = facts.owner;
    const aggregate =
      owner === undefined
        ? this.aggregate('Pod', facts.namespace, facts.name)
        : this.aggregate(owner.kind, facts.namespace, owner.name);
    aggregate.pods++;
    aggregate.podTemplateHash ??= facts.podTemplateHash;
    if (owner === undefined) aggregate.seen = true;
    const node = facts.nodeName ?? '';
    if (facts.nodeName !== undefined) increment(aggregate.nodes, node, 1);
    addConstraint(aggregate.constraints, facts.nodeGroupConstraint);
    for (const site of facts.sites) mergeSite(aggregate.sites, site, owner === undefined);
    for (const running of facts.running) {
      const key = runningKey(running.kind, running.name, running.image);
      const byId = entry(aggregate.running, key, () => new Map<string, Map<string, number>>());
      increment(
        entry(byId, running.imageID, () => new Map()),
        node,
        1,
      );
    }
    for (const waiting of facts.waiting) {
      mergeWaiting(aggregate.waiting, { ...waiting, pods: 1, nodes: new Set() }, facts.nodeName);
    }
  }

  /**
   * Merges a fold of the objects that follow every object folded so far. The fold is taken over, not
   * copied: its aggregates may become this fold's own, so the caller must not use it afterwards.
   */
  merge(data: AggregationData): void {
    this.data.objects += data.objects;
    this.data.pods += data.pods;
    for (const [name, node] of data.nodes) this.data.nodes.set(name, node);
    for (const [key, partial] of data.aggregates) {
      const aggregate = this.data.aggregates.get(key);
      // A workload first seen in this fold: merging it into an empty aggregate would rebuild it as is.
      if (aggregate === undefined) {
        this.data.aggregates.set(key, partial);
        continue;
      }
      // The object itself sets the owner; a later copy of it wins, as when folding one by one.
      if (partial.seen) {
        aggregate.seen = true;
        aggregate.owner = partial.owner;
      }
      aggregate.pods += partial.pods;
      aggregate.podTemplateHash ??= partial.podTemplateHash;
      mergeCounts(aggregate.nodes, partial.nodes);
      mergeConstraints(aggregate.constraints, partial.constraints);
      // A fold's shapers share its key.
      for (const [siteKey, fold] of partial.sites) {
        for (const { site, own } of shapersOf(fold)) mergeSite(aggregate.sites, site, own, siteKey);
      }
      for (const [runningKey, digests] of partial.running) {
        mergeRunning(aggregate.running, runningKey, digests);
      }
      for (const group of partial.waiting.values()) mergeWaiting(aggregate.waiting, group);
    }
  }
}
