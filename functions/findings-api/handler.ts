import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { logger } from '#shared/aws/powertools.ts';
import { findingsStore } from '#shared/aws/services.ts';
import { handleFindingsRequest } from '#shared/findings/http.ts';

// GET /v1/findings: the stored drift findings of the live cluster, filtered by the query.

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(logger, { clearState: true }))
  .handler((event) => handleFindingsRequest(event, { reader: findingsStore(), logger }));
