import {
  type Digest,
  ImageReferenceError,
  parseDigest,
  tryParseImageReference,
} from '#shared/image/reference.ts';

// `status.containerStatuses[].imageID` comes in runtime-specific shapes:
//   docker-pullable://repo@sha256:…   (dockershim, pulled by reference)
//   docker://sha256:…                 (dockershim, local image ID)
//   repo@sha256:…                     (containerd, CRI-O: the repo digest)
//   sha256:…                          (a local image ID: the config digest, not a manifest digest)

export interface RunningImageId {
  readonly digest: string;
  /** The normalised repository name when the runtime reported one. */
  readonly repository: string | undefined;
  /** `repo-digest` is a registry manifest digest; `image-id` is a runtime-local config digest. */
  readonly kind: 'repo-digest' | 'image-id';
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//;

/** Returns undefined for an empty imageID (container not started yet); throws `ImageReferenceError` on garbage. */
export function parseRunningImageId(imageId: string): RunningImageId | undefined {
  const scheme = SCHEME.exec(imageId);
  const rest = scheme === null ? imageId : imageId.slice(scheme[0].length);
  if (rest.length === 0) return undefined;
  const at = rest.indexOf('@');
  if (at === -1)
    return { digest: digestOf(imageId, rest).value, repository: undefined, kind: 'image-id' };
  const reference = tryParseImageReference(rest);
  if (reference instanceof ImageReferenceError) {
    throw new ImageReferenceError(
      imageId,
      reference.offset + imageId.length - rest.length,
      reference.reason,
    );
  }
  return {
    digest: reference.digest ?? digestOf(imageId, rest.slice(at + 1)).value,
    repository: reference.name,
    kind: 'repo-digest',
  };
}

function digestOf(imageId: string, text: string): Digest {
  try {
    return parseDigest(text);
  } catch (error) {
    if (error instanceof ImageReferenceError) {
      throw new ImageReferenceError(
        imageId,
        error.offset + imageId.length - text.length,
        error.reason,
      );
    }
    throw error;
  }
}

/** Like `parseRunningImageId`, but an imageID it cannot read is undefined too (left out, not fatal). */
export function readRunningImageId(imageId: string): RunningImageId | undefined {
  try {
    return parseRunningImageId(imageId);
  } catch {
    return undefined;
  }
}
