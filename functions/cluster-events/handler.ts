import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  SQSBatchResponse,
  SQSEvent,
} from 'aws-lambda';
import { clusterEventsEntryDependencies } from '#shared/aws/cluster-services.ts';
import { logger } from '#shared/aws/powertools.ts';
import {
  handleClusterEventBridge,
  handleClusterEventsBatch,
  handleClusterEventsRequest,
} from '#shared/cluster/entry.ts';

// Cluster events from the queue, from POST /cluster-events, and from EventBridge (instance launches).

type ClusterEventsInput = SQSEvent | APIGatewayProxyEventV2 | Record<string, unknown>;

export const handler = middy<ClusterEventsInput, unknown>()
  .use(injectLambdaContext(logger, { clearState: true }))
  .handler((event) => {
    if ('Records' in event && Array.isArray(event.Records)) {
      return handleClusterEventsBatch(event as SQSEvent, clusterEventsEntryDependencies);
    }
    if ('requestContext' in event && 'routeKey' in event) {
      return handleClusterEventsRequest(
        event as APIGatewayProxyEventV2,
        clusterEventsEntryDependencies,
      ) as Promise<APIGatewayProxyStructuredResultV2>;
    }
    return handleClusterEventBridge(event, clusterEventsEntryDependencies);
  }) as middy.MiddyfiedHandler<ClusterEventsInput, SQSBatchResponse | unknown>;
