import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { warmSetDependencies } from '#shared/aws/intake-services.ts';
import { logger } from '#shared/aws/powertools.ts';
import { handleWarmSetRequest } from '#shared/prepull/warm-set-http.ts';

// GET /v1/nodegroups/{nodeGroup}/warmset for node agents.

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(logger, { clearState: true }))
  .handler((event) => handleWarmSetRequest(event, warmSetDependencies));
