import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { webhookDependencies } from '#shared/aws/intake-services.ts';
import { logger } from '#shared/aws/powertools.ts';
import { handleWebhook } from '#shared/intake/webhook-http.ts';

// POST /webhooks/{source}[/{token}]: registry push notifications → pre-pull requests.

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(logger, { clearState: true }))
  .handler((event) => handleWebhook(event, webhookDependencies));
