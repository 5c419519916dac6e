import type { Config } from '#shared/config/schema.ts';
import type { SecretResolver } from '#shared/config/secret-ref.ts';
import {
  errorResponse,
  HttpError,
  type HttpResponse,
  jsonResponse,
  NotFoundError,
  UnsupportedMediaTypeError,
} from '#shared/http/errors.ts';
import { decodeBody, type HttpRequest, lowerCaseHeaders, mediaType } from '#shared/http/request.ts';
import { describeError, type StructuredLog } from '#shared/runtime/log.ts';
import { WEBHOOK_SOURCES, type WebhookSource } from './model.ts';
import { type IntakeDependencies, type IntakeSummary, processEvents } from './pipeline.ts';
import { SOURCE_ADAPTERS } from './sources/index.ts';
import type { WebhookRequest } from './sources/source.ts';

// POST /webhooks/{source}[/{token}]: size and media type first, then the sender's verification, then
// the payload. Bad input is a 4xx with the reason; only our own failures are a 500, without details.

export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

export type WebhookLogger = StructuredLog;

export interface WebhookDependencies {
  loadConfig(): Promise<Config>;
  secrets: SecretResolver;
  intake(config: Config): IntakeDependencies;
  logger: WebhookLogger;
  now(): Date;
}

function isWebhookSource(value: string | undefined): value is WebhookSource {
  return value !== undefined && (WEBHOOK_SOURCES as readonly string[]).includes(value);
}

export async function handleWebhook(
  request: HttpRequest,
  deps: WebhookDependencies,
): Promise<HttpResponse> {
  const source = request.pathParameters?.source;
  try {
    if (!isWebhookSource(source)) {
      throw new NotFoundError(
        `unknown webhook source "${source ?? ''}"; use one of ${WEBHOOK_SOURCES.join(', ')}`,
      );
    }
    const config = await deps.loadConfig();
    const settings = config.webhooks.sources[source];
    if (settings === undefined) {
      throw new NotFoundError(
        `the ${source} source is not configured (webhooks.sources.${source})`,
      );
    }
    const adapter = SOURCE_ADAPTERS[source];
    const body = decodeBody(request, MAX_WEBHOOK_BODY_BYTES);
    const contentType = mediaType(request);
    if (contentType === undefined || !adapter.contentTypes.includes(contentType)) {
      throw new UnsupportedMediaTypeError(contentType, adapter.contentTypes);
    }
    const query: Record<string, string> = {};
    for (const [key, value] of Object.entries(request.queryStringParameters ?? {})) {
      if (value !== undefined) query[key] = value;
    }
    const webhook: WebhookRequest = {
      source,
      pathToken: request.pathParameters?.token,
      headers: lowerCaseHeaders(request),
      query,
      body,
      contentType,
      receivedAt: deps.now(),
    };
    await adapter.verify(webhook, settings, deps.secrets);
    const events = adapter.normalize(webhook, settings);
    const summary = await processEvents(events, deps.intake(config));
    deps.logger.info('webhook processed', { source, ...counts(summary) });
    return jsonResponse(summary.accepted > 0 ? 202 : 200, { source, ...summary });
  } catch (error) {
    if (error instanceof HttpError) {
      deps.logger.warn('webhook refused', {
        source,
        status: error.statusCode,
        reason: error.message,
      });
    } else {
      deps.logger.error('webhook failed', {
        source,
        error: describeError(error),
      });
    }
    return errorResponse(error);
  }
}

function counts(summary: IntakeSummary) {
  return {
    accepted: summary.accepted,
    queued: summary.queued,
    sendCalls: summary.sendCalls,
    ignored: summary.ignored.length,
  };
}
