import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { ScheduledEvent } from 'aws-lambda';
import { sweepDependencies } from '#shared/aws/cluster-services.ts';
import { logger, publishMetrics } from '#shared/aws/powertools.ts';
import { loadConfig } from '#shared/aws/services.ts';
import { runSweep, type SweepResult } from '#shared/findings/sweep.ts';

// Scheduled: re-evaluates the cluster inventory and keeps the stored findings current.

export const handler = middy<ScheduledEvent, SweepResult>()
  .use(injectLambdaContext(logger, { clearState: true }))
  .handler(() =>
    runSweep({ loadConfig, dependencies: sweepDependencies, publish: publishMetrics, log: logger }),
  );
