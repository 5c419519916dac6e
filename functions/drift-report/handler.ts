import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { logger } from '#shared/aws/powertools.ts';
import { type DriftRequestSideEffects, evaluateDriftRequest } from '#shared/drift/http.ts';
import { sideEffects } from './side-effects.ts';

// POST /v1/drift: evaluates the manifests or cluster dump in the body and answers with the report.

export const buildHandler = (effects: DriftRequestSideEffects) =>
  middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(injectLambdaContext(logger, { clearState: true }))
    .handler((event) => evaluateDriftRequest(event, effects));

export const handler = buildHandler(sideEffects);
