import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ImageChange } from '#shared/intake/model.ts';
import type {
  ClaimResult,
  RequestMarker,
  StateStore,
  TagUpdate,
  WarmSetEntry,
} from '#shared/state/store.ts';

// The state table: one partition per concern, `pk`/`sk` strings, `expiresAt` (epoch seconds) as the
// TTL attribute. Every write that could race or repeat is conditional, so redeliveries and
// out-of-order events leave the newest state in place.

const DELETION_RETENTION_SECONDS = 30 * 24 * 3600;
const INVENTORY_RETENTION_SECONDS = 14 * 24 * 3600;

const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

function conditionFailed(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string }).name === 'ConditionalCheckFailedException'
  );
}

export class DynamoStateStore implements StateStore {
  private readonly documents: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBClient, tableName: string) {
    this.tableName = tableName;
    this.documents = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  async claim(key: string, now: Date, leaseSeconds: number): Promise<ClaimResult> {
    const nowSeconds = epochSeconds(now);
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: `claim#${key}`,
            sk: '-',
            status: 'in-progress',
            leaseUntil: nowSeconds + leaseSeconds,
            expiresAt: nowSeconds + leaseSeconds,
          },
          // TTL deletion lags, so an expired record counts as absent; so does an abandoned lease.
          ConditionExpression:
            'attribute_not_exists(pk) OR expiresAt < :now OR (#status = :inProgress AND leaseUntil < :now)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':now': nowSeconds, ':inProgress': 'in-progress' },
        }),
      );
      return 'claimed';
    } catch (error) {
      if (!conditionFailed(error)) throw error;
      const existing = await this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: { pk: `claim#${key}`, sk: '-' } }),
      );
      return existing.Item?.status === 'in-progress' ? 'in-progress' : 'duplicate';
    }
  }

  async complete(key: string, now: Date, windowSeconds: number): Promise<void> {
    await this.documents.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `claim#${key}`,
          sk: '-',
          status: 'done',
          expiresAt: epochSeconds(now) + windowSeconds,
        },
      }),
    );
  }

  async release(key: string): Promise<void> {
    await this.documents.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: `claim#${key}`, sk: '-' } }),
    );
  }

  async recordPush(change: ImageChange & { tag: string; digest: string }): Promise<TagUpdate> {
    const key = { pk: `tag#${change.registry}/${change.repository}`, sk: change.tag };
    const existing = await this.documents.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    const before = existing.Item as
      | { digest?: string; previousDigest?: string; at?: string }
      | undefined;
    if (before?.at !== undefined && before.at > change.at) {
      return { previousDigest: before.digest, tagMoved: false, stale: true };
    }
    const moved = before?.digest !== undefined && before.digest !== change.digest;
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...key,
            digest: change.digest,
            previousDigest: moved ? before?.digest : before?.previousDigest,
            mediaType: change.mediaType,
            at: change.at,
            source: change.source,
          },
          // Another writer may have recorded a newer push between the read and this write.
          ConditionExpression: 'attribute_not_exists(pk) OR #at <= :at',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':at': change.at },
        }),
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
      return { previousDigest: before?.digest, tagMoved: false, stale: true };
    }
    return { previousDigest: moved ? before?.digest : undefined, tagMoved: moved, stale: false };
  }

  async recordDeletion(change: ImageChange): Promise<void> {
    const name = `${change.registry}/${change.repository}`;
    if (change.tag !== undefined) {
      try {
        await this.documents.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: `tag#${name}`, sk: change.tag },
            UpdateExpression: 'SET deletedAt = :at REMOVE digest',
            ConditionExpression: 'attribute_exists(pk) AND #at <= :at',
            ExpressionAttributeNames: { '#at': 'at' },
            ExpressionAttributeValues: { ':at': change.at },
          }),
        );
      } catch (error) {
        if (!conditionFailed(error)) throw error;
      }
    }
    await this.documents.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `deleted#${name}`,
          sk: change.digest ?? `tag:${change.tag ?? ''}`,
          at: change.at,
          source: change.source,
          expiresAt: epochSeconds(new Date(change.at)) + DELETION_RETENTION_SECONDS,
        },
      }),
    );
  }

  async currentDigest(registry: string, repository: string, tag: string) {
    const result = await this.documents.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `tag#${registry}/${repository}`, sk: tag },
      }),
    );
    const item = result.Item as
      | { digest?: string; previousDigest?: string; at: string }
      | undefined;
    if (item?.digest === undefined) return undefined;
    return {
      digest: item.digest,
      at: item.at,
      ...(item.previousDigest === undefined ? {} : { previousDigest: item.previousDigest }),
    };
  }

  async markRequested(nodeGroup: string, image: string, marker: RequestMarker): Promise<void> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: `request#${nodeGroup}`, sk: image, ...marker },
          ConditionExpression: 'attribute_not_exists(pk) OR requestedAt <= :at',
          ExpressionAttributeValues: { ':at': marker.requestedAt },
        }),
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
  }

  async latestRequest(nodeGroup: string, image: string): Promise<RequestMarker | undefined> {
    const result = await this.documents.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `request#${nodeGroup}`, sk: image },
        ConsistentRead: true,
      }),
    );
    const item = result.Item as RequestMarker | undefined;
    return item === undefined ? undefined : { digest: item.digest, requestedAt: item.requestedAt };
  }

  async putWarmSetEntry(
    nodeGroup: string,
    entry: WarmSetEntry,
  ): Promise<'added' | 'refreshed' | 'stale'> {
    const sk =
      entry.tag === undefined
        ? `${entry.registry}/${entry.repository}@${entry.digest}`
        : `${entry.registry}/${entry.repository}:${entry.tag}`;
    const key = { pk: `warmset#${nodeGroup}`, sk };
    const existing = (
      await this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      )
    ).Item as WarmSetEntry | undefined;
    if (existing !== undefined && existing.lastRequestedAt > entry.lastRequestedAt) return 'stale';
    const sameDigest = existing?.digest === entry.digest;
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...key,
            ...entry,
            // A repeat of the same image keeps the time it was first asked for.
            firstRequestedAt: sameDigest ? existing.firstRequestedAt : entry.firstRequestedAt,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR lastRequestedAt <= :at',
          ExpressionAttributeValues: { ':at': entry.lastRequestedAt },
        }),
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
      return 'stale';
    }
    return sameDigest ? 'refreshed' : 'added';
  }

  async warmSet(nodeGroup: string): Promise<WarmSetEntry[]> {
    const entries: WarmSetEntry[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `warmset#${nodeGroup}` },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        const { pk: _pk, sk: _sk, ...entry } = item;
        entries.push(entry as WarmSetEntry);
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return entries;
  }

  async recordCommand(
    nodeGroup: string,
    digest: string,
    commandId: string,
    now: Date,
  ): Promise<boolean> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: `command#${nodeGroup}`, sk: digest, commandId, at: now.toISOString() },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  async commandFor(nodeGroup: string, digest: string): Promise<string | undefined> {
    const result = await this.documents.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `command#${nodeGroup}`, sk: digest },
      }),
    );
    return result.Item?.commandId as string | undefined;
  }

  async recordInventory(repository: string, nodeGroup: string, now: Date): Promise<void> {
    await this.documents.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `inventory#${repository}`,
          sk: nodeGroup,
          at: now.toISOString(),
          expiresAt: epochSeconds(now) + INVENTORY_RETENTION_SECONDS,
        },
      }),
    );
  }

  async nodeGroupsRunning(repository: string): Promise<string[]> {
    const nowSeconds = epochSeconds(new Date());
    const result = await this.documents.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `inventory#${repository}` },
      }),
    );
    return (result.Items ?? [])
      .filter((item) => item.expiresAt === undefined || (item.expiresAt as number) >= nowSeconds)
      .map((item) => item.sk as string);
  }
}
