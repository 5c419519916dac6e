import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { queryPartition } from '#shared/aws/dynamo.ts';

// The partition query as DynamoDB receives it: pages followed to the end, a filter beside the key
// condition and never in place of it.

test('follows every page, empty filtered pages included, and sends the filter with the key', async () => {
  const sent: QueryCommand['input'][] = [];
  const pages = [
    { Items: [{ sk: 'a' }], LastEvaluatedKey: { sk: 'a' } },
    { Items: [], LastEvaluatedKey: { sk: 'b' } },
    { Items: [{ sk: 'c' }] },
  ];
  const items = await queryPartition(
    async (command) => {
      sent.push(command.input);
      return pages[sent.length - 1] ?? {};
    },
    {
      table: 'state',
      pk: 'nodereport#general',
      filter: { expression: 'expiresAt > :now', values: { ':now': 1700 } },
    },
  );
  assert.deepEqual(items, [{ sk: 'a' }, { sk: 'c' }]);
  assert.equal(sent.length, 3);
  assert.equal(sent[0]?.KeyConditionExpression, 'pk = :pk');
  assert.equal(sent[0]?.FilterExpression, 'expiresAt > :now');
  assert.deepEqual(sent[0]?.ExpressionAttributeValues, {
    ':pk': 'nodereport#general',
    ':now': 1700,
  });
  assert.deepEqual(sent[2]?.ExclusiveStartKey, { sk: 'b' });
});

test('a filter value named like a key value is refused before anything is sent', async () => {
  let calls = 0;
  await assert.rejects(
    queryPartition(
      async () => {
        calls++;
        return {};
      },
      { table: 'state', pk: 'p', filter: { expression: 'x = :pk', values: { ':pk': 'q' } } },
    ),
    /would replace the key condition's/,
  );
  assert.equal(calls, 0);
});
