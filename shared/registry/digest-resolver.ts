import type { Config } from '#shared/config/schema.ts';
import type { SecretResolver } from '#shared/config/secret-ref.ts';
import { type DigestFailureReason, DigestResolutionError, readingManifest } from './errors.ts';
import { bareMediaType, isImageManifestMediaType, parseManifest, validDigest } from './manifest.ts';
import { parseChallenge, RegistrySession, registryBaseUrl } from './registry-session.ts';

export { type DigestFailureReason, DigestResolutionError, parseChallenge };

// Resolves a tag to its manifest digest through the OCI Distribution API: HEAD the manifest with every
// manifest media type accepted, answer a Bearer challenge by fetching a token (with the configured
// credentials) or a Basic challenge directly, and pin what Docker-Content-Digest says. An index (OCI
// image index, Docker manifest list) is also fetched, by digest, to list its platform manifests: pods
// may report either the index digest or the digest of the child their node pulled. The requests and the
// challenge dance are RegistrySession's, shared with the node's image footprint.

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** One entry of an index: a platform manifest (or an attestation, which has no usable platform). */
export interface ManifestChild {
  digest: string;
  mediaType?: string;
  platform?: Platform;
}

export interface ResolvedDigest {
  digest: string;
  mediaType: string | undefined;
  /** The children, when the tag names an OCI image index or a Docker manifest list. */
  manifests?: readonly ManifestChild[];
}

export interface DigestResolver {
  resolve(registry: string, repository: string, tag: string): Promise<ResolvedDigest>;
}

/** The answer for a manifest the registry served: its digest, media type and, for an index, children. */
export function resolvedFromManifest(
  subject: string,
  digest: string,
  body: string | Uint8Array,
  mediaType: string | undefined,
): ResolvedDigest {
  const parsed = readingManifest(subject, () => parseManifest(body, mediaType));
  return {
    digest,
    mediaType: parsed.mediaType,
    ...(parsed.manifests === undefined ? {} : { manifests: parsed.manifests }),
  };
}

export interface HttpDigestResolverOptions {
  /**
   * GET an index that HEAD already named, to list its children. Drift comparison needs them; a push only
   * needs the digest, so the extra request is opt-in. A body fetched anyway is always read.
   */
  readIndexChildren?: boolean;
  /** The largest manifest body accepted. */
  maxManifestBytes?: number;
  timeoutMs?: number;
}

// Statuses with which some registries and proxies refuse HEAD; GET answers the same question.
const HEAD_REFUSED = new Set([405, 501]);

/** The `registries.endpoints` entry for a registry host; host names compare case-insensitively. */
export function configuredEndpoint(
  config: Config,
  registry: string,
): Config['registries']['endpoints'][number] | undefined {
  const host = registry.toLowerCase();
  return config.registries.endpoints.find((entry) => entry.host.toLowerCase() === host);
}

export class HttpDigestResolver implements DigestResolver {
  private readonly config: Config;
  private readonly secrets: SecretResolver;
  private readonly options: HttpDigestResolverOptions;

  constructor(config: Config, secrets: SecretResolver, options: HttpDigestResolverOptions = {}) {
    this.config = config;
    this.secrets = secrets;
    this.options = options;
  }

  private session(registry: string, repository: string): RegistrySession {
    const configured = configuredEndpoint(this.config, registry);
    return new RegistrySession({
      registry,
      baseUrl: registryBaseUrl(registry, configured?.url),
      repository,
      credentials: async () =>
        configured?.username === undefined || configured.password === undefined
          ? undefined
          : {
              username: configured.username,
              password: await this.secrets.resolve(configured.password),
            },
      guidance: {
        whenRequired: 'configure registries.endpoints',
        ...(configured?.username === undefined
          ? {
              whenRefusedWithout: `no credentials for ${registry} are configured in registries.endpoints`,
            }
          : {}),
      },
      timeoutMs: this.options.timeoutMs,
      maxManifestBytes: this.options.maxManifestBytes,
    });
  }

  async resolve(registry: string, repository: string, tag: string): Promise<ResolvedDigest> {
    const subject = `${registry}/${repository}:${tag}`;
    const session = this.session(registry, repository);

    const head = await session.requestManifest(encodeURIComponent(tag), 'HEAD');
    if (!head.ok && !HEAD_REFUSED.has(head.status)) throw await session.failure(head, subject);
    const namedDigest = head.ok
      ? validDigest(head.headers.get('docker-content-digest'))
      : undefined;
    const headMediaType = head.ok ? bareMediaType(head.headers.get('content-type')) : undefined;
    if (
      namedDigest !== undefined &&
      (this.options.readIndexChildren !== true || isImageManifestMediaType(headMediaType))
    ) {
      return { digest: namedDigest, mediaType: headMediaType };
    }

    // By digest when HEAD named one: that URL is content-addressed, so a tag moving between the two
    // requests cannot pair one manifest's digest with another's children.
    const served = await session.getManifest(
      namedDigest ?? encodeURIComponent(tag),
      subject,
      namedDigest,
    );
    return resolvedFromManifest(
      subject,
      served.digest,
      served.bytes,
      served.mediaType ?? headMediaType,
    );
  }
}
