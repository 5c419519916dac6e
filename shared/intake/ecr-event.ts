import type { Config } from '#shared/config/schema.ts';
import { HttpError } from '#shared/http/errors.ts';
import type { IgnoredEvent } from './model.ts';
import { type IntakeDependencies, type IntakeSummary, processEvents } from './pipeline.ts';
import { normalizeEcrEvent } from './sources/ecr.ts';
import type { WebhookLogger } from './webhook-http.ts';

// An event EventBridge delivers. One that is not an image action is logged and dropped: retrying
// cannot make it one. Failures of our own propagate so EventBridge retries the invocation.

export async function handleEcrEvent(
  event: unknown,
  deps: {
    loadConfig(): Promise<Config>;
    intake(config: Config): IntakeDependencies;
    logger: WebhookLogger;
  },
): Promise<IntakeSummary> {
  let normalized: ReturnType<typeof normalizeEcrEvent>;
  try {
    normalized = normalizeEcrEvent(event);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    deps.logger.warn('ECR event refused', { reason: error.message, details: error.details });
    const ignored: IgnoredEvent = { kind: 'ignored', reason: error.message };
    return { accepted: 0, queued: 0, sendCalls: 0, events: [], ignored: [ignored] };
  }
  const summary = await processEvents([normalized], deps.intake(await deps.loadConfig()));
  deps.logger.info('ECR event processed', { summary });
  return summary;
}
