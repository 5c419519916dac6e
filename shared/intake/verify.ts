import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JSONWebKeySet,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { WebhookSourceSettings } from '#shared/config/schema.ts';
import type { SecretRef, SecretResolver } from '#shared/config/secret-ref.ts';
import { UnauthorizedError } from '#shared/http/errors.ts';
import { bearerToken } from '#shared/http/request.ts';

// Checks that a delivery comes from the configured sender. Comparisons take the same time whatever
// the input, and failures say what was missing or wrong without echoing either value.

/** Compares two strings in constant time (hashing first makes the lengths equal). */
export function constantTimeEqual(received: string, expected: string): boolean {
  const a = createHash('sha256').update(received).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && received.length === expected.length;
}

export function hmacSha256Hex(secret: string, body: Uint8Array): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** `Authorization: Bearer <token>` must carry the secret `setting` names (for the error message). */
export async function verifyBearerToken(
  authorization: string | undefined,
  expected: SecretRef,
  secrets: SecretResolver,
  setting: string,
): Promise<void> {
  const presented = bearerToken(authorization);
  if (presented === undefined) {
    throw new UnauthorizedError(`a bearer token is required (${setting} is configured)`);
  }
  if (!constantTimeEqual(presented, await secrets.resolve(expected))) {
    throw new UnauthorizedError(`the bearer token does not match ${setting}`);
  }
}

/** A shared secret sent verbatim in a header. */
export function verifySharedHeader(
  headers: Readonly<Record<string, string>>,
  header: string,
  expected: string,
): void {
  const received = headers[header.toLowerCase()];
  if (received === undefined || received === '') {
    throw new UnauthorizedError(`the ${header} header is missing`);
  }
  if (!constantTimeEqual(received, expected)) {
    throw new UnauthorizedError(`the ${header} header does not match the configured secret`);
  }
}

/** A shared secret in the URL: the path segment after the source, or `?token=` / `?secret=`. */
export function verifyUrlToken(
  pathToken: string | undefined,
  query: Readonly<Record<string, string>>,
  expected: string,
): void {
  const received = pathToken ?? query.token ?? query.secret;
  if (received === undefined || received === '') {
    throw new UnauthorizedError(
      'this source signs nothing: put the secret token in the URL (/webhooks/<source>/<token> or ?token=)',
    );
  }
  if (!constantTimeEqual(received, expected)) {
    throw new UnauthorizedError('the token in the URL does not match the configured secret');
  }
}

/** `sha256=<hex HMAC-SHA256(secret, raw body)>` as GitHub sends it in X-Hub-Signature-256. */
export function verifyGitHubSignature(
  headers: Readonly<Record<string, string>>,
  body: Uint8Array,
  secret: string,
): void {
  const received = headers['x-hub-signature-256'];
  if (received === undefined || received === '') {
    throw new UnauthorizedError('the X-Hub-Signature-256 header is missing');
  }
  if (!constantTimeEqual(received, `sha256=${hmacSha256Hex(secret, body)}`)) {
    throw new UnauthorizedError('X-Hub-Signature-256 does not match the body');
  }
}

export interface OidcSettings {
  audience: string;
  issuers: readonly string[];
  /** Keys inline, or where to fetch them. */
  jwks?: JSONWebKeySet | undefined;
  jwksUri?: string | undefined;
  /** The service account the push subscription signs as, when set. */
  email?: string | undefined;
}

const remoteKeySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

function keySet(settings: OidcSettings) {
  if (settings.jwks !== undefined) return createLocalJWKSet(settings.jwks);
  const uri = settings.jwksUri ?? 'https://www.googleapis.com/oauth2/v3/certs';
  let set = remoteKeySets.get(uri);
  if (set === undefined) {
    set = createRemoteJWKSet(new URL(uri));
    remoteKeySets.set(uri, set);
  }
  return set;
}

/** A Google-signed OIDC token (Pub/Sub push): signature, issuer, audience, expiry, sender. */
export async function verifyOidcBearer(
  headers: Readonly<Record<string, string>>,
  settings: OidcSettings,
  now: Date,
): Promise<void> {
  const token = bearerToken(headers.authorization);
  if (token === undefined) {
    throw new UnauthorizedError('an OIDC bearer token is required in the Authorization header');
  }
  try {
    const { payload } = await jwtVerify(token, keySet(settings), {
      audience: settings.audience,
      issuer: [...settings.issuers],
      currentDate: now,
      clockTolerance: 30,
    });
    if (settings.email !== undefined) {
      if (payload.email !== settings.email || payload.email_verified !== true) {
        throw new UnauthorizedError('the OIDC token was not issued to the configured sender');
      }
    }
  } catch (error) {
    if (error instanceof UnauthorizedError) throw error;
    if (error instanceof joseErrors.JWTExpired) {
      throw new UnauthorizedError('the OIDC token has expired');
    }
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      throw new UnauthorizedError(`the OIDC token's ${error.claim} claim is not accepted`);
    }
    if (error instanceof joseErrors.JOSEError) {
      throw new UnauthorizedError('the OIDC token could not be verified');
    }
    throw error;
  }
}

interface DeliveryCredentials {
  headers: Readonly<Record<string, string>>;
  pathToken: string | undefined;
  query: Readonly<Record<string, string>>;
}

/** Senders that repeat a configured header (distribution, harbor, acr): `token` in `header`. */
export async function verifyConfiguredHeader(
  request: DeliveryCredentials,
  settings: WebhookSourceSettings,
  secrets: SecretResolver,
): Promise<void> {
  if (settings.token === undefined) return;
  verifySharedHeader(
    request.headers,
    settings.header ?? 'Authorization',
    await secrets.resolve(settings.token),
  );
}

/** Senders that sign nothing (dockerhub, quay): `token` in the URL. */
export async function verifyConfiguredUrlToken(
  request: DeliveryCredentials,
  settings: WebhookSourceSettings,
  secrets: SecretResolver,
): Promise<void> {
  if (settings.token === undefined) return;
  verifyUrlToken(request.pathToken, request.query, await secrets.resolve(settings.token));
}
