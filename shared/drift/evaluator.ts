import type { Config } from '#shared/config/schema.ts';
import { type ImageReference, tryParseImageReferenceCached } from '#shared/image/reference.ts';
import { defaultPullPolicy } from '#shared/policy/pull-policy.ts';
import { globMatches } from '#shared/text/glob.ts';
import type { ImageSite, ObjectFacts } from '#shared/workload/extract.ts';
import {
  type Aggregate,
  type AggregationData,
  aggregateKey,
  type Constraints,
  emptyAggregate,
  KEY_SEPARATOR,
  mergeConstraints,
  mergeCounts,
  mergeRunning,
  mergeSite,
  mergeWaiting,
  type SiteFold,
  WorkloadAggregation,
} from './aggregation.ts';
import {
  compareFindings,
  type DriftReport,
  type Finding,
  type InputProblem,
  type RuleId,
  type SuppressedFinding,
  type WorkloadRef,
} from './model.ts';
import { pullFailureFinding } from './pull-failures.ts';
import { detectReplicaSkew, type NodeInfo, type PlatformIndexLookup } from './replica-skew.ts';
import { evaluateSite, type Placement } from './site-rules.ts';
import { detectTagMoved, type ServedLookup } from './tag-moved.ts';

// Collects the facts of every object in a run, folds pods into the workloads that own them, and
// evaluates the rules once per workload.

export interface EvaluationOptions {
  /** Only these rules (after config); empty = all. */
  rules?: readonly RuleId[];
  skipRules?: readonly RuleId[];
  /** Only workloads in these namespaces; empty = all. */
  namespaces?: readonly string[];
  indexOf?: PlatformIndexLookup;
  /** What the registry serves for a tag now (PW009); without it PW009 is not evaluated. */
  served?: ServedLookup;
}

/** A top owner with everything folded into it from below: what the rules are evaluated on. */
type Workload = Pick<
  Aggregate,
  'ref' | 'sites' | 'running' | 'waiting' | 'nodes' | 'constraints'
> & {
  inferred: Set<string> | undefined;
};

/** Where an aggregate's workload is reported, and how its top owner was found when it was inferred. */
interface TopOwner {
  key: string;
  ref: WorkloadRef;
  inferred: string | undefined;
}

export class DriftEvaluator {
  private readonly config: Config;
  private readonly options: EvaluationOptions;
  private readonly aggregation = new WorkloadAggregation();
  private finished = false;
  private readonly problems: InputProblem[] = [];
  private readonly files = new Set<string>();
  private documents = 0;

  constructor(config: Config, options: EvaluationOptions = {}) {
    this.config = config;
    this.options = options;
  }

  addProblem(problem: InputProblem): void {
    this.problems.push(problem);
  }

  countDocuments(file: string, count = 1): void {
    this.files.add(file);
    this.documents += count;
  }

  addFacts(facts: ObjectFacts): void {
    this.assertOpen();
    this.aggregation.addFacts(facts);
  }

  /** Adds (and takes over) the fold of objects that follow every object added so far. */
  addAggregation(data: AggregationData): void {
    this.assertOpen();
    this.aggregation.merge(data);
  }

  /** finish() folds the aggregates in place; nothing can be added to them, or evaluated, after it. */
  private assertOpen(): void {
    if (this.finished)
      throw new Error('a DriftEvaluator evaluates once: finish() was called already');
  }

  /** The aggregate for an owner, or an empty stand-in when the owner never appeared. */
  private lookup(kind: string, namespace: string, name: string): Aggregate {
    return (
      this.aggregation.data.aggregates.get(aggregateKey(kind, namespace, name)) ??
      emptyAggregate(kind, namespace, name)
    );
  }

  /** Images reach the evaluator validated, by extraction or by the config schema. */
  private reference(image: string): ImageReference {
    const reference = tryParseImageReferenceCached(image);
    if (reference instanceof Error) throw reference;
    return reference;
  }

  /**
   * Climbs owner references from `start` (keyed `startKey`) to the top owner; infers a Deployment
   * from a missing ReplicaSet's name.
   */
  private topOwner(start: Aggregate, startKey: string): TopOwner {
    let current = start;
    let key = startKey;
    let inferred: string | undefined;
    // Most chains are one or two steps long; the cycle guard is built on the first step.
    let visited: Set<string> | undefined;
    const climb = (nextKey: string): boolean => {
      visited ??= new Set([startKey]);
      if (visited.has(nextKey)) return false;
      visited.add(nextKey);
      key = nextKey;
      return true;
    };
    for (;;) {
      if (current.seen && current.owner !== undefined) {
        if (!climb(aggregateKey(current.owner.kind, current.ref.namespace, current.owner.name)))
          break;
        current = this.lookup(current.owner.kind, current.ref.namespace, current.owner.name);
        continue;
      }
      if (
        !current.seen &&
        current.ref.kind === 'ReplicaSet' &&
        current.podTemplateHash !== undefined
      ) {
        const suffix = `-${current.podTemplateHash}`;
        if (current.ref.name.endsWith(suffix) && current.ref.name.length > suffix.length) {
          const deployment = current.ref.name.slice(0, -suffix.length);
          inferred = `ReplicaSet ${current.ref.name} is not in the input; its pods' pod-template-hash names Deployment ${deployment} as its owner`;
          if (climb(aggregateKey('Deployment', current.ref.namespace, deployment))) {
            current = this.lookup('Deployment', current.ref.namespace, deployment);
            continue;
          }
        }
      }
      break;
    }
    return { key, ref: current.ref, inferred };
  }

  /**
   * Evaluates everything added. The aggregates are folded into their workloads in place, so this is
   * the evaluator's last call.
   */
  finish(): DriftReport {
    this.assertOpen();
    this.finished = true;
    // Fold every aggregate into its top owner.
    const { aggregates, nodes } = this.aggregation.data;
    const workloads = new Map<string, Workload>();
    for (const [key, aggregate] of aggregates) {
      if (
        aggregate.sites.size === 0 &&
        aggregate.running.size === 0 &&
        aggregate.waiting.size === 0
      )
        continue;
      const top = this.topOwner(aggregate, key);
      const isTop = key === top.key;
      let workload = workloads.get(top.key);
      const first = workload === undefined;
      if (workload === undefined) {
        // The first aggregate of a workload hands it its counts (no one reads them after this), and
        // its sites when it is the top owner: otherwise they are not the workload's own.
        workload = {
          ref: top.ref,
          sites: isTop ? aggregate.sites : new Map(),
          running: aggregate.running,
          waiting: aggregate.waiting,
          nodes: aggregate.nodes,
          constraints: aggregate.constraints,
          inferred: undefined,
        };
        workloads.set(top.key, workload);
      }
      // Unless the workload took this aggregate's sites as its own just above.
      if (!(first && isTop)) {
        for (const [siteKey, merged] of aggregate.sites)
          mergeSite(workload.sites, merged.site, merged.own && isTop, siteKey);
      }
      if (!first) {
        for (const [runningKey, digests] of aggregate.running)
          mergeRunning(workload.running, runningKey, digests);
        for (const group of aggregate.waiting.values()) mergeWaiting(workload.waiting, group);
        mergeCounts(workload.nodes, aggregate.nodes);
        mergeConstraints(workload.constraints, aggregate.constraints);
      }
      if (top.inferred !== undefined) {
        workload.inferred ??= new Set();
        workload.inferred.add(top.inferred);
      }
    }

    const prePull = new Map<string, ImageReference[]>();
    for (const [group, images] of Object.entries(this.config.nodeGroups.prePull)) {
      prePull.set(
        group,
        images.map((image) => this.reference(image)),
      );
    }

    const findings: Finding[] = [];
    const suppressed: SuppressedFinding[] = [];
    for (const workload of workloads.values()) {
      if (!this.namespaceSelected(workload.ref.namespace)) continue;
      const placement = this.placement(workload.constraints, workload.nodes, nodes);
      const raw: Finding[] = [];
      for (const { site } of workload.sites.values()) {
        raw.push(
          ...evaluateSite(site, this.reference(site.image), {
            workload: workload.ref,
            placement,
            config: this.config,
            prePull,
          }),
        );
      }
      for (const [key, imageIds] of workload.running) {
        const [kind, name, image] = key.split(KEY_SEPARATOR) as [ImageSite['kind'], string, string];
        const served = this.options.served?.(image);
        // One image ID cannot disagree with itself, and without what the registry serves no tag moved:
        // most containers need neither rule, nor their declared site.
        if (imageIds.size < 2 && served === undefined) continue;
        const declared = declaredSite(workload.sites, kind, name, image);
        const location = declared?.location;
        const skew = detectReplicaSkew({
          workload: workload.ref,
          container: { kind, name, image },
          imageIds,
          nodes,
          location,
          ...(this.options.indexOf === undefined ? {} : { indexOf: this.options.indexOf }),
        });
        if (skew !== undefined) raw.push(skew);
        if (served !== undefined) {
          const reference = this.reference(image);
          const moved = detectTagMoved({
            workload: workload.ref,
            container: { kind, name, image },
            reference,
            policy: declared?.policy ?? defaultPullPolicy(reference),
            imageIds,
            served,
            location,
          });
          if (moved !== undefined) raw.push(moved);
        }
      }
      for (const group of workload.waiting.values()) {
        const location = declaredSite(
          workload.sites,
          group.kind,
          group.name,
          group.image,
        )?.location;
        raw.push(
          pullFailureFinding({
            workload: workload.ref,
            container: { kind: group.kind, name: group.name },
            image: group.image,
            kind: group.reason === 'ErrImageNeverPull' ? 'never-pull' : 'pull-failure',
            message: group.message,
            pods: group.pods,
            nodes: [...group.nodes],
            ...(location === undefined ? {} : { location }),
          }),
        );
      }
      for (const finding of dedupeFindings(raw)) {
        if (workload.inferred !== undefined) finding.evidence.push(...workload.inferred);
        const judged = this.applySettings(finding);
        if (judged === undefined) continue;
        const suppression = this.suppressionFor(judged);
        if (suppression === undefined) findings.push(judged);
        else suppressed.push({ ...judged, suppression: { reason: suppression } });
      }
    }
    // In the order every report format lists them, so that formatting finds them sorted already.
    findings.sort(compareFindings);
    suppressed.sort(compareFindings);
    const counts = { info: 0, warning: 0, error: 0 };
    for (const finding of findings) counts[finding.severity]++;
    return {
      findings,
      suppressed,
      problems: this.problems,
      summary: {
        files: this.files.size,
        documents: this.documents,
        objects: this.aggregation.data.objects,
        pods: this.aggregation.data.pods,
        workloads: workloads.size,
        findings: counts,
        suppressed: suppressed.length,
        problems: this.problems.length,
      },
    };
  }

  private namespaceSelected(namespace: string): boolean {
    const wanted = this.options.namespaces;
    return wanted === undefined || wanted.length === 0 || wanted.includes(namespace);
  }

  private placement(
    constraints: Constraints,
    podNodes: ReadonlyMap<string, number>,
    nodes: ReadonlyMap<string, NodeInfo>,
  ): Placement {
    if (constraints.specs > 0 && !constraints.open) {
      return { nodeGroups: [...constraints.groups].sort(), basis: 'constraint' };
    }
    const observed = new Set<string>();
    for (const node of podNodes.keys()) {
      const group = nodes.get(node)?.nodeGroup;
      if (group !== undefined) observed.add(group);
    }
    if (observed.size > 0) return { nodeGroups: [...observed].sort(), basis: 'observed' };
    return { nodeGroups: [], basis: 'unknown' };
  }

  /** Applies enable/disable, severity overrides and rule filters; undefined drops the finding. */
  private applySettings(finding: Finding): Finding | undefined {
    const settings = this.config.rules[finding.ruleId];
    if (settings?.enabled === false) return undefined;
    if (
      this.options.rules !== undefined &&
      this.options.rules.length > 0 &&
      !this.options.rules.includes(finding.ruleId)
    ) {
      return undefined;
    }
    if (this.options.skipRules?.includes(finding.ruleId)) return undefined;
    if (settings?.severity !== undefined) finding.severity = settings.severity;
    return finding;
  }

  private suppressionFor(finding: Finding): string | undefined {
    for (const suppression of this.config.suppressions) {
      if (suppression.rules !== undefined && !suppression.rules.includes(finding.ruleId)) continue;
      if (
        suppression.namespace !== undefined &&
        !globMatches(suppression.namespace, finding.workload.namespace)
      )
        continue;
      if (
        suppression.workload !== undefined &&
        !globMatches(suppression.workload, `${finding.workload.kind}/${finding.workload.name}`)
      ) {
        continue;
      }
      if (
        suppression.container !== undefined &&
        !globMatches(suppression.container, finding.container.name)
      )
        continue;
      const imageGlob = suppression.image;
      if (imageGlob !== undefined) {
        const forms = [finding.image, this.reference(finding.image).canonical];
        if (!forms.some((image) => globMatches(imageGlob, image))) continue;
      }
      return suppression.reason;
    }
    return undefined;
  }
}

/** The workload's site for a container and image, as its pods or template declare it. */
function declaredSite(
  sites: ReadonlyMap<string, SiteFold>,
  kind: ImageSite['kind'],
  name: string,
  image: string,
): ImageSite | undefined {
  for (const { site } of sites.values()) {
    if (site.kind === kind && site.name === name && site.image === image) return site;
  }
  return undefined;
}

function dedupeFindings(findings: readonly Finding[]): Finding[] {
  const seen = new Map<string, Finding>();
  for (const finding of findings) {
    const key = [
      finding.ruleId,
      finding.container.kind,
      finding.container.name,
      finding.image,
    ].join(KEY_SEPARATOR);
    if (!seen.has(key)) seen.set(key, finding);
  }
  return [...seen.values()];
}
