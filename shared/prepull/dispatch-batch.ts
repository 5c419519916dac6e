import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Config } from '#shared/config/schema.ts';
import { type DispatchDependencies, dispatchPrepull } from './dispatch.ts';
import { pinnedReference, prepullMessageSchema } from './message.ts';

// The prepull queue's consumer: records are applied in order; the first failure fails it and every
// later record of the batch (FIFO order must hold), which SQS redelivers and, after maxReceiveCount,
// moves to the dead-letter queue. A body that is not a pre-pull message fails the same way, so it ends
// up in the DLQ where it can be read rather than vanishing.

export interface DispatchBatchDependencies {
  loadConfig(): Promise<Config>;
  dispatch(config: Config): DispatchDependencies;
  logger: {
    info(message: string, ...extra: Record<string, unknown>[]): void;
    warn(message: string, ...extra: Record<string, unknown>[]): void;
  };
}

export class MalformedPrepullMessageError extends Error {
  override readonly name = 'MalformedPrepullMessageError';
}

export async function handleDispatchBatch(
  event: SQSEvent,
  deps: DispatchBatchDependencies,
): Promise<SQSBatchResponse> {
  const config = await deps.loadConfig();
  const dependencies = deps.dispatch(config);
  const recordHandler = async (record: SQSRecord) => {
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch {
      throw new MalformedPrepullMessageError(`message ${record.messageId} is not JSON`);
    }
    const parsed = prepullMessageSchema.safeParse(body);
    if (!parsed.success) {
      throw new MalformedPrepullMessageError(
        `message ${record.messageId} is not a pullwarden.prepull/v1 message: ${parsed.error.issues[0]?.message ?? ''}`,
      );
    }
    const outcome = await dispatchPrepull(parsed.data, dependencies);
    deps.logger.info('pre-pull request dispatched', {
      nodeGroup: parsed.data.nodeGroup,
      image: pinnedReference(parsed.data),
      ...outcome,
    });
  };
  return processPartialResponse(event, recordHandler, new SqsFifoPartialProcessorAsync(), {
    throwOnFullBatchFailure: false,
  });
}
