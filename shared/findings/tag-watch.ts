import type { Inventory } from '#shared/cluster/inventory.ts';
import type { Config } from '#shared/config/schema.ts';
import type { TagWatch } from '#shared/intake/pipeline.ts';
import {
  DigestResolutionError,
  type DigestResolver,
  type ResolvedDigest,
} from '#shared/registry/digest-resolver.ts';
import { isImageManifestMediaType } from '#shared/registry/manifest.ts';
import { describeError, type StructuredLog } from '#shared/runtime/log.ts';
import { evaluateLive, parsedImage, tagKey } from './live-evaluation.ts';
import { findingId } from './model.ts';
import type { FindingsStore } from './store.ts';

// PW009 at push time: the workloads whose pods use the pushed tag are evaluated against the pushed
// digest at once, instead of waiting for the next sweep. Their PW009 findings for the tag open or close.

export interface TagWatchDependencies {
  config: Config;
  inventory: Pick<Inventory, 'objectsUsingTag'>;
  findings: FindingsStore;
  /** Asked at push time, without a cache: the tag has just moved. */
  resolver: DigestResolver;
  log: Pick<StructuredLog, 'info' | 'error'>;
  now: () => Date;
}

export interface TagWatchOutcome {
  objects: number;
  opened: number;
  closed: number;
  /** Set when the workloads could not be judged (an index whose platforms the registry did not list). */
  skipped?: string;
}

export function tagWatch(deps: TagWatchDependencies): TagWatch & {
  lastOutcome?: TagWatchOutcome;
} {
  const watch: TagWatch & { lastOutcome?: TagWatchOutcome } = {
    async tagPushed(push) {
      const tag = `${push.registry}/${push.repository}:${push.tag}`;
      try {
        watch.lastOutcome = await evaluatePushedTag(push, deps);
        if (watch.lastOutcome.objects > 0) {
          deps.log.info('pushed tag evaluated', { tag, ...watch.lastOutcome });
        }
      } catch (error) {
        // The next sweep judges these workloads again.
        deps.log.error('pushed tag not evaluated', {
          tag,
          error: describeError(error),
        });
      }
    },
  };
  return watch;
}

export async function evaluatePushedTag(
  push: { registry: string; repository: string; tag: string; digest: string; mediaType?: string },
  deps: TagWatchDependencies,
): Promise<TagWatchOutcome> {
  const objects = await deps.inventory.objectsUsingTag(push);
  if (objects.length === 0) return { objects: 0, opened: 0, closed: 0 };
  const key = `${push.registry}/${push.repository}:${push.tag}`;
  let served: ResolvedDigest;
  try {
    // The index's platform manifests are needed (pods may report one of them), and a push that came
    // after this one may have moved the tag again: the registry's answer of now is the truth.
    served = await deps.resolver.resolve(push.registry, push.repository, push.tag);
  } catch (error) {
    if (!(error instanceof DigestResolutionError)) throw error;
    if (!isImageManifestMediaType(push.mediaType)) {
      return {
        objects: objects.length,
        opened: 0,
        closed: 0,
        skipped: `the registry did not answer for ${key}: ${error.message}`,
      };
    }
    served = { digest: push.digest, mediaType: push.mediaType };
  }
  const now = deps.now();
  const report = evaluateLive(
    deps.config,
    objects.map((object) => object.facts),
    new Map([[key, served]]),
    { rules: ['PW009'] },
  );
  const opened = await deps.findings.raise(report.findings, 'push', now);
  // Workloads evaluated here whose PW009 for this tag no longer holds.
  const current = new Set(report.findings.map((finding) => findingId(finding)));
  const namespaces = [...new Set(objects.map((object) => object.namespace))];
  const stale = (
    await deps.findings.listFindings({ status: 'open', rules: ['PW009'], namespaces })
  ).filter((stored) => {
    const reference = parsedImage(stored.image);
    return !current.has(stored.id) && reference !== undefined && tagKey(reference) === key;
  });
  const closed = await deps.findings.close(stale, now, now);
  return { objects: objects.length, opened, closed };
}
