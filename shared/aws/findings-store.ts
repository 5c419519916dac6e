import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Finding } from '#shared/drift/model.ts';
import {
  type FindingOrigin,
  type FindingsFilter,
  findingId,
  type StoredFinding,
} from '#shared/findings/model.ts';
import { matchesFilter } from '#shared/findings/report.ts';
import type { FindingsStore } from '#shared/findings/store.ts';
import { forEachConcurrently } from '#shared/runtime/concurrency.ts';
import { conditionFailed, epochSeconds, queryPartition } from './dynamo.ts';

// Findings in the state table: partition `findings`, sort key `<namespace>/<id>`, so one namespace is
// one key range. The finding itself is one JSON attribute; status and times sit beside it for the
// conditions that keep raises and closes idempotent and in order.

const PARTITION = 'findings';
/** An open finding seen again is rewritten at most this often when nothing in it changed. */
const REFRESH_SECONDS = 15 * 60;
const WRITE_CONCURRENCY = 8;

interface FindingItem {
  sk: string;
  finding: string;
  status: 'open' | 'closed';
  origin: FindingOrigin;
  firstSeenAt: string;
  lastSeenAt: string;
  closedAt?: string;
}

function fromItem(item: FindingItem): StoredFinding {
  return {
    ...(JSON.parse(item.finding) as Finding),
    id: item.sk.slice(item.sk.lastIndexOf('/') + 1),
    status: item.status,
    origin: item.origin,
    firstSeenAt: item.firstSeenAt,
    lastSeenAt: item.lastSeenAt,
    ...(item.closedAt === undefined ? {} : { closedAt: item.closedAt }),
  };
}

export class DynamoFindingsStore implements FindingsStore {
  private readonly documents: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly retainClosedDays: () => Promise<number>;

  constructor(
    client: DynamoDBClient,
    tableName: string,
    retainClosedDays: () => Promise<number> = async () => 30,
  ) {
    this.tableName = tableName;
    this.retainClosedDays = retainClosedDays;
    this.documents = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  async listFindings(filter: FindingsFilter): Promise<StoredFinding[]> {
    const namespaces = filter.namespaces ?? [];
    const ranges = namespaces.length > 0 ? namespaces.map((namespace) => `${namespace}/`) : [''];
    const found: StoredFinding[] = [];
    for (const prefix of ranges) {
      const items = await queryPartition((command) => this.documents.send(command), {
        table: this.tableName,
        pk: PARTITION,
        ...(prefix === '' ? {} : { prefix }),
      });
      for (const item of items as unknown as FindingItem[]) {
        const finding = fromItem(item);
        if (matchesFilter(finding, filter)) found.push(finding);
      }
    }
    return found;
  }

  async raise(
    findings: readonly Finding[],
    origin: FindingOrigin,
    now: Date,
    open: ReadonlyMap<string, StoredFinding> = new Map(),
  ): Promise<number> {
    const at = now.toISOString();
    const refreshBefore = new Date(now.getTime() - REFRESH_SECONDS * 1000).toISOString();
    let written = 0;
    await forEachConcurrently(findings, WRITE_CONCURRENCY, async (finding) => {
      const id = findingId(finding);
      const text = JSON.stringify(finding);
      const stored = open.get(id);
      if (
        stored !== undefined &&
        stored.origin === origin &&
        stored.lastSeenAt >= refreshBefore &&
        JSON.stringify(withoutStoredFields(stored)) === text
      ) {
        return;
      }
      try {
        await this.documents.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: PARTITION, sk: `${finding.workload.namespace}/${id}` },
            UpdateExpression:
              'SET finding = :finding, #status = :open, origin = :origin, lastSeenAt = :at, ' +
              'firstSeenAt = if_not_exists(firstSeenAt, :at) REMOVE closedAt, expiresAt',
            // Raised by something older than what is stored (a sweep that began before a push closed
            // the finding, say): the stored state is newer.
            ConditionExpression:
              'attribute_not_exists(pk) OR (lastSeenAt <= :at AND ' +
              '(attribute_not_exists(closedAt) OR closedAt < :at))',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':finding': text,
              ':open': 'open',
              ':origin': origin,
              ':at': at,
            },
          }),
        );
        written++;
      } catch (error) {
        if (!conditionFailed(error)) throw error;
      }
    });
    return written;
  }

  async close(
    findings: readonly Pick<StoredFinding, 'id' | 'workload'>[],
    now: Date,
    seenBefore: Date,
  ): Promise<number> {
    let closed = 0;
    if (findings.length === 0) return 0;
    const expiresAt = epochSeconds(now) + (await this.retainClosedDays()) * 24 * 3600;
    await forEachConcurrently(findings, WRITE_CONCURRENCY, async (finding) => {
      try {
        await this.documents.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: PARTITION, sk: `${finding.workload.namespace}/${finding.id}` },
            UpdateExpression: 'SET #status = :closed, closedAt = :now, expiresAt = :expires',
            ConditionExpression: '#status = :open AND lastSeenAt < :seenBefore',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':closed': 'closed',
              ':open': 'open',
              ':now': now.toISOString(),
              ':expires': expiresAt,
              ':seenBefore': seenBefore.toISOString(),
            },
          }),
        );
        closed++;
      } catch (error) {
        if (!conditionFailed(error)) throw error;
      }
    });
    return closed;
  }
}

/** The finding as the rules produced it, without what the store adds. */
function withoutStoredFields(stored: StoredFinding): Finding {
  const {
    id: _id,
    status: _status,
    origin: _origin,
    firstSeenAt: _first,
    lastSeenAt: _last,
    closedAt: _closed,
    ...finding
  } = stored;
  return finding;
}
