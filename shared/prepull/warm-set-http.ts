import { createHash } from 'node:crypto';
import type { Config } from '#shared/config/schema.ts';
import type { SecretResolver } from '#shared/config/secret-ref.ts';
import {
  errorResponse,
  HttpError,
  type HttpResponse,
  NotFoundError,
  UnauthorizedError,
} from '#shared/http/errors.ts';
import { bearerToken, type HttpRequest, header } from '#shared/http/request.ts';
import { constantTimeEqual } from '#shared/intake/verify.ts';
import type { StateStore, WarmSetEntry } from '#shared/state/store.ts';

// GET /v1/nodegroups/{nodeGroup}/warmset: the images a node group's nodes should hold, by digest, with
// an ETag so agents can poll cheaply (If-None-Match → 304). On AWS the route is IAM-authorised; the
// local stack checks the node group's bearer token instead.

export const WARM_SET_SCHEMA = 'pullwarden.warmset/v1';

export interface WarmSetDependencies {
  loadConfig(): Promise<Config>;
  store: Pick<StateStore, 'warmSet'>;
  secrets: SecretResolver;
  /** `token`: check the node group's bearer token; `iam`: the gateway authorised the caller. */
  authentication: 'token' | 'iam';
  logger: { error(message: string, ...extra: Record<string, unknown>[]): void };
}

const NODE_GROUP = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function warmSetDocument(nodeGroup: string, entries: readonly WarmSetEntry[]) {
  const images = [...entries]
    .sort((a, b) => imageOf(a).localeCompare(imageOf(b)))
    .map((entry) => ({ image: imageOf(entry), ...entry }));
  return { schema: WARM_SET_SCHEMA, nodeGroup, images };
}

function imageOf(entry: WarmSetEntry): string {
  return `${entry.registry}/${entry.repository}${entry.tag === undefined ? '' : `:${entry.tag}`}@${entry.digest}`;
}

export async function handleWarmSetRequest(
  request: HttpRequest,
  deps: WarmSetDependencies,
): Promise<HttpResponse> {
  try {
    const nodeGroup = request.pathParameters?.nodeGroup ?? '';
    if (!NODE_GROUP.test(nodeGroup)) throw new NotFoundError('no such node group');
    const config = await deps.loadConfig();
    if (deps.authentication === 'token') {
      const token = config.nodeGroups.groups[nodeGroup]?.token;
      const presented = bearerToken(header(request, 'authorization'));
      if (token === undefined) {
        throw new UnauthorizedError(`node group ${nodeGroup} has no token configured`);
      }
      if (presented === undefined) throw new UnauthorizedError('a bearer token is required');
      if (!constantTimeEqual(presented, await deps.secrets.resolve(token))) {
        throw new UnauthorizedError('the bearer token is not valid for this node group');
      }
    }
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
    if (!(error instanceof HttpError)) {
      deps.logger.error('warm set request failed', {
        error:
          error instanceof Error ? { name: error.name, message: error.message } : String(error),
      });
    }
    return errorResponse(error);
  }
}
