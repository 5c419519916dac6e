import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { deduplicationId, type PrepullMessage } from '#shared/prepull/message.ts';

// Sends pre-pull requests to the FIFO queue in batches of ten (SQS's limit), retrying only the entries
// that failed, so a push to N node groups costs ⌈N/10⌉ calls when nothing fails.

export interface PrepullQueue {
  send(messages: readonly PrepullMessage[]): Promise<{ calls: number }>;
}

const BATCH_LIMIT = 10;
const ATTEMPTS = 3;

export class PrepullQueueError extends Error {
  override readonly name = 'PrepullQueueError';
}

export class SqsPrepullQueue implements PrepullQueue {
  private readonly client: SQSClient;
  private readonly queueUrl: string;

  constructor(client: SQSClient, queueUrl: string) {
    this.client = client;
    this.queueUrl = queueUrl;
  }

  async send(messages: readonly PrepullMessage[]): Promise<{ calls: number }> {
    let calls = 0;
    for (let start = 0; start < messages.length; start += BATCH_LIMIT) {
      let pending = messages.slice(start, start + BATCH_LIMIT).map((message, index) => ({
        Id: String(index),
        MessageBody: JSON.stringify(message),
        MessageGroupId: message.nodeGroup,
        MessageDeduplicationId: deduplicationId(message),
      }));
      for (let attempt = 1; pending.length > 0; attempt++) {
        calls++;
        const result = await this.client.send(
          new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }),
        );
        const failed = new Set((result.Failed ?? []).map((entry) => entry.Id));
        const permanent = (result.Failed ?? []).filter((entry) => entry.SenderFault);
        if (permanent.length > 0) {
          throw new PrepullQueueError(
            `the queue rejected ${permanent.length} pre-pull request(s): ${permanent[0]?.Code ?? 'unknown'}`,
          );
        }
        pending = pending.filter((entry) => failed.has(entry.Id));
        if (pending.length > 0 && attempt >= ATTEMPTS) {
          throw new PrepullQueueError(
            `${pending.length} pre-pull request(s) not queued after ${ATTEMPTS} attempts`,
          );
        }
        if (pending.length > 0)
          await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
    return { calls };
  }
}
