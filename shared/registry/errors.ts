import { MalformedManifestError } from './manifest.ts';

/**
 * Why a registry lookup failed. `not-found`: the repository, tag or manifest does not exist;
 * `authentication`: credentials missing or refused; `rate-limited`: the registry asked to slow down;
 * `network`: no answer (DNS, connection, TLS, timeout); `registry`: any other refusal or an answer that
 * cannot be trusted.
 */
export type DigestFailureReason =
  | 'not-found'
  | 'authentication'
  | 'rate-limited'
  | 'network'
  | 'registry';

export class DigestResolutionError extends Error {
  override readonly name: string = 'DigestResolutionError';
  readonly reason: DigestFailureReason;

  constructor(message: string, reason: DigestFailureReason = 'registry', options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** A manifest that cannot be read, as the error that names the image it belongs to. */
export function untrustedManifest(
  subject: string,
  error: MalformedManifestError,
): DigestResolutionError {
  return new DigestResolutionError(`${subject}: ${error.message}`, 'registry', { cause: error });
}

/** Runs `read`, reporting a MalformedManifestError as the untrusted manifest of `subject`. */
export function readingManifest<Result>(subject: string, read: () => Result): Result {
  try {
    return read();
  } catch (error) {
    if (error instanceof MalformedManifestError) throw untrustedManifest(subject, error);
    throw error;
  }
}
