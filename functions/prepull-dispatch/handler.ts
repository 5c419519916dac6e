import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dispatchBatchDependencies } from '#shared/aws/intake-services.ts';
import { logger } from '#shared/aws/powertools.ts';
import { handleDispatchBatch } from '#shared/prepull/dispatch-batch.ts';

// The prepull FIFO queue's consumer: warm sets and executors, with partial batch failures.

export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger, { clearState: true }))
  .handler((event) => handleDispatchBatch(event, dispatchBatchDependencies));
