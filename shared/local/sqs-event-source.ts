import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

// Lambda's SQS event source mapping for the local stack: receive a batch, invoke the consumer with the
// event shape Lambda builds, delete what succeeded. With ReportBatchItemFailures the listed records stay
// on the queue; a thrown error keeps the whole batch. Kept messages become visible again after the
// queue's visibility timeout, and the queue's redrive policy moves them to the dead-letter queue after
// maxReceiveCount receives, as on AWS.

export type SqsConsumer = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;

export interface SqsEventSource {
  queueUrl: string;
  queueArn: string;
  region: string;
  batchSize: number;
  reportBatchItemFailures: boolean;
  consumer: SqsConsumer;
  /** Shown in logs. */
  target: string;
}

export interface SqsEventSourceLog {
  batch(line: { target: string; records: number; failed: number; ms: number }): void;
  error(message: string, error: unknown): void;
}

export function sqsRecord(message: Message, source: Pick<SqsEventSource, 'queueArn' | 'region'>) {
  const attributes = message.Attributes ?? {};
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      ...(value.BinaryValue === undefined
        ? {}
        : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return {
    messageId: message.MessageId as string,
    receiptHandle: message.ReceiptHandle as string,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp:
        attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(attributes.MessageGroupId === undefined
        ? {}
        : { MessageGroupId: attributes.MessageGroupId }),
      ...(attributes.MessageDeduplicationId === undefined
        ? {}
        : { MessageDeduplicationId: attributes.MessageDeduplicationId }),
      ...(attributes.SequenceNumber === undefined
        ? {}
        : { SequenceNumber: attributes.SequenceNumber }),
    },
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: source.queueArn,
    awsRegion: source.region,
  } satisfies SQSRecord;
}

/** Receives once and invokes the consumer; returns how many records it handled. */
export async function pollOnce(
  sqs: SQSClient,
  source: SqsEventSource,
  log: SqsEventSourceLog,
  waitTimeSeconds: number,
  signal?: AbortSignal,
): Promise<number> {
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: source.queueUrl,
      MaxNumberOfMessages: Math.min(10, source.batchSize),
      WaitTimeSeconds: waitTimeSeconds,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
    signal === undefined ? {} : { abortSignal: signal },
  );
  const messages = received.Messages ?? [];
  if (messages.length === 0) return 0;
  const started = performance.now();
  const records = messages.map((message) => sqsRecord(message, source));
  let failed = new Set<string>();
  try {
    const response = await source.consumer({ Records: records });
    if (source.reportBatchItemFailures && response) {
      failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
    }
  } catch (error) {
    log.error(`${source.target} failed; the batch stays on the queue`, error);
    failed = new Set(records.map((record) => record.messageId));
  }
  const done = records.filter((record) => !failed.has(record.messageId));
  if (done.length > 0) {
    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: source.queueUrl,
        Entries: done.map((record, index) => ({
          Id: String(index),
          ReceiptHandle: record.receiptHandle,
        })),
      }),
    );
    for (const failure of deleted.Failed ?? []) {
      log.error(`could not delete a handled message from ${source.queueUrl}`, failure.Message);
    }
  }
  log.batch({
    target: source.target,
    records: records.length,
    failed: failed.size,
    ms: performance.now() - started,
  });
  return records.length;
}

/** Polls until stopped; errors (an emulator restarting, a throttle) back off and retry. */
export function startSqsEventSource(
  sqs: SQSClient,
  source: SqsEventSource,
  log: SqsEventSourceLog,
  options: { waitTimeSeconds?: number } = {},
): { stop(): Promise<void>; idle(): Promise<void> } {
  const controller = new AbortController();
  let idleWaiters: (() => void)[] = [];
  const loop = (async () => {
    let backoff = 100;
    while (!controller.signal.aborted) {
      try {
        const handled = await pollOnce(
          sqs,
          source,
          log,
          options.waitTimeSeconds ?? 1,
          controller.signal,
        );
        backoff = 100;
        if (handled === 0) {
          for (const resolve of idleWaiters) resolve();
          idleWaiters = [];
        }
      } catch (error) {
        if (controller.signal.aborted) break;
        log.error(`polling ${source.queueUrl} failed`, error);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  })();
  return {
    async stop() {
      controller.abort();
      await loop;
      for (const resolve of idleWaiters) resolve();
    },
    /** Resolves after the next receive that finds the queue empty. */
    idle() {
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
