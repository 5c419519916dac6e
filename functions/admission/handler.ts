import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type AdmissionDependencies, createAdmissionWebhook } from '#shared/admission/http.ts';
import { logger } from '#shared/aws/powertools.ts';
import { sideEffects } from './side-effects.ts';

// POST /admission: AdmissionReviews from the Kubernetes API server → warn, deny or patch pull policies.

export const buildHandler = (effects: AdmissionDependencies) => {
  const review = createAdmissionWebhook(effects);
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(injectLambdaContext(logger, { clearState: true }))
    .handler((event, context) =>
      review(event, { remainingMs: context.getRemainingTimeInMillis() }),
    );
};

export const handler = buildHandler(sideEffects);
