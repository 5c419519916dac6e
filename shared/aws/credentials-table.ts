import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type {
  BrokeredCredentialRecord,
  BrokeredCredentialStore,
  CredentialState,
  RefreshStatus,
} from '#shared/credentials/refresh.ts';
import { brokeredItemKey } from '#shared/credentials/sources/brokered.ts';

// The credentials table. `registry#<host>` holds the credential nodes read (and all they may read);
// `refresh#<host>` holds how refreshing it went. Reads here project away the password: after writing
// it, nothing in credential-refresh ever sees it again.

function statusKey(registry: string): Record<string, AttributeValue> {
  return { pk: { S: `refresh#${registry}` } };
}

function date(value: AttributeValue | undefined): Date | undefined {
  const text = value?.S;
  if (text === undefined) return undefined;
  const parsed = new Date(text);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

function statusOf(item: Record<string, AttributeValue> | undefined): RefreshStatus | undefined {
  const lastAttemptAt = item?.lastAttemptAt?.S;
  if (item === undefined || lastAttemptAt === undefined) return undefined;
  return {
    lastAttemptAt,
    ...(item.lastSuccessAt?.S === undefined ? {} : { lastSuccessAt: item.lastSuccessAt.S }),
    ...(item.lastError?.S === undefined ? {} : { lastError: item.lastError.S }),
    consecutiveFailures: Number(item.consecutiveFailures?.N ?? '0'),
  };
}

export class DynamoCredentialsTable implements BrokeredCredentialStore {
  readonly #dynamo: DynamoDBClient;
  readonly #table: string;

  constructor(dynamo: DynamoDBClient, table: string) {
    this.#dynamo = dynamo;
    this.#table = table;
  }

  async read(registry: string): Promise<{ credential?: CredentialState; status?: RefreshStatus }> {
    const [credential, status] = await Promise.all([
      this.#dynamo.send(
        new GetItemCommand({
          TableName: this.#table,
          Key: { pk: { S: brokeredItemKey(registry) } },
          ProjectionExpression: 'expiresAt, mintedAt, mintedBy',
          ConsistentRead: true,
        }),
      ),
      this.#dynamo.send(
        new GetItemCommand({
          TableName: this.#table,
          Key: statusKey(registry),
          ConsistentRead: true,
        }),
      ),
    ]);
    const expiresAt = date(credential.Item?.expiresAt);
    const mintedAt = date(credential.Item?.mintedAt);
    const state =
      expiresAt === undefined || mintedAt === undefined
        ? undefined
        : { expiresAt, mintedAt, mintedBy: credential.Item?.mintedBy?.S ?? '' };
    const refresh = statusOf(status.Item);
    return {
      ...(state === undefined ? {} : { credential: state }),
      ...(refresh === undefined ? {} : { status: refresh }),
    };
  }

  async write(record: BrokeredCredentialRecord): Promise<'written' | 'superseded'> {
    const { credential, mintedAt } = record;
    try {
      await this.#dynamo.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            pk: { S: brokeredItemKey(record.registry) },
            username: { S: credential.username },
            password: { S: credential.password },
            expiresAt: { S: credential.expiresAt.toISOString() },
            // TTL: DynamoDB removes the item some time after the credential stops working.
            expiresAtEpoch: { N: String(Math.ceil(credential.expiresAt.getTime() / 1000)) },
            mintedAt: { S: mintedAt.toISOString() },
            mintedAtMs: { N: String(mintedAt.getTime()) },
            mintedBy: { S: record.mintedBy },
            source: { S: record.source },
          },
          // Two overlapping runs each mint: the later mint wins, whichever write lands last.
          // An item written by hand (or by an older writer) has no mintedAtMs: replace it.
          ConditionExpression:
            'attribute_not_exists(pk) OR attribute_not_exists(mintedAtMs) OR mintedAtMs <= :mintedAtMs',
          ExpressionAttributeValues: { ':mintedAtMs': { N: String(mintedAt.getTime()) } },
        }),
      );
      return 'written';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'superseded';
      throw error;
    }
  }

  recordSuccess(registry: string, at: Date): Promise<RefreshStatus> {
    return this.#recordAttempt(
      registry,
      at,
      'lastSuccessAt = :at, consecutiveFailures = :zero REMOVE lastError, lastFailureAt',
      {},
    );
  }

  recordFailure(registry: string, at: Date, error: string): Promise<RefreshStatus> {
    return this.#recordAttempt(
      registry,
      at,
      'lastFailureAt = :at, lastError = :error, consecutiveFailures = if_not_exists(consecutiveFailures, :zero) + :one',
      { ':error': { S: error }, ':one': { N: '1' } },
    );
  }

  /** Updates `refresh#<registry>`: the attempt's time, plus what `outcome` sets or removes. */
  async #recordAttempt(
    registry: string,
    at: Date,
    outcome: string,
    values: Record<string, AttributeValue>,
  ): Promise<RefreshStatus> {
    const result = await this.#dynamo.send(
      new UpdateItemCommand({
        TableName: this.#table,
        Key: statusKey(registry),
        UpdateExpression: `SET #registry = :registry, lastAttemptAt = :at, ${outcome}`,
        ExpressionAttributeNames: { '#registry': 'registry' },
        ExpressionAttributeValues: {
          ':registry': { S: registry },
          ':at': { S: at.toISOString() },
          ':zero': { N: '0' },
          ...values,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return statusOf(result.Attributes) as RefreshStatus;
  }
}
