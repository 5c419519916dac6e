import type { ManifestChild, Platform, ResolvedDigest } from './digest-resolver.ts';

// Whether a running container is on the build a tag serves. Runtimes report either the digest of the
// index the tag names or the digest of the platform manifest the node pulled from it, so a running digest
// equal to one of the served index's children is the same build, not drift.
//
// `runningDigest` is a manifest digest (`parseRunningImageId(...).digest` of a `repo-digest`); a runtime's
// local image ID is a config digest and matches nothing here.

/** True when `runningDigest` is the served manifest or one of the served index's children. */
export function sameBuild(runningDigest: string, served: ResolvedDigest): boolean {
  return runningDigest === served.digest || servedChild(runningDigest, served) !== undefined;
}

/** The child of the served index that `runningDigest` is, with its platform; undefined for none. */
export function servedChild(
  runningDigest: string,
  served: ResolvedDigest,
): ManifestChild | undefined {
  return served.manifests?.find((child) => child.digest === runningDigest);
}

/** `linux/arm64/v8`, the form `--platform` flags and index tooling use. */
export function formatPlatform(platform: Platform): string {
  const base = `${platform.os}/${platform.architecture}`;
  return platform.variant === undefined ? base : `${base}/${platform.variant}`;
}
