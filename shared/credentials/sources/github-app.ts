import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { CredentialSource, MintedCredential } from '../answer.ts';
import { retryableAwsError } from './ecr.ts';

// GitHub Container Registry (and GitHub Enterprise Server) credentials minted from a GitHub App: an RS256
// app JWT signed with the app's private key buys an installation access token (about one hour), which
// the registry accepts as a password. The app JWT lives minutes and never leaves this module.

export interface GitHubAppSettings {
  /** The app id or client id: the JWT's issuer. */
  appId: string;
  installationId: number;
  /** https://api.github.com, or https://<host>/api/v3. */
  apiUrl: string;
  permissions: Record<string, 'read' | 'write'>;
  repositories?: string[] | undefined;
  username: string;
}

export interface GitHubAppOptions {
  /** Reads the PEM private key (Secrets Manager, SSM, environment). */
  privateKey(): Promise<string>;
  /** Names where the key lives, for messages. */
  privateKeySource: string;
  fetch: typeof fetch;
  now(): Date;
  requestTimeoutMs: number;
}

/** GitHub answered, and another identical request would get the same answer. */
export class GitHubAppError extends Error {
  override readonly name = 'GitHubAppError';
  readonly status: number | undefined;
  readonly retryable: boolean;
  constructor(message: string, status?: number, retryable = false) {
    super(message);
    this.status = status;
    this.retryable = retryable;
  }
}

// GitHub rejects app JWTs that live longer than ten minutes or are issued in the future; issuing a minute
// in the past absorbs clock drift between here and GitHub.
const JWT_BACKDATE_SECONDS = 60;
const JWT_LIFETIME_SECONDS = 9 * 60;

function rsaPrivateKey(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    // PKCS#1 ("BEGIN RSA PRIVATE KEY", what GitHub hands out) and PKCS#8 both load.
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new GitHubAppError(`the GitHub App private key from ${source} is not a PEM private key`);
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new GitHubAppError(
      `the GitHub App private key from ${source} is a ${key.asymmetricKeyType ?? 'non-RSA'} key; GitHub Apps sign with RSA`,
    );
  }
  return key;
}

/** The app JWT: `iss` = app, issued a minute ago, valid nine minutes. */
export async function gitHubAppJwt(appId: string, key: KeyObject, now: Date): Promise<string> {
  const issuedAt = Math.floor(now.getTime() / 1000) - JWT_BACKDATE_SECONDS;
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuer(appId)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + JWT_BACKDATE_SECONDS + JWT_LIFETIME_SECONDS)
    .sign(key);
}

function retryableStatus(response: Response): boolean {
  if (response.status >= 500 || response.status === 429) return true;
  // Secondary rate limits answer 403 with retry-after or an exhausted quota.
  return (
    response.status === 403 &&
    (response.headers.has('retry-after') || response.headers.get('x-ratelimit-remaining') === '0')
  );
}

async function gitHubMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string') return body.message.slice(0, 300);
  } catch {
    // not JSON: the status says enough
  }
  return response.statusText || 'no message';
}

export function gitHubAppSource(
  registry: string,
  settings: GitHubAppSettings,
  options: GitHubAppOptions,
): CredentialSource {
  // Everything that makes two credentials differ, the username included: entries that share a key
  // share one mint.
  const scope = JSON.stringify([
    settings.permissions,
    settings.repositories ?? null,
    settings.username,
  ]);
  const api = settings.apiUrl.replace(/\/+$/, '');
  return {
    cacheKey: `github-app|${api}|${settings.appId}|${settings.installationId}|${createHash('sha256').update(scope).digest('hex').slice(0, 16)}`,
    authKeys: [registry],
    description: `GitHub App ${settings.appId} installation ${settings.installationId}`,
    cacheable: true,
    // Reading the key is an AWS call too; a key that is not there will not appear on a second read.
    retryable: (error) =>
      error instanceof GitHubAppError
        ? error.retryable
        : (error as Error).name !== 'SecretUnavailableError' && retryableAwsError(error),
    async mint(): Promise<MintedCredential> {
      const key = rsaPrivateKey(await options.privateKey(), options.privateKeySource);
      const jwt = await gitHubAppJwt(settings.appId, key, options.now());
      const url = `${api}/app/installations/${settings.installationId}/access_tokens`;
      let response: Response;
      try {
        response = await options.fetch(url, {
          method: 'POST',
          headers: {
            accept: 'application/vnd.github+json',
            authorization: `Bearer ${jwt}`,
            'content-type': 'application/json',
            'user-agent': 'pullwarden-credential-refresh',
            'x-github-api-version': '2022-11-28',
          },
          body: JSON.stringify({
            permissions: settings.permissions,
            ...(settings.repositories === undefined ? {} : { repositories: settings.repositories }),
          }),
          signal: AbortSignal.timeout(options.requestTimeoutMs),
        });
      } catch (error) {
        const failure = error as Error;
        throw new GitHubAppError(
          `POST ${url} failed: ${failure.name === 'TimeoutError' ? `no answer within ${options.requestTimeoutMs} ms` : failure.message}`,
          undefined,
          true,
        );
      }
      if (response.status !== 201 && response.status !== 200) {
        throw new GitHubAppError(
          `GitHub answered ${response.status} for installation ${settings.installationId}: ${await gitHubMessage(response)}`,
          response.status,
          retryableStatus(response),
        );
      }
      const body = (await response.json().catch(() => undefined)) as
        | { token?: unknown; expires_at?: unknown }
        | undefined;
      const expiresAt =
        typeof body?.expires_at === 'string' ? new Date(body.expires_at) : undefined;
      if (
        typeof body?.token !== 'string' ||
        body.token === '' ||
        expiresAt === undefined ||
        Number.isNaN(expiresAt.getTime())
      ) {
        throw new GitHubAppError(
          `GitHub's answer for installation ${settings.installationId} carried no token or expiry`,
          response.status,
        );
      }
      return { username: settings.username, password: body.token, expiresAt };
    },
  };
}
