import type { Platform } from './digest-resolver.ts';
import { DigestResolutionError, readingManifest } from './errors.ts';
import {
  imageManifestBlobs,
  isImageManifestMediaType,
  parseManifest,
  validDigest,
} from './manifest.ts';
import { selectPlatformManifest } from './platform-match.ts';
import { type RegistryCredentials, RegistrySession, registryBaseUrl } from './registry-session.ts';
import { formatPlatform } from './same-build.ts';

// How many bytes a node downloads for a pinned image: the manifest is read from the registry with the
// node's own credentials, an index narrowed to the child the node's containerd would pick, and the
// config and layer sizes of that image manifest added up. Every manifest is fetched by digest and its
// bytes checked against it, so the sizes are the ones the pull will see. The manifests themselves (a few
// KiB) are left out: next to the layers they are noise.

export { nodePlatform } from './platform-match.ts';
export type { RegistryCredentials } from './registry-session.ts';

export interface FootprintRequest {
  /** `host[:port]` as in the image reference: `127.0.0.1:5000`, `docker.io`. */
  registry: string;
  /** `library/nginx`, `team/api`. */
  repository: string;
  /**
   * The pinned manifest or index digest, `sha256:…`; or a tag, read once and pinned to the digest of
   * the manifest the registry serves for it then.
   */
  reference: { digest: string } | { tag: string };
  /** The node's platform (nodePlatform()). */
  platform: Platform;
  credentials?: RegistryCredentials;
  /** Base URL when it is not `https://<registry>` (Docker Hub: registry-1.docker.io), e.g. plain HTTP. */
  endpoint?: string;
  /** Per request to the registry or its token service. */
  timeoutMs?: number;
}

export interface ImageFootprint {
  /** The digest asked for, or the one the tag named when read. */
  digest: string;
  /** The image manifest the node pulls: `digest` itself, or the child of the index it names. */
  manifestDigest: string;
  /** That child's platform, when `digest` names an index. */
  platform?: Platform;
  /** The config and the distinct layers, as stored in the registry (compressed layers compressed). */
  compressedBytes: number;
  /** Layers the image manifest lists. */
  layers: number;
}

/** The index has no manifest the node's platform can run. */
export class NoPlatformManifestError extends DigestResolutionError {
  override readonly name = 'NoPlatformManifestError';
  readonly wanted: Platform;
  /** The platforms the index offers, in its order. */
  readonly offered: readonly Platform[];

  constructor(subject: string, wanted: Platform, entries: readonly { platform?: Platform }[]) {
    const offered = entries.flatMap((entry) =>
      entry.platform === undefined ? [] : [entry.platform],
    );
    const unnamed = entries.length - offered.length;
    const listed = offered.length === 0 ? 'none' : offered.map(formatPlatform).join(', ');
    // containerd reports this as not found ("no match for platform in manifest"), so it is one here.
    super(
      `${subject} has no manifest for ${formatPlatform(wanted)}: the index offers ${listed}${
        unnamed === 0
          ? ''
          : ` and ${unnamed} ${unnamed === 1 ? 'entry' : 'entries'} without a platform`
      }`,
      'not-found',
    );
    this.wanted = wanted;
    this.offered = offered;
  }
}

// An index naming another index is legal; a chain this deep is not something a build tool writes.
const MAX_INDEX_DEPTH = 4;

export async function imageFootprint(request: FootprintRequest): Promise<ImageFootprint> {
  const { registry, repository, credentials } = request;
  const asked = 'digest' in request.reference ? request.reference.digest : undefined;
  if (asked !== undefined && validDigest(asked) !== asked) {
    throw new TypeError(`imageFootprint needs a manifest digest, not ${JSON.stringify(asked)}`);
  }
  const session = new RegistrySession({
    registry,
    baseUrl: registryBaseUrl(registry, request.endpoint),
    repository,
    credentials: async () => credentials,
    guidance: {
      whenRequired: 'the node has no username and password for it',
      ...(hasCredentials(credentials)
        ? {}
        : { whenRefusedWithout: `the node has no credentials for ${registry}` }),
    },
    timeoutMs: request.timeoutMs,
  });
  // A manifest fetched by tag is checked against its digest, so it serves as the first level too.
  let served: Awaited<ReturnType<RegistrySession['getManifest']>>;
  let digest: string;
  if ('tag' in request.reference) {
    const tag = request.reference.tag;
    served = await session.getManifest(encodeURIComponent(tag), `${registry}/${repository}:${tag}`);
    digest = served.digest;
  } else {
    digest = request.reference.digest;
    served = await session.getManifest(digest, `${registry}/${repository}@${digest}`, digest);
  }
  const image = `${registry}/${repository}@${digest}`;

  let manifestDigest = digest;
  let subject = image;
  let platform: Platform | undefined;
  for (let depth = 0; ; depth += 1) {
    const parsed = readingManifest(subject, () => parseManifest(served.bytes, served.mediaType));
    if (parsed.manifests === undefined) {
      if (parsed.mediaType !== undefined && !isImageManifestMediaType(parsed.mediaType)) {
        throw new DigestResolutionError(
          `${subject} is a ${parsed.mediaType}, not an image manifest a node pulls`,
          'registry',
        );
      }
      return {
        digest,
        manifestDigest,
        ...(platform === undefined ? {} : { platform }),
        ...sizeOf(subject, served.bytes),
      };
    }
    if (depth === MAX_INDEX_DEPTH) {
      throw new DigestResolutionError(`${image} nests indexes deeper than ${MAX_INDEX_DEPTH}`);
    }
    const child = selectPlatformManifest(parsed.manifests, request.platform);
    if (child?.platform === undefined) {
      throw new NoPlatformManifestError(subject, request.platform, parsed.manifests);
    }
    manifestDigest = child.digest;
    platform = child.platform;
    subject = `${registry}/${repository}@${child.digest} (${formatPlatform(platform)} of ${image})`;
    served = await session.getManifest(manifestDigest, subject, manifestDigest);
  }
}

function hasCredentials(credentials: RegistryCredentials | undefined): boolean {
  return (
    credentials?.username !== undefined ||
    credentials?.password !== undefined ||
    credentials?.identityToken !== undefined
  );
}

/** Each blob counts once: the runtime's content store keeps a layer listed twice once. */
function sizeOf(
  subject: string,
  manifest: Uint8Array,
): Pick<ImageFootprint, 'compressedBytes' | 'layers'> {
  const { config, layers } = readingManifest(subject, () => imageManifestBlobs(manifest));
  const sizes = new Map<string, number>();
  for (const blob of [config, ...layers]) {
    const known = sizes.get(blob.digest);
    if (known !== undefined && known !== blob.size) {
      throw new DigestResolutionError(
        `${subject}: the image manifest gives ${blob.digest} two sizes, ${known} and ${blob.size}`,
      );
    }
    sizes.set(blob.digest, blob.size);
  }
  let compressedBytes = 0;
  for (const size of sizes.values()) compressedBytes += size;
  if (!Number.isSafeInteger(compressedBytes)) {
    throw new DigestResolutionError(
      `${subject}: the image manifest's sizes add up past ${Number.MAX_SAFE_INTEGER} bytes`,
    );
  }
  return { compressedBytes, layers: layers.length };
}
