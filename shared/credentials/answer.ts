import type {
  CacheKeyType,
  CredentialProviderRequest,
  CredentialProviderResponse,
} from './protocol.ts';
import { credentialProviderResponse } from './protocol.ts';
import { type CachedToken, type FileTokenCache, LockTimeoutError } from './token-cache.ts';

// Answers one kubelet exec: from the node cache when the token is fresh (no network), otherwise mints
// under the cache's lock with bounded retries, and when minting fails serves the cached token while it is
// still valid. Registries the node config does not serve get an empty answer that the kubelet must not
// cache.

export interface MintedCredential {
  username: string;
  password: string;
  /** Absent for credentials that do not expire. */
  expiresAt?: Date;
  /** The auth keys of this credential when only minting tells (a docker config's matching key). */
  authKeys?: string[];
}

export interface CredentialSource {
  /** Identity of the token: every request with this key shares one cache entry. */
  cacheKey: string;
  /** The keys of the response's auth map. */
  authKeys: string[];
  /** For messages: where the credential comes from (never the credential). */
  description: string;
  /** False for local, static credentials, which are read on every exec instead of cached. */
  cacheable: boolean;
  mint(): Promise<MintedCredential>;
  /** Throttling, server and network errors are worth another attempt; refusals are not. */
  retryable(error: unknown): boolean;
}

export interface CredentialPolicy {
  cacheKeyType: CacheKeyType;
  /** Upper bound of the cacheDuration given to the kubelet. */
  maxCacheSeconds: number;
  /** cacheDuration for credentials without an expiry (a docker config), so edits apply soon. */
  staticCacheSeconds: number;
  /** Subtracted from a token's remaining life for cacheDuration and for serving stale tokens. */
  safetyMarginSeconds: number;
  /** Mint a new token once the cached one has less than this left (spread by up to 20%). */
  refreshBeforeSeconds: number;
  /** All attempts to mint end this long after the exec started (the kubelet kills it at 60 s). */
  deadlineMs: number;
  maxAttempts: number;
}

export interface AnswerDependencies {
  cache: FileTokenCache;
  now(): Date;
  random(): number;
  sleep(ms: number): Promise<void>;
  /** One line on stderr for the kubelet's log. */
  warn(line: string): void;
}

export class CredentialUnavailableError extends Error {
  override readonly name = 'CredentialUnavailableError';
}

/** An error as one line: its name, HTTP status and message (sources never put secrets in these). */
export function describeMintError(error: unknown): string {
  const named = error as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = named.$metadata?.httpStatusCode;
  return `${named.name ?? 'Error'}${status === undefined ? '' : ` (HTTP ${status})`}: ${named.message ?? String(error)}`;
}

function secondsLeft(token: CachedToken, now: Date): number {
  return token.expiresAt === undefined
    ? Number.POSITIVE_INFINITY
    : (Date.parse(token.expiresAt) - now.getTime()) / 1000;
}

/** Mints with bounded, fully jittered retries of retryable errors, all ending by `deadlineMs`. */
export async function mintWithRetries(
  source: CredentialSource,
  policy: Pick<CredentialPolicy, 'maxAttempts' | 'deadlineMs'>,
  deps: Pick<AnswerDependencies, 'now' | 'random' | 'sleep'>,
  started: number,
): Promise<MintedCredential> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
    try {
      return await source.mint();
    } catch (error) {
      lastError = error;
      if (!source.retryable(error) || attempt === policy.maxAttempts) break;
      // Full jitter, so nodes throttled together do not retry together.
      const delay = deps.random() * Math.min(8000, 250 * 2 ** attempt);
      if (deps.now().getTime() + delay - started > policy.deadlineMs) break;
      await deps.sleep(delay);
    }
  }
  throw new CredentialUnavailableError(`${source.description}: ${describeMintError(lastError)}`);
}

function respond(
  request: CredentialProviderRequest,
  authKeys: readonly string[],
  token: CachedToken,
  policy: CredentialPolicy,
  now: Date,
): CredentialProviderResponse {
  const left =
    token.expiresAt === undefined
      ? policy.staticCacheSeconds
      : secondsLeft(token, now) - policy.safetyMarginSeconds;
  const auth = Object.fromEntries(
    authKeys.map((key) => [key, { username: token.username, password: token.password }]),
  );
  return credentialProviderResponse({
    apiVersion: request.apiVersion,
    cacheKeyType: policy.cacheKeyType,
    cacheSeconds: Math.min(policy.maxCacheSeconds, left),
    auth,
  });
}

export async function answerCredentialRequest(
  request: CredentialProviderRequest,
  source: CredentialSource | undefined,
  policy: CredentialPolicy,
  deps: AnswerDependencies,
): Promise<CredentialProviderResponse> {
  if (source === undefined) {
    // Not ours: no credentials, and a zero duration so the kubelet does not cache the empty answer.
    return credentialProviderResponse({
      apiVersion: request.apiVersion,
      cacheKeyType: policy.cacheKeyType,
      cacheSeconds: 0,
      auth: {},
    });
  }
  const started = deps.now().getTime();
  const toToken = (minted: MintedCredential): CachedToken => ({
    username: minted.username,
    password: minted.password,
    ...(minted.expiresAt === undefined ? {} : { expiresAt: minted.expiresAt.toISOString() }),
    mintedAt: deps.now().toISOString(),
    source: source.description,
  });
  if (!source.cacheable) {
    const minted = await mintWithRetries(source, policy, deps, started);
    return respond(
      request,
      minted.authKeys ?? source.authKeys,
      toToken(minted),
      policy,
      deps.now(),
    );
  }

  const spread = 1 + 0.2 * deps.random();
  // Plain predicates, not type guards: a token that is not fresh may still be usable. A short-lived
  // token (a one-hour brokered one) is refreshed at half its life at the latest, not on every exec.
  const fresh = (token: CachedToken | undefined): boolean => {
    if (token === undefined) return false;
    const left = secondsLeft(token, deps.now());
    const life =
      token.expiresAt === undefined
        ? Number.POSITIVE_INFINITY
        : (Date.parse(token.expiresAt) - Date.parse(token.mintedAt)) / 1000;
    return left > Math.min(policy.refreshBeforeSeconds, life / 2) * spread;
  };
  const usable = (token: CachedToken | undefined): boolean =>
    token !== undefined && secondsLeft(token, deps.now()) > policy.safetyMarginSeconds;

  const first = await deps.cache.read(source.cacheKey);
  if (first.token !== undefined && fresh(first.token)) {
    return respond(request, source.authKeys, first.token, policy, deps.now());
  }
  if (first.corrupt)
    deps.warn(`the cached token for ${source.description} was unreadable; replacing it`);

  const refresh = async (): Promise<CachedToken> => {
    // Another exec may have minted while this one waited for the lock.
    const current = await deps.cache.read(source.cacheKey);
    if (current.token !== undefined && fresh(current.token)) return current.token;
    try {
      const token = toToken(await mintWithRetries(source, policy, deps, started));
      // A full or read-only disk must not cost the pull the token just minted.
      await deps.cache
        .write(source.cacheKey, token)
        .catch((error: NodeJS.ErrnoException) =>
          deps.warn(
            `could not cache the token for ${source.description}: ${error.code ?? error.message}`,
          ),
        );
      return token;
    } catch (error) {
      if (current.token !== undefined && usable(current.token)) {
        deps.warn(
          `${(error as Error).message}; serving the cached token, valid until ${current.token.expiresAt}`,
        );
        return current.token;
      }
      throw error;
    }
  };

  let token: CachedToken;
  try {
    token = await deps.cache.withLock(
      source.cacheKey,
      // Waiters outlast a holder's whole minting budget; a lock older than an exec is abandoned.
      { waitMs: policy.deadlineMs + 5000, staleMs: 60_000 },
      refresh,
    );
  } catch (error) {
    if (!(error instanceof LockTimeoutError)) throw error;
    if (first.token !== undefined && usable(first.token)) {
      deps.warn(`${error.message}; serving the cached token, valid until ${first.token.expiresAt}`);
      token = first.token;
    } else {
      token = await refresh();
    }
  }
  return respond(request, source.authKeys, token, policy, deps.now());
}
