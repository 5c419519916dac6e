import { commonJsExports } from '#shared/runtime/commonjs.ts';
import type { CredentialSource, MintedCredential } from '../answer.ts';
import type { BrokeredSettings } from '../node-config.ts';
import { retryableAwsError } from './ecr.ts';

// Credentials minted centrally by credential-refresh (other accounts, GHCR, other clouds) and read from
// the credentials table: one item per registry, `pk = registry#<host>`, which is all a node's IAM policy
// lets it read. Cached on the node like any token, so the table is read once per refresh, not per pull.

/** The table answered, and what it holds is not usable: another read would not help. */
export class BrokeredCredentialError extends Error {
  override readonly name = 'BrokeredCredentialError';
}

export function brokeredItemKey(registry: string): string {
  return `registry#${registry}`;
}

export function brokeredSource(
  settings: BrokeredSettings,
  registry: string,
  authKey: string,
  requestTimeoutMs: number,
): CredentialSource {
  return {
    cacheKey: `brokered|${settings.table}|${registry}`,
    authKeys: [authKey],
    description: `brokered credentials for ${registry} (table ${settings.table})`,
    cacheable: true,
    retryable: (error) => !(error instanceof BrokeredCredentialError) && retryableAwsError(error),
    async mint(): Promise<MintedCredential> {
      const { DynamoDBClient, GetItemCommand } = commonJsExports(
        await import('@aws-sdk/client-dynamodb'),
      );
      const dynamo = new DynamoDBClient({
        region: settings.region,
        maxAttempts: 1,
        requestHandler: { requestTimeout: requestTimeoutMs, connectionTimeout: 3000 },
        ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
      });
      try {
        const result = await dynamo.send(
          new GetItemCommand({
            TableName: settings.table,
            Key: { pk: { S: brokeredItemKey(registry) } },
            ConsistentRead: true,
          }),
        );
        const item = result.Item;
        const username = item?.username?.S;
        const password = item?.password?.S;
        const expiresAt = item?.expiresAt?.S;
        if (item === undefined)
          throw new BrokeredCredentialError(`no credential for ${registry} has been brokered yet`);
        if (username === undefined || password === undefined || expiresAt === undefined) {
          throw new BrokeredCredentialError(
            `the brokered credential for ${registry} is incomplete`,
          );
        }
        const expiry = new Date(expiresAt);
        if (Number.isNaN(expiry.getTime()))
          throw new BrokeredCredentialError(
            `the brokered credential for ${registry} has no valid expiry`,
          );
        if (expiry.getTime() <= Date.now()) {
          throw new BrokeredCredentialError(
            `the brokered credential for ${registry} expired at ${expiresAt}; is credential-refresh running?`,
          );
        }
        return { username, password, expiresAt: expiry };
      } finally {
        dynamo.destroy();
      }
    },
  };
}
