import type { MetricPoint } from '#shared/aws/powertools.ts';
import type { Inventory } from '#shared/cluster/inventory.ts';
import type { Config } from '#shared/config/schema.ts';
import { RULE_IDS, type RuleId } from '#shared/drift/model.ts';
import type { DigestResolver } from '#shared/registry/digest-resolver.ts';
import type { ObjectFacts } from '#shared/workload/extract.ts';
import {
  evaluateLive,
  parsedImage,
  resolveTags,
  tagKey,
  tagsRunFromCache,
} from './live-evaluation.ts';
import { findingId, type StoredFinding } from './model.ts';
import type { FindingsStore } from './store.ts';

// The scheduled drift sweep: evaluates the whole inventory against the rules and the registry, opens
// what holds now, and closes what no longer does. A finding is left open when the sweep cannot tell:
// PW009 for a tag the registry did not answer, and findings raised by events until they expire.

export interface SweepDependencies {
  config: Config;
  inventory: Pick<Inventory, 'allObjects'>;
  findings: FindingsStore;
  resolver: DigestResolver;
  now: () => Date;
}

export interface SweepResult {
  objects: number;
  workloads: number;
  tags: { resolved: number; unresolved: { tag: string; reason: string }[] };
  /** Open findings per rule after the sweep. */
  open: Record<RuleId, number>;
  written: number;
  closed: number;
  ms: number;
}

export async function sweepFindings(deps: SweepDependencies): Promise<SweepResult> {
  const started = deps.now();
  const objects: ObjectFacts[] = [];
  for await (const object of deps.inventory.allObjects()) objects.push(object.facts);
  const { served, unresolved } = await resolveTags(tagsRunFromCache(objects), deps.resolver);
  const report = evaluateLive(deps.config, objects, served);

  const open = new Map<string, StoredFinding>();
  for (const stored of await deps.findings.listFindings({ status: 'open' })) {
    open.set(stored.id, stored);
  }
  const current = new Set(report.findings.map((finding) => findingId(finding)));
  const written = await deps.findings.raise(report.findings, 'sweep', started, open);

  const eventsExpireBefore = new Date(
    started.getTime() - deps.config.findings.eventFindingsExpireMinutes * 60_000,
  ).toISOString();
  const stillOpen = new Set(current);
  const toClose: StoredFinding[] = [];
  for (const stored of open.values()) {
    if (current.has(stored.id)) continue;
    const reference = parsedImage(stored.image);
    const tag = reference === undefined ? undefined : tagKey(reference);
    const cannotTell =
      (stored.origin === 'event' && stored.lastSeenAt >= eventsExpireBefore) ||
      (stored.ruleId === 'PW009' && tag !== undefined && unresolved.has(tag));
    if (cannotTell) stillOpen.add(stored.id);
    else toClose.push(stored);
  }
  const closed = await deps.findings.close(toClose, deps.now(), started);

  const counts = Object.fromEntries(RULE_IDS.map((id) => [id, 0])) as Record<RuleId, number>;
  for (const finding of report.findings) counts[finding.ruleId]++;
  for (const stored of open.values()) {
    if (stillOpen.has(stored.id) && !current.has(stored.id)) counts[stored.ruleId]++;
  }
  return {
    objects: objects.length,
    workloads: report.summary.workloads,
    tags: {
      resolved: served.size,
      unresolved: [...unresolved].map(([tag, reason]) => ({ tag, reason })),
    },
    open: counts,
    written,
    closed,
    ms: deps.now().getTime() - started.getTime(),
  };
}

export interface SweepRunDependencies {
  loadConfig(): Promise<Config>;
  dependencies(config: Config): SweepDependencies;
  publish(points: readonly MetricPoint[]): void;
  log: { info(message: string, ...extra: Record<string, unknown>[]): void };
}

/** The scheduled run: one sweep, its figures as metrics (open findings per rule), one log line. */
export async function runSweep(deps: SweepRunDependencies): Promise<SweepResult> {
  const config = await deps.loadConfig();
  const result = await sweepFindings(deps.dependencies(config));
  deps.publish([
    ...RULE_IDS.map(
      (rule): MetricPoint => ({
        name: 'OpenFindings',
        unit: 'Count',
        value: result.open[rule],
        dimensions: { Rule: rule },
      }),
    ),
    { name: 'FindingsClosed', unit: 'Count', value: result.closed },
    { name: 'UnresolvedTags', unit: 'Count', value: result.tags.unresolved.length },
  ]);
  deps.log.info('drift sweep finished', {
    objects: result.objects,
    workloads: result.workloads,
    open: result.open,
    written: result.written,
    closed: result.closed,
    tagsResolved: result.tags.resolved,
    unresolved: result.tags.unresolved.slice(0, 20),
    ms: result.ms,
  });
  return result;
}
