import type { Config } from '#shared/config/schema.ts';
import type { SecretResolver } from '#shared/config/secret-ref.ts';
import { isDockerHub } from '#shared/image/reference.ts';
import {
  bareMediaType,
  bytesMatchDigest,
  isImageManifestMediaType,
  MANIFEST_MEDIA_TYPES,
  MalformedManifestError,
  parseManifest,
  sha256Digest,
  validDigest,
} from './manifest.ts';

// Resolves a tag to its manifest digest through the OCI Distribution API: HEAD the manifest with every
// manifest media type accepted, answer a Bearer challenge by fetching a token (with the configured
// credentials) or a Basic challenge directly, and pin what Docker-Content-Digest says. An index (OCI
// image index, Docker manifest list) is also fetched, by digest, to list its platform manifests: pods
// may report either the index digest or the digest of the child their node pulled.

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

/**
 * Why a tag could not be resolved. `not-found`: the repository or tag does not exist; `authentication`:
 * credentials missing or refused; `rate-limited`: the registry asked to slow down; `network`: no answer
 * (DNS, connection, TLS, timeout); `registry`: any other refusal or an answer that cannot be trusted.
 */
export type DigestFailureReason =
  | 'not-found'
  | 'authentication'
  | 'rate-limited'
  | 'network'
  | 'registry';

export class DigestResolutionError extends Error {
  override readonly name = 'DigestResolutionError';
  readonly reason: DigestFailureReason;

  constructor(message: string, reason: DigestFailureReason = 'registry', options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
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

const ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

const TIMEOUT_MS = 10_000;
// Registries must accept manifests of at least 4 MiB (OCI Distribution); anything larger is not one.
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
// Statuses with which some registries and proxies refuse HEAD; GET answers the same question.
const HEAD_REFUSED = new Set([405, 501]);

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

/** The `registries.endpoints` entry for a registry host; host names compare case-insensitively. */
export function configuredEndpoint(
  config: Config,
  registry: string,
): Config['registries']['endpoints'][number] | undefined {
  const host = registry.toLowerCase();
  return config.registries.endpoints.find((entry) => entry.host.toLowerCase() === host);
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

/** The answer for a manifest the registry served: its digest, media type and, for an index, children. */
export function resolvedFromManifest(
  subject: string,
  digest: string,
  body: string | Uint8Array,
  mediaType: string | undefined,
): ResolvedDigest {
  try {
    const parsed = parseManifest(body, mediaType);
    return {
      digest,
      mediaType: parsed.mediaType,
      ...(parsed.manifests === undefined ? {} : { manifests: parsed.manifests }),
    };
  } catch (error) {
    if (error instanceof MalformedManifestError) {
      throw new DigestResolutionError(`${subject}: ${error.message}`, 'registry', { cause: error });
    }
    throw error;
  }
}

export class HttpDigestResolver implements DigestResolver {
  private readonly config: Config;
  private readonly secrets: SecretResolver;
  private readonly readIndexChildren: boolean;
  private readonly maxManifestBytes: number;
  private readonly timeoutMs: number;

  constructor(config: Config, secrets: SecretResolver, options: HttpDigestResolverOptions = {}) {
    this.config = config;
    this.secrets = secrets;
    this.readIndexChildren = options.readIndexChildren ?? false;
    this.maxManifestBytes = options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
    this.timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  }

  private endpoint(registry: string) {
    const configured = configuredEndpoint(this.config, registry);
    const base =
      configured?.url ??
      (isDockerHub({ registry }) ? 'https://registry-1.docker.io' : `https://${registry}`);
    return { base: base.replace(/\/+$/, ''), configured };
  }

  private async basicCredentials(registry: string): Promise<string | undefined> {
    const { configured } = this.endpoint(registry);
    if (configured?.username === undefined || configured.password === undefined) return undefined;
    const password = await this.secrets.resolve(configured.password);
    return Buffer.from(`${configured.username}:${password}`).toString('base64');
  }

  async resolve(registry: string, repository: string, tag: string): Promise<ResolvedDigest> {
    const subject = `${registry}/${repository}:${tag}`;
    const { base } = this.endpoint(registry);
    const manifestUrl = (reference: string) => `${base}/v2/${repository}/manifests/${reference}`;
    let authorization: string | undefined;
    // One challenge per request: a token that stops working between HEAD and GET is fetched again.
    const send = async (url: string, method: 'HEAD' | 'GET') => {
      const response = await this.request(url, method, authorization);
      if (response.status !== 401) return response;
      await response.body?.cancel();
      authorization = await this.answerChallenge(
        registry,
        response.headers.get('www-authenticate'),
        repository,
      );
      return this.request(url, method, authorization);
    };

    const head = await send(manifestUrl(encodeURIComponent(tag)), 'HEAD');
    if (!head.ok && !HEAD_REFUSED.has(head.status))
      throw await this.failure(head, registry, subject);
    const namedDigest = head.ok
      ? validDigest(head.headers.get('docker-content-digest'))
      : undefined;
    const headMediaType = head.ok ? bareMediaType(head.headers.get('content-type')) : undefined;
    if (
      namedDigest !== undefined &&
      (!this.readIndexChildren || isImageManifestMediaType(headMediaType))
    ) {
      return { digest: namedDigest, mediaType: headMediaType };
    }

    // By digest when HEAD named one: that URL is content-addressed, so a tag moving between the two
    // requests cannot pair one manifest's digest with another's children.
    const get = await send(manifestUrl(namedDigest ?? encodeURIComponent(tag)), 'GET');
    if (!get.ok) throw await this.failure(get, registry, subject);
    const bytes = await this.readManifest(get, registry, subject);
    const served = namedDigest ?? validDigest(get.headers.get('docker-content-digest'));
    if (served !== undefined && !bytesMatchDigest(bytes, served)) {
      throw new DigestResolutionError(
        `${subject}: the manifest the registry served does not hash to ${served}`,
        'registry',
      );
    }
    // Without the header, the digest is the hash of the manifest bytes as served.
    return resolvedFromManifest(
      subject,
      served ?? sha256Digest(bytes),
      bytes,
      bareMediaType(get.headers.get('content-type')) ?? headMediaType,
    );
  }

  private async readManifest(
    response: Response,
    registry: string,
    subject: string,
  ): Promise<Uint8Array> {
    try {
      return await readCapped(response, this.maxManifestBytes);
    } catch (error) {
      if (error instanceof MalformedManifestError) {
        throw new DigestResolutionError(`${subject}: ${error.message}`, 'registry', {
          cause: error,
        });
      }
      throw new DigestResolutionError(
        `the connection to ${registry} failed while reading a manifest: ${failureReason(error)}`,
        'network',
      );
    }
  }

  private async failure(
    response: Response,
    registry: string,
    subject: string,
  ): Promise<DigestResolutionError> {
    const codes = response.body === null ? [] : await errorCodes(response);
    const reason = reasonFor(response.status, codes);
    const detail = `HTTP ${response.status}${codes.length > 0 ? `, ${codes.join(', ')}` : ''}`;
    switch (reason) {
      case 'not-found':
        return new DigestResolutionError(`${subject} does not exist in the registry`, reason);
      case 'authentication':
        return new DigestResolutionError(
          `the registry refused access to ${subject} (${detail})${
            this.endpoint(registry).configured?.username === undefined
              ? `: no credentials for ${registry} are configured in registries.endpoints`
              : ''
          }`,
          reason,
        );
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

  private async request(url: string, method: 'HEAD' | 'GET', authorization: string | undefined) {
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

  private async answerChallenge(
    registry: string,
    header: string | null,
    repository: string,
  ): Promise<string> {
    if (header === null) {
      throw new DigestResolutionError(
        `${registry} requires authentication but sent no challenge`,
        'authentication',
      );
    }
    const challenge = parseChallenge(header);
    const basic = await this.basicCredentials(registry);
    if (challenge.scheme === 'basic') {
      if (basic === undefined) {
        throw new DigestResolutionError(
          `${registry} requires credentials: configure registries.endpoints`,
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
    let tokenUrl: URL;
    try {
      tokenUrl = new URL(challenge.params.realm);
    } catch {
      throw new DigestResolutionError(
        `${registry} named a token service that is not a URL`,
        'registry',
      );
    }
    if (challenge.params.service !== undefined) {
      tokenUrl.searchParams.set('service', challenge.params.service);
    }
    tokenUrl.searchParams.set('scope', challenge.params.scope ?? `repository:${repository}:pull`);
    let response: Response;
    try {
      response = await fetch(tokenUrl, {
        headers: basic === undefined ? {} : { authorization: `Basic ${basic}` },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new DigestResolutionError(
        `cannot reach the token service of ${registry}: ${failureReason(error)}`,
        'network',
      );
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
}

function tokenFailureReason(status: number): DigestFailureReason {
  if (status === 401 || status === 403) return 'authentication';
  return status === 429 ? 'rate-limited' : 'registry';
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the registry';
  }
}
