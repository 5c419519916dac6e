import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { ScheduledEvent } from 'aws-lambda';
import { credentialRefreshDependencies } from '#shared/aws/credential-refresh-services.ts';
import { logger, publishMetrics } from '#shared/aws/powertools.ts';
import { loadConfig } from '#shared/aws/services.ts';
import { handleCredentialRefresh, type RefreshSummary } from '#shared/credentials/refresh.ts';

// Scheduled: mints the brokered registries' credentials ahead of expiry into the credentials table.

export const handler = middy<ScheduledEvent, RefreshSummary>()
  .use(injectLambdaContext(logger, { clearState: true }))
  .handler(() =>
    handleCredentialRefresh({
      loadConfig,
      dependencies: credentialRefreshDependencies,
      log: logger,
      publish: publishMetrics,
    }),
  );
