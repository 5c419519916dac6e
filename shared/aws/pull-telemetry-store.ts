import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type {
  FailureCount,
  PullSample,
  PullStats,
  PullTelemetry,
} from '#shared/cluster/pull-telemetry.ts';
import { epochSeconds } from './dynamo.ts';

// Pull statistics (`pullstats#<node group>`, one item per image, kept while pulls keep coming) and
// failure counters (`pullfail#<namespace>/<pod>`, one item per container, kept for a day) in the
// state table. Both are atomic ADDs, so concurrent batches never lose a count.

const STATS_RETENTION_SECONDS = 30 * 24 * 3600;
const FAILURE_RETENTION_SECONDS = 24 * 3600;

export class DynamoPullTelemetry implements PullTelemetry {
  private readonly documents: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(client: DynamoDBClient, tableName: string) {
    this.tableName = tableName;
    this.documents = DynamoDBDocumentClient.from(client);
  }

  async recordPull(sample: PullSample): Promise<PullStats> {
    const result = await this.documents.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `pullstats#${sample.nodeGroup}`, sk: sample.image },
        UpdateExpression: 'ADD pulls :pulls, pullMs :ms, present :present SET expiresAt = :expires',
        ExpressionAttributeValues: {
          ':pulls': sample.present ? 0 : 1,
          ':ms': sample.present ? 0 : Math.round(sample.pullMs ?? 0),
          ':present': sample.present ? 1 : 0,
          ':expires': epochSeconds(new Date()) + STATS_RETENTION_SECONDS,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const item = result.Attributes ?? {};
    return {
      pulls: Number(item.pulls ?? 0),
      pullMs: Number(item.pullMs ?? 0),
      present: Number(item.present ?? 0),
    };
  }

  async countFailure(
    pod: { namespace: string; name: string },
    container: string,
    message: string,
    at: Date,
  ): Promise<FailureCount> {
    const result = await this.documents.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `pullfail#${pod.namespace}/${pod.name}`, sk: container },
        UpdateExpression:
          message === ''
            ? 'ADD failures :one SET expiresAt = :expires'
            : 'ADD failures :one SET expiresAt = :expires, message = :message',
        ExpressionAttributeValues: {
          ':one': 1,
          ':expires': epochSeconds(at) + FAILURE_RETENTION_SECONDS,
          ...(message === '' ? {} : { ':message': message }),
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return {
      failures: Number(result.Attributes?.failures ?? 1),
      message: String(result.Attributes?.message ?? message),
    };
  }
}
