import { createHash } from 'node:crypto';
import type { Config } from '#shared/config/schema.ts';
import type { SecretResolver } from '#shared/config/secret-ref.ts';
import { isDockerHub } from '#shared/image/reference.ts';

// Resolves a tag to its manifest digest through the OCI Distribution API: HEAD the manifest with every
// manifest media type accepted, answer a Bearer challenge by fetching a token (with the configured
// credentials) or a Basic challenge directly, and pin what Docker-Content-Digest says.

export interface ResolvedDigest {
  digest: string;
  mediaType: string | undefined;
}

export interface DigestResolver {
  resolve(registry: string, repository: string, tag: string): Promise<ResolvedDigest>;
}

export class DigestResolutionError extends Error {
  override readonly name = 'DigestResolutionError';
}

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const TIMEOUT_MS = 10_000;

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

/** fetch() reports network failures as "fetch failed" with the reason in `cause`. */
function failureReason(error: unknown): string {
  const { cause } = error as { cause?: unknown };
  return cause instanceof Error ? cause.message : (error as Error).message;
}

export class HttpDigestResolver implements DigestResolver {
  private readonly config: Config;
  private readonly secrets: SecretResolver;

  constructor(config: Config, secrets: SecretResolver) {
    this.config = config;
    this.secrets = secrets;
  }

  private endpoint(registry: string) {
    const configured = this.config.registries.endpoints.find((entry) => entry.host === registry);
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
    const { base } = this.endpoint(registry);
    const url = `${base}/v2/${repository}/manifests/${encodeURIComponent(tag)}`;
    let authorization: string | undefined;
    let response = await this.request(url, 'HEAD', authorization);
    if (response.status === 401) {
      authorization = await this.answerChallenge(
        registry,
        response.headers.get('www-authenticate'),
        repository,
      );
      response = await this.request(url, 'HEAD', authorization);
    }
    // Some registries refuse HEAD or leave the digest header out of it; GET answers both.
    if (
      response.status === 405 ||
      (response.ok && !response.headers.get('docker-content-digest'))
    ) {
      response = await this.request(url, 'GET', authorization);
    }
    if (response.status === 404) {
      throw new DigestResolutionError(
        `${registry}/${repository}:${tag} does not exist in the registry`,
      );
    }
    if (!response.ok) {
      throw new DigestResolutionError(
        `the registry answered ${response.status} for ${registry}/${repository}:${tag}`,
      );
    }
    const mediaType = response.headers.get('content-type')?.split(';')[0]?.trim() || undefined;
    const header = response.headers.get('docker-content-digest');
    if (header !== null && header !== '') return { digest: header, mediaType };
    // Without the header, the digest is the hash of the manifest bytes as served.
    const bytes = Buffer.from(await response.arrayBuffer());
    return { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, mediaType };
  }

  private async request(url: string, method: 'HEAD' | 'GET', authorization: string | undefined) {
    try {
      return await fetch(url, {
        method,
        headers: { accept: ACCEPT, ...(authorization === undefined ? {} : { authorization }) },
        redirect: 'follow',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      throw new DigestResolutionError(`cannot reach ${new URL(url).host}: ${failureReason(error)}`);
    }
  }

  private async answerChallenge(
    registry: string,
    header: string | null,
    repository: string,
  ): Promise<string> {
    if (header === null)
      throw new DigestResolutionError(`${registry} requires authentication but sent no challenge`);
    const challenge = parseChallenge(header);
    const basic = await this.basicCredentials(registry);
    if (challenge.scheme === 'basic') {
      if (basic === undefined) {
        throw new DigestResolutionError(
          `${registry} requires credentials: configure registries.endpoints`,
        );
      }
      return `Basic ${basic}`;
    }
    if (challenge.scheme !== 'bearer' || challenge.params.realm === undefined) {
      throw new DigestResolutionError(
        `${registry} sent an authentication challenge pullwarden does not speak`,
      );
    }
    const tokenUrl = new URL(challenge.params.realm);
    if (challenge.params.service !== undefined) {
      tokenUrl.searchParams.set('service', challenge.params.service);
    }
    tokenUrl.searchParams.set('scope', challenge.params.scope ?? `repository:${repository}:pull`);
    let response: Response;
    try {
      response = await fetch(tokenUrl, {
        headers: basic === undefined ? {} : { authorization: `Basic ${basic}` },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      throw new DigestResolutionError(
        `cannot reach the token service of ${registry}: ${failureReason(error)}`,
      );
    }
    if (!response.ok) {
      throw new DigestResolutionError(
        `the token service of ${registry} answered ${response.status}`,
      );
    }
    const body = (await response.json().catch(() => ({}))) as {
      token?: string;
      access_token?: string;
    };
    const token = body.token ?? body.access_token;
    if (token === undefined)
      throw new DigestResolutionError(`the token service of ${registry} returned no token`);
    return `Bearer ${token}`;
  }
}
