import type { Config, PrePullRule } from '#shared/config/schema.ts';
import type { ImagePushed } from '#shared/intake/model.ts';
import { repositoryName } from '#shared/intake/model.ts';
import { compareText } from '#shared/text/order.ts';
import { describeTagFilter, tagFilterMatches } from './tag-filter.ts';

// Which node groups should hold a pushed image, and why: configured rules (repository pattern + tag
// filter → node groups, highest priority wins per node group) and, optionally, the node groups that
// currently run workloads from the same repository.

/** Node groups whose pods currently use images of a repository (`registry/repository`). */
export interface InventoryQuery {
  nodeGroupsRunning(repository: string): Promise<string[]>;
}

export interface PlannedTarget {
  nodeGroup: string;
  /** Rule name, or `inventory`. */
  selectedBy: string;
  priority: number;
  why: string;
}

export interface Plan {
  targets: PlannedTarget[];
  /** Set when nothing is planned, to say why. */
  note?: string;
}

export const INVENTORY_SELECTOR = 'inventory';
/** Inventory-selected node groups queue after rule-selected ones of priority 0 and above. */
export const INVENTORY_PRIORITY = -1;

const patternCache = new Map<string, RegExp>();

/** `*` matches within one path segment (or host label run), `**` across segments. */
export function repositoryPatternMatches(pattern: string, name: string): boolean {
  let compiled = patternCache.get(pattern);
  if (compiled === undefined) {
    let source = '^';
    for (let i = 0; i < pattern.length; i++) {
      const char = pattern[i] as string;
      if (char === '*' && pattern[i + 1] === '*') {
        source += '.*';
        i++;
      } else if (char === '*') source += '[^/]*';
      else if (char === '?') source += '[^/]';
      else source += char.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    }
    compiled = new RegExp(`${source}$`, 'u');
    patternCache.set(pattern, compiled);
  }
  return compiled.test(name);
}

function ruleMatches(
  rule: PrePullRule,
  push: Pick<ImagePushed, 'registry' | 'repository' | 'tag'>,
) {
  const name = repositoryName(push);
  return (
    rule.images.some((pattern) => repositoryPatternMatches(pattern, name)) &&
    tagFilterMatches(rule.tags, push.tag)
  );
}

export async function planPrepull(
  push: Pick<ImagePushed, 'registry' | 'repository' | 'tag'>,
  config: Config,
  inventory: InventoryQuery,
): Promise<Plan> {
  if (push.tag === undefined) {
    return {
      targets: [],
      note: 'pushed without a tag (e.g. a platform manifest of an index): nothing selects it until a tag or workload does',
    };
  }
  const chosen = new Map<string, PlannedTarget>();
  const consider = (target: PlannedTarget) => {
    const current = chosen.get(target.nodeGroup);
    if (current === undefined || target.priority > current.priority) {
      chosen.set(target.nodeGroup, target);
    }
  };
  for (const rule of config.prePull.rules) {
    if (!ruleMatches(rule, push)) continue;
    for (const nodeGroup of rule.nodeGroups) {
      consider({
        nodeGroup,
        selectedBy: rule.name,
        priority: rule.priority,
        why: `rule ${rule.name} (priority ${rule.priority}, ${describeTagFilter(rule.tags)})`,
      });
    }
  }
  if (config.prePull.followInventory) {
    for (const nodeGroup of await inventory.nodeGroupsRunning(repositoryName(push))) {
      // Rules outrank the inventory; among rules the priority decides.
      if (!chosen.has(nodeGroup)) {
        consider({
          nodeGroup,
          selectedBy: INVENTORY_SELECTOR,
          priority: INVENTORY_PRIORITY,
          why: 'runs workloads that use this repository',
        });
      }
    }
  }
  const targets = [...chosen.values()].sort(
    (a, b) => b.priority - a.priority || compareText(a.nodeGroup, b.nodeGroup),
  );
  return targets.length > 0
    ? { targets }
    : { targets, note: 'no pre-pull rule matches and no node group runs this repository' };
}
