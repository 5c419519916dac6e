import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { nodeGroupApiDependencies } from '#shared/aws/intake-services.ts';
import { logger } from '#shared/aws/powertools.ts';
import { handleNodeGroupApiRequest } from '#shared/prepull/node-group-api.ts';

// The node-group routes: the warm set and per-node reports for node agents, the status for operators.

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(logger, { clearState: true }))
  .handler((event) => handleNodeGroupApiRequest(event, nodeGroupApiDependencies));
