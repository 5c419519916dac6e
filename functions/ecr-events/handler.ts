import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { intakeDependencies } from '#shared/aws/intake-services.ts';
import { logger } from '#shared/aws/powertools.ts';
import { loadConfig } from '#shared/aws/services.ts';
import { handleEcrEvent } from '#shared/intake/ecr-event.ts';

// EventBridge `ECR Image Action` events → the same pipeline as the webhooks.

export const handler = middy<EventBridgeEvent<string, unknown>, void>()
  .use(injectLambdaContext(logger, { clearState: true }))
  .handler(async (event) => {
    await handleEcrEvent(event, { loadConfig, intake: intakeDependencies, logger });
  });
