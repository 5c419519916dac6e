import { createHash, getHashes } from 'node:crypto';
import { ImageReferenceError, parseDigest } from '#shared/image/reference.ts';
import type { ManifestChild, Platform } from './digest-resolver.ts';

// Manifest media types and what is read from a manifest body: whether it is an index (OCI image index,
// Docker manifest list) and, if so, its children with their platforms; for an image manifest, the blobs
// a pull downloads.

export const OCI_IMAGE_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_IMAGE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_IMAGE_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/** Every manifest type a resolver accepts, indexes first (ECR's acceptedMediaTypes, HTTP Accept). */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  OCI_IMAGE_INDEX,
  DOCKER_MANIFEST_LIST,
  OCI_IMAGE_MANIFEST,
  DOCKER_IMAGE_MANIFEST,
];

/** A manifest body a registry served is not one a resolver can read. */
export class MalformedManifestError extends Error {
  override readonly name = 'MalformedManifestError';
}

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === OCI_IMAGE_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

export function isImageManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === OCI_IMAGE_MANIFEST || mediaType === DOCKER_IMAGE_MANIFEST;
}

/** `application/vnd.oci.image.index.v1+json; charset=utf-8` → the bare type; undefined when absent. */
export function bareMediaType(header: string | null | undefined): string | undefined {
  return header?.split(';')[0]?.trim().toLowerCase() || undefined;
}

/** A well-formed digest (`sha256:<64 hex>`, …), or undefined. */
export function validDigest(text: string | null | undefined): string | undefined {
  if (text === null || text === undefined) return undefined;
  try {
    return parseDigest(text.trim()).value;
  } catch (error) {
    if (error instanceof ImageReferenceError) return undefined;
    throw error;
  }
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Whether `bytes` hash to `digest`; throws MalformedManifestError for an algorithm Node cannot compute. */
export function bytesMatchDigest(bytes: Uint8Array, digest: string): boolean {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  if (!getHashes().includes(algorithm)) {
    throw new MalformedManifestError(`the digest algorithm ${algorithm} cannot be verified`);
  }
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` === digest;
}

export interface ParsedManifest {
  mediaType: string | undefined;
  /** Present only for an index or manifest list. */
  manifests?: ManifestChild[];
}

/**
 * Reads a manifest body. `declaredMediaType` is what the registry said (Content-Type, ECR's
 * imageManifestMediaType); when it names no manifest type (absent, `application/json`), the body's own
 * `mediaType` field, or a `manifests` array, decides.
 */
export function parseManifest(
  body: string | Uint8Array,
  declaredMediaType: string | undefined,
): ParsedManifest {
  const fields = manifestObject(body) as { mediaType?: unknown; manifests?: unknown };
  const ownMediaType = typeof fields.mediaType === 'string' ? fields.mediaType : undefined;
  const declaredKnown = MANIFEST_MEDIA_TYPES.includes(declaredMediaType ?? '');
  const mediaType = declaredKnown ? declaredMediaType : (ownMediaType ?? declaredMediaType);
  const index = declaredKnown
    ? isIndexMediaType(declaredMediaType)
    : isIndexMediaType(ownMediaType) ||
      (ownMediaType === undefined && Array.isArray(fields.manifests));
  if (!index) return { mediaType };
  if (!Array.isArray(fields.manifests)) {
    throw new MalformedManifestError('the index has no manifests array');
  }
  return { mediaType, manifests: fields.manifests.map(childOf) };
}

/** A blob an image manifest references: what a pull downloads. */
export interface BlobDescriptor {
  digest: string;
  /** Bytes as stored in the registry (compressed, for a compressed layer). */
  size: number;
}

export interface ImageManifestBlobs {
  config: BlobDescriptor;
  layers: BlobDescriptor[];
}

/** The config and layers an image manifest body names; sizes must be non-negative safe integers. */
export function imageManifestBlobs(body: string | Uint8Array): ImageManifestBlobs {
  const fields = manifestObject(body) as { config?: unknown; layers?: unknown };
  const config = blobOf(fields.config, 'the config');
  if (!Array.isArray(fields.layers)) {
    throw new MalformedManifestError('the image manifest has no layers array');
  }
  return {
    config,
    layers: fields.layers.map((layer, position) => blobOf(layer, `layer ${position}`)),
  };
}

function manifestObject(body: string | Uint8Array): object {
  const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new MalformedManifestError('the manifest is not JSON');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new MalformedManifestError('the manifest is not a JSON object');
  }
  return document;
}

function blobOf(value: unknown, what: string): BlobDescriptor {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedManifestError(`${what} of the image manifest is not a descriptor`);
  }
  const { digest, size } = value as { digest?: unknown; size?: unknown };
  const valid = typeof digest === 'string' ? validDigest(digest) : undefined;
  if (valid === undefined) {
    throw new MalformedManifestError(`${what} of the image manifest has no valid digest`);
  }
  // JSON numbers past 2^53 lose precision and 1e400 parses as Infinity: neither is a byte count.
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new MalformedManifestError(
      `${what} of the image manifest has size ${typeof size === 'number' ? size : typeof size}, not a byte count`,
    );
  }
  return { digest: valid, size };
}

function childOf(entry: unknown, position: number): ManifestChild {
  const fields = (typeof entry === 'object' && entry !== null ? entry : {}) as {
    digest?: unknown;
    mediaType?: unknown;
    platform?: unknown;
  };
  const digest = typeof fields.digest === 'string' ? validDigest(fields.digest) : undefined;
  if (digest === undefined) {
    throw new MalformedManifestError(`entry ${position} of the index has no valid digest`);
  }
  const platform = platformOf(fields.platform);
  return {
    digest,
    ...(typeof fields.mediaType === 'string' ? { mediaType: fields.mediaType } : {}),
    ...(platform === undefined ? {} : { platform }),
  };
}

// A platform without os and architecture says nothing a comparison can use, so it is left out.
function platformOf(value: unknown): Platform | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { os, architecture, variant } = value as Record<string, unknown>;
  if (typeof os !== 'string' || typeof architecture !== 'string') return undefined;
  return {
    os,
    architecture,
    ...(typeof variant === 'string' && variant !== '' ? { variant } : {}),
  };
}
