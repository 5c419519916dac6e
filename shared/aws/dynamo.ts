import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';

// Small helpers every DynamoDB adapter of the state table uses.

/** DynamoDB TTL attributes are epoch seconds. */
export const epochSeconds = (date: Date): number => Math.floor(date.getTime() / 1000);

/** True when a conditional write was refused because its condition did not hold. */
export function conditionFailed(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string }).name === 'ConditionalCheckFailedException'
  );
}

export interface PartitionQuery {
  table: string;
  pk: string;
  /** Only sort keys that begin with this. */
  prefix?: string;
  projection?: string;
  consistent?: boolean;
  /** Items are read but not returned unless this holds: what is left out crosses no network. */
  filter?: { expression: string; values: Record<string, unknown> };
}

type Item = Record<string, unknown>;

/** Every item of one partition (optionally one sort-key prefix), following the pages to the end. */
export async function queryPartition(
  send: (
    command: QueryCommand,
  ) => Promise<{ Items?: Item[] | undefined; LastEvaluatedKey?: Item | undefined }>,
  query: PartitionQuery,
): Promise<Item[]> {
  for (const name of Object.keys(query.filter?.values ?? {})) {
    if (name === ':pk' || name === ':prefix')
      throw new Error(`a filter value named ${name} would replace the key condition's`);
  }
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const page = await send(
      new QueryCommand({
        TableName: query.table,
        KeyConditionExpression:
          query.prefix === undefined ? 'pk = :pk' : 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: {
          ':pk': query.pk,
          ...(query.prefix === undefined ? {} : { ':prefix': query.prefix }),
          ...query.filter?.values,
        },
        ...(query.filter === undefined ? {} : { FilterExpression: query.filter.expression }),
        ...(query.projection === undefined ? {} : { ProjectionExpression: query.projection }),
        ...(query.consistent === true ? { ConsistentRead: true } : {}),
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return items;
}
