import { isDockerHub } from '#shared/image/reference.ts';
import {
  type DigestFailureReason,
  DigestResolutionError,
  readingManifest,
  untrustedManifest,
} from './errors.ts';
import {
  bareMediaType,
  bytesMatchDigest,
  MANIFEST_MEDIA_TYPES,
  MalformedManifestError,
  sha256Digest,
  validDigest,
} from './manifest.ts';

// Manifest requests to one repository of a registry over the OCI Distribution API, as a pull client
// makes them: every manifest media type accepted, a 401 answered once per request (a Bearer challenge
// with a token from the token service, a Basic challenge directly), and the registry's refusals turned
// into DigestResolutionErrors that name the image and never a credential.

/** What a pull presents to a registry: a username and password, or an identity (refresh) token. */
export interface RegistryCredentials {
  username?: string;
  password?: string;
  identityToken?: string;
}

/** What messages tell the reader when the registry wants credentials that are not at hand. */
export interface CredentialsGuidance {
  /** Ends "<registry> requires credentials: …" after a Basic challenge with no username and password. */
  whenRequired: string;
  /** Ends a refusal when the caller has no credentials for the registry; absent when it has some. */
  whenRefusedWithout?: string;
}

export interface RegistrySessionOptions {
  /** The registry host as image references name it (`127.0.0.1:5000`, `docker.io`). */
  registry: string;
  /** Where its Distribution API answers, without `/v2` (see registryBaseUrl). */
  baseUrl: string;
  repository: string;
  /** Asked when a challenge calls for credentials. */
  credentials: () => Promise<RegistryCredentials | undefined>;
  guidance: CredentialsGuidance;
  timeoutMs?: number | undefined;
  /** The largest manifest body accepted. */
  maxManifestBytes?: number | undefined;
}

/** A manifest as served: its digest (verified against the bytes), bytes and declared media type. */
export interface ServedManifest {
  digest: string;
  bytes: Uint8Array;
  mediaType: string | undefined;
}

const ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');
const TIMEOUT_MS = 10_000;
// Registries must accept manifests of at least 4 MiB (OCI Distribution); anything larger is not one.
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const OAUTH_CLIENT_ID = 'pullwarden';
// Token services that answer these to the OAuth2 POST only speak the GET form of the token protocol.
const OAUTH_UNSUPPORTED = new Set([404, 405]);

/** The Distribution API base URL for a registry host: `override` when given, else HTTPS on the host. */
export function registryBaseUrl(registry: string, override?: string): string {
  const base =
    override ??
    (isDockerHub({ registry }) ? 'https://registry-1.docker.io' : `https://${registry}`);
  return base.replace(/\/+$/, '');
}

/** `Bearer realm="…",service="…",scope="…"` → scheme and parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  const params: Record<string, string> = {};
  for (const part of (match?.[2] ?? '').matchAll(
    /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g,
  )) {
    params[(part[1] ?? '').toLowerCase()] = (part[2] ?? part[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: (match?.[1] ?? '').toLowerCase(), params };
}

export class RegistrySession {
  private readonly options: RegistrySessionOptions;
  private readonly timeoutMs: number;
  private readonly maxManifestBytes: number;
  // Kept across requests: one answered challenge serves the next request of the same pull.
  private authorization: string | undefined;

  constructor(options: RegistrySessionOptions) {
    this.options = options;
    this.timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
    this.maxManifestBytes = options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
  }

  /**
   * HEAD or GET `/v2/<repository>/manifests/<reference>` (`reference` already URL-safe). A 401 is
   * answered once per request, so a token that stops working between two requests is fetched again.
   */
  async requestManifest(reference: string, method: 'HEAD' | 'GET'): Promise<Response> {
    const url = `${this.options.baseUrl}/v2/${this.options.repository}/manifests/${reference}`;
    const response = await this.request(url, method);
    if (response.status !== 401) return response;
    await response.body?.cancel();
    this.authorization = await this.answerChallenge(response.headers.get('www-authenticate'));
    return this.request(url, method);
  }

  /**
   * GETs a manifest and checks its bytes: against `expectedDigest` when the caller knows it (a
   * content-addressed request), else against the Docker-Content-Digest the registry sends; without
   * either, the digest is the hash of the bytes as served.
   */
  async getManifest(
    reference: string,
    subject: string,
    expectedDigest?: string,
  ): Promise<ServedManifest> {
    const response = await this.requestManifest(reference, 'GET');
    if (!response.ok) throw await this.failure(response, subject);
    const bytes = await this.readManifest(response, subject);
    const named = expectedDigest ?? validDigest(response.headers.get('docker-content-digest'));
    if (named !== undefined && !readingManifest(subject, () => bytesMatchDigest(bytes, named))) {
      throw new DigestResolutionError(
        `${subject}: the manifest the registry served does not hash to ${named}`,
        'registry',
      );
    }
    return {
      digest: named ?? sha256Digest(bytes),
      bytes,
      mediaType: bareMediaType(response.headers.get('content-type')),
    };
  }

  /** The error for a response that is not a manifest, classified by status and Distribution codes. */
  async failure(response: Response, subject: string): Promise<DigestResolutionError> {
    const codes = response.body === null ? [] : await errorCodes(response);
    const reason = reasonFor(response.status, codes);
    const detail = `HTTP ${response.status}${codes.length > 0 ? `, ${codes.join(', ')}` : ''}`;
    switch (reason) {
      case 'not-found':
        return new DigestResolutionError(`${subject} does not exist in the registry`, reason);
      case 'authentication': {
        const { whenRefusedWithout } = this.options.guidance;
        return new DigestResolutionError(
          `the registry refused access to ${subject} (${detail})${
            whenRefusedWithout === undefined ? '' : `: ${whenRefusedWithout}`
          }`,
          reason,
        );
      }
      case 'rate-limited': {
        const retryAfter = response.headers.get('retry-after');
        const wait =
          retryAfter !== null && /^\d{1,6}$/.test(retryAfter)
            ? `, retry after ${retryAfter} s`
            : '';
        return new DigestResolutionError(
          `the registry is rate-limiting requests for ${subject} (${detail}${wait})`,
          reason,
        );
      }
      default:
        return new DigestResolutionError(
          `the registry answered ${response.status} for ${subject}${codes.length > 0 ? ` (${codes.join(', ')})` : ''}`,
          reason,
        );
    }
  }

  private async readManifest(response: Response, subject: string): Promise<Uint8Array> {
    try {
      return await readCapped(response, this.maxManifestBytes);
    } catch (error) {
      if (error instanceof MalformedManifestError) throw untrustedManifest(subject, error);
      throw new DigestResolutionError(
        `the connection to ${this.options.registry} failed while reading a manifest: ${failureReason(error)}`,
        'network',
      );
    }
  }

  private async request(url: string, method: 'HEAD' | 'GET'): Promise<Response> {
    const { authorization } = this;
    try {
      return await fetch(url, {
        method,
        headers: { accept: ACCEPT, ...(authorization === undefined ? {} : { authorization }) },
        redirect: 'follow',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new DigestResolutionError(
        `cannot reach ${hostOf(url)}: ${failureReason(error)}`,
        'network',
      );
    }
  }

  private async answerChallenge(header: string | null): Promise<string> {
    const { registry, repository, guidance } = this.options;
    if (header === null) {
      throw new DigestResolutionError(
        `${registry} requires authentication but sent no challenge`,
        'authentication',
      );
    }
    const challenge = parseChallenge(header);
    const credentials = await this.options.credentials();
    const basic =
      credentials?.username === undefined || credentials.password === undefined
        ? undefined
        : Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
    if (challenge.scheme === 'basic') {
      if (basic === undefined) {
        throw new DigestResolutionError(
          `${registry} requires credentials: ${guidance.whenRequired}`,
          'authentication',
        );
      }
      return `Basic ${basic}`;
    }
    if (challenge.scheme !== 'bearer' || challenge.params.realm === undefined) {
      throw new DigestResolutionError(
        `${registry} sent an authentication challenge pullwarden does not speak`,
        'authentication',
      );
    }
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm);
    } catch {
      throw new DigestResolutionError(
        `${registry} named a token service that is not a URL`,
        'registry',
      );
    }
    const service = challenge.params.service;
    const scope = challenge.params.scope ?? `repository:${repository}:pull`;
    let response: Response | undefined;
    // Runtimes pass unset AuthConfig fields as empty strings.
    if (credentials?.identityToken !== undefined && credentials.identityToken !== '') {
      response = await this.tokenRequest(realm, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: credentials.identityToken,
          client_id: OAUTH_CLIENT_ID,
          scope,
          ...(service === undefined ? {} : { service }),
        }),
      });
      if (OAUTH_UNSUPPORTED.has(response.status)) {
        await response.body?.cancel();
        response = undefined;
      }
    }
    if (response === undefined) {
      const tokenUrl = new URL(realm);
      if (service !== undefined) tokenUrl.searchParams.set('service', service);
      tokenUrl.searchParams.set('scope', scope);
      response = await this.tokenRequest(tokenUrl, {
        headers: basic === undefined ? {} : { authorization: `Basic ${basic}` },
      });
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new DigestResolutionError(
        `the token service of ${registry} answered ${response.status}`,
        tokenFailureReason(response.status),
      );
    }
    const body = (await response.json().catch(() => ({}))) as {
      token?: unknown;
      access_token?: unknown;
    };
    const token = body.token ?? body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new DigestResolutionError(
        `the token service of ${registry} returned no token`,
        'registry',
      );
    }
    return `Bearer ${token}`;
  }

  private async tokenRequest(url: URL, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw new DigestResolutionError(
        `cannot reach the token service of ${this.options.registry}: ${failureReason(error)}`,
        'network',
      );
    }
  }
}

// Underlying messages may quote a URL; user information in one never reaches a message.
function redact(text: string): string {
  return text.replace(/\/\/[^/@\s]*@/g, '//');
}

/** fetch() reports network failures as "fetch failed" with the reason in `cause`. */
function failureReason(error: unknown): string {
  const { cause } = error as { cause?: unknown };
  return redact(cause instanceof Error ? cause.message : (error as Error).message);
}

/** The `code`s of a Distribution error body (`{"errors":[{"code":"MANIFEST_UNKNOWN",…}]}`). */
async function errorCodes(response: Response): Promise<string[]> {
  try {
    const bytes = await readCapped(response, MAX_ERROR_BODY_BYTES);
    const body = JSON.parse(Buffer.from(bytes).toString('utf8')) as { errors?: unknown };
    if (!Array.isArray(body.errors)) return [];
    return body.errors
      .map((entry: unknown) => (entry as { code?: unknown } | null)?.code)
      .filter((code): code is string => typeof code === 'string' && /^[A-Z_]{1,64}$/.test(code));
  } catch {
    return [];
  }
}

function reasonFor(status: number, codes: readonly string[]): DigestFailureReason {
  if (codes.includes('TOOMANYREQUESTS')) return 'rate-limited';
  if (codes.includes('NAME_UNKNOWN') || codes.includes('MANIFEST_UNKNOWN')) return 'not-found';
  if (codes.includes('UNAUTHORIZED') || codes.includes('DENIED')) return 'authentication';
  if (status === 404) return 'not-found';
  if (status === 429) return 'rate-limited';
  if (status === 401 || status === 403) return 'authentication';
  return 'registry';
}

function tokenFailureReason(status: number): DigestFailureReason {
  if (status === 401 || status === 403) return 'authentication';
  return status === 429 ? 'rate-limited' : 'registry';
}

/** The body, refused as soon as it grows past `limit` bytes. */
async function readCapped(response: Response, limit: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel();
    throw new MalformedManifestError(`the manifest is larger than ${limit} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early cancels the stream.
  for await (const chunk of response.body ?? []) {
    size += chunk.byteLength;
    if (size > limit)
      throw new MalformedManifestError(`the manifest is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the registry';
  }
}
