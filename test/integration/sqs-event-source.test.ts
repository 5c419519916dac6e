import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { type Emulators, startEmulators } from '#shared/local/emulators.ts';
import { pollOnce, type SqsEventSource } from '#shared/local/sqs-event-source.ts';

// The local SQS event source against fauxqs: Lambda's event shape, deletion of what succeeded, partial
// batch failures, and the queue's redrive to the dead-letter queue after maxReceiveCount.

let emulators: Emulators;
before(async () => {
  emulators = await startEmulators();
});
after(() => emulators.stop());

const quiet = { batch() {}, error() {} };

async function queuePair(name: string, maxReceiveCount: number) {
  const dlq = await emulators.sqs.send(
    new CreateQueueCommand({ QueueName: `${name}-dlq.fifo`, Attributes: { FifoQueue: 'true' } }),
  );
  const dlqArn = (
    await emulators.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }),
    )
  ).Attributes?.QueueArn as string;
  const queue = await emulators.sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}.fifo`,
      Attributes: {
        FifoQueue: 'true',
        VisibilityTimeout: '1',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
      },
    }),
  );
  const arn = (
    await emulators.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn'] }),
    )
  ).Attributes?.QueueArn as string;
  return { url: queue.QueueUrl as string, arn, dlqUrl: dlq.QueueUrl as string };
}

function eventSource(
  queue: { url: string; arn: string },
  consumer: SqsEventSource['consumer'],
): SqsEventSource {
  return {
    queueUrl: queue.url,
    queueArn: queue.arn,
    region: 'eu-west-1',
    batchSize: 10,
    reportBatchItemFailures: true,
    target: 'consumer',
    consumer,
  };
}

const send = (url: string, body: string, group: string, id: string) =>
  emulators.sqs.send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: body,
      MessageGroupId: group,
      MessageDeduplicationId: id,
    }),
  );

test('records carry what Lambda puts in an SQS event', async () => {
  const queue = await queuePair('shape', 3);
  await send(queue.url, '{"n":1}', 'gpu', 'd1');
  const events: SQSEvent[] = [];
  const source = eventSource(queue, async (event) => {
    events.push(event);
    return { batchItemFailures: [] };
  });
  assert.equal(await pollOnce(emulators.sqs, source, quiet, 0), 1);
  const record = events[0]?.Records[0];
  assert.ok(record);
  assert.equal(record.body, '{"n":1}');
  assert.equal(record.eventSource, 'aws:sqs');
  assert.equal(record.eventSourceARN, queue.arn);
  assert.equal(record.awsRegion, 'eu-west-1');
  assert.equal(record.attributes.MessageGroupId, 'gpu');
  assert.equal(record.attributes.MessageDeduplicationId, 'd1');
  assert.equal(record.attributes.ApproximateReceiveCount, '1');
  assert.match(record.md5OfBody, /^[0-9a-f]{32}$/);
  // handled, so deleted: nothing comes back after the visibility timeout
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal(await pollOnce(emulators.sqs, source, quiet, 0), 0);
});

test('failed items stay, the rest is deleted, and repeated failures end in the DLQ', async () => {
  const queue = await queuePair('partial', 2);
  await send(queue.url, 'good', 'a', 'g1');
  await send(queue.url, 'bad', 'b', 'b1');
  const seen: string[] = [];
  const source = eventSource(queue, async (event) => {
    seen.push(...event.Records.map((record) => record.body));
    return {
      batchItemFailures: event.Records.filter((record) => record.body === 'bad').map((record) => ({
        itemIdentifier: record.messageId,
      })),
    };
  });
  // fauxqs hands out one group per receive at most once in flight; poll until both were seen
  for (let i = 0; i < 5 && !(seen.includes('good') && seen.includes('bad')); i++) {
    await pollOnce(emulators.sqs, source, quiet, 0);
  }
  assert.deepEqual([...seen].sort(), ['bad', 'good']);
  // second receive of "bad" after its visibility timeout, failed again → maxReceiveCount reached
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await pollOnce(emulators.sqs, source, quiet, 0);
  assert.deepEqual(
    seen.filter((body) => body === 'bad'),
    ['bad', 'bad'],
  );
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal(await pollOnce(emulators.sqs, source, quiet, 0), 0, 'redriven, not redelivered');
  const dead = await emulators.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queue.dlqUrl, MaxNumberOfMessages: 10 }),
  );
  assert.deepEqual(
    (dead.Messages ?? []).map((message) => message.Body),
    ['bad'],
  );
  assert.equal(seen.filter((body) => body === 'good').length, 1, 'the good one was deleted');
});

test('a consumer that throws keeps the whole batch', async () => {
  const queue = await queuePair('throws', 5);
  await send(queue.url, 'x', 'a', 'x1');
  const errors: string[] = [];
  let calls = 0;
  const source = eventSource(queue, async () => {
    calls++;
    if (calls === 1) throw new Error('down');
    return { batchItemFailures: [] };
  });
  await pollOnce(
    emulators.sqs,
    source,
    { batch() {}, error: (message) => errors.push(message) },
    0,
  );
  assert.deepEqual(errors, ['consumer failed; the batch stays on the queue']);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal(await pollOnce(emulators.sqs, source, quiet, 0), 1);
  assert.equal(calls, 2);
});
