import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type {
  ApplyResult,
  InstanceRecord,
  Inventory,
  InventoryObject,
  ObjectChange,
} from '#shared/cluster/inventory.ts';
import { effectiveTag, tryParseImageReference } from '#shared/image/reference.ts';
import { forEachConcurrently } from '#shared/runtime/concurrency.ts';
import type { ObjectFacts } from '#shared/workload/extract.ts';
import { conditionFailed, epochSeconds, queryPartition } from './dynamo.ts';

// The inventory in the state table. Objects spread over OBJECT_SHARDS partitions (`obj#<n>`, sort key
// `<namespace>/<Kind>/<name>`) so a sweep reads them in parallel and no partition runs hot. One index is
// kept beside them: `use#<registry>/<repository>`, sort key `:<tag>#<object>` or `@<digest>#<object>`,
// with the pod's node and node group — the objects that use a tag (PW009 on push) and the node groups
// that run a repository (pre-pull planning) are both one query.
// A write is conditional on the resource version, so out-of-order and repeated watch events change
// nothing; a deletion leaves a tombstone for a day so a late ADDED cannot bring the object back. Index
// changes of a batch are written together after its objects, in BatchWriteItem calls; a repeated event
// writes its object's entries again, so a batch that failed half-way heals on redelivery.

const OBJECT_SHARDS = 16;
const TOMBSTONE_SECONDS = 24 * 3600;
const BATCH_WRITE_LIMIT = 25;
const BATCH_GET_LIMIT = 100;
const INSTANCE_RETENTION_SECONDS = 7 * 24 * 3600;
const NODE_GROUP_CACHE_MS = 5 * 60_000;
const NODE_GROUP_CACHE_ENTRIES = 20_000;

interface StoredItem {
  pk: string;
  sk: string;
  rv?: string;
  deleted?: boolean;
  facts?: string;
  createdAt?: string;
  /** Index entries (`pk\nsk`) a write meant to delete when its index write failed: retried on redelivery. */
  pendingDeletes?: Set<string>;
}

/** Resource versions compare as numbers; padded so DynamoDB's string comparison agrees. */
function versionKey(resourceVersion: string | undefined): string | undefined {
  return resourceVersion !== undefined && /^\d{1,30}$/.test(resourceVersion)
    ? resourceVersion.padStart(30, '0')
    : undefined;
}

/** Sends a batch, then what DynamoDB left unprocessed, backing off, a bounded number of times. */
async function untilProcessed<T>(
  batch: T[],
  what: string,
  send: (pending: T[]) => Promise<T[]>,
): Promise<void> {
  let pending = batch;
  for (let attempt = 0; pending.length > 0; attempt++) {
    pending = await send(pending);
    if (pending.length > 0) {
      if (attempt >= 8) throw new Error(`DynamoDB left ${what} unprocessed`);
      await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
    }
  }
}

function shardOf(key: string): number {
  // FNV-1a: cheap, stable across processes.
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % OBJECT_SHARDS;
}

function objectKey(kind: string, namespace: string, name: string) {
  const sk = `${namespace}/${kind}/${name}`;
  return { pk: `obj#${shardOf(sk)}`, sk };
}

/** Facts without what only a file has (its name, positions): the object's own data. */
function storedFacts(facts: ObjectFacts): string {
  return JSON.stringify({
    ...facts,
    source: undefined,
    sites: facts.sites.map((site) => ({ ...site, location: { path: site.location.path } })),
  });
}

function objectFromItem(item: StoredItem): InventoryObject | undefined {
  if (item.deleted === true || item.facts === undefined) return undefined;
  const [namespace = '', kind = '', ...rest] = item.sk.split('/');
  const name = rest.join('/');
  const facts = JSON.parse(item.facts) as ObjectFacts;
  const file = `cluster/${kind}/${namespace === '' ? '' : `${namespace}/`}${name}`;
  facts.source = { file, document: 1, itemPath: '' };
  for (const site of facts.sites) site.location = { ...site.location, file, document: 1 };
  facts.waiting ??= [];
  return {
    kind,
    namespace,
    name,
    facts,
    ...(item.createdAt === undefined ? {} : { createdAt: item.createdAt }),
  };
}

/** `:<tag>` or `@<digest>` for each image a pod spec names, by repository (normalised like pushes). */
function imagesUsed(facts: ObjectFacts): Map<string, Set<string>> {
  const used = new Map<string, Set<string>>();
  for (const site of facts.sites) {
    const reference = tryParseImageReference(site.image);
    if (reference instanceof Error) continue;
    const version =
      reference.digest === undefined ? `:${effectiveTag(reference)}` : `@${reference.digest}`;
    const versions = used.get(reference.name) ?? new Set<string>();
    versions.add(version);
    used.set(reference.name, versions);
  }
  return used;
}

function memberOf(sk: string): { kind: string; namespace: string; name: string } {
  const member = sk.slice(sk.indexOf('#') + 1);
  const [namespace = '', kind = '', ...rest] = member.split('/');
  return { kind, namespace, name: rest.join('/') };
}

type IndexEntry = { pk: string; sk: string; node?: string; nodeGroup?: string };

/**
 * Index writes of a batch, last one per key (BatchWriteItem refuses two requests for one key), each with
 * the object whose change asked for it.
 */
type IndexWrites = Map<
  string,
  ({ put: IndexEntry } | { delete: { pk: string; sk: string } }) & {
    owner: { pk: string; sk: string };
  }
>;

function entryId(entry: { pk: string; sk: string }): string {
  return `${entry.pk}\n${entry.sk}`;
}

function entryOfId(id: string): { pk: string; sk: string } {
  const split = id.indexOf('\n');
  return { pk: id.slice(0, split), sk: id.slice(split + 1) };
}

/** Objects of a batch applied at once; changes to one object stay in order. */
const APPLY_CONCURRENCY = 16;

export class DynamoInventory implements Inventory {
  private readonly documents: DynamoDBDocumentClient;
  private readonly tableName: string;
  /**
   * Node groups of nodes this process has read or written, briefly: another process may record a node
   * that was unknown here, and a name can come back on a new node of another group.
   */
  private readonly nodeGroups = new Map<string, { group: string | undefined; until: number }>();

  constructor(client: DynamoDBClient, tableName: string) {
    this.tableName = tableName;
    this.documents = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  private send<T>(command: object): Promise<T> {
    return this.documents.send(command as never) as Promise<T>;
  }

  async apply(change: ObjectChange): Promise<ApplyResult> {
    return (await this.applyAll([change]))[0] as ApplyResult;
  }

  async applyAll(changes: readonly ObjectChange[]): Promise<ApplyResult[]> {
    const results: ApplyResult[] = new Array(changes.length);
    const byObject = new Map<string, number[]>();
    changes.forEach((change, index) => {
      const key = objectKey(change.kind, change.namespace, change.name).sk;
      byObject.set(key, [...(byObject.get(key) ?? []), index]);
    });
    const writes: IndexWrites = new Map();
    await forEachConcurrently([...byObject.values()], APPLY_CONCURRENCY, async (indexes) => {
      for (const index of indexes) {
        results[index] = await this.applyOne(changes[index] as ObjectChange, writes);
      }
    });
    try {
      await this.batchWrite(
        [...writes.values()].map((write) =>
          'put' in write
            ? { PutRequest: { Item: write.put } }
            : { DeleteRequest: { Key: write.delete } },
        ),
      );
    } catch (error) {
      await this.rememberDeletes(writes);
      throw error;
    }
    return results;
  }

  /**
   * The objects are written but their index is not: keep the deletions on each object, so that the
   * redelivery (which finds its objects written already) can still make them.
   */
  private async rememberDeletes(writes: IndexWrites): Promise<void> {
    const byOwner = new Map<string, { owner: { pk: string; sk: string }; ids: Set<string> }>();
    for (const [id, write] of writes) {
      if (!('delete' in write)) continue;
      const ownerId = entryId(write.owner);
      const group = byOwner.get(ownerId) ?? { owner: write.owner, ids: new Set<string>() };
      group.ids.add(id);
      byOwner.set(ownerId, group);
    }
    await Promise.allSettled(
      [...byOwner.values()].map(({ owner, ids }) =>
        this.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: owner,
            UpdateExpression: 'ADD pendingDeletes :ids',
            ExpressionAttributeValues: { ':ids': ids },
          }),
        ),
      ),
    );
  }

  private async applyOne(change: ObjectChange, writes: IndexWrites): Promise<ApplyResult> {
    const key = objectKey(change.kind, change.namespace, change.name);
    const rv = versionKey(change.resourceVersion);
    const deleted = change.type === 'DELETED' || change.facts === undefined;
    const item: Record<string, unknown> = deleted
      ? {
          ...key,
          rv,
          deleted: true,
          expiresAt: epochSeconds(change.at) + TOMBSTONE_SECONDS,
        }
      : {
          ...key,
          rv,
          facts: storedFacts(change.facts as ObjectFacts),
          createdAt: change.createdAt,
          seenAt: change.at.toISOString(),
        };
    let old: StoredItem | undefined;
    try {
      const result = await this.send<{ Attributes?: StoredItem }>(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ReturnValues: 'ALL_OLD',
          ...(rv === undefined
            ? {}
            : {
                // The deletion's version may equal the object's last; anything else must be newer.
                ConditionExpression: deleted
                  ? 'attribute_not_exists(pk) OR attribute_not_exists(rv) OR rv < :rv OR ' +
                    '(rv = :rv AND attribute_not_exists(deleted))'
                  : 'attribute_not_exists(pk) OR attribute_not_exists(rv) OR rv < :rv',
                ExpressionAttributeValues: { ':rv': rv },
              }),
        }),
      );
      old = result.Attributes;
    } catch (error) {
      if (!conditionFailed(error)) throw error;
      const stored = await this.send<{ Item?: StoredItem }>(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      );
      const same = stored.Item?.rv === rv && (stored.Item?.deleted === true) === deleted;
      if (same) {
        // The object may be all a failed earlier attempt wrote: write its index again.
        await this.recordIndex(
          change,
          undefined,
          deleted ? undefined : change.facts,
          writes,
          stored.Item?.pendingDeletes,
        );
      }
      return { outcome: same ? 'duplicate' : 'stale', previous: undefined };
    }
    const previous = old === undefined ? undefined : objectFromItem(old);
    if (change.kind === 'Node') {
      if (deleted) this.nodeGroups.delete(change.name);
      else this.rememberNodeGroup(change.name, change.facts?.node?.nodeGroup);
    }
    await this.recordIndex(
      change,
      previous?.facts,
      deleted ? undefined : (change.facts as ObjectFacts),
      writes,
      old?.pendingDeletes,
    );
    return { outcome: 'applied', previous };
  }

  private async indexEntries(
    change: Pick<ObjectChange, 'kind' | 'namespace' | 'name'>,
    facts: ObjectFacts | undefined,
  ): Promise<Map<string, IndexEntry>> {
    const entries = new Map<string, IndexEntry>();
    if (facts === undefined || !facts.hasPodSpec) return entries;
    const member = `${change.namespace}/${change.kind}/${change.name}`;
    const node = change.kind === 'Pod' ? facts.nodeName : undefined;
    const nodeGroup = node === undefined ? undefined : await this.nodeGroupOf(node);
    for (const [repository, versions] of imagesUsed(facts)) {
      for (const version of versions) {
        const entry: IndexEntry = { pk: `use#${repository}`, sk: `${version}#${member}` };
        if (node !== undefined) entry.node = node;
        if (nodeGroup !== undefined) entry.nodeGroup = nodeGroup;
        entries.set(entryId(entry), entry);
      }
    }
    return entries;
  }

  private async recordIndex(
    change: ObjectChange,
    before: ObjectFacts | undefined,
    after: ObjectFacts | undefined,
    writes: IndexWrites,
    pendingDeletes: Iterable<string> = [],
  ): Promise<void> {
    const owner = objectKey(change.kind, change.namespace, change.name);
    const old = await this.indexEntries(change, before);
    const next = await this.indexEntries(change, after);
    for (const id of pendingDeletes) {
      if (!next.has(id)) writes.set(id, { delete: entryOfId(id), owner });
    }
    for (const [id, entry] of old) {
      if (!next.has(id)) writes.set(id, { delete: { pk: entry.pk, sk: entry.sk }, owner });
    }
    for (const [id, entry] of next) {
      const was = old.get(id);
      if (was === undefined || was.node !== entry.node || was.nodeGroup !== entry.nodeGroup) {
        writes.set(id, { put: entry, owner });
      }
    }
  }

  private async batchWrite(requests: Record<string, unknown>[]): Promise<void> {
    const chunks: Record<string, unknown>[][] = [];
    for (let start = 0; start < requests.length; start += BATCH_WRITE_LIMIT) {
      chunks.push(requests.slice(start, start + BATCH_WRITE_LIMIT));
    }
    await Promise.all(
      chunks.map((chunk) =>
        untilProcessed(chunk, 'index writes', async (pending) => {
          const result = await this.send<{
            UnprocessedItems?: Record<string, Record<string, unknown>[]>;
          }>(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending as never } }));
          return result.UnprocessedItems?.[this.tableName] ?? [];
        }),
      ),
    );
  }

  async object(
    kind: string,
    namespace: string,
    name: string,
  ): Promise<InventoryObject | undefined> {
    const result = await this.send<{ Item?: StoredItem }>(
      new GetCommand({ TableName: this.tableName, Key: objectKey(kind, namespace, name) }),
    );
    return result.Item === undefined ? undefined : objectFromItem(result.Item);
  }

  private queryAll(
    pk: string,
    options: { prefix?: string; projection?: string } = {},
  ): Promise<Record<string, unknown>[]> {
    return queryPartition((command) => this.send(command), {
      table: this.tableName,
      pk,
      ...options,
    });
  }

  async objectsUsingTag(image: {
    registry: string;
    repository: string;
    tag: string;
  }): Promise<InventoryObject[]> {
    const members = await this.queryAll(`use#${image.registry}/${image.repository}`, {
      prefix: `:${image.tag}#`,
      projection: 'sk',
    });
    const keys = members.map((member) => {
      const { kind, namespace, name } = memberOf(String(member.sk));
      return objectKey(kind, namespace, name);
    });
    const objects: InventoryObject[] = [];
    for (let start = 0; start < keys.length; start += BATCH_GET_LIMIT) {
      const batch: Record<string, unknown>[] = keys.slice(start, start + BATCH_GET_LIMIT);
      await untilProcessed(batch, 'inventory reads', async (pending) => {
        const result = await this.send<{
          Responses?: Record<string, StoredItem[]>;
          UnprocessedKeys?: Record<string, { Keys?: Record<string, unknown>[] }>;
        }>(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending } } }));
        for (const item of result.Responses?.[this.tableName] ?? []) {
          const object = objectFromItem(item);
          if (object !== undefined) objects.push(object);
        }
        return result.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      });
    }
    return objects;
  }

  private rememberNodeGroup(node: string, group: string | undefined): void {
    if (this.nodeGroups.size >= NODE_GROUP_CACHE_ENTRIES) this.nodeGroups.clear();
    this.nodeGroups.set(node, { group, until: Date.now() + NODE_GROUP_CACHE_MS });
  }

  async nodeGroupOf(node: string): Promise<string | undefined> {
    const known = this.nodeGroups.get(node);
    if (known !== undefined && known.until > Date.now()) return known.group;
    const object = await this.object('Node', '', node);
    const group = object?.facts.node?.nodeGroup;
    // Only a stored node is remembered: one not seen yet may still arrive with its group.
    if (object !== undefined) this.rememberNodeGroup(node, group);
    else this.nodeGroups.delete(node);
    return group;
  }

  async nodeGroupsRunning(repository: string): Promise<string[]> {
    const groups = new Set<string>();
    const unresolved = new Set<string>();
    for (const item of await this.queryAll(`use#${repository}`, {
      projection: 'node, nodeGroup',
    })) {
      if (typeof item.nodeGroup === 'string') groups.add(item.nodeGroup);
      else if (typeof item.node === 'string') unresolved.add(item.node);
    }
    // Pods recorded before their node: look the node up now.
    for (const node of unresolved) {
      const group = await this.nodeGroupOf(node);
      if (group !== undefined) groups.add(group);
    }
    return [...groups].sort();
  }

  async recordInstance(record: InstanceRecord): Promise<InstanceRecord['state']> {
    const key = { pk: `instance#${record.instanceId}`, sk: '-' };
    try {
      await this.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...key,
            ...record,
            expiresAt: epochSeconds(new Date(record.at)) + INSTANCE_RETENTION_SECONDS,
          },
          // A terminated instance stays terminated: a late launch event must not start a warm-up.
          ConditionExpression: 'attribute_not_exists(pk) OR #state <> :terminated',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':terminated': 'terminated' },
        }),
      );
      return record.state;
    } catch (error) {
      if (conditionFailed(error)) return 'terminated';
      throw error;
    }
  }

  async *allObjects(): AsyncIterable<InventoryObject> {
    const shards = Array.from({ length: OBJECT_SHARDS }, (_, shard) =>
      this.queryAll(`obj#${shard}`),
    );
    for (const shard of shards) {
      for (const item of await shard) {
        const object = objectFromItem(item as unknown as StoredItem);
        if (object !== undefined) yield object;
      }
    }
  }
}
