import { createHash } from 'node:crypto';
import type { Config } from '#shared/config/schema.ts';
import { failedRequestResponse, type HttpResponse } from '#shared/http/errors.ts';
import { type HttpRequest, header } from '#shared/http/request.ts';
import type { StateStore, WarmSetEntry } from '#shared/state/store.ts';
import { compareText } from '#shared/text/order.ts';
import { authorizeNodeGroup, type NodeGroupAccess, nodeGroupOf } from './node-group-access.ts';

// GET /v1/nodegroups/{nodeGroup}/warmset: the images a node group's nodes should hold, by digest, with
// an ETag so agents can poll cheaply (If-None-Match → 304). On AWS the route is IAM-authorised; the
// local stack checks the node group's bearer token instead.

export const WARM_SET_SCHEMA = 'pullwarden.warmset/v1';

export interface WarmSetDependencies extends NodeGroupAccess {
  loadConfig(): Promise<Config>;
  store: Pick<StateStore, 'warmSet'>;
  logger: { error(message: string, ...extra: Record<string, unknown>[]): void };
}

export function warmSetDocument(nodeGroup: string, entries: readonly WarmSetEntry[]) {
  // Each entry's name is built once, not once per comparison.
  const images = entries
    .map((entry) => ({ image: imageOf(entry), ...entry }))
    .sort((a, b) => compareText(a.image, b.image));
  return { schema: WARM_SET_SCHEMA, nodeGroup, images };
}

/** `registry/repository[:tag]@digest`: how the warm set, and the nodes reporting on it, name an image. */
export function imageOf(entry: WarmSetEntry): string {
  return `${entry.registry}/${entry.repository}${entry.tag === undefined ? '' : `:${entry.tag}`}@${entry.digest}`;
}

export async function handleWarmSetRequest(
  request: HttpRequest,
  deps: WarmSetDependencies,
): Promise<HttpResponse> {
  try {
    const nodeGroup = nodeGroupOf(request);
    await authorizeNodeGroup(request, nodeGroup, await deps.loadConfig(), deps);
    const document = warmSetDocument(nodeGroup, await deps.store.warmSet(nodeGroup));
    const body = `${JSON.stringify(document)}\n`;
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    const cacheHeaders = { etag, 'cache-control': 'no-cache' };
    const ifNoneMatch = header(request, 'if-none-match');
    if (ifNoneMatch?.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
      return { statusCode: 304, headers: cacheHeaders, body: '' };
    }
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json; charset=utf-8', ...cacheHeaders },
      body,
    };
  } catch (error) {
    return failedRequestResponse('warm set request', error, deps.logger);
  }
}
