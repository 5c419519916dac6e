import { parseEcrRegistryHost } from '#shared/ecr/registry-host.ts';
import {
  type DigestFailureReason,
  DigestResolutionError,
  type DigestResolver,
  type ResolvedDigest,
  resolvedFromManifest,
} from './digest-resolver.ts';
import { bareMediaType, MANIFEST_MEDIA_TYPES, validDigest } from './manifest.ts';

// Resolves tags of private ECR registries with the ECR API's BatchGetImage, under the caller's IAM
// identity: no registry token to mint, and one call returns the digest, the media type and the manifest
// (so an index's children come with it). The call is a port, one per region, so this module needs no SDK;
// the shapes below are the parts of the ECR API's request and answer that are used.

export interface BatchGetImageInput {
  registryId: string;
  repositoryName: string;
  imageIds: { imageTag: string }[];
  acceptedMediaTypes: string[];
}

export interface BatchGetImageOutput {
  images?:
    | {
        imageId?: { imageDigest?: string | undefined; imageTag?: string | undefined } | undefined;
        imageManifest?: string | undefined;
        imageManifestMediaType?: string | undefined;
      }[]
    | undefined;
  failures?:
    | {
        failureCode?: string | undefined;
        failureReason?: string | undefined;
      }[]
    | undefined;
}

/** BatchGetImage in one region; rejects with the SDK's errors (`name`, `$metadata.httpStatusCode`). */
export type BatchGetImage = (input: BatchGetImageInput) => Promise<BatchGetImageOutput>;

/** The BatchGetImage port of a region. */
export type EcrImagesOfRegion = (region: string) => BatchGetImage;

const FAILURE_CODES: Readonly<Record<string, DigestFailureReason>> = {
  ImageNotFound: 'not-found',
  ImageTagDoesNotExist: 'not-found',
  RepositoryNotFound: 'not-found',
  AccessDenied: 'authentication',
  UpstreamAccessDenied: 'authentication',
  UpstreamTooManyRequests: 'rate-limited',
};

const ERROR_NAMES: Readonly<Record<string, DigestFailureReason>> = {
  RepositoryNotFoundException: 'not-found',
  ImageNotFoundException: 'not-found',
  AccessDeniedException: 'authentication',
  UnrecognizedClientException: 'authentication',
  InvalidSignatureException: 'authentication',
  ExpiredTokenException: 'authentication',
  InvalidClientTokenId: 'authentication',
  CredentialsProviderError: 'authentication',
  ThrottlingException: 'rate-limited',
  Throttling: 'rate-limited',
  TooManyRequestsException: 'rate-limited',
  LimitExceededException: 'rate-limited',
  TimeoutError: 'network',
};

function entryOf<T>(table: Readonly<Record<string, T>>, key: unknown): T | undefined {
  return typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : undefined;
}

/** How an error thrown by the ECR API call is classified. */
export function ecrErrorReason(error: unknown): DigestFailureReason {
  const failure = error as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const byName = entryOf(ERROR_NAMES, failure.name);
  if (byName !== undefined) return byName;
  const status = failure.$metadata?.httpStatusCode;
  if (typeof status !== 'number') return 'network';
  if (status === 429) return 'rate-limited';
  if (status === 401 || status === 403) return 'authentication';
  return 'registry';
}

export class EcrDigestResolver implements DigestResolver {
  private readonly imagesOf: EcrImagesOfRegion;

  constructor(imagesOf: EcrImagesOfRegion) {
    this.imagesOf = imagesOf;
  }

  async resolve(registry: string, repository: string, tag: string): Promise<ResolvedDigest> {
    const subject = `${registry}/${repository}:${tag}`;
    const ecr = parseEcrRegistryHost(registry);
    if (ecr?.kind !== 'private') {
      throw new DigestResolutionError(`${registry} is not a private ECR registry`, 'registry');
    }
    let output: BatchGetImageOutput;
    try {
      output = await this.imagesOf(ecr.region)({
        registryId: ecr.account,
        repositoryName: repository,
        imageIds: [{ imageTag: tag }],
        acceptedMediaTypes: [...MANIFEST_MEDIA_TYPES],
      });
    } catch (error) {
      const reason = ecrErrorReason(error);
      const name = (error as { name?: unknown }).name;
      if (reason === 'not-found') {
        throw new DigestResolutionError(`${subject} does not exist in the registry`, reason);
      }
      // The SDK's messages name actions and resources, never credentials.
      throw new DigestResolutionError(
        `ECR BatchGetImage failed for ${subject}: ${typeof name === 'string' ? name : 'Error'}: ${(error as Error).message}`,
        reason,
      );
    }

    const image = output.images?.[0];
    if (image === undefined) {
      const failure = output.failures?.[0];
      const code = failure?.failureCode ?? 'no image and no failure';
      const reason = entryOf(FAILURE_CODES, code) ?? 'registry';
      throw new DigestResolutionError(
        reason === 'not-found'
          ? `${subject} does not exist in the registry`
          : `ECR could not return ${subject}: ${code}${failure?.failureReason === undefined ? '' : ` (${failure.failureReason})`}`,
        reason,
      );
    }
    const digest = validDigest(image.imageId?.imageDigest);
    if (digest === undefined) {
      throw new DigestResolutionError(`ECR returned no valid digest for ${subject}`, 'registry');
    }
    if (image.imageManifest === undefined) {
      return { digest, mediaType: bareMediaType(image.imageManifestMediaType) };
    }
    // ECR names the digest from its own index of the stored manifest, so it is taken as given.
    return resolvedFromManifest(
      subject,
      digest,
      image.imageManifest,
      bareMediaType(image.imageManifestMediaType),
    );
  }
}
