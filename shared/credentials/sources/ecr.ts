import type { AwsCredentialIdentity } from '@aws-sdk/types';
import { type EcrRegistry, ecrApiEndpoint } from '#shared/ecr/registry-host.ts';
import { commonJsExports } from '#shared/runtime/commonjs.ts';
import type { CredentialSource, MintedCredential } from '../answer.ts';

// ECR tokens. One token serves every registry of a region for one identity, so the cache key is the
// partition, region and identity, and the auth key is the region-wide glob of the requested host form.
// The identity is the node's own credentials, or, when the kubelet passes a service account token and
// a role is configured for it, that role assumed with the token (the cache then also keys on the service
// account, so one namespace never receives a token minted for another). SDK clients load only on a miss.
// credential-refresh mints the same way for registries in other accounts, assuming a role with its own
// credentials (`kind: 'role'`).

export interface EcrIdentity {
  kind: 'node' | 'web-identity' | 'role';
  roleArn?: string;
  webIdentityToken?: string;
  /** `system:serviceaccount:<namespace>:<name>` from the token: what the cache keys on. */
  subject?: string;
  /** `role`: the ExternalId the role's trust policy requires, and the session name CloudTrail shows. */
  externalId?: string;
  sessionName?: string;
}

export interface EcrSourceOptions {
  /** Overrides the API endpoint (VPC endpoints, or a stand-in in tests). */
  endpoint?: string;
  stsEndpoint?: string;
  requestTimeoutMs: number;
}

/** The account label replaced by `*`: `123456789012.dkr.ecr.eu-west-1.amazonaws.com` → `*.dkr…`. */
function regionWideAuthKey(requestedRegistry: string): string {
  const dot = requestedRegistry.indexOf('.');
  return `*${requestedRegistry.slice(dot)}`;
}

/** A RoleSessionName CloudTrail shows: the service account, within STS's 64 allowed characters. */
export function roleSessionName(subject: string | undefined): string {
  const account = subject?.replace(/^system:serviceaccount:/, '').replace(':', '.') ?? 'node';
  return `pullwarden.${account}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
}

/** The `sub` claim of a JWT, read without verification: STS verifies; the kubelet is the caller. */
export function tokenSubject(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      sub?: unknown;
    };
    return typeof claims.sub === 'string' ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ServerException',
  'ServiceUnavailable',
  'InternalFailure',
  'RequestTimeout',
  'TimeoutError',
]);

export function retryableAwsError(error: unknown): boolean {
  const failure = error as {
    name?: string;
    code?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  const status = failure.$metadata?.httpStatusCode;
  if (failure.$retryable !== undefined) return true;
  if (status !== undefined)
    return status >= 500 || status === 429 || RETRYABLE_NAMES.has(failure.name ?? '');
  // No HTTP answer at all: a connection or DNS failure.
  return true;
}

function decodeAuthorizationToken(
  token: string | undefined,
  expiresAt: Date | undefined,
): MintedCredential {
  if (token === undefined || token === '')
    throw new Error('the authorization token in the ECR answer was empty');
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new Error('the ECR authorization token is not "user:password"');
  return {
    username: decoded.slice(0, colon),
    password: decoded.slice(colon + 1),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

async function assumeRole(
  identity: EcrIdentity,
  region: string,
  options: EcrSourceOptions,
): Promise<AwsCredentialIdentity> {
  const { STSClient, AssumeRoleCommand, AssumeRoleWithWebIdentityCommand } = commonJsExports(
    await import('@aws-sdk/client-sts'),
  );
  const sts = new STSClient({
    region,
    maxAttempts: 1,
    requestHandler: { requestTimeout: options.requestTimeoutMs, connectionTimeout: 3000 },
    ...(options.stsEndpoint === undefined ? {} : { endpoint: options.stsEndpoint }),
  });
  try {
    // The session only has to last for one GetAuthorizationToken; the token's own lifetime is ECR's.
    const result =
      identity.kind === 'role'
        ? await sts.send(
            new AssumeRoleCommand({
              RoleArn: identity.roleArn,
              RoleSessionName: identity.sessionName ?? 'pullwarden',
              DurationSeconds: 900,
              ...(identity.externalId === undefined ? {} : { ExternalId: identity.externalId }),
            }),
          )
        : await sts.send(
            new AssumeRoleWithWebIdentityCommand({
              RoleArn: identity.roleArn,
              RoleSessionName: roleSessionName(identity.subject),
              WebIdentityToken: identity.webIdentityToken,
              DurationSeconds: 3600,
            }),
          );
    const credentials = result.Credentials;
    if (credentials?.AccessKeyId === undefined || credentials.SecretAccessKey === undefined) {
      throw new Error('STS returned no credentials');
    }
    return {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      ...(credentials.SessionToken === undefined ? {} : { sessionToken: credentials.SessionToken }),
    };
  } catch (error) {
    const failure = error as Error;
    throw Object.assign(
      new Error(`assuming ${identity.roleArn} failed: ${failure.name}: ${failure.message}`),
      {
        name: 'AssumeRoleFailed',
        cause: error,
        // What decides whether another attempt is worth it (a refusal is not).
        $metadata: (error as { $metadata?: unknown }).$metadata,
        $retryable: (error as { $retryable?: unknown }).$retryable,
      },
    );
  } finally {
    sts.destroy();
  }
}

export function ecrSource(
  registry: EcrRegistry,
  requestedRegistry: string,
  identity: EcrIdentity,
  options: EcrSourceOptions,
): CredentialSource {
  const identityKey =
    identity.kind === 'node'
      ? 'node'
      : identity.kind === 'role'
        ? `role:${identity.roleArn}|external:${identity.externalId ?? ''}`
        : // Without a readable subject, the token itself is the identity: never shared with another.
          `role:${identity.roleArn}|sa:${process
            .getBuiltinModule('node:crypto')
            .createHash('sha256')
            .update(identity.subject ?? `token:${identity.webIdentityToken ?? ''}`)
            .digest('hex')
            .slice(0, 16)}`;
  const who = identity.kind === 'node' ? 'node credentials' : `role ${identity.roleArn}`;
  const client = {
    region: registry.region,
    maxAttempts: 1,
    requestHandler: { requestTimeout: options.requestTimeoutMs, connectionTimeout: 3000 },
    endpoint: options.endpoint ?? ecrApiEndpoint(registry),
  };
  if (registry.kind === 'public') {
    return {
      cacheKey: `ecr-public|${identityKey}`,
      authKeys: [requestedRegistry],
      description: `ECR Public (${who})`,
      cacheable: true,
      retryable: retryableAwsError,
      async mint() {
        const credentials =
          identity.kind === 'node'
            ? undefined
            : await assumeRole(identity, registry.region, options);
        const { ECRPUBLICClient, GetAuthorizationTokenCommand } = commonJsExports(
          await import('@aws-sdk/client-ecr-public'),
        );
        const ecr = new ECRPUBLICClient({
          ...client,
          ...(credentials === undefined ? {} : { credentials }),
        });
        try {
          const result = await ecr.send(new GetAuthorizationTokenCommand({}));
          const data = result.authorizationData;
          return decodeAuthorizationToken(data?.authorizationToken, data?.expiresAt);
        } finally {
          ecr.destroy();
        }
      },
    };
  }
  return {
    cacheKey: `ecr|${registry.partition}|${registry.region}|${identityKey}`,
    authKeys: [regionWideAuthKey(requestedRegistry)],
    description: `ECR ${registry.region} (${who})`,
    cacheable: true,
    retryable: retryableAwsError,
    async mint() {
      const credentials =
        identity.kind === 'node' ? undefined : await assumeRole(identity, registry.region, options);
      const { ECRClient, GetAuthorizationTokenCommand } = commonJsExports(
        await import('@aws-sdk/client-ecr'),
      );
      const ecr = new ECRClient({
        ...client,
        ...(credentials === undefined ? {} : { credentials }),
      });
      try {
        const result = await ecr.send(new GetAuthorizationTokenCommand({}));
        const data = result.authorizationData?.[0];
        if (data === undefined) throw new Error('the ECR answer carried no authorization data');
        return decodeAuthorizationToken(data.authorizationToken, data.expiresAt);
      } finally {
        ecr.destroy();
      }
    },
  };
}
