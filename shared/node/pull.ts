import { classifyPullFailure, redactCredentials } from '#shared/cluster/pull-messages.ts';
import type { PrePullSettings } from '#shared/credentials/node-config.ts';
import type { RegistryCredential } from '#shared/credentials/protocol.ts';
import { type ImageRuntime, RuntimeCallError, type RuntimeImage } from '#shared/cri/client.ts';
import { oneLine } from '#shared/http/answer-text.ts';
import { effectiveTag, type ImageReference } from '#shared/image/reference.ts';
import { MAX_REASON_LENGTH } from '#shared/prepull/names.ts';
import type { PullFailureKind } from '#shared/prepull/node-report.ts';
import { DigestResolutionError } from '#shared/registry/digest-resolver.ts';
import { forEachConcurrently } from '#shared/runtime/concurrency.ts';
import { diskVerdict, type FilesystemSpace } from './disk.ts';
import type { CredentialLookup } from './registry-credentials.ts';

// Pulling images into the node's runtime the way the kubelet would, with what the kubelet lacks: a
// free-space check before each pull, a per-node limit on pulls in flight, a deadline per attempt,
// retries with backoff for failures that can pass, and a result per image that says what happened.

export type PullOutcome = 'pulled' | 'present' | 'failed';

export interface PullResult {
  /** The image as asked for. */
  image: string;
  /** The manifest digest pulled or found; absent only when a tag could not be resolved. */
  digest?: string;
  outcome: PullOutcome;
  /** Compressed bytes the registry manifest declares for this node's platform. */
  bytes?: number;
  seconds: number;
  attempts: number;
  pinned?: boolean;
  cause?: PullFailureKind;
  /** One line, credentials removed. */
  reason?: string;
  /** When the pull finished (pulled only). */
  pulledAt?: string;
}

export interface ImagePins {
  pin(reference: string): Promise<unknown>;
  unpin(reference: string): Promise<unknown>;
  isPinned(reference: string): Promise<boolean>;
  /** Removes this owner's pins from every image not named in `keep`; returns the names unpinned. */
  releaseExcept(keep: ReadonlySet<string>): Promise<string[]>;
}

export type ImageFootprintReader = (
  image: ImageReference,
  credential: RegistryCredential | undefined,
) => Promise<{ compressedBytes: number; digest: string }>;

export interface PullDependencies {
  runtime: ImageRuntime;
  /** Set when the runtime is containerd (the only runtime with pins pullwarden can set). */
  pins?: ImagePins;
  credentials: CredentialLookup;
  footprint: ImageFootprintReader;
  space(): Promise<FilesystemSpace>;
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
  /** Progress and warnings, one line each (stderr for the CLI). */
  log(line: string): void;
}

export type PullSettings = Pick<
  PrePullSettings,
  'concurrency' | 'pullTimeout' | 'attempts' | 'backoff' | 'pin' | 'disk'
>;

const MAX_BACKOFF_MS = 60_000;
const RETRYABLE: ReadonlySet<PullFailureKind> = new Set([
  'network',
  'rate-limited',
  'registry',
  'timeout',
  'runtime',
]);

/** The digest the runtime records for `name` (its repo digest), if any. */
function heldDigest(held: RuntimeImage, name: string): string | undefined {
  const prefix = `${name}@`;
  return held.repoDigests.find((entry) => entry.startsWith(prefix))?.slice(prefix.length);
}

/** What the runtime is asked to pull: by digest when there is one, as the warm set pins it. */
export function pullReference(image: ImageReference): string {
  return image.digest === undefined
    ? `${image.name}:${effectiveTag(image)}`
    : `${image.name}@${image.digest}`;
}

/** A runtime's or registry's message as one line for logs and reports, credentials removed. */
function safeLine(text: string): string {
  return oneLine(redactCredentials(text), MAX_REASON_LENGTH);
}

export class PullFailure extends Error {
  override readonly name = 'PullFailure';
  readonly kind: PullFailureKind;

  constructor(kind: PullFailureKind, message: string) {
    super(safeLine(message));
    this.kind = kind;
  }
}

/** Any error from the registry, the credential sources or the runtime, as a failure kind and a line. */
export function asPullFailure(error: unknown): PullFailure {
  if (error instanceof PullFailure) return error;
  if (error instanceof DigestResolutionError) {
    return new PullFailure(error.reason === 'registry' ? 'registry' : error.reason, error.message);
  }
  if (error instanceof RuntimeCallError) {
    if (error.code === 'DEADLINE_EXCEEDED') {
      return new PullFailure(
        'timeout',
        `the runtime did not finish the pull in time (${error.method})`,
      );
    }
    if (error.code === 'UNAVAILABLE') {
      return new PullFailure('runtime', `the container runtime is unavailable: ${error.message}`);
    }
    const { cause, detail } = classifyPullFailure(error.message);
    return new PullFailure(
      cause === 'unknown' ? 'runtime' : cause,
      detail === '' ? error.message : detail,
    );
  }
  if (error instanceof Error && error.name === 'CredentialUnavailableError') {
    return new PullFailure('authentication', `no credentials: ${error.message}`);
  }
  return new PullFailure('unknown', error instanceof Error ? error.message : String(error));
}

function isRetryable(failure: PullFailure, error: unknown): boolean {
  // The runtime wraps everything it cannot name as UNKNOWN: only a transient-looking cause is retried.
  if (failure.kind === 'runtime') {
    return error instanceof RuntimeCallError && error.code === 'UNAVAILABLE';
  }
  return RETRYABLE.has(failure.kind);
}

/** Full jitter on an exponential backoff: spread retries of many nodes instead of aligning them. */
export function backoffMs(attempt: number, initialSeconds: number, random: () => number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, initialSeconds * 1000 * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Pulls every image, at most `settings.concurrency` at once; results in the order asked. */
export async function pullImages(
  images: readonly ImageReference[],
  settings: PullSettings,
  deps: PullDependencies,
  /** Called as each image finishes, before the others are done. */
  onResult?: (result: PullResult, image: ImageReference) => void | Promise<void>,
): Promise<PullResult[]> {
  const results = new Map<ImageReference, PullResult>();
  const admission = { reservedBytes: 0 };
  await forEachConcurrently(images, settings.concurrency, async (image) => {
    const result = await pullOne(image, settings, deps, admission);
    results.set(image, result);
    await onResult?.(result, image);
  });
  return images.map((image) => results.get(image) as PullResult);
}

async function pullOne(
  image: ImageReference,
  settings: PullSettings,
  deps: PullDependencies,
  admission: { reservedBytes: number },
): Promise<PullResult> {
  const started = deps.now();
  const reference = pullReference(image);
  const seconds = () => Math.round(deps.now() - started) / 1000;
  let attempts = 0;
  let bytes: number | undefined;
  let digest = image.digest;
  const failed = (failure: PullFailure): PullResult => ({
    image: image.original,
    ...(digest === undefined ? {} : { digest }),
    outcome: 'failed',
    ...(bytes === undefined ? {} : { bytes }),
    seconds: seconds(),
    attempts,
    cause: failure.kind,
    reason: failure.message,
  });

  try {
    const held = await deps.runtime.imageStatus(reference);
    if (held !== undefined) {
      digest ??= heldDigest(held, image.name);
      return {
        image: image.original,
        ...(digest === undefined ? {} : { digest }),
        outcome: 'present',
        seconds: seconds(),
        attempts: 0,
        ...(await pinIfAsked(reference, settings, deps)),
      };
    }
  } catch (error) {
    return failed(asPullFailure(error));
  }

  let credential: RegistryCredential | undefined;
  try {
    credential = await deps.credentials(image.name);
  } catch (error) {
    return failed(asPullFailure(error));
  }
  const auth =
    credential === undefined
      ? undefined
      : { username: credential.username, password: credential.password };

  let admitted: Admission | undefined;
  try {
    for (;;) {
      attempts += 1;
      try {
        // Read once: a failed read is retried with the pull, an admitted size holds its reservation.
        admitted ??= await admit(image, credential, reference, settings, deps, admission);
        if (admitted.kind !== 'unknown') ({ bytes, digest } = admitted);
        if (admitted.kind === 'refused') {
          // Refused before any pull was tried.
          return {
            ...failed(new PullFailure('disk-space', admitted.message)),
            attempts: attempts - 1,
          };
        }
        deps.log(`pulling ${reference} (attempt ${attempts} of ${settings.attempts})`);
        await deps.runtime.pullImage(reference, auth, settings.pullTimeout * 1000);
        break;
      } catch (error) {
        const failure = asPullFailure(error);
        if (attempts >= settings.attempts || !isRetryable(failure, error)) return failed(failure);
        const wait = backoffMs(attempts, settings.backoff, deps.random);
        deps.log(`${reference}: ${failure.kind}: ${failure.message}; retrying in ${wait} ms`);
        await deps.sleep(wait);
      }
    }
    // Proof, not trust: the runtime must now answer for the image.
    const held = await deps.runtime.imageStatus(reference);
    if (held === undefined) {
      return failed(
        new PullFailure('runtime', `the runtime reported ${reference} pulled but does not hold it`),
      );
    }
    // A tag may have moved since the size check read it: report what the runtime holds.
    if (image.digest === undefined) digest = heldDigest(held, image.name) ?? digest;
    return {
      image: image.original,
      ...(digest === undefined ? {} : { digest }),
      outcome: 'pulled',
      ...(bytes === undefined ? {} : { bytes }),
      seconds: seconds(),
      attempts,
      pulledAt: new Date(deps.now()).toISOString(),
      ...(await pinIfAsked(reference, settings, deps)),
    };
  } catch (error) {
    return failed(asPullFailure(error));
  } finally {
    if (admitted?.kind === 'admitted') admission.reservedBytes -= admitted.reservedBytes;
  }
}

type Admission =
  | { kind: 'admitted'; bytes: number; digest: string; reservedBytes: number }
  | { kind: 'refused'; bytes: number; digest: string; message: string }
  /** The size could not be read and `onUnknownSize` is `pull`. */
  | { kind: 'unknown' };

/**
 * Reads the image's size from the registry and admits it into the free space, reserving its share
 * until the pull ends. A failed read throws when `onUnknownSize` is `refuse`.
 */
async function admit(
  image: ImageReference,
  credential: RegistryCredential | undefined,
  reference: string,
  settings: PullSettings,
  deps: PullDependencies,
  admission: { reservedBytes: number },
): Promise<Admission> {
  let footprint: Awaited<ReturnType<ImageFootprintReader>>;
  try {
    footprint = await deps.footprint(image, credential);
  } catch (error) {
    if (settings.disk.onUnknownSize === 'refuse') throw error;
    deps.log(
      `${reference}: size unknown (${asPullFailure(error).message}); pulling without the disk check`,
    );
    return { kind: 'unknown' };
  }
  const verdict = diskVerdict(
    footprint.compressedBytes,
    await deps.space(),
    settings.disk,
    admission.reservedBytes,
  );
  const found = { bytes: footprint.compressedBytes, digest: footprint.digest };
  if (!verdict.fits) return { kind: 'refused', ...found, message: verdict.message };
  admission.reservedBytes += verdict.needBytes;
  return { kind: 'admitted', ...found, reservedBytes: verdict.needBytes };
}

async function pinIfAsked(
  reference: string,
  settings: PullSettings,
  deps: PullDependencies,
): Promise<{ pinned?: boolean }> {
  if (!settings.pin) return {};
  if (deps.pins === undefined) {
    deps.log(`${reference}: not pinned: the runtime is not containerd`);
    return { pinned: false };
  }
  try {
    await deps.pins.pin(reference);
    return { pinned: true };
  } catch (error) {
    deps.log(`${reference}: not pinned: ${safeLine((error as Error).message)}`);
    return { pinned: false };
  }
}
