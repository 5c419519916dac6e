import { formatGoDuration } from '#shared/kubelet/go-duration.ts';

// The kubelet's exec credential provider protocol (credentialprovider.kubelet.k8s.io): one request on
// stdin, one response on stdout. The kubelet decodes responses strictly, so a response carries exactly
// the documented fields, with the request's apiVersion echoed back.

export const CREDENTIAL_PROVIDER_API_VERSIONS = [
  'credentialprovider.kubelet.k8s.io/v1',
  'credentialprovider.kubelet.k8s.io/v1beta1',
  'credentialprovider.kubelet.k8s.io/v1alpha1',
] as const;
export type CredentialProviderApiVersion = (typeof CREDENTIAL_PROVIDER_API_VERSIONS)[number];

export const CACHE_KEY_TYPES = ['Registry', 'Image', 'Global'] as const;
export type CacheKeyType = (typeof CACHE_KEY_TYPES)[number];

export interface CredentialProviderRequest {
  apiVersion: CredentialProviderApiVersion;
  /** The repository the kubelet is about to pull: host[:port]/path, without tag or digest. */
  image: string;
  /** KEP-4412 (v1 only): the pod's service account token, when tokenAttributes are configured. */
  serviceAccountToken?: string;
  serviceAccountAnnotations?: Record<string, string>;
}

export interface RegistryCredential {
  username: string;
  password: string;
}

export interface CredentialProviderResponse {
  kind: 'CredentialProviderResponse';
  apiVersion: CredentialProviderApiVersion;
  cacheKeyType: CacheKeyType;
  cacheDuration: string;
  auth: Record<string, RegistryCredential>;
}

/** Bad stdin: says precisely what is wrong, never echoing a token. */
export class CredentialRequestError extends Error {
  override readonly name = 'CredentialRequestError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseCredentialProviderRequest(text: string): CredentialProviderRequest {
  if (text.trim() === '')
    throw new CredentialRequestError('stdin is empty: expected a CredentialProviderRequest');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // Node's message quotes the input around the error, which may be part of a token: say where only.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new CredentialRequestError(
      `stdin is not JSON${position === undefined ? '' : ` (syntax error at byte ${position})`}`,
    );
  }
  if (!isRecord(value)) throw new CredentialRequestError('stdin is not a JSON object');
  if (value.kind !== 'CredentialProviderRequest') {
    throw new CredentialRequestError(
      `kind must be CredentialProviderRequest (got ${JSON.stringify(value.kind ?? null)})`,
    );
  }
  const apiVersion = value.apiVersion;
  if (!CREDENTIAL_PROVIDER_API_VERSIONS.includes(apiVersion as CredentialProviderApiVersion)) {
    throw new CredentialRequestError(
      `apiVersion ${JSON.stringify(apiVersion ?? null)} is not supported; expected one of ${CREDENTIAL_PROVIDER_API_VERSIONS.join(', ')}`,
    );
  }
  if (typeof value.image !== 'string' || value.image.trim() === '') {
    throw new CredentialRequestError('image is missing from the CredentialProviderRequest');
  }
  if (value.image !== value.image.trim() || /\s/.test(value.image)) {
    throw new CredentialRequestError('image contains white space');
  }
  const request: CredentialProviderRequest = {
    apiVersion: apiVersion as CredentialProviderApiVersion,
    image: value.image,
  };
  // Only v1 carries the service account fields; older versions never send them.
  if (apiVersion === 'credentialprovider.kubelet.k8s.io/v1') {
    if (value.serviceAccountToken !== undefined) {
      if (typeof value.serviceAccountToken !== 'string') {
        throw new CredentialRequestError('serviceAccountToken must be a string');
      }
      if (value.serviceAccountToken !== '') request.serviceAccountToken = value.serviceAccountToken;
    }
    if (value.serviceAccountAnnotations !== undefined && value.serviceAccountAnnotations !== null) {
      const annotations = value.serviceAccountAnnotations;
      if (!isRecord(annotations) || Object.values(annotations).some((v) => typeof v !== 'string')) {
        throw new CredentialRequestError('serviceAccountAnnotations must map names to strings');
      }
      request.serviceAccountAnnotations = annotations as Record<string, string>;
    }
  }
  return request;
}

/** A cacheDuration: whole seconds as Go's time.Duration.String() writes them (6h0m0s, 1m30s, 0s). */
export function goDuration(seconds: number): string {
  return formatGoDuration(BigInt(Math.max(0, Math.floor(seconds))) * 1_000_000_000n);
}

/** A response with exactly the fields the kubelet's strict decoder accepts, in its field order. */
export function credentialProviderResponse(options: {
  apiVersion: CredentialProviderApiVersion;
  cacheKeyType: CacheKeyType;
  cacheSeconds: number;
  auth: Record<string, RegistryCredential>;
}): CredentialProviderResponse {
  const auth: Record<string, RegistryCredential> = {};
  for (const [key, credential] of Object.entries(options.auth)) {
    auth[key] = { username: credential.username, password: credential.password };
  }
  return {
    kind: 'CredentialProviderResponse',
    apiVersion: options.apiVersion,
    cacheKeyType: options.cacheKeyType,
    cacheDuration: goDuration(options.cacheSeconds),
    auth,
  };
}

/** The registry part of a request image: everything before the first `/` (host and port). */
export function registryOfImage(image: string): string {
  const slash = image.indexOf('/');
  return slash === -1 ? image : image.slice(0, slash);
}
