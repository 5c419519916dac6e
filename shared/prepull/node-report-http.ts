import { formatPath } from '#shared/config/load.ts';
import type { Config } from '#shared/config/schema.ts';
import {
  BadRequestError,
  errorResponse,
  failedRequestResponse,
  HttpError,
  type HttpResponse,
  jsonResponse,
  quoted,
  UnsupportedMediaTypeError,
} from '#shared/http/errors.ts';
import { decodeBody, type HttpRequest, mediaType } from '#shared/http/request.ts';
import { NodeReportTooLargeError, type StateStore } from '#shared/state/store.ts';
import { authorizeNodeGroup, type NodeGroupAccess, nodeGroupOf } from './node-group-access.ts';
import { nodeGroupStatus } from './node-group-status.ts';
import { NODE_REPORT_SCHEMA, type NodeReport, nodeReportSchema } from './node-report.ts';

// POST /v1/nodegroups/{nodeGroup}/nodes/{node}/report: a node agent's report after a reconcile,
// authorised like the warm set (the node group's token locally, IAM on AWS). A report replaces the
// node's previous one only when its sequence is higher, so retries and late deliveries change nothing.
//
// GET /v1/nodegroups/{nodeGroup}/status: the fresh reports against the warm set, for operators. Like
// GET /v1/findings it is IAM-authorised on AWS and open in the local stack.

/** Reports are tens of KiB; 2,000 images with the names registries usually have stay below this. */
export const MAX_NODE_REPORT_BYTES = 1024 * 1024;
const MEDIA_TYPES = ['application/json'];
// Enough to show what is wrong with a report without answering with a document of its own.
const MAX_ISSUES = 20;

interface Logger {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

export interface NodeReportDependencies extends NodeGroupAccess {
  loadConfig(): Promise<Config>;
  store: Pick<StateStore, 'putNodeReport'>;
  logger: Logger;
  now(): Date;
}

export interface NodeGroupStatusDependencies {
  loadConfig(): Promise<Config>;
  store: Pick<StateStore, 'warmSet' | 'nodeReports'>;
  logger: Pick<Logger, 'error'>;
  now(): Date;
}

/** The answer to a report: whether it replaced the node's stored one. */
export type NodeReportAnswer =
  | { accepted: true; nodeGroup: string; node: string; sequence: number }
  | { accepted: false; nodeGroup: string; node: string; sequence: number; reason: string };

function parseReport(body: Buffer): NodeReport {
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BadRequestError(
      `the request body is not JSON${error instanceof SyntaxError ? `: ${error.message}` : ''}`,
    );
  }
  const parsed = nodeReportSchema.safeParse(document);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.slice(0, MAX_ISSUES).map((issue) => ({
    path: formatPath(issue.path) || '(the report)',
    message: issue.message,
  }));
  const [first] = issues as [{ path: string; message: string }];
  throw new BadRequestError(
    `the body is not a ${NODE_REPORT_SCHEMA} report: ${first.path}: ${first.message}`,
    issues,
  );
}

/** The path names the node group and node a report is for; the report must say the same. */
const MAX_SEQUENCE_LEAD_MS = 24 * 3600 * 1000;

function checkPathMatches(report: NodeReport, nodeGroup: string, node: string): void {
  if (report.nodeGroup !== nodeGroup) {
    throw new BadRequestError(
      `nodeGroup: the report is for node group ${quoted(report.nodeGroup)} but was posted for ${quoted(nodeGroup)}`,
    );
  }
  if (report.node !== node) {
    throw new BadRequestError(
      `node: the report is from node ${quoted(report.node)} but was posted for ${quoted(node)}`,
    );
  }
}

function failure(what: string, error: unknown, logger: Pick<Logger, 'error'>): HttpResponse {
  if (error instanceof NodeReportTooLargeError) {
    return errorResponse(new HttpError(413, 'payload-too-large', error.message));
  }
  return failedRequestResponse(what, error, logger);
}

export async function handleNodeReportRequest(
  request: HttpRequest,
  deps: NodeReportDependencies,
): Promise<HttpResponse> {
  try {
    const nodeGroup = nodeGroupOf(request);
    const config = await deps.loadConfig();
    await authorizeNodeGroup(request, nodeGroup, config, deps);
    const type = mediaType(request);
    if (type !== undefined && !MEDIA_TYPES.includes(type)) {
      throw new UnsupportedMediaTypeError(type, MEDIA_TYPES);
    }
    const report = parseReport(decodeBody(request, MAX_NODE_REPORT_BYTES));
    checkPathMatches(report, nodeGroup, request.pathParameters?.node ?? '');
    // Agents number their reports with their clock in milliseconds: a sequence far ahead of ours
    // (a clock years off, a forged report) would make every later report look old until it expired.
    if (report.sequence > deps.now().getTime() + MAX_SEQUENCE_LEAD_MS) {
      throw new BadRequestError(
        'sequence: more than a day ahead of the server clock in milliseconds; check the node clock',
      );
    }
    const outcome = await deps.store.putNodeReport(
      report,
      deps.now(),
      config.nodeGroups.reports.expireAfterHours * 3600,
    );
    const about = { nodeGroup, node: report.node, sequence: report.sequence };
    // Every node reports after every reconcile: only what an operator would look for is logged.
    const failed = report.images.filter((image) => image.state === 'failed').length;
    if (outcome === 'stale') deps.logger.info('node report ignored: not newer', about);
    else if (failed > 0) deps.logger.info('node report with failed pulls', { ...about, failed });
    const answer: NodeReportAnswer =
      outcome === 'stored'
        ? { accepted: true, ...about }
        : {
            accepted: false,
            ...about,
            reason: 'a report with the same or a higher sequence is stored already',
          };
    return jsonResponse(200, answer);
  } catch (error) {
    return failure('node report', error, deps.logger);
  }
}

export async function handleNodeGroupStatusRequest(
  request: HttpRequest,
  deps: NodeGroupStatusDependencies,
): Promise<HttpResponse> {
  try {
    const nodeGroup = nodeGroupOf(request);
    const parameter = Object.keys(request.queryStringParameters ?? {})[0];
    if (parameter !== undefined) {
      throw new BadRequestError(
        `unknown query parameter ${quoted(parameter)}; the route takes none`,
      );
    }
    const config = await deps.loadConfig();
    const now = deps.now();
    const [warmSet, reports] = await Promise.all([
      deps.store.warmSet(nodeGroup),
      deps.store.nodeReports(nodeGroup, now),
    ]);
    return jsonResponse(
      200,
      nodeGroupStatus({
        nodeGroup,
        warmSet,
        reports,
        now,
        staleAfterSeconds: config.nodeGroups.reports.staleAfterSeconds,
      }),
    );
  } catch (error) {
    return failure('node group status', error, deps.logger);
  }
}
