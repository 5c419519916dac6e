import type { Config } from '#shared/config/schema.ts';
import { DriftEvaluator, type EvaluationOptions } from '#shared/drift/evaluator.ts';
import type { DriftReport } from '#shared/drift/model.ts';
import {
  effectiveTag,
  type ImageReference,
  tryParseImageReferenceCached,
} from '#shared/image/reference.ts';
import { defaultPullPolicy } from '#shared/policy/pull-policy.ts';
import {
  DigestResolutionError,
  type DigestResolver,
  type ResolvedDigest,
} from '#shared/registry/digest-resolver.ts';
import { forEachConcurrently } from '#shared/runtime/concurrency.ts';
import type { ObjectFacts } from '#shared/workload/extract.ts';

// Evaluating objects from the inventory: the same evaluator as `pullwarden drift`, plus the registry's
// current answer for every tag that pods run from their node cache (PW009).

/** `registry/repository:tag` of a reference without a digest; undefined for pinned references. */
export function tagKey(
  reference: Pick<ImageReference, 'name' | 'tag' | 'digest'>,
): string | undefined {
  return reference.digest === undefined
    ? `${reference.name}:${effectiveTag(reference)}`
    : undefined;
}

/** The parsed image, or undefined when it is not a valid reference; repeats come from memory. */
export function parsedImage(image: string): ImageReference | undefined {
  const parsed = tryParseImageReferenceCached(image);
  return parsed instanceof Error ? undefined : parsed;
}

/** Tags worth asking the registry about: pods report a digest for them and do not re-resolve on start. */
export function tagsRunFromCache(facts: Iterable<ObjectFacts>): Map<string, ImageReference> {
  const tags = new Map<string, ImageReference>();
  for (const object of facts) {
    if (object.kind !== 'Pod' || object.running.length === 0) continue;
    for (const running of object.running) {
      const reference = parsedImage(running.image);
      if (reference === undefined) continue;
      const key = tagKey(reference);
      if (key === undefined || tags.has(key)) continue;
      const site = object.sites.find(
        (candidate) => candidate.kind === running.kind && candidate.name === running.name,
      );
      if ((site?.policy ?? defaultPullPolicy(reference)) === 'Always') continue;
      tags.set(key, reference);
    }
  }
  return tags;
}

export interface ResolvedTags {
  served: Map<string, ResolvedDigest>;
  unresolved: Map<string, string>;
}

/** Asks the registry for each tag, a few at a time; a tag the registry cannot answer is left out. */
export async function resolveTags(
  tags: ReadonlyMap<string, ImageReference>,
  resolver: DigestResolver,
  concurrency = 8,
): Promise<ResolvedTags> {
  const served = new Map<string, ResolvedDigest>();
  const unresolved = new Map<string, string>();
  await forEachConcurrently([...tags], concurrency, async ([key, reference]) => {
    try {
      served.set(
        key,
        await resolver.resolve(
          reference.registry,
          reference.repository,
          effectiveTag(reference) as string,
        ),
      );
    } catch (error) {
      if (!(error instanceof DigestResolutionError)) throw error;
      unresolved.set(key, error.message);
    }
  });
  return { served, unresolved };
}

export function evaluateLive(
  config: Config,
  objects: Iterable<ObjectFacts>,
  served: ReadonlyMap<string, ResolvedDigest>,
  options: EvaluationOptions = {},
): DriftReport {
  const evaluator = new DriftEvaluator(config, {
    ...options,
    served: (image) => {
      const reference = parsedImage(image);
      const key = reference === undefined ? undefined : tagKey(reference);
      return key === undefined ? undefined : served.get(key);
    },
  });
  for (const facts of objects) {
    evaluator.countDocuments(facts.source.file);
    evaluator.addFacts(facts);
  }
  return evaluator.finish();
}
