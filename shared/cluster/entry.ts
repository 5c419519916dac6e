import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { MetricPoint } from '#shared/aws/powertools.ts';
import type { Config } from '#shared/config/schema.ts';
import type { SecretResolver } from '#shared/config/secret-ref.ts';
import {
  BadRequestError,
  errorResponse,
  HttpError,
  type HttpResponse,
  jsonResponse,
  NotFoundError,
  UnsupportedMediaTypeError,
} from '#shared/http/errors.ts';
import { decodeBody, type HttpRequest, header, mediaType } from '#shared/http/request.ts';
import { verifyBearerToken } from '#shared/intake/verify.ts';
import { describeError, type StructuredLog } from '#shared/runtime/log.ts';
import {
  type ClusterEvent,
  ClusterEventError,
  classifyClusterEvent,
  parseDelivery,
} from './events.ts';
import {
  type ClusterEventDependencies,
  type ClusterEventSummary,
  ingestClusterEvents,
} from './ingest.ts';

// The three ways cluster events arrive — SQS batches (event shippers, EventBridge rules targeting the
// queue), POST /cluster-events, and EventBridge invoking the function directly — all end in
// ingestClusterEvents. A delivery that does not parse changes nothing: a 400 over HTTP, a failed record
// (retried, then dead-lettered) on SQS.

export const MAX_CLUSTER_EVENTS_BODY_BYTES = 6 * 1024 * 1024;
const MEDIA_TYPES = ['application/json', 'application/x-ndjson', 'application/jsonl'];

export type ClusterEventsLog = StructuredLog;

export interface ClusterEventsEntryDependencies {
  loadConfig(): Promise<Config>;
  secrets: SecretResolver;
  ingest(config: Config): ClusterEventDependencies;
  publish(points: readonly MetricPoint[]): void;
  log: ClusterEventsLog;
}

function logged(summary: ClusterEventSummary) {
  return {
    watch: summary.watch,
    kubeletEvents: summary.kubeletEvents,
    instances: summary.instances,
    ignored: summary.ignored,
    nodeJoins: summary.nodeJoins.map(({ nodeGroup, node, status, queued }) => ({
      nodeGroup,
      node,
      status,
      queued,
    })),
    findings: summary.findings,
  };
}

export async function handleClusterEventsRequest(
  request: HttpRequest,
  deps: ClusterEventsEntryDependencies,
): Promise<HttpResponse> {
  try {
    const config = await deps.loadConfig();
    const token = config.clusterEvents.token;
    if (token === undefined) {
      throw new NotFoundError(
        'POST /cluster-events is closed: configure clusterEvents.token, or ship events through the queue',
      );
    }
    await verifyBearerToken(
      header(request, 'authorization'),
      token,
      deps.secrets,
      'clusterEvents.token',
    );
    const type = mediaType(request);
    if (type === undefined || !MEDIA_TYPES.includes(type)) {
      throw new UnsupportedMediaTypeError(type, MEDIA_TYPES);
    }
    const body = decodeBody(request, MAX_CLUSTER_EVENTS_BODY_BYTES);
    let events: ClusterEvent[];
    try {
      events = parseDelivery(body.toString('utf8'));
    } catch (error) {
      if (error instanceof ClusterEventError) throw new BadRequestError(error.message);
      throw error;
    }
    const summary = await ingestClusterEvents(events, deps.ingest(config));
    deps.publish(summary.metrics);
    deps.log.info('cluster events applied', {
      via: 'http',
      events: events.length,
      ...logged(summary),
    });
    const { metrics: _metrics, ...answer } = summary;
    return jsonResponse(202, { events: events.length, ...answer });
  } catch (error) {
    if (error instanceof HttpError) {
      deps.log.warn('cluster events refused', { status: error.statusCode, reason: error.message });
    } else {
      deps.log.error('cluster events failed', {
        error: describeError(error),
      });
    }
    return errorResponse(error);
  }
}

export class MalformedClusterEventsError extends Error {
  override readonly name = 'MalformedClusterEventsError';
}

export async function handleClusterEventsBatch(
  event: SQSEvent,
  deps: ClusterEventsEntryDependencies,
): Promise<SQSBatchResponse> {
  const config = await deps.loadConfig();
  const ingest = deps.ingest(config);
  const metrics: MetricPoint[] = [];
  const recordHandler = async (record: SQSRecord) => {
    let events: ClusterEvent[];
    try {
      events = parseDelivery(record.body);
    } catch (error) {
      if (error instanceof ClusterEventError) {
        throw new MalformedClusterEventsError(`message ${record.messageId}: ${error.message}`);
      }
      throw error;
    }
    const summary = await ingestClusterEvents(events, ingest);
    metrics.push(...summary.metrics);
    deps.log.info('cluster events applied', {
      via: 'sqs',
      messageId: record.messageId,
      events: events.length,
      ...logged(summary),
    });
  };
  const response = await processPartialResponse(
    event,
    recordHandler,
    new BatchProcessor(EventType.SQS),
    { throwOnFullBatchFailure: false },
  );
  deps.publish(metrics);
  return response;
}

/** An EventBridge rule invoking the function directly with an EC2 / Auto Scaling event. */
export async function handleClusterEventBridge(
  event: unknown,
  deps: ClusterEventsEntryDependencies,
): Promise<ClusterEventSummary> {
  const config = await deps.loadConfig();
  const summary = await ingestClusterEvents([classifyClusterEvent(event, 0)], deps.ingest(config));
  deps.publish(summary.metrics);
  deps.log.info('cluster events applied', { via: 'eventbridge', ...logged(summary) });
  return summary;
}
