import { UnprocessableEntityError } from '#shared/http/errors.ts';
import { ImageReferenceError, parseDigest, parseImageReference } from '#shared/image/reference.ts';

// What every registry notification becomes: one normalised event per image change. Source oddities
// (Harbor's digest-as-tag, GAR's full references, JFrog's bare checksums, empty tags) are resolved by
// the source's normalizer so nothing after it needs to know where an event came from.

export const WEBHOOK_SOURCES = [
  'distribution',
  'harbor',
  'dockerhub',
  'github',
  'quay',
  'artifactory',
  'acr',
  'gar',
] as const;
export type WebhookSource = (typeof WEBHOOK_SOURCES)[number];
export type EventSource = WebhookSource | 'ecr';

export interface ImageChange {
  /** Registry host with port, e.g. `ghcr.io`, `127.0.0.1:5000`, `docker.io`. */
  registry: string;
  /** Path within the registry, normalised like the kubelet does (`library/nginx`). */
  repository: string;
  tag?: string;
  /** `sha256:<hex>`; absent when the source does not send one (resolved later for pushes). */
  digest?: string;
  mediaType?: string;
  /** ISO 8601. */
  at: string;
  source: EventSource;
  /** The sender's id for this delivery, or one derived from the payload when it has none. */
  deliveryId: string;
}

export interface ImagePushed extends ImageChange {
  kind: 'pushed';
}

export interface ImageDeleted extends ImageChange {
  kind: 'deleted';
}

export interface IgnoredEvent {
  kind: 'ignored';
  reason: string;
}

export type NormalizedEvent = ImagePushed | ImageDeleted | IgnoredEvent;

/** `registry/repository` */
export function repositoryName(change: Pick<ImageChange, 'registry' | 'repository'>): string {
  return `${change.registry}/${change.repository}`;
}

/** `registry/repository[:tag][@digest]` */
export function imageReferenceOf(
  change: Pick<ImageChange, 'registry' | 'repository' | 'tag' | 'digest'>,
): string {
  return `${repositoryName(change)}${change.tag === undefined ? '' : `:${change.tag}`}${change.digest === undefined ? '' : `@${change.digest}`}`;
}

interface ChangeFields {
  kind: 'pushed' | 'deleted';
  /** Either `registry` + `repository`, or a full `reference` (host/path[:tag][@digest]). */
  registry?: string | undefined;
  repository?: string | undefined;
  reference?: string | undefined;
  tag?: string | undefined;
  digest?: string | undefined;
  mediaType?: string | undefined;
  at: string;
  source: EventSource;
  deliveryId: string;
}

/**
 * Builds a validated change: the name goes through the image reference grammar (so `Team/API` or a
 * stray space is a 422, not a queued pull), empty tags count as none, and digests are checked.
 */
export function imageChange(fields: ChangeFields): ImagePushed | ImageDeleted {
  const text =
    fields.reference ??
    (fields.registry === undefined || fields.repository === undefined
      ? undefined
      : `${fields.registry}/${fields.repository}`);
  if (text === undefined) throw new UnprocessableEntityError('the event names no repository');
  const parsed = grammar(() => parseImageReference(text));
  // A name whose first segment is not a host would silently become a Docker Hub repository.
  if (fields.registry !== undefined && fields.reference === undefined) {
    const host = grammar(() => parseImageReference(`${fields.registry}/x`)).registry;
    if (host !== parsed.registry) {
      throw new UnprocessableEntityError(`"${fields.registry}" is not a registry host`);
    }
  }
  const tag = nonEmpty(fields.tag) ?? parsed.tag;
  const digest = nonEmpty(fields.digest) ?? parsed.digest;
  if (tag !== undefined && tag !== parsed.tag) {
    grammar(() => parseImageReference(`${parsed.name}:${tag}`));
  }
  if (digest !== undefined && digest !== parsed.digest) grammar(() => parseDigest(digest));
  const at = new Date(fields.at);
  if (Number.isNaN(at.getTime())) {
    throw new UnprocessableEntityError(`invalid event time "${fields.at}"`);
  }
  return {
    kind: fields.kind,
    registry: parsed.registry,
    repository: parsed.repository,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
    ...(fields.mediaType === undefined || fields.mediaType === ''
      ? {}
      : { mediaType: fields.mediaType }),
    at: at.toISOString(),
    source: fields.source,
    deliveryId: fields.deliveryId,
  };
}

/** Grammar errors in a payload are the sender's problem: 422 with the reason. */
export function grammar<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ImageReferenceError) throw new UnprocessableEntityError(error.message);
    throw error;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

export function ignored(reason: string): IgnoredEvent {
  return { kind: 'ignored', reason };
}
