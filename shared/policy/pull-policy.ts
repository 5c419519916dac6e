import type { PullPolicy } from '#shared/drift/model.ts';
import { PULL_POLICIES } from '#shared/drift/model.ts';
import { effectiveTag, type ImageReference } from '#shared/image/reference.ts';

/**
 * The policy the API server fills in when `imagePullPolicy` is omitted (SetDefaults_Container): the tag
 * counts as `latest` when it is `latest`, or when the reference has neither tag nor digest.
 * `app:latest@sha256:…` therefore defaults to `Always`, `app@sha256:…` to `IfNotPresent`.
 */
export function defaultPullPolicy(image: Pick<ImageReference, 'tag' | 'digest'>): PullPolicy {
  return effectiveTag(image) === 'latest' ? 'Always' : 'IfNotPresent';
}

/** `:latest`, or no tag and no digest: what PW001 flags. */
export function isFloatingLatest(image: Pick<ImageReference, 'tag' | 'digest'>): boolean {
  return image.digest === undefined && (image.tag === undefined || image.tag === 'latest');
}

export function isPullPolicy(value: unknown): value is PullPolicy {
  return typeof value === 'string' && (PULL_POLICIES as readonly string[]).includes(value);
}
