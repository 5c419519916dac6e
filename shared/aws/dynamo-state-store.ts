import { gunzipSync, gzipSync } from 'node:zlib';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ImageChange } from '#shared/intake/model.ts';
import type { NodeReport } from '#shared/prepull/node-report.ts';
import {
  type ClaimResult,
  imageKey,
  NodeReportTooLargeError,
  type RequestMarker,
  type StateStore,
  type StoredNodeReport,
  type TagUpdate,
  type WarmSetEntry,
} from '#shared/state/store.ts';
import { conditionFailed, epochSeconds, queryPartition } from './dynamo.ts';

// The state table: one partition per concern, `pk`/`sk` strings, `expiresAt` (epoch seconds) as the
// TTL attribute. Every write that could race or repeat is conditional, so redeliveries and
// out-of-order events leave the newest state in place.

const DELETION_RETENTION_SECONDS = 30 * 24 * 3600;
// DynamoDB items hold at most 400 KB; the rest of a report's item is a few hundred bytes.
const MAX_COMPRESSED_REPORT_BYTES = 390_000;

export class DynamoStateStore implements StateStore {
  private readonly documents: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBClient, tableName: string) {
    this.tableName = tableName;
    this.documents = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  /** A conditional put: false when the condition does not hold (someone else wrote first or newer). */
  private async putIf(
    item: Record<string, unknown>,
    condition: string,
    values: Record<string, unknown> = {},
    names?: Record<string, string>,
  ): Promise<boolean> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: condition,
          ...(Object.keys(values).length === 0 ? {} : { ExpressionAttributeValues: values }),
          ...(names === undefined ? {} : { ExpressionAttributeNames: names }),
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  async claim(key: string, now: Date, leaseSeconds: number): Promise<ClaimResult> {
    const nowSeconds = epochSeconds(now);
    const claimed = await this.putIf(
      {
        pk: `claim#${key}`,
        sk: '-',
        status: 'in-progress',
        leaseUntil: nowSeconds + leaseSeconds,
        expiresAt: nowSeconds + leaseSeconds,
      },
      // TTL deletion lags, so an expired record counts as absent; so does an abandoned lease.
      'attribute_not_exists(pk) OR expiresAt < :now OR (#status = :inProgress AND leaseUntil < :now)',
      { ':now': nowSeconds, ':inProgress': 'in-progress' },
      { '#status': 'status' },
    );
    if (!claimed) {
      const existing = await this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: { pk: `claim#${key}`, sk: '-' } }),
      );
      return existing.Item?.status === 'in-progress' ? 'in-progress' : 'duplicate';
    }
    return 'claimed';
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
    const stale = { previousDigest: before?.digest, tagMoved: false, stale: true };
    if (before?.at !== undefined && before.at > change.at) return stale;
    const moved = before?.digest !== undefined && before.digest !== change.digest;
    const written = await this.putIf(
      {
        ...key,
        digest: change.digest,
        previousDigest: moved ? before?.digest : before?.previousDigest,
        mediaType: change.mediaType,
        at: change.at,
        source: change.source,
      },
      // Another writer may have recorded a newer push between the read and this write.
      'attribute_not_exists(pk) OR #at <= :at',
      { ':at': change.at },
      { '#at': 'at' },
    );
    if (!written) return stale;
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

  async markRequested(nodeGroup: string, image: string, marker: RequestMarker): Promise<void> {
    await this.putIf(
      { pk: `request#${nodeGroup}`, sk: image, ...marker },
      'attribute_not_exists(pk) OR requestedAt <= :at',
      { ':at': marker.requestedAt },
    );
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
    const key = { pk: `warmset#${nodeGroup}`, sk: imageKey(entry) };
    const existing = (
      await this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      )
    ).Item as WarmSetEntry | undefined;
    if (existing !== undefined && existing.lastRequestedAt > entry.lastRequestedAt) return 'stale';
    const sameDigest = existing?.digest === entry.digest;
    const written = await this.putIf(
      {
        ...key,
        ...entry,
        // A repeat of the same image keeps the time it was first asked for.
        firstRequestedAt: sameDigest ? existing.firstRequestedAt : entry.firstRequestedAt,
      },
      'attribute_not_exists(pk) OR lastRequestedAt <= :at',
      { ':at': entry.lastRequestedAt },
    );
    if (!written) return 'stale';
    return sameDigest ? 'refreshed' : 'added';
  }

  async warmSet(nodeGroup: string): Promise<WarmSetEntry[]> {
    const items = await queryPartition((command) => this.documents.send(command), {
      table: this.tableName,
      pk: `warmset#${nodeGroup}`,
      consistent: true,
    });
    return items.map(({ pk: _pk, sk: _sk, ...entry }) => entry as unknown as WarmSetEntry);
  }

  async recordCommand(
    nodeGroup: string,
    digest: string,
    commandId: string,
    now: Date,
  ): Promise<boolean> {
    return this.putIf(
      { pk: `command#${nodeGroup}`, sk: digest, commandId, at: now.toISOString() },
      'attribute_not_exists(pk)',
    );
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

  /** Reports are kept gzipped: a node with many images would not fit in one item otherwise. */
  async putNodeReport(
    report: NodeReport,
    receivedAt: Date,
    retainSeconds: number,
  ): Promise<'stored' | 'stale'> {
    const compressed = gzipSync(JSON.stringify(report));
    if (compressed.length > MAX_COMPRESSED_REPORT_BYTES) {
      throw new NodeReportTooLargeError(
        `the report takes ${compressed.length} bytes compressed; at most ${MAX_COMPRESSED_REPORT_BYTES} fit`,
      );
    }
    const nowSeconds = epochSeconds(receivedAt);
    const written = await this.putIf(
      {
        pk: `nodereport#${report.nodeGroup}`,
        sk: report.node,
        sequence: report.sequence,
        reportedAt: report.reportedAt,
        receivedAt: receivedAt.toISOString(),
        expiresAt: nowSeconds + retainSeconds,
        report: compressed,
      },
      // An expired report TTL has not removed yet counts as absent, so a node whose sequence went
      // backwards (a reset clock) is heard again once its old report expires.
      'attribute_not_exists(pk) OR #sequence < :sequence OR expiresAt <= :now',
      { ':sequence': report.sequence, ':now': nowSeconds },
      { '#sequence': 'sequence' },
    );
    return written ? 'stored' : 'stale';
  }

  async nodeReports(nodeGroup: string, at: Date): Promise<StoredNodeReport[]> {
    const items = await queryPartition((command) => this.documents.send(command), {
      table: this.tableName,
      pk: `nodereport#${nodeGroup}`,
      projection: 'receivedAt, expiresAt, report',
      consistent: true,
      // The TTL removes expired items up to days late; they are neither sent nor unzipped.
      filter: { expression: 'expiresAt > :now', values: { ':now': epochSeconds(at) } },
    });
    return items.map((item) => ({
      report: JSON.parse(gunzipSync(item.report as Uint8Array).toString('utf8')) as NodeReport,
      receivedAt: item.receivedAt as string,
      expiresAt: new Date((item.expiresAt as number) * 1000).toISOString(),
    }));
  }
}
